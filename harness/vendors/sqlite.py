"""SQLite: the in-process target, and the facts of the SQLite library."""

from __future__ import annotations

from typing import Any

from harness.vendors.base import Vendor
from harness.vendors.facts import ALWAYS, Product, Version, before, since, sqlite_library_version

# Field classes introspection names for columns of INTEGER affinity: each holds any 64-bit integer,
# whatever width was declared (Django declares smallint, integer, bigint, "integer unsigned", ...).
INTEGER_AFFINITY_FIELDS = frozenset(
    {
        "SmallIntegerField",
        "IntegerField",
        "BigIntegerField",
        "PositiveSmallIntegerField",
        "PositiveIntegerField",
        "PositiveBigIntegerField",
    }
)
# Fixed-width CHAR(N) columns Django creates for a richer type on products without a native one
# (django/db/backends/{sqlite3,mysql}/base.py data_types). Introspection calls them CharField.
FIXED_CHAR_TYPES = {
    32: "uuid",  # UUIDField: "char(32)"
    39: "inet",  # GenericIPAddressField: "char(39)"
}


class SQLite(Vendor):
    target = "sqlite"
    report_order = 0
    django_vendor = "sqlite"
    product = "SQLite"
    engine = "django.db.backends.sqlite3"
    url_schemes = ("sqlite",)
    default_url = "sqlite://:memory:"
    driver_module = "sqlite3"
    driver_package = "pysqlite3"
    is_server = False
    error_code_attributes = ("sqlite_errorname",)  # Python 3.11+

    @classmethod
    def product_from_version_string(cls, version_string: str) -> tuple[str, str]:
        return "SQLite", version_string


class SQLiteProduct(Product):
    name = "SQLite"
    engine = "django.db.backends.sqlite3"
    regex_dialect = "Python's re (Django registers REGEXP)"
    error_hints = {
        "SQLITE_ERROR": "SQLite rejected the SQL: a function, syntax or feature it lacks; use the ORM's portable "
        "expressions or guard raw SQL by connection.vendor",
    }
    sql_lacking = {
        "create_extension": ALWAYS,
        "double_colon_cast": ALWAYS,
        "ilike": ALWAYS,
        "serial": ALWAYS,
        "auto_increment": ALWAYS,
        "engine_option": ALWAYS,
        "drop_index_on": ALWAYS,
        "concurrently": ALWAYS,
        "returning": before("3.35"),
        "on_conflict": before("3.24"),
        "on_duplicate_key": ALWAYS,
        "insert_ignore": ALWAYS,
        "tilde_regex": ALWAYS,
        "truncate": ALWAYS,
        "alter_column": ALWAYS,
        "modify_column": ALWAYS,
        "postgresql_column_types": ALWAYS,
        "routine": ALWAYS,
    }
    functions = {
        "random": ALWAYS,
        "datetime": ALWAYS,
        "strftime": ALWAYS,
        "julianday": ALWAYS,
        "unixepoch": since("3.38"),
        "group_concat": ALWAYS,
        "ifnull": ALWAYS,
        "concat": since("3.44"),
        "string_agg": since("3.44"),
    }
    # The three built-in collating sequences.
    collations = (("binary", ALWAYS), ("nocase", ALWAYS), ("rtrim", ALWAYS))
    collation_names_case_insensitive = True

    @classmethod
    def version_of_library(cls) -> Version:
        return sqlite_library_version()

    @classmethod
    def introspected_column_type(cls, description: Any, field_class: str, size: Any) -> str | None:
        if field_class == "AutoField":
            # Every INTEGER PRIMARY KEY is SQLite's 64-bit rowid, whatever Django asked for.
            return "auto"
        if field_class in INTEGER_AFFINITY_FIELDS:
            return "int"
        if field_class == "CharField" and str(description.type_code).lower().startswith("char("):
            return FIXED_CHAR_TYPES.get(size, f"char({size})")
        return None

    @classmethod
    def conditional_index_names(cls, connection: Any, cursor: Any, table: str) -> set[str]:
        # PRAGMA index_list rows: (seq, name, unique, origin, partial).
        cursor.execute(f"PRAGMA index_list({connection.ops.quote_name(table)})")
        return {row[1] for row in cursor.fetchall() if len(row) > 4 and row[4]}
