"""What a Django query asks for and returns: column roles, ordering, and its inputs.

Only reads Django's query objects (never changes them); used by the recorder inside a worker.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterator
from typing import Any

from harness.canonical import CLOCK_FIELD, GENERATED_UUID, KEY, KEY_DERIVED, PLAIN, Clock, Column, canonical_plain
from harness.identity import Identities

# Expressions whose value is one of the values of their column (a key stays that key, a
# written value that value).
VALUE_PRESERVING = ("Min", "Max", "Coalesce")


def column_of(expression: Any, key_columns: frozenset[str] = frozenset()) -> Column:
    """What a selected expression holds: an auto key (or a reference to one), a clock value, or data."""
    from django.db.models import DateField, ForeignObject, UUIDField
    from django.db.models.expressions import Col, RawSQL
    from django.db.models.fields import AutoFieldMixin
    from django.db.models.functions import Now

    sources = list(_sources(expression))
    if isinstance(expression, Now) or any(isinstance(source, Now) for source in sources):
        return Column(CLOCK_FIELD)
    if isinstance(expression, RawSQL) and key_columns & set(re.findall(r"\w+", expression.sql)):
        return Column(KEY_DERIVED)  # extra(select={"n": "id + 1"}): computed from a raw key
    if not isinstance(expression, Col) and any(
        isinstance(source, Col) and column_of(source).role == KEY for source in sources
    ):
        kind = type(expression).__name__
        if kind == "Count":
            return Column(PLAIN)  # counts rows, whatever their keys
        if kind not in VALUE_PRESERVING:
            return Column(KEY_DERIVED)  # Sum("id"), F("id") + 1: computed from raw key values
    try:
        output = expression.output_field
    except Exception:  # noqa: BLE001 - an expression without a resolvable type is plain data
        return Column()
    target = getattr(expression, "target", None) or output
    # A foreign key (or a chain of them, as multi-table inheritance builds) holds the key it points at.
    while isinstance(target, ForeignObject) and target.target_field is not target:
        target = target.target_field
    if isinstance(target, AutoFieldMixin):
        return Column(KEY, target.model._meta.concrete_model._meta.label)
    if isinstance(target, UUIDField) and target.primary_key and target.has_default():
        return Column(GENERATED_UUID, target.model._meta.concrete_model._meta.label)
    if isinstance(target, DateField) and (getattr(target, "auto_now", False) or getattr(target, "auto_now_add", False)):
        return Column(CLOCK_FIELD)
    return Column(PLAIN, source=_source_column(expression))


# Per model field, by identity (a Field's own __hash__ is Python code, and slow): the field itself
# is kept with its value, so its id is never reused while the entry exists.
_FIELD_ROLES: dict[int, tuple[Any, Column]] = {}


def column_role(expression: Any, key_columns: frozenset[str] = frozenset()) -> Column:
    """column_of, remembered per model field for plain column references (most columns)."""
    target = getattr(expression, "target", None)
    if target is None or type(expression).__name__ != "Col":
        return column_of(expression, key_columns)
    known = _FIELD_ROLES.get(id(target))
    if known is None:
        known = _FIELD_ROLES[id(target)] = (target, column_of(expression, key_columns))
    return known[1]


def field_role(field: Any) -> Column:
    """What a model field's column holds."""
    known = _FIELD_ROLES.get(id(field))
    if known is None:
        from django.db.models.expressions import Col

        known = _FIELD_ROLES[id(field)] = (field, column_of(Col(field.model._meta.db_table, field)))
    return known[1]


def _source_column(expression: Any) -> str | None:
    """``table.column`` when the expression reads a stored value unchanged (a column, its Min/Max)."""
    from django.db.models.expressions import Col

    if type(expression).__name__ in VALUE_PRESERVING:
        # An aggregate's sources also hold its filter (and order_by): None unless given.
        arguments = [argument for argument in expression.get_source_expressions() if argument is not None]
        expression = arguments[0] if len(arguments) == 1 else None
    if isinstance(expression, Col) and getattr(expression.target, "model", None) is not None:
        return column_id(expression.target)
    return None


