"""Schema introspection and comparison for the pre-migration check (``portability migrations``).

After migrating, every target is introspected with Django's own ``connection.introspection`` and
mapped to one *portable* form, so that the same Django model gives the same :class:`TableInfo` on
SQLite, PostgreSQL and MySQL/MariaDB. :func:`schema_differences` then compares the targets with
each other and, optionally, with what the models declare (:func:`expected_schema`).

What is compared, and what is deliberately not:

* Columns by name: portable type, nullability and the database default (``db_default``).
* Primary keys by columns; foreign keys by columns → referenced ``table.column``.
* Unique constraints and indexes by kind + columns (+ the name, only for conditional or
  expression-based ones, whose columns alone do not identify them). Other names are ignored:
  every vendor names indexes differently and MySQL/MariaDB name foreign-key indexes themselves.
* Plain indexes that every vendor makes redundant are dropped before comparing (see
  :func:`_drop_redundant_indexes`), e.g. MySQL/MariaDB's automatic foreign-key index.
* Check constraints by name only: what introspection reports as their columns differs per vendor
  (SQLite's parser is approximate), so a named check is either there or "missing". A vendor that
  cannot introspect checks (``features.can_introspect_check_constraints`` is false: MySQL before
  8.0.16, which also ignores them) reports them missing — which is exactly the difference users
  need to see. Django's own column-type checks (JSON validity, ``>= 0`` of positive integers) are
  part of the column type, not constraints.
* Column order, comments, collations, index ordering/opclasses/types are not compared.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from harness.vendors import ServerFacts, facts_of_connection

__all__ = [
    "ColumnInfo",
    "ConstraintInfo",
    "SchemaDifference",
    "TableInfo",
    "expected_schema",
    "introspect",
    "schema_differences",
]


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    portable_type: str
    null: bool
    default: str | None  # only when the database has one (db_default), normalised literal


@dataclass(frozen=True)
class ConstraintInfo:
    kind: str  # "unique" | "index" | "check" | "foreign_key" | "primary_key"
    columns: tuple[str, ...]
    name: str | None  # kept only where it identifies the constraint (checks, conditional ones)
    condition: bool  # partial/conditional, expression-based or NULLS NOT DISTINCT
    references: tuple[str, str] | None = None  # (table, column) for foreign keys


@dataclass(frozen=True)
class TableInfo:
    name: str
    columns: tuple[ColumnInfo, ...]
    constraints: frozenset[ConstraintInfo]


@dataclass(frozen=True)
class SchemaDifference:
    table: str
    subject: str  # "table", "column code", "unique (a, b)", "check constraint x", ...
    per_target: dict[str, str]  # target name (or "models") → what is there, or "missing"
    message: str  # one line


MODELS = "models"  # the pseudo-target name of the expected schema in differences
MISSING = "missing"
PRESENT = "present"
# A default the models declare as an expression (Now(), Lower(...)): every vendor spells it
# differently, so against the models it only has to exist.
EXPRESSION_DEFAULT = "<expression>"
IGNORED_TABLES = frozenset({"django_migrations"})

# --- Portable types ------------------------------------------------------------------------

# Django field class (as introspection's get_field_type() or Field.get_internal_type() names it)
# → portable type. Widths of integers are kept: all three vendors store the declared width
# (SQLite keeps the declared type name too: "smallint", "bigint"), except for auto primary keys.
PORTABLE_TYPES = {
    "AutoField": "auto(integer)",
    "BigAutoField": "auto(bigint)",
    "SmallAutoField": "auto(smallint)",
    "SmallIntegerField": "smallint",
    "IntegerField": "integer",
    "BigIntegerField": "bigint",
    # The ">= 0" rule is a column CHECK on PostgreSQL/SQLite and UNSIGNED on MySQL/MariaDB; the
    # PostgreSQL introspection only sees the signed type, so positive integers compare as signed.
    "PositiveSmallIntegerField": "smallint",
    "PositiveIntegerField": "integer",
    "PositiveBigIntegerField": "bigint",
    "BooleanField": "boolean",
    "NullBooleanField": "boolean",
    "TextField": "text",
    "DateTimeField": "datetime",
    "DateField": "date",
    "TimeField": "time",
    "DurationField": "duration",
    "FloatField": "float",
    "UUIDField": "uuid",
    "JSONField": "json",
    "BinaryField": "binary",
    "GenericIPAddressField": "inet",
}
# Field classes stored as VARCHAR(max_length).
VARCHAR_FIELDS = frozenset({"CharField", "SlugField", "FileField", "ImageField", "FilePathField", "EmailField"})
# Foreign keys store the target's type; an auto primary key is referenced as a plain integer.
AUTO_TO_INTEGER = {
    "AutoField": "IntegerField",
    "BigAutoField": "BigIntegerField",
    "SmallAutoField": "SmallIntegerField",
}

_PARAMETERISED = re.compile(r"^(?P<base>[a-z ]+)\(.*\)$")


def _portable_from_field_class(field_class: str, max_length: Any = None, digits: Any = None, places: Any = None) -> str:
    if field_class in VARCHAR_FIELDS:
        return f"varchar({max_length})" if max_length else "varchar"
    if field_class == "DecimalField":
        # SQLite declares a bare "decimal": precision and scale are unknown there.
        return f"decimal({digits},{places})" if digits is not None and places is not None else "decimal"
    return PORTABLE_TYPES.get(field_class, field_class.removesuffix("Field").lower())


def _introspected_type(facts: ServerFacts, connection: Any, description: Any) -> str:
    """The portable type of one column from ``get_table_description()``."""
    try:
        field_class = connection.introspection.get_field_type(description.type_code, description)
    except KeyError:  # a type Django's introspection does not map (an array, a domain, an extension's type)
        return f"unknown({description.type_code})"
    size = description.display_size or description.internal_size
    said_otherwise = facts.product.introspected_column_type(description, field_class, size)
    if said_otherwise is not None:
        return said_otherwise
    if field_class == "CharField":
        return f"varchar({size})" if size and size > 0 else "varchar"
    if field_class == "DecimalField":
        return _portable_from_field_class(field_class, digits=description.precision, places=description.scale)
    return _portable_from_field_class(field_class)


def _normalise_default(facts: ServerFacts, default: str | None) -> str | None:
    """One spelling per literal database default."""
    if default is None:
        return None
    value = facts.product.normalise_default(str(default).strip())
    if value is None:
        return None
    while value.startswith("(") and value.endswith(")"):  # SQLite keeps the parentheses
        value = value[1:-1].strip()
    return {"true": "1", "false": "0"}.get(value.lower(), value)


# --- Introspection ---------------------------------------------------------------------------


def _is_column_type_check(table: str, name: str, columns: tuple[str, ...]) -> bool:
    """Is this CHECK the one Django adds to a column's type (JSON validity, positive integers)?

    Django writes those inline and unnamed: SQLite/MySQL introspection then calls them
    ``__unnamed_constraint_N__`` and PostgreSQL names them ``<table>_<column>_check``.
    """
    if len(set(columns)) != 1:
        return False
    return name.startswith("__unnamed_constraint_") or name == f"{table}_{columns[0]}_check"


def _constraints_from_introspection(
    table: str, raw: dict[str, dict[str, Any]], conditional: set[str]
) -> set[ConstraintInfo]:
    found: set[ConstraintInfo] = set()
    for name, info in raw.items():
        raw_columns = list(info.get("columns") or [])
        columns = tuple(c for c in raw_columns if c is not None)
        # An expression index has no column for the expression (None on SQLite/MySQL, nothing but
        # a "definition" on PostgreSQL).
        expression = len(columns) != len(raw_columns) or not raw_columns or bool(info.get("definition"))
        if info.get("primary_key"):
            found.add(ConstraintInfo("primary_key", columns, None, False))
            continue
        if info.get("foreign_key"):
            found.add(ConstraintInfo("foreign_key", columns, None, False, tuple(info["foreign_key"])))
            if info.get("index"):  # MySQL/MariaDB: the FK and the index the server made for it
                found.add(ConstraintInfo("index", columns, None, False))
            continue
        if info.get("check"):
            if not _is_column_type_check(table, name, columns):
                found.add(ConstraintInfo("check", (), name, False))
            continue
        kind = "unique" if info.get("unique") else "index" if info.get("index") else None
        if kind is None:
            continue
        condition = expression or name in conditional
        found.add(ConstraintInfo(kind, () if expression else columns, name if condition else None, condition))
    return found


def _drop_redundant_indexes(constraints: Iterable[ConstraintInfo]) -> frozenset[ConstraintInfo]:
    """Drop plain indexes whose job every vendor does anyway, so only real differences remain.

    * An index on exactly a foreign key's columns: MySQL/MariaDB (InnoDB) create one for every
      foreign key themselves, even with ``db_index=False``, and skip Django's own.
    * An index whose columns are a leading prefix of another unconditional index, unique or
      primary key: InnoDB reuses the longer index for a foreign key (so an m2m table has no
      separate index on its first column there), and PostgreSQL adds a ``*_like`` pattern-ops
      twin index for unique/indexed char columns.
    """
    constraints = set(constraints)
    foreign_keys = {c.columns for c in constraints if c.kind == "foreign_key"}
    covering = [c for c in constraints if c.kind in {"index", "unique", "primary_key"} and not c.condition]

    def redundant(index: ConstraintInfo) -> bool:
        if index.kind != "index" or index.condition:
            return False
        if index.columns in foreign_keys:
            return True
        width = len(index.columns)
        return any(
            other is not index
            and len(other.columns) >= width
            and other.columns[:width] == index.columns
            and (other.kind != "index" or len(other.columns) > width)
            for other in covering
        )

    return frozenset(c for c in constraints if not redundant(c))


def introspect(connection: Any, tables: Iterable[str] | None = None) -> dict[str, TableInfo]:
    """The portable schema of ``tables`` (default: every table but django_migrations)."""
    introspection = connection.introspection
    facts = facts_of_connection(connection)
    result: dict[str, TableInfo] = {}
    with connection.cursor() as cursor:
        if tables is None:
            tables = [
                t.name for t in introspection.get_table_list(cursor) if t.type == "t" and t.name not in IGNORED_TABLES
            ]
        for table in sorted(tables):
            columns = tuple(
                ColumnInfo(
                    name=d.name,
                    portable_type=_introspected_type(facts, connection, d),
                    null=bool(d.null_ok),
                    default=_normalise_default(facts, d.default),
                )
                for d in introspection.get_table_description(cursor, table)
            )
            raw = introspection.get_constraints(cursor, table)
            conditional = facts.product.conditional_index_names(connection, cursor, table)
            constraints = _drop_redundant_indexes(_constraints_from_introspection(table, raw, conditional))
            result[table] = TableInfo(table, columns, constraints)
    return result


# --- What the models declare -----------------------------------------------------------------


def _expected_type(field: Any) -> str:
    field_class = field.get_internal_type()
    if field.is_relation:  # ForeignKey/OneToOneField: the column has the target's type
        target = field.target_field
        while target.is_relation:  # a key to a child model's key, itself the parent link (multi-table inheritance)
            target = target.target_field
        field_class = AUTO_TO_INTEGER.get(target.get_internal_type(), target.get_internal_type())
        return _portable_from_field_class(field_class, getattr(target, "max_length", None))
    return _portable_from_field_class(
        field_class,
        getattr(field, "max_length", None),
        getattr(field, "max_digits", None),
        getattr(field, "decimal_places", None),
    )


def _expected_default(field: Any) -> str | None:
    from django.db.models import NOT_PROVIDED, Value

    db_default = field.db_default
    if db_default is NOT_PROVIDED:
        return None
    if isinstance(db_default, Value):
        value = db_default.value
    elif hasattr(db_default, "resolve_expression"):
        return EXPRESSION_DEFAULT
    else:  # a plain literal (Django wraps it in Value() only when compiling)
        value = db_default
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return str(value)


def _field_columns(model: Any, names: Iterable[str]) -> tuple[str, ...]:
    return tuple(model._meta.get_field(name.lstrip("-")).column for name in names)


def _expected_constraints(model: Any) -> set[ConstraintInfo]:
    from django.db.models import CheckConstraint, UniqueConstraint

    opts = model._meta
    found: set[ConstraintInfo] = set()
    for field in opts.local_concrete_fields:
        column = (field.column,)
        if field.primary_key:
            found.add(ConstraintInfo("primary_key", column, None, False))
        elif field.unique:
            found.add(ConstraintInfo("unique", column, None, False))
        elif field.db_index:
            found.add(ConstraintInfo("index", column, None, False))
        if field.is_relation and field.db_constraint:
            target = field.target_field
            found.add(ConstraintInfo("foreign_key", column, None, False, (target.model._meta.db_table, target.column)))
    for fields in opts.unique_together:
        found.add(ConstraintInfo("unique", _field_columns(model, fields), None, False))
    for index in opts.indexes:
        conditional = bool(index.condition is not None or index.expressions)
        columns = () if index.expressions else _field_columns(model, index.fields)
        found.add(ConstraintInfo("index", columns, index.name if conditional else None, conditional))
    for constraint in opts.constraints:
        if isinstance(constraint, CheckConstraint):
            found.add(ConstraintInfo("check", (), constraint.name, False))
        elif isinstance(constraint, UniqueConstraint):
            conditional = bool(
                constraint.condition is not None or constraint.expressions or constraint.nulls_distinct is False
            )
            columns = () if constraint.expressions else _field_columns(model, constraint.fields)
            found.add(ConstraintInfo("unique", columns, constraint.name if conditional else None, conditional))
    return found


def expected_schema(apps: Any, connection: Any, app_labels: Callable[[str], bool] = bool) -> dict[str, TableInfo]:
    """What the managed, concrete models of ``apps`` declare (incl. auto-created m2m tables), of the
    apps whose label ``app_labels`` accepts.

    ``connection`` is only used to convert identifiers the way its introspection reports them.
    """
    convert = connection.introspection.identifier_converter
    result: dict[str, TableInfo] = {}
    for model in apps.get_models(include_auto_created=True):
        opts = model._meta
        if not opts.managed or opts.proxy or opts.swapped or opts.abstract or not app_labels(opts.app_label):
            continue
        columns = tuple(
            ColumnInfo(convert(f.column), _expected_type(f), bool(f.null), _expected_default(f))
            for f in opts.local_concrete_fields
        )
        table = convert(opts.db_table)
        result[table] = TableInfo(table, columns, _drop_redundant_indexes(_expected_constraints(model)))
    return result


# --- Comparison ------------------------------------------------------------------------------


INTEGER_TYPES = frozenset({"integer", "bigint", "smallint"})


def _types_match(a: str, b: str) -> bool:
    """Equal, or one is the bare form a vendor reports when it cannot tell the parameters.

    SQLite's "decimal" (no precision/scale) matches "decimal(8,2)"; its "auto" (rowid) matches
    any "auto(...)" and any integer; its "int" any integer width.
    """
    if a == b:
        return True
    # SQLite reports every integer primary key as its rowid ("auto"), also a non-auto one such as
    # the parent link of multi-table inheritance, which the others store as a plain integer; and
    # any other integer column as "int": its declared width means nothing there.
    for bare in ("auto", "int"):
        if bare in (a, b) and ({a, b} - {bare}) <= INTEGER_TYPES:
            return True
    for bare, full in ((a, b), (b, a)):
        match = _PARAMETERISED.match(full)
        if match and match["base"] == bare:
            return True
    return False


def _defaults_match(a: str | None, b: str | None) -> bool:
    if EXPRESSION_DEFAULT in (a, b):
        return a is not None and b is not None
    return a == b


def _columns_match(a: ColumnInfo | None, b: ColumnInfo | None) -> bool:
    if a is None or b is None:
        return a is b
    return _types_match(a.portable_type, b.portable_type) and a.null == b.null and _defaults_match(a.default, b.default)


def _describe_column(column: ColumnInfo | None) -> str:
    if column is None:
        return MISSING
    text = f"{column.portable_type} {'null' if column.null else 'not null'}"
    return text if column.default is None else f"{text} default {column.default}"


def _describe_constraint(constraint: ConstraintInfo) -> str:
    if constraint.kind == "check":
        return f"check constraint {constraint.name}"
    columns = "(" + ", ".join(constraint.columns) + ")" if constraint.columns else "(expression)"
    kind = {"primary_key": "primary key", "foreign_key": "foreign key"}.get(constraint.kind, constraint.kind)
    text = f"{kind} {columns}"
    if constraint.references:
        text += f" -> {constraint.references[0]}.{constraint.references[1]}"
    if constraint.condition:  # partial (a condition) or over expressions (no columns)
        text = f"{kind} {constraint.name} {columns}" + (" conditional" if constraint.columns else "")
    return text


def _message(table: str, subject: str, per_target: dict[str, str]) -> str:
    listed = "; ".join(f"{target}: {what}" for target, what in per_target.items())
    return f"{table}: {subject} differs ({listed})"


def schema_differences(
    schemas: dict[str, dict[str, TableInfo]], expected: dict[str, TableInfo] | None = None
) -> list[SchemaDifference]:
    """Every table, column and constraint that is not the same on all targets (and the models)."""
    everything = dict(schemas)
    if expected is not None:
        everything[MODELS] = expected
    targets = list(everything)
    differences: list[SchemaDifference] = []

    def add(table: str, subject: str, per_target: dict[str, str]) -> None:
        differences.append(SchemaDifference(table, subject, per_target, _message(table, subject, per_target)))

    for table in sorted(set().union(*(s.keys() for s in everything.values())) if everything else ()):
        infos = {t: everything[t].get(table) for t in targets}
        if any(info is None for info in infos.values()):
            add(table, "table", {t: PRESENT if info else MISSING for t, info in infos.items()})
            continue
        by_target = {t: {c.name: c for c in info.columns} for t, info in infos.items()}
        names = sorted(set().union(*(cols.keys() for cols in by_target.values())))
        for name in names:
            columns = {t: cols.get(name) for t, cols in by_target.items()}
            if not all(_columns_match(a, b) for a, b in combinations(columns.values(), 2)):
                add(table, f"column {name}", {t: _describe_column(c) for t, c in columns.items()})
        all_constraints = set().union(*(info.constraints for info in infos.values()))
        for constraint in sorted(all_constraints, key=_describe_constraint):
            present = {t: constraint in info.constraints for t, info in infos.items()}
            if not all(present.values()):
                add(
                    table,
                    _describe_constraint(constraint),
                    {t: PRESENT if here else MISSING for t, here in present.items()},
                )
    return differences
