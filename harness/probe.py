"""Connect to a target with a short timeout and read what server it really is."""

from __future__ import annotations

import importlib
import sqlite3
from dataclasses import dataclass
from typing import Any

from harness.config import Target
from harness.errors import DriverMissingError
from harness.urls import redact


@dataclass(frozen=True)
class ServerInfo:
    """What a probe learned about a target."""

    target: str
    vendor: str
    product: str | None
    version: str | None
    reachable: bool
    reason: str = ""

    @property
    def description(self) -> str:
        return f"{self.product} {self.version}" if self.reachable else "not reachable"


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
        return ServerInfo(
            target.name, vendor.django_vendor, None, None, reachable=False, reason=_one_line(error, target)
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
