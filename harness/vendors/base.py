"""How to reach and manage one kind of target: a declarative class per target, registered by name.

Modelled on Django's ``django/db/backends/*/features.py``: each fact sits under a
question-comment. What a server does once reached (collations, limits, SQL dialect, error
codes) is not here but in harness.vendors.facts, chosen by the product and version it reports.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, ClassVar

from harness.errors import UnknownTargetError

# Why a connection attempt failed (the probe's classes; each has its own hint below).
AUTH_FAILED, UNKNOWN_DATABASE, REFUSED, TIMED_OUT, UNKNOWN_HOST, OTHER_FAILURE = (
    "authentication failed",
    "unknown database",
    "connection refused",
    "timed out",
    "unknown host",
    "connection failed",
)


class Vendor:
    """Facts about one kind of target. Subclasses set the class attributes."""

    registry: ClassVar[dict[str, type[Vendor]]] = {}

    # The target name users write in --backends and PORTABILITY_<NAME>_URL, and where it goes in reports.
    target: ClassVar[str]
    report_order: ClassVar[int] = 100
    # Django's ``connection.vendor`` for this target.
    django_vendor: ClassVar[str]
    # The database product expected behind it until a probe says which it is (harness.vendors.facts).
    product: ClassVar[str]
    # The Django ENGINE that talks to it.
    engine: ClassVar[str]
    # URL schemes accepted for this target (the first one is canonical).
    url_schemes: ClassVar[tuple[str, ...]]
    # The URL used when the user configures none: the repo's docker-compose.yml ports.
    default_url: ClassVar[str]
    # The importable DB-API driver module and the pip package that provides it; the modules whose
    # exceptions a connection to it raises (its driver's, and the other drivers Django accepts for it).
    driver_module: ClassVar[str | None] = None
    driver_package: ClassVar[str | None] = None
    error_modules: ClassVar[tuple[str, ...]] = ()
    # The command a user runs to start a local server for this target.
    start_hint: ClassVar[str] = ""
    # The port a URL without one connects to.
    default_port: ClassVar[int | None] = None
    # Why a connection failed: a fragment of the driver's message → class (checked first, in order) ...
    connect_failure_messages: ClassVar[dict[str, str]] = {
        "timeout expired": TIMED_OUT,
        "timed out": TIMED_OUT,
        "Connection refused": REFUSED,
    }
    # ... then the driver's error code (SQLSTATE, MySQL number) → class; anything else is OTHER_FAILURE.
    connect_failure_codes: ClassVar[dict[Any, str]] = {}
    # What to do about each class: {address} {host} {port} {timeout} {env} {start} are filled in.
    connect_failure_hints: ClassVar[dict[str, str]] = {
        AUTH_FAILED: "check the user and password in the URL ({env} or --url)",
        UNKNOWN_DATABASE: "the database does not exist on {address}: create it or fix its name in the URL "
        "({env} or --url)",
        REFUSED: "no server answers at {address}: start one (e.g. `{start}` from the django-portability "
        "repository) or point --url ({env}) at it",
        TIMED_OUT: "{address} did not answer within {timeout} s: a firewall or a stopped VM?",
        UNKNOWN_HOST: "the host {host!r} is not known: check the host in the URL ({env} or --url)",
        OTHER_FAILURE: "check the server at {address} and the URL ({env} or --url)",
    }
    # Where the driver's errors carry their code (SQLSTATE, SQLite's error name): attribute names; and
    # whether the code is instead the first argument, an int (MySQLdb's error number).
    error_code_attributes: ClassVar[tuple[str, ...]] = ()
    error_code_in_first_argument: ClassVar[bool] = False
    # Does the target live on a server (so it can be unreachable, and test databases are swept)?
    is_server: ClassVar[bool] = True
    # Longest database name the server accepts.
    max_database_name_length: ClassVar[int] = 63
    # Connection OPTIONS used unless the target's URL sets them.
    default_options: ClassVar[dict[str, Any]] = {}
    # Django TEST settings used for the test databases on this target.
    test_settings: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "target" in cls.__dict__:
            Vendor.registry[cls.target] = cls

    @classmethod
    def product_from_version_string(cls, version_string: str) -> tuple[str, str]:
        """Split what the server says of itself into (product, version)."""
        match = re.match(r"[\d.]+", version_string.strip())
        return cls.__name__, match.group(0) if match else version_string.strip()

    @classmethod
    def connect(cls, settings: dict[str, Any], timeout: float, database: str | None = None) -> Any:
        """Open a DB-API connection to the server itself (or, given, to ``database``)."""
        raise NotImplementedError

    # SQL to read the server's own description of its product and version.
    version_query: ClassVar[str] = "SELECT VERSION()"
    # SQL listing the databases whose names match a LIKE pattern.
    list_databases_query: ClassVar[str] = ""
    # How to quote a database name in DDL.
    quote_template: ClassVar[str] = '"{}"'

    # How the harness marks a test database it created, so `portability clean` can tell it from
    # any other database (a name pattern alone is not proof): see harness.cleanup.Marker.
    # SQL listing the sessions connected to a database (one %s: its name): a live run is connected.
    sessions_query: ClassVar[str] = ""

    @classmethod
    def mark_test_database(cls, cursor: Any, name: str, marker: str) -> None:
        """Attach ``marker`` to the test database ``name`` (just created by this run)."""

    @classmethod
    def unmark_test_database(cls, cursor: Any, name: str) -> None:
        """Forget the marker of a test database that was dropped (when it outlives the database)."""

    @classmethod
    def marked_test_databases(cls, cursor: Any) -> dict[str, str]:
        """The existing databases that carry a harness marker, with the marker's text."""
        return {}

    # A server-wide lock on a kept test database (--reuse-db), held by the run that uses it for as long
    # as its connection lives (a dead run's lock goes with its connection). One %s: the lock key.
    try_lock_query: ClassVar[str] = ""
    unlock_query: ClassVar[str] = ""
    # One row, one value: true when some session holds the lock.
    lock_in_use_query: ClassVar[str] = ""

    @classmethod
    def lock_key(cls, name: str) -> Any:
        """The key of the lock on the kept test database ``name``."""
        return "portability:" + hashlib.sha256(name.encode()).hexdigest()[:40]

    @classmethod
    def lock_key_args(cls, name: str) -> list[Any]:
        """The arguments of lock_in_use_query for ``name``."""
        return [cls.lock_key(name)]

    @classmethod
    def try_lock(cls, cursor: Any, name: str) -> bool:
        cursor.execute(cls.try_lock_query, [cls.lock_key(name)])
        return bool(cursor.fetchone()[0])

    @classmethod
    def unlock(cls, cursor: Any, name: str) -> None:
        cursor.execute(cls.unlock_query, [cls.lock_key(name)])
        cursor.fetchall()

    @classmethod
    def lock_in_use(cls, cursor: Any, name: str) -> bool:
        cursor.execute(cls.lock_in_use_query, cls.lock_key_args(name))
        return bool(cursor.fetchone()[0])

    # What a kept test database must get back after a run to be as if just built (a cursor on it):
    # its key counters (rolled-back inserts still advance them), checked against its tables' contents.
    @classmethod
    def read_counters(cls, cursor: Any) -> dict[str, Any]:
        """Every key counter (sequence, AUTO_INCREMENT) of the database, by name."""
        return {}

    @classmethod
    def reset_counters(cls, cursor: Any, counters: dict[str, Any]) -> None:
        """Set the counters back to what :meth:`read_counters` read."""

    @classmethod
    def table_digests(cls, cursor: Any) -> dict[str, Any]:
        """A digest of every table's contents, by table."""
        return {}