_COLUMN_IDS: dict[int, tuple[Any, str]] = {}


def column_id(field: Any) -> str:
    """The identity of a model field's table column."""
    known = _COLUMN_IDS.get(id(field))
    if known is None:
        known = _COLUMN_IDS[id(field)] = (field, f"{field.model._meta.db_table}.{field.column}")
    return known[1]


@functools.cache
def key_column_names(opts: Any) -> frozenset[str]:
    """Column names of a model that hold auto keys (its own or those it points at)."""
    return frozenset(field.column for field in opts.concrete_fields if field_role(field).role == KEY)


def _sources(expression: Any) -> Iterator[Any]:
    for source in getattr(expression, "get_source_expressions", lambda: [])() or []:
        if source is not None:
            yield source
            yield from _sources(source)


def row_keyed(expressions: list[Any]) -> list[bool]:
    """For each selected column, is the primary key of its row selected beside it? A written value
    read there is then identified by that key, and needs no number of its own."""
    columns = [
        (expression.alias, expression.target) if type(expression).__name__ == "Col" else None
        for expression in expressions
    ]
    keys = {(alias, target.model) for alias, target in filter(None, columns) if target.primary_key}
    return [
        column is not None and not column[1].primary_key and (column[0], column[1].model) in keys for column in columns
    ]


# Field types whose values, as Django's converters give them, are immutable (str, int, bool,
# float, Decimal, date/time types, UUID); not JSON, binary or composite values, nor anything a
# field's from_db_value makes.
_IMMUTABLE_INTERNAL_TYPES = frozenset(
    {
        "AutoField",
        "BigAutoField",
        "SmallAutoField",
        "IntegerField",
        "BigIntegerField",
        "SmallIntegerField",
        "PositiveIntegerField",
        "PositiveBigIntegerField",
        "PositiveSmallIntegerField",
        "BooleanField",
        "CharField",
        "TextField",
        "SlugField",
        "EmailField",
        "URLField",
        "GenericIPAddressField",
        "IPAddressField",
        "FilePathField",
        "DecimalField",
        "FloatField",
        "DateField",
        "DateTimeField",
        "TimeField",
        "DurationField",
        "UUIDField",
        "ForeignKey",
        "OneToOneField",
    }
)
_IMMUTABLE_FIELD_CLASSES: dict[type, bool] = {}


def immutable_values(expressions: list[Any]) -> bool:
    """Do the selected expressions all give immutable values (so nothing the code does with a row
    can change what it held)?"""
    for expression in expressions:
        try:
            output = expression.output_field
        except Exception:  # noqa: BLE001 - no resolvable type: anything may come back
            return False
        kind = type(output)
        immutable = _IMMUTABLE_FIELD_CLASSES.get(kind)
        if immutable is None:
            try:
                internal_type = output.get_internal_type()
            except Exception:  # noqa: BLE001
                internal_type = None
            immutable = _IMMUTABLE_FIELD_CLASSES[kind] = (
                getattr(kind, "from_db_value", None) is None and internal_type in _IMMUTABLE_INTERNAL_TYPES
            )
        if not immutable:
            return False
    return True


def column_name(expression: Any, alias: str | None) -> str:
    """A stable name for a selected column: its alias, or table alias and column."""
    if alias:
        return alias
    target = getattr(expression, "target", None)
    column = getattr(target, "column", None)
    if column is not None:
        return f"{getattr(expression, 'alias', '')}.{column}"
    return type(expression).__name__


@functools.cache
def natural_key_fields(opts: Any) -> tuple[Any, ...] | None:
    """The fields of a model's first unconditional unique constraint (not its primary key):
    what identifies one of its rows whatever key the backend allocated."""
    from django.db.models import UniqueConstraint

    candidates = [tuple(together) for together in opts.unique_together]
    candidates += [
        tuple(constraint.fields)
        for constraint in opts.constraints
        if isinstance(constraint, UniqueConstraint) and constraint.fields and constraint.condition is None
    ]
    candidates += [(field.name,) for field in opts.concrete_fields if field.unique and not field.primary_key]
    for names in candidates:
        try:
            return tuple(opts.get_field(name) for name in names)
        except Exception:  # noqa: BLE001 - a constraint naming something that is not a field
            continue
    return None


