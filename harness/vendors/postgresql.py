"""PostgreSQL: the target, and the facts of the PostgreSQL server."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from harness.vendors.base import AUTH_FAILED, REFUSED, TIMED_OUT, UNKNOWN_DATABASE, UNKNOWN_HOST, Vendor
from harness.vendors.facts import ALWAYS, Product, Version, since

# ::casts PostgreSQL appends to a default it reports ('x'::character varying).
_CAST_SUFFIX = re.compile(r"::[a-z_ ]+(\(\d+(,\s*\d+)?\))?(\[\])?$", re.IGNORECASE)
# Type OIDs introspection maps to CharField but that are blank-padded CHAR(N).
FIXED_CHAR_OIDS = frozenset({1042})  # bpchar
# Indexes with a predicate (partial) or, from PostgreSQL 15, NULLS NOT DISTINCT: Django's
# introspection reports them exactly like plain ones.
CONDITIONAL_INDEXES_QUERY = """
    SELECT ic.relname
    FROM pg_index i
    JOIN pg_class ic ON ic.oid = i.indexrelid
    JOIN pg_class tc ON tc.oid = i.indrelid
    WHERE tc.relname = %s AND pg_catalog.pg_table_is_visible(tc.oid)
      AND (i.indpred IS NOT NULL {nulls_not_distinct})
"""


class PostgreSQL(Vendor):
    target = "postgresql"
    report_order = 1
    django_vendor = "postgresql"
    product = "PostgreSQL"
    engine = "django.db.backends.postgresql"
    url_schemes = ("postgres", "postgresql", "pgsql")
    default_url = "postgres://postgres@127.0.0.1:5432/portability"
    driver_module = "psycopg2"
    driver_package = "psycopg2-binary"
    error_modules = ("psycopg2", "psycopg")
    start_hint = "docker compose up -d --wait postgresql"
    default_port = 5432
    # psycopg2's pgcode, psycopg 3's sqlstate: the SQLSTATE.
    error_code_attributes = ("pgcode", "sqlstate")
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
    max_database_name_length = 63
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


class PostgreSQLProduct(Product):
    name = "PostgreSQL"
    engine = "django.db.backends.postgresql"
    regex_dialect = "POSIX ARE, \\y is the word boundary and \\b a backspace"
    # Names over NAMEDATALEN - 1 bytes are cut short without an error: two long names can collide.
    identifier_unit = "bytes"
    identifier_overflow = "truncates silently"
    integer_division = True
    schema_change_after_writes_fails = True
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
    sql_lacking = {
        "backtick_identifier": ALWAYS,
        "auto_increment": ALWAYS,
        "autoincrement": ALWAYS,
        "engine_option": ALWAYS,
        "drop_index_on": ALWAYS,
        "on_duplicate_key": ALWAYS,
        "insert_ignore": ALWAYS,
        "insert_or_ignore": ALWAYS,
        "replace_into": ALWAYS,
        "regexp_operator": ALWAYS,
        "modify_column": ALWAYS,
        "unsigned": ALWAYS,
        "mysql_column_types": ALWAYS,
        "routine": ALWAYS,
    }
    functions = {
        "now": ALWAYS,
        "gen_random_uuid": ALWAYS,  # built in since 13 (Django 5.2 supports 14+)
        "uuid_generate_v4": ALWAYS,
        "random": ALWAYS,
        "date_trunc": ALWAYS,
        "to_char": ALWAYS,
        "to_tsvector": ALWAYS,
        "generate_series": ALWAYS,
        "array_agg": ALWAYS,
        "string_agg": ALWAYS,
        "concat": ALWAYS,
        "char_length": ALWAYS,
        "md5": ALWAYS,
    }
    # Built-ins, ICU collations ("und-x-icu", "de-x-icu") and libc locales ("en_US.utf8"); names are identifiers.
    collations = (
        ("C", ALWAYS),
        ("POSIX", ALWAYS),
        ("default", ALWAYS),
        ("ucs_basic", ALWAYS),
        ("unicode", since("16")),
        ("pg_c_utf8", since("17")),
        (r"[a-z]{2,3}(-[A-Za-z0-9]+)*-x-icu", ALWAYS),
        (r"[a-z]{2,3}_[A-Z]{2}(\.(utf8|UTF-8))?", ALWAYS),
    )

    @classmethod
    def django_server_state(cls, version: Version) -> tuple[dict[str, Any], dict[str, Any]]:
        major, minor = (tuple(version) + (0, 0))[:2]
        return {"pg_version": major * 10000 + minor}, {}

    @classmethod
    def introspected_column_type(cls, description: Any, field_class: str, size: Any) -> str | None:
        if description.type_code in FIXED_CHAR_OIDS:
            return f"char({size})"
        return None

    @classmethod
    def normalise_default(cls, value: str) -> str | None:
        return _CAST_SUFFIX.sub("", value)

    @classmethod
    def conditional_index_names(cls, connection: Any, cursor: Any, table: str) -> set[str]:
        nulls = "OR i.indnullsnotdistinct" if connection.pg_version >= 150000 else ""
        cursor.execute(CONDITIONAL_INDEXES_QUERY.format(nulls_not_distinct=nulls), [table])
        return {row[0] for row in cursor.fetchall()}