def driver_error_codes(error: BaseException) -> list[Any]:
    """Every code a driver error (or the driver error Django wrapped in it) carries, as each vendor's driver says."""
    codes = []
    for candidate in (error, error.__cause__):
        if candidate is None:
            continue
        for vendor in Vendor.registry.values():
            codes += [getattr(candidate, name, None) for name in vendor.error_code_attributes]
            args = getattr(candidate, "args", ())
            if vendor.error_code_in_first_argument and args and isinstance(args[0], int):
                codes.append(args[0])
    return list(dict.fromkeys(code for code in codes if code is not None))


def driver_error_code(error: BaseException) -> Any:
    """The code of a driver error (None when it carries none)."""
    return next(iter(driver_error_codes(error)), None)


# A target name: a vendor's, or VENDOR@LABEL for one of several servers of it in one run (postgresql@15).
TARGET_NAME = re.compile(r"(?P<vendor>[a-z]+)(?:@(?P<label>[A-Za-z0-9][A-Za-z0-9._-]*))?")


def vendor_for_target(name: str) -> type[Vendor]:
    """Return the vendor class of a target name (``postgresql`` and ``postgresql@15`` alike)."""
    match = TARGET_NAME.fullmatch(name)
    try:
        return Vendor.registry[match.group("vendor") if match else name]
    except KeyError:
        raise UnknownTargetError(
            name=name, known=", ".join(sorted(Vendor.registry)) + " (or VENDOR@LABEL, e.g. postgresql@15)"
        ) from None


def is_target_name(name: str) -> bool:
    match = TARGET_NAME.fullmatch(name)
    return match is not None and match.group("vendor") in Vendor.registry


def target_label(name: str) -> str | None:
    """The LABEL of a VENDOR@LABEL target name (None for a plain vendor name)."""
    match = TARGET_NAME.fullmatch(name)
    return match.group("label") if match else None


def target_order(name: str) -> tuple[int, str]:
    """Where a target goes in reports: by vendor as known_targets() lists them, then by label."""
    match = TARGET_NAME.fullmatch(name)
    vendor = match.group("vendor") if match else name
    order = known_targets()
    return (order.index(vendor) if vendor in order else len(order), name)


def known_targets() -> list[str]:
    """Target names in the order reports show them."""
    return sorted(Vendor.registry, key=lambda name: (Vendor.registry[name].report_order, name))