# ---------------------------------------------------------------- ordering


def has_total_order(query: Any) -> bool:
    """Does the query's ORDER BY fix the order of every row (pk, a unique field, or every group key)?"""
    ordering = list(query.order_by) or (list(query.get_meta().ordering) if query.default_ordering else [])
    names = {str(item).lstrip("-") for item in ordering if isinstance(item, str)}
    if not names:
        return False
    opts = query.get_meta()
    if names & unique_field_names(opts):
        return True
    for together in opts.unique_together:
        if set(together) <= names:
            return True
    if query.values_select and query.group_by is not None and set(query.values_select) <= names:
        return True
    return False


def has_explicit_order(query: Any) -> bool:
    return bool(query.order_by) or bool(query.default_ordering and query.get_meta().ordering)


@functools.cache
def unique_field_names(opts: Any) -> frozenset[str]:
    """Names by which an ORDER BY can name a unique column of the model."""
    unique = [field for field in opts.concrete_fields if field.unique]
    return frozenset({"pk", opts.pk.name, opts.pk.attname} | {f.name for f in unique} | {f.attname for f in unique})


# ---------------------------------------------------------------- inputs


def input_fingerprint(query: Any, identities: Identities, clock: Clock) -> str:
    """What the query asks for, with keys and written values renamed: equal on every backend
    for the same question, so queries of one call site can be matched by it, not by position."""
    parts = [
        query.model._meta.label if query.model is not None else "",
        _node(query.where, identities, clock),
        query.low_mark,
        query.high_mark,
    ]
    # repr, not hash(): fingerprints are compared across processes (and CI jobs with other hash seeds).
    return hashlib.blake2b(repr(parts).encode(), digest_size=8).hexdigest()


@functools.cache
def _query_classes() -> tuple[type, type, type, type]:
    """Django's WhereNode, Lookup, Query and Model, imported once (not at import: Django is set up later)."""
    from django.db.models import Model
    from django.db.models.lookups import Lookup
    from django.db.models.sql.query import Query
    from django.db.models.sql.where import WhereNode

    return WhereNode, Lookup, Query, Model


def _node(node: Any, identities: Identities, clock: Clock) -> Any:
    WhereNode, Lookup, _, _ = _query_classes()
    if isinstance(node, WhereNode):
        return [node.connector, node.negated, [_node(child, identities, clock) for child in node.children]]
    if isinstance(node, Lookup):
        column = column_role(node.lhs)
        key_model = column.model if column.role in (KEY, GENERATED_UUID) else None
        rhs = node.rhs
        if node.lookup_name == "in" and isinstance(rhs, list | tuple | set | frozenset):
            # An __in list's order is the test's iteration order, which may differ between backends.
            items = [_input(item, key_model, identities, clock) for item in rhs]
            rhs_input: Any = sorted(items, key=repr)
        else:
            rhs_input = _input(rhs, key_model, identities, clock)
        return [node.lookup_name, column_name(node.lhs, None), rhs_input]
    params = getattr(node, "params", None)  # ExtraWhere
    if isinstance(params, list | tuple):
        return [type(node).__name__, [_input(value, None, identities, clock) for value in params]]
    return type(node).__name__


def _input(value: Any, key_model: str | None, identities: Identities, clock: Clock) -> Any:
    if type(value) in (int, str):  # the common case, canonical as it is
        return identities.input_label(value, key_model)
    _, _, Query, Model = _query_classes()
    if isinstance(value, Query):
        return ["subquery", _node(value.where, identities, clock)]
    if hasattr(value, "resolve_expression"):
        return type(value).__name__
    if isinstance(value, set | frozenset):
        items = [_input(item, key_model, identities, clock) for item in value]
        return sorted(items, key=repr)
    if isinstance(value, list | tuple):
        return [_input(item, key_model, identities, clock) for item in value]
    if isinstance(value, Model):
        value = value.pk
    return canonical_plain(identities.input_label(value, key_model), clock)
