"""Connect to a target with a short timeout and read what server it really is."""

from __future__ import annotations

import importlib
import socket
import sqlite3
from dataclasses import dataclass
from typing import Any

from harness.config import Target, env_url_name
from harness.errors import DriverMissingError
from harness.urls import redact
from harness.vendors import (
    AUTH_FAILED,
    OTHER_FAILURE,
    REFUSED,
    TIMED_OUT,
    UNKNOWN_DATABASE,
    UNKNOWN_HOST,
    Vendor,
    driver_error_codes,
)

# How each class of failure reads in "requested backend 'x' {state} at URL ({class}): {hint}".
FAILURE_STATES = {AUTH_FAILED: "cannot log in", UNKNOWN_DATABASE: "cannot be used"}
DEFAULT_FAILURE_STATE = "is not reachable"
# Classes that mean no server answered at all (a target nobody configured is then left out quietly).
NO_ANSWER = (REFUSED, TIMED_OUT)


@dataclass(frozen=True)
class ServerInfo:
    """What a probe learned about a target."""

    target: str
    vendor: str
    product: str | None
    version: str | None
    reachable: bool
    # The driver's error, one line, no password.
    reason: str = ""
    # Why it failed (AUTH_FAILED, UNKNOWN_DATABASE, REFUSED, TIMED_OUT, UNKNOWN_HOST, OTHER_FAILURE) ...
    failure: str = ""
    # ... and what to do about it.
    hint: str = ""

    @property
    def description(self) -> str:
        return f"{self.product} {self.version}" if self.reachable else "not reachable"

    @property
    def state(self) -> str:
        """'is not reachable', 'cannot log in', ...: how the failure reads after the target's name."""
        return FAILURE_STATES.get(self.failure, DEFAULT_FAILURE_STATE)

    @property
    def explanation(self) -> str:
        """The failure in one line: its class, what to do, then the driver's own words."""
        return f"{self.failure or OTHER_FAILURE}: {self.hint}; driver: {self.reason}"


def require_driver(target: Target) -> None:
    """Raise DriverMissingError when the target's DB-API driver cannot be imported."""
    vendor = target.vendor
    if vendor.driver_module is None:
        return
    try:
        importlib.import_module(vendor.driver_module)
    except ImportError:
        raise DriverMissingError(
            target=target.name, driver=vendor.driver_module, package=vendor.driver_package
        ) from None


def probe(target: Target, timeout: float = 3.0) -> ServerInfo:
    """Ask the target's server for its product and version; never hangs past ``timeout``."""
    vendor = target.vendor
    require_driver(target)
    if not vendor.is_server:
        product, version = vendor.product_from_version_string(sqlite3.sqlite_version)
        return ServerInfo(target.name, vendor.django_vendor, product, version, reachable=True)
    try:
        connection = vendor.connect(target.database, timeout)
    except Exception as error:  # noqa: BLE001 - every driver error means "not reachable"
        failure = classify_failure(vendor, error)
        return ServerInfo(
            target.name,
            vendor.django_vendor,
            None,
            None,
            reachable=False,
            reason=_one_line(error, target),
            failure=failure,
            hint=failure_hint(target, failure, timeout),
        )
    try:
        version_string = _fetch_scalar(connection, vendor.version_query)
    finally:
        connection.close()
    product, version = vendor.product_from_version_string(str(version_string))
    return ServerInfo(target.name, vendor.django_vendor, product, version, reachable=True)


def _fetch_scalar(connection: Any, sql: str) -> Any:
    cursor = connection.cursor()
    try:
        cursor.execute(sql)
        return cursor.fetchone()[0]
    finally:
        cursor.close()


def _one_line(error: Exception, target: Target) -> str:
    """A driver error as one line, with no password in it."""
    return redact(" ".join(str(error).split()) or type(error).__name__, target.secrets)[:300]


def classify_failure(vendor: type[Vendor], error: BaseException) -> str:
    """Why a connection attempt failed: the class of the driver's error, by its message then its code."""
    message = str(error)
    for fragment, failure in vendor.connect_failure_messages.items():
        if fragment in message:
            return failure
    for code in driver_error_codes(error):
        if code in vendor.connect_failure_codes:
            return vendor.connect_failure_codes[code]
    if isinstance(error, TimeoutError | socket.timeout):
        return TIMED_OUT
    if isinstance(error, ConnectionRefusedError):
        return REFUSED
    if isinstance(error, socket.gaierror):
        return UNKNOWN_HOST
    return OTHER_FAILURE


def failure_hint(target: Target, failure: str, timeout: float) -> str:
    """What to do about a failed connection to the target, from its vendor's hints for that class."""
    vendor = target.vendor
    hints = vendor.connect_failure_hints
    host = str(target.database.get("HOST") or "127.0.0.1")
    port = str(target.database.get("PORT") or vendor.default_port or "")
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}" if port else host
    return hints.get(failure, hints[OTHER_FAILURE]).format(
        address=address,
        host=host,
        port=port,
        # The drivers take whole seconds, at least one.
        timeout=max(1, int(timeout)),
        env=env_url_name(target.name),
        start=vendor.start_hint,
        target=target.name,
    )
