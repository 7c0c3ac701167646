"""What differs between database vendors, kept as data: one declarative class per target.

Modelled on Django's ``django/db/backends/*/features.py``: each fact sits under a
question-comment, and classes register themselves by target name.
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

    # The target name users write in --backends and PORTABILITY_<NAME>_URL.
    target: ClassVar[str]
    # Django's ``connection.vendor`` for this target.
    django_vendor: ClassVar[str]
    # The Django ENGINE that talks to it.
    engine: ClassVar[str]
    # URL schemes accepted for this target (the first one is canonical).
    url_schemes: ClassVar[tuple[str, ...]]
    # The URL used when the user configures none: the repo's docker-compose.yml ports.
    default_url: ClassVar[str]
    # The importable DB-API driver module and the pip package that provides it.
    driver_module: ClassVar[str | None] = None
    driver_package: ClassVar[str | None] = None
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
    # Does the target live on a server (so it can be unreachable, and test databases are swept)?
    is_server: ClassVar[bool] = True
    # Longest identifier (table, index, constraint name) the server accepts, in bytes.
    max_identifier_length: ClassVar[int | None] = None
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

    # Does `=` on strings ignore case under the default collation?
    case_insensitive_equality: ClassVar[bool] = False
    # Does `=` on VARCHAR ignore trailing spaces (PAD SPACE collations)?
    ignores_trailing_spaces: ClassVar[bool] = False
    # Do NULLs sort first in ascending order?
    nulls_first_ascending: ClassVar[bool] = True
    # Does dividing two integer columns truncate to an integer?
    integer_division: ClassVar[bool] = True
    # Error code (SQLSTATE, MySQL number, SQLite name) → what it means and the portable way.
    error_hints: ClassVar[dict[Any, str]] = {}
    # Errors without a code (raised while Django converts rows): a fragment of the message → hint.
    message_hints: ClassVar[dict[str, str]] = {}

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


class SQLite(Vendor):
    target = "sqlite"
    django_vendor = "sqlite"
    engine = "django.db.backends.sqlite3"
    url_schemes = ("sqlite",)
    default_url = "sqlite://:memory:"
    driver_module = "sqlite3"
    driver_package = "pysqlite3"
    is_server = False
    max_identifier_length = None
    error_hints = {
        "SQLITE_ERROR": "SQLite rejected the SQL: a function, syntax or feature it lacks; use the ORM's portable "
        "expressions or guard raw SQL by connection.vendor",
    }

    @classmethod
    def product_from_version_string(cls, version_string: str) -> tuple[str, str]:
        return "SQLite", version_string


class PostgreSQL(Vendor):
    target = "postgresql"
    django_vendor = "postgresql"
    engine = "django.db.backends.postgresql"
    url_schemes = ("postgres", "postgresql", "pgsql")
    default_url = "postgres://postgres@127.0.0.1:5432/portability"
    driver_module = "psycopg2"
    driver_package = "psycopg2-binary"
    start_hint = "docker compose up -d --wait postgresql"
    default_port = 5432
    # psycopg2 gives no SQLSTATE for a failed connection: its message says what happened.
    connect_failure_messages = {
        "password authentication failed": AUTH_FAILED,
        "no pg_hba.conf entry": AUTH_FAILED,
        # The server asks for a password the URL does not give.
        "no password supplied": AUTH_FAILED,
        'role "': AUTH_FAILED,
        "permission denied": AUTH_FAILED,
        'database "': UNKNOWN_DATABASE,
        "timeout expired": TIMED_OUT,
        "timed out": TIMED_OUT,
        "could not translate host name": UNKNOWN_HOST,
        "Connection refused": REFUSED,
        "No route to host": REFUSED,
        "could not connect": REFUSED,
    }
    # psycopg 3 (and any error raised once connected) carries the SQLSTATE.
    connect_failure_codes = {"28P01": AUTH_FAILED, "28000": AUTH_FAILED, "3D000": UNKNOWN_DATABASE}
    connect_failure_hints = {
        **Vendor.connect_failure_hints,
        # The probe (like Django's test-database creation) connects to the maintenance database.
        UNKNOWN_DATABASE: "{address} has no maintenance database `postgres` (the harness connects to it, as "
        "Django's test runner does): create it (`createdb -h {host} -p {port} postgres`) or point --url ({env}) "
        "at another server",
    }
    # PostgreSQL silently truncates longer names (NAMEDATALEN - 1).
    max_identifier_length = 63
    max_database_name_length = 63
    nulls_first_ascending = False
    error_hints = {
        "22001": "value too long for the column: SQLite does not enforce max_length; validate with full_clean() "
        "or raise max_length",
        "42601": "PostgreSQL rejected the SQL syntax: raw SQL or a backend-specific lookup; use the ORM or guard by "
        "connection.vendor",
        "42883": "no such function or operator on PostgreSQL (often a type mismatch, e.g. text vs integer): add an "
        "explicit Cast()",
        "42P01": "the table does not exist on PostgreSQL: raw SQL naming a table the ORM did not create here",
        "2201B": "PostgreSQL rejected the regular expression: regex syntax differs by backend (\\b is a backspace "
        "in PostgreSQL, \\y the word boundary); prefer simple patterns or __icontains",
        "22P02": "PostgreSQL refused to convert a value (e.g. 'abc' to integer) that other backends coerce silently",
        "23505": "unique constraint violated",
        "0A000": "feature not supported by PostgreSQL",
    }
    version_query = "SHOW server_version"
    list_databases_query = "SELECT datname FROM pg_database WHERE datname LIKE %s"
    quote_template = '"{}"'
    sessions_query = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
    # Advisory locks take a bigint; pg_locks shows it split into classid (high half) and objid (low).
    try_lock_query = "SELECT pg_try_advisory_lock(%s)"
    unlock_query = "SELECT pg_advisory_unlock(%s)"
    lock_in_use_query = (
        "SELECT count(*) > 0 FROM pg_locks WHERE locktype = 'advisory' AND granted "
        "AND classid = %s AND objid = %s AND objsubid = 1"
    )

    @classmethod
    def lock_key(cls, name: str) -> int:
        return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)

    @classmethod
    def lock_key_args(cls, name: str) -> list[Any]:
        unsigned = cls.lock_key(name) & 0xFFFFFFFFFFFFFFFF
        return [unsigned >> 32, unsigned & 0xFFFFFFFF]

    # The marker is the database's comment (COMMENT ON DATABASE; dropped with the database).
    @classmethod
    def mark_test_database(cls, cursor: Any, name: str, marker: str) -> None:
        cursor.execute(f"COMMENT ON DATABASE {cls.quote_template.format(name)} IS %s", [marker])

    @classmethod
    def marked_test_databases(cls, cursor: Any) -> dict[str, str]:
        from harness.cleanup import MARKER_PREFIX

        cursor.execute(
            "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database "
            "WHERE shobj_description(oid, 'pg_database') LIKE %s",
            [MARKER_PREFIX + "%"],
        )
        return {name: comment for name, comment in cursor.fetchall()}

    @classmethod
    def read_counters(cls, cursor: Any) -> dict[str, Any]:
        cursor.execute(
            "SELECT format('%I.%I', schemaname, sequencename), start_value, last_value FROM pg_sequences "
            "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        )
        return {name: [start, last] for name, start, last in cursor.fetchall()}

    @classmethod
    def reset_counters(cls, cursor: Any, counters: dict[str, Any]) -> None:
        for name, (start, last) in counters.items():
            # A sequence never read (last NULL) starts at its start value again.
            cursor.execute(
                "SELECT setval(%s::regclass, %s, %s)", [name, start if last is None else last, last is not None]
            )

    @classmethod
    def table_digests(cls, cursor: Any) -> dict[str, Any]:
        cursor.execute(
            "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables "
            "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        )
        digests = {}
        for (table,) in cursor.fetchall():
            cursor.execute(
                f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t"
            )
            digests[table] = list(cursor.fetchone())
        return digests

    @classmethod
    def product_from_version_string(cls, version_string: str) -> tuple[str, str]:
        return "PostgreSQL", version_string.split()[0]

    @classmethod
    def connect(cls, settings: dict[str, Any], timeout: float, database: str | None = None) -> Any:
        import psycopg2

        connection = psycopg2.connect(
            host=settings.get("HOST") or "127.0.0.1",
            port=settings.get("PORT") or 5432,
            user=settings.get("USER") or None,
            password=settings.get("PASSWORD") or None,
            # The maintenance database, as Django's own test-database creation uses.
            dbname=database or "postgres",
            connect_timeout=max(1, int(timeout)),
        )
        # DROP DATABASE is refused inside a transaction block.
        connection.autocommit = True
        return connection


class MySQL(Vendor):
    target = "mysql"
    django_vendor = "mysql"
    engine = "django.db.backends.mysql"
    url_schemes = ("mysql", "mysql2")
    default_url = "mysql://root@127.0.0.1:3307/portability"
    driver_module = "MySQLdb"
    driver_package = "mysqlclient"
    start_hint = "docker compose up -d --wait mysql"
    default_port = 3306
    connect_failure_messages = {
        # errno 110 (ETIMEDOUT), e.g. 2013 "Lost connection ... reading initial communication packet".
        "system error: 110": TIMED_OUT,
        "(110)": TIMED_OUT,
        "timed out": TIMED_OUT,
        "timeout": TIMED_OUT,
    }
    connect_failure_codes = {
        1045: AUTH_FAILED,  # access denied (user or password)
        1044: AUTH_FAILED,  # access denied to the database
        1698: AUTH_FAILED,  # access denied (e.g. root with unix_socket authentication)
        1049: UNKNOWN_DATABASE,
        2002: REFUSED,  # cannot connect (socket, or TCP in MariaDB Connector/C)
        2003: REFUSED,  # cannot connect over TCP
        2005: UNKNOWN_HOST,
    }
    # MySQL rejects identifiers over 64 characters.
    max_identifier_length = 64
    max_database_name_length = 64
    # DDL commits implicitly: a migration that fails part-way stays half-applied.
    case_insensitive_equality = True
    ignores_trailing_spaces = True
    integer_division = False
    error_hints = {
        1064: "MySQL/MariaDB rejected the SQL syntax: raw SQL or a backend-specific feature (double-quoted "
        "identifiers, DROP INDEX without ON, functional indexes); use the ORM or guard by connection.vendor",
        1406: "value too long for the column: SQLite does not enforce max_length; validate with full_clean() "
        "or raise max_length",
        1146: "the table does not exist here: an earlier statement that created it failed on this backend",
        1170: "MySQL/MariaDB cannot index a TEXT/BLOB column without a prefix length; use a CharField",
        1071: "index key too long for utf8mb4 (max 3072 bytes): shorten the CharField or the index",
        1292: "MySQL/MariaDB rejected a date/time value (zero dates, out of range, or a time zone it lacks)",
        1525: "MySQL/MariaDB rejected a date/time value",
        1139: "MySQL/MariaDB rejected the regular expression: regex syntax differs by backend",
        3819: "a check constraint rejected the row here (older servers ignore check constraints)",
        1062: "unique constraint violated",
        1235: "this MySQL/MariaDB version does not support the construct (e.g. LIMIT in a subquery)",
    }
    message_hints = {
        # CONVERT_TZ() returns NULL when the server's time zone tables are empty (the default).
        "invalid datetime value": "MySQL/MariaDB has no time zone definitions loaded, so CONVERT_TZ() returns "
        "NULL for Trunc/Extract with a tzinfo (or with USE_TZ and a non-UTC TIME_ZONE): load them with "
        "`mariadb-tzinfo-to-sql /usr/share/zoneinfo | mariadb mysql` (mysql_tzinfo_to_sql on MySQL)",
    }
    # Full Unicode, the same on MySQL and MariaDB (their defaults differ by version).
    default_options = {"charset": "utf8mb4"}
    test_settings = {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}
    list_databases_query = "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE %s"
    quote_template = "`{}`"
    sessions_query = "SELECT count(*) FROM information_schema.processlist WHERE db = %s AND id <> CONNECTION_ID()"
    try_lock_query = "SELECT GET_LOCK(%s, 0)"
    unlock_query = "SELECT RELEASE_LOCK(%s)"
    lock_in_use_query = "SELECT IS_USED_LOCK(%s) IS NOT NULL"

    # MySQL has no database comment: the markers live in a small harness-owned database, never in
    # the test database itself (tests may introspect it). A row outliving its database is stale.
    registry_database: ClassVar[str] = "portability_registry"
    registry_table: ClassVar[str] = "`portability_registry`.`test_databases`"
    # Errors meaning the registry does not exist yet: unknown database, unknown table.
    registry_missing_errors: ClassVar[tuple[int, ...]] = (1049, 1146)

    @classmethod
    def mark_test_database(cls, cursor: Any, name: str, marker: str) -> None:
        cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{cls.registry_database}`")
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {cls.registry_table} "
            "(name VARCHAR(64) NOT NULL PRIMARY KEY, marker VARCHAR(512) NOT NULL) ENGINE=InnoDB"
        )
        cursor.execute(f"REPLACE INTO {cls.registry_table} (name, marker) VALUES (%s, %s)", [name, marker])

    @classmethod
    def unmark_test_database(cls, cursor: Any, name: str) -> None:
        try:
            cursor.execute(f"DELETE FROM {cls.registry_table} WHERE name = %s", [name])
        except Exception as error:
            if _error_code(error) not in cls.registry_missing_errors:
                raise

    @classmethod
    def marked_test_databases(cls, cursor: Any) -> dict[str, str]:
        try:
            cursor.execute(
                f"DELETE FROM {cls.registry_table} WHERE name NOT IN "
                "(SELECT schema_name FROM information_schema.schemata)"
            )
            cursor.execute(
                f"SELECT r.name, r.marker FROM {cls.registry_table} r "
                "JOIN information_schema.schemata s ON s.schema_name = r.name"
            )
        except Exception as error:
            if _error_code(error) in cls.registry_missing_errors:
                return {}
            raise
        return {name: marker for name, marker in cursor.fetchall()}

    @classmethod
    def product_from_version_string(cls, version_string: str) -> tuple[str, str]:
        # A MariaDB server says so in its version string ("10.11.19-MariaDB-0+deb12u1").
        product = "MariaDB" if "mariadb" in version_string.lower() else "MySQL"
        match = re.match(r"[\d.]+", version_string)
        return product, match.group(0) if match else version_string

    @classmethod
    def read_counters(cls, cursor: Any) -> dict[str, Any]:
        try:  # MySQL 8 caches these figures for a day; MariaDB has no such variable
            cursor.execute("SET SESSION information_schema_stats_expiry = 0")
        except Exception:  # noqa: BLE001,S110
            pass
        cursor.execute(
            "SELECT table_name, auto_increment FROM information_schema.tables "
            "WHERE table_schema = DATABASE() AND auto_increment IS NOT NULL"
        )
        return {table: int(value) for table, value in cursor.fetchall()}

    @classmethod
    def reset_counters(cls, cursor: Any, counters: dict[str, Any]) -> None:
        for table, value in counters.items():
            cursor.execute(f"ALTER TABLE {cls.quote_template.format(table)} AUTO_INCREMENT = {int(value)}")

    @classmethod
    def table_digests(cls, cursor: Any) -> dict[str, Any]:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() "
            "AND table_type = 'BASE TABLE'"
        )
        tables = [row[0] for row in cursor.fetchall()]
        if not tables:
            return {}
        cursor.execute("CHECKSUM TABLE " + ", ".join(cls.quote_template.format(table) for table in tables))
        return {table: checksum for table, checksum in cursor.fetchall()}

    @classmethod
    def connect(cls, settings: dict[str, Any], timeout: float, database: str | None = None) -> Any:
        import MySQLdb

        return MySQLdb.connect(
            host=settings.get("HOST") or "127.0.0.1",
            port=int(settings.get("PORT") or 3306),
            user=settings.get("USER") or "root",
            password=settings.get("PASSWORD") or "",
            connect_timeout=max(1, int(timeout)),
            # Registry rows (markers) are written at once, as psycopg2's connection above does.
            autocommit=True,
            **({"database": database} if database else {}),
        )


class MariaDB(MySQL):
    target = "mariadb"
    url_schemes = ("mariadb", "mysql", "mysql2")
    default_url = "mysql://root@127.0.0.1:3306/portability"
    start_hint = "docker compose up -d --wait mariadb"


def _error_code(error: BaseException) -> Any:
    """The driver's error number (MySQLdb: args[0]), also through Django's wrapper (__cause__)."""
    for candidate in (error, error.__cause__):
        args = getattr(candidate, "args", ())
        if args and isinstance(args[0], int):
            return args[0]
    return None


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
    return ["sqlite", "postgresql", "mysql", "mariadb"]
