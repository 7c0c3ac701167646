"""MySQL: the target (MariaDB's too: harness.vendors.mariadb), and the facts of the MySQL server."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from harness.vendors.base import (
    AUTH_FAILED,
    REFUSED,
    TIMED_OUT,
    UNKNOWN_DATABASE,
    UNKNOWN_HOST,
    Vendor,
    driver_error_code,
)
from harness.vendors.facts import ALWAYS, Product, Version, before, since

# Character sets whose collations are named charset_variant.
CHARSETS = r"(utf8mb4|utf8mb3|utf8|latin1|latin2|ascii|ucs2|utf16|utf16le|utf32|cp1250|cp1251|big5|gbk|sjis)"
# information_schema data types introspection reports as TextField that hold bytes.
BINARY_DATA_TYPES = frozenset({"tinyblob", "blob", "mediumblob", "longblob", "binary", "varbinary"})
# Fixed-width CHAR(N) columns Django creates for a type without a native one here (mysql/base.py).
FIXED_CHAR_TYPES = {32: "uuid", 39: "inet"}


class MySQL(Vendor):
    target = "mysql"
    report_order = 2
    django_vendor = "mysql"
    product = "MySQL"
    engine = "django.db.backends.mysql"
    url_schemes = ("mysql", "mysql2")
    default_url = "mysql://root@127.0.0.1:3307/portability"
    driver_module = "MySQLdb"
    driver_package = "mysqlclient"
    error_modules = ("MySQLdb", "pymysql")
    start_hint = "docker compose up -d --wait mysql"
    default_port = 3306
    error_code_in_first_argument = True
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
    max_database_name_length = 64
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
            if driver_error_code(error) not in cls.registry_missing_errors:
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
            if driver_error_code(error) in cls.registry_missing_errors:
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


class MySQLProduct(Product):
    name = "MySQL"
    engine = "django.db.backends.mysql"
    regex_dialect = "ICU"
    # Names over 64 characters are an error (1059).
    identifier_unit = "characters"
    identifier_overflow = "rejects"
    # Under the harness's test collation utf8mb4_unicode_ci (PAD SPACE, case-insensitive); MySQL 8's own
    # default utf8mb4_0900_ai_ci is NO PAD.
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
    # InnoDB's largest index key (DYNAMIC/COMPRESSED row format, the default since MySQL 5.7 / MariaDB 10.2),
    # and what a VARCHAR character counts for under utf8mb4 (error 1071 when exceeded).
    max_key_bytes = 3072
    key_bytes_per_char = 4
    # Key bytes of fixed-size column types, for composite keys that mix them with CharFields. A UUIDField
    # is char(32) (128 bytes in utf8mb4) where Django's has_native_uuid_field is False, else 16.
    fixed_key_bytes = {
        "AutoField": 4,
        "BigAutoField": 8,
        "SmallAutoField": 2,
        "IntegerField": 4,
        "BigIntegerField": 8,
        "SmallIntegerField": 2,
        "PositiveIntegerField": 4,
        "PositiveBigIntegerField": 8,
        "PositiveSmallIntegerField": 2,
        "BooleanField": 1,
        "DateField": 3,
        "DateTimeField": 8,
        "TimeField": 6,
        "DurationField": 8,
        "FloatField": 8,
        "UUIDField": 128,
        "ForeignKey": 8,
        "OneToOneField": 8,
    }
    # Stored as TEXT/BLOB/JSON (Django's mysql _limited_data_types): a key needs a prefix length (error
    # 1170), and Django silently skips db_index=True on them.
    unkeyable_field_types = frozenset({"TextField", "BinaryField", "JSONField"})
    literal_default_on_text = since("8.0.13")
    sql_lacking = {
        "double_quoted_identifier": ALWAYS,
        "create_extension": ALWAYS,
        "double_colon_cast": ALWAYS,
        "ilike": ALWAYS,
        "serial": ALWAYS,
        "autoincrement": ALWAYS,
        "create_index_if_not_exists": ALWAYS,
        "parenthesised_index_expression": before("8.0.13"),
        "function_index_key": ALWAYS,
        "drop_index_without_on": ALWAYS,
        "concurrently": ALWAYS,
        "returning": ALWAYS,
        "on_conflict": ALWAYS,
        "insert_or_ignore": ALWAYS,
        "tilde_regex": ALWAYS,
        "pipe_concatenation": ALWAYS,
        "alter_column_type": ALWAYS,
        "alter_column_not_null": ALWAYS,
        "postgresql_column_types": ALWAYS,
        "routine": ALWAYS,
    }
    functions = {
        name: ALWAYS
        for name in (
            "now",
            "uuid",
            "rand",
            "date_format",
            "str_to_date",
            "unix_timestamp",
            "curdate",
            "group_concat",
            "ifnull",
            "concat",
            "char_length",
            "md5",
        )
    }
    collations = ((CHARSETS + r"_(?!uca1400_)\w+", ALWAYS), ("binary", ALWAYS))
    collation_names_case_insensitive = True

    @classmethod
    def django_server_state(cls, version: Version) -> tuple[dict[str, Any], dict[str, Any]]:
        full = (tuple(version) + (0, 0, 0))[:3]
        connection = {
            "mysql_version": full,
            "mysql_is_mariadb": cls.name == "MariaDB",
            "mysql_server_info": ".".join(map(str, full)) + ("-MariaDB" if cls.name == "MariaDB" else ""),
        }
        # Django reads the default storage engine from the server; the harness's test databases use InnoDB.
        return connection, {"_mysql_storage_engine": "InnoDB"}

    @classmethod
    def introspected_column_type(cls, description: Any, field_class: str, size: Any) -> str | None:
        data_type = (getattr(description, "data_type", "") or "").lower()
        if data_type == "tinyint" and description.internal_size == 1:
            # BooleanField is "bool" = tinyint(1); introspection calls every TINYINT IntegerField.
            return "boolean"
        if field_class == "TextField" and data_type in BINARY_DATA_TYPES:
            return "binary"
        if field_class == "CharField" and data_type == "char":
            return FIXED_CHAR_TYPES.get(size, f"char({size})")
        return None

    @classmethod
    def normalise_default(cls, value: str) -> str | None:
        # MariaDB's information_schema says 'NULL' for a nullable column without a default.
        return None if value.upper() == "NULL" else value
