"""Static lint rules for Django migrations: what will not run alike on every target, and what breaks a rolling deploy.

Each rule is a small function registered in ``RULES`` with a stable code. It is given one operation of a
migration together with the project state just before that operation and the servers it is checked for
(target name → harness.vendors.ServerFacts: the product and version each target reached, or the oldest
version Django supports), and yields ``Hit``s. Every vendor fact the rules need (SQL dialect, functions,
collations, identifier and key limits) is read from those facts.

Run from the command line (prints {"findings": [...], "unused_ignores": [the --ignore entries that silenced
nothing]} as JSON)::

    python -m harness.migrations.lint --settings S --project-dir D [--app LABEL]... [--ignore CODE]...
        [--server TARGET=PRODUCT[:VERSION]]...
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

from django.db.migrations.operations import RunPython, RunSQL
from django.db.models.fields import NOT_PROVIDED

from harness.vendors import ServerFacts, facts_of_server, known_targets
from harness.vendors.facts import product_named
from harness.vendors.sql import SQL_CONSTRUCTS, UNEVEN_FUNCTIONS

Servers = dict[str, ServerFacts]  # target name → the facts of what it reached


def default_servers() -> Servers:
    """Every kind of target at the oldest version Django supports (SQLite: the library loaded here)."""
    return {target: facts_of_server(target) for target in known_targets()}


# Heuristic for "this raw SQL only runs on one vendor": the migration module reads the connection's vendor
# (``schema_editor.connection.vendor`` in a RunPython, or ``connection.vendor`` choosing the operations list).
VENDOR_GUARD = re.compile(r"\bconnection\.vendor\b|\bconnection\.display_name\b")

# Operations that only change Django's model state, never the database.
STATE_ONLY_OPERATIONS = frozenset({"AlterModelOptions", "AlterModelManagers"})
# Operations that change rows (subclasses included).
DATA_OPERATIONS = (RunPython, RunSQL)

# --- The finding model ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LintFinding:
    code: str  # e.g. "PM301"
    rule: str  # short name e.g. "runpython-without-reverse"
    migration: str  # "app_label.0003_name"
    operation: int  # index in migration.operations
    path: str  # migration file path relative to project root
    line: int | None  # line of the operation in the file
    message: str  # one line
    hint: str
    targets: tuple[str, ...]  # the target names it concerns
    severity: str  # "error" or "warning"
    hits: int = 1  # how many hits of the rule in this migration the finding stands for

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["targets"] = list(self.targets)
        return data


@dataclass(frozen=True)
class Hit:
    """What a rule yields; the rule's own severity and hint apply unless overridden."""

    message: str
    targets: tuple[str, ...] | None = None  # None: every server linted for
    severity: str | None = None
    hint: str | None = None
    # Hits of one rule in one migration become one finding. Hits that share a ``pattern`` (a message
    # with {count} and {subjects}) are told as that pattern over their ``subject``s.
    pattern: str | None = None
    subject: str = ""


@dataclass
class OpContext:
    """One operation of a migration, seen with the project state just before it."""

    app_label: str
    migration: Any
    index: int
    operation: Any
    state: Any  # ProjectState
    created: frozenset[str]  # models (lower-case names) created by this migration so far, this operation included
    guarded: bool  # the module checks connection.vendor
    populated_tables: frozenset[str]
    servers: Servers

    def servers_where(self, holds: Callable[[ServerFacts], Any]) -> tuple[str, ...]:
        """The targets whose server's facts satisfy ``holds``."""
        return tuple(target for target, facts in self.servers.items() if holds(facts))

    @property
    def kind(self) -> str:
        return type(self.operation).__name__

    def model_state(self, model_name: str) -> Any:
        return self.state.models.get((self.app_label, model_name.lower()))

    def existed(self, model_name: str) -> bool:
        """Did the model's table exist before this migration (so it may hold rows and old code may use it)?"""
        return model_name.lower() not in self.created

    def field(self, model_name: str, field_name: str) -> Any:
        model = self.model_state(model_name)
        return model.fields.get(field_name) if model else None

    def fields(self, model_name: str) -> dict[str, Any]:
        model = self.model_state(model_name)
        return dict(model.fields) if model else {}

    def db_table(self, model_name: str) -> str:
        model = self.model_state(model_name)
        explicit = model.options.get("db_table") if model else None
        return explicit or f"{self.app_label}_{model_name.lower()}"


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    severity: str
    hint: str
    check: Callable[[OpContext], Iterable[Hit]]


RULES: list[Rule] = []


def rule(code: str, name: str, severity: str, hint: str) -> Callable:
    def register(check: Callable[[OpContext], Iterable[Hit]]) -> Callable:
        RULES.append(Rule(code, name, severity, hint, check))
        return check

    return register


# --- Helpers -------------------------------------------------------------------------------------------------


def _names(targets: Iterable[str]) -> str:
    return ", ".join(targets)


def _not_provided(value: Any) -> bool:
    return value is NOT_PROVIDED


def _internal_type(field: Any) -> str:
    try:
        return field.get_internal_type()
    except Exception:  # a custom field that needs a model to answer
        return type(field).__name__


def _column(name: str, field: Any) -> str:
    if getattr(field, "db_column", None):
        return field.db_column
    return f"{name}_id" if getattr(field, "many_to_one", False) or getattr(field, "one_to_one", False) else name


def _strip_sql(sql: str) -> str:
    """Comments removed and string literals blanked, so patterns only see SQL syntax."""
    sql = re.sub(r"--[^\n]*", " ", sql)
    sql = re.sub(r"/\*.*?\*/", " ", sql, flags=re.S)
    return re.sub(r"'(?:[^']|'')*'", "''", sql)


def _sql_texts(value: Any) -> list[str]:
    """The SQL strings of a RunSQL ``sql``/``reverse_sql`` (a string, or a list of strings or (sql, params))."""
    if not value:
        return []
    if isinstance(value, str):
        return [value]
    texts = []
    for item in value:
        if isinstance(item, str):
            texts.append(item)
        elif isinstance(item, (list, tuple)) and item and isinstance(item[0], str):
            texts.append(item[0])
    return texts


def sql_problems(sql: str, servers: Servers | None = None) -> list[tuple[tuple[str, ...], str]]:
    """(targets it breaks on, why) for each construct in ``sql`` that some server lacks."""
    servers = servers if servers is not None else default_servers()
    text = _strip_sql(sql)
    problems = []
    for construct, (pattern, why) in SQL_CONSTRUCTS.items():
        breaks_on = tuple(target for target, facts in servers.items() if facts.lacks_sql(construct))
        if breaks_on and re.search(pattern, text, re.I):
            problems.append((breaks_on, why))
    for name in sorted({m.lower() for m in re.findall(r"\b(\w+)\s*\(", text)} & UNEVEN_FUNCTIONS):
        problems += _function_problem(name, servers)
    return problems


def _function_problem(name: str, servers: Servers) -> list[tuple[tuple[str, ...], str]]:
    have = tuple(target for target, facts in servers.items() if facts.has_function(name))
    lacking = tuple(target for target in servers if target not in have)
    return [(lacking, f"{name.upper()}() (only {_names(have) or 'none of them'})")] if lacking else []


def _collation_targets(name: str, servers: Servers | None = None) -> tuple[str, ...]:
    """The targets whose server knows a collation name."""
    servers = servers if servers is not None else default_servers()
    return tuple(target for target, facts in servers.items() if facts.knows_collation(name))


def _new_fields(ctx: OpContext) -> Iterator[tuple[str, str, Any, Any]]:
    """(model, field name, new field, old field or None) for every field this operation defines or redefines."""
    op = ctx.operation
    if ctx.kind == "CreateModel":
        for name, field in op.fields:
            yield op.name, name, field, None
    elif ctx.kind == "AddField":
        yield op.model_name, op.name, op.field, None
    elif ctx.kind == "AlterField":
        yield op.model_name, op.name, op.field, ctx.field(op.model_name, op.name)


@dataclass(frozen=True)
class Key:
    """An index or unique key this operation creates."""

    model: str
    fields: tuple[tuple[str, Any], ...]  # (name, field) resolved where possible
    unique: bool
    explicit: bool  # an Index/constraint/together option rather than a field's db_index/unique
    what: str  # for messages
    primary: bool = False  # the primary key (no server builds that one as a hash)

    def hashed_on(self, facts: ServerFacts) -> bool:
        """Does this server enforce the key as a hash of the values (MariaDB 10.4+ for a unique key of any
        length), so that neither TEXT columns nor the key's length limit it?"""
        return self.unique and not self.primary and bool(facts.long_unique_constraints)


def _resolve(ctx: OpContext, model: str, names: Iterable[str], extra: dict[str, Any] | None = None) -> tuple:
    fields = {**ctx.fields(model), **(extra or {})}
    return tuple((name, fields[name]) for name in (n.lstrip("-") for n in names) if name in fields)


def _keys(ctx: OpContext) -> Iterator[Key]:
    """Every index or unique key the operation adds."""
    op, kind = ctx.operation, ctx.kind
    for model, name, field, old in _new_fields(ctx):
        if getattr(field, "many_to_many", False):
            continue
        if field.unique and not (old is not None and old.unique):
            what = f"{'primary_key' if field.primary_key else 'unique'}=True on {model}.{name}"
            yield Key(model, ((name, field),), True, False, what, primary=bool(field.primary_key))
        elif field.db_index and not field.unique and not (old is not None and old.db_index):
            yield Key(model, ((name, field),), False, False, f"db_index=True on {model}.{name}")
    if kind == "CreateModel":
        own = dict(op.fields)
        options = op.options
        for fields in options.get("unique_together") or ():
            yield Key(op.name, _resolve(ctx, op.name, fields, own), True, True, f"unique_together {tuple(fields)}")
        for fields in options.get("index_together") or ():
            yield Key(op.name, _resolve(ctx, op.name, fields, own), False, True, f"index_together {tuple(fields)}")
        for index in options.get("indexes") or ():
            yield Key(op.name, _resolve(ctx, op.name, index.fields, own), False, True, f"index {index.name}")
        for constraint in options.get("constraints") or ():
            if getattr(constraint, "fields", None) and type(constraint).__name__ == "UniqueConstraint":
                fields = _resolve(ctx, op.name, constraint.fields, own)
                yield Key(op.name, fields, True, True, f"constraint {constraint.name}")
    elif kind == "AddIndex":
        yield Key(op.model_name, _resolve(ctx, op.model_name, op.index.fields), False, True, f"index {op.index.name}")
    elif kind == "AddConstraint" and type(op.constraint).__name__ == "UniqueConstraint":
        fields = _resolve(ctx, op.model_name, getattr(op.constraint, "fields", ()) or ())
        if fields:
            yield Key(op.model_name, fields, True, True, f"constraint {op.constraint.name}")
    elif kind in ("AlterUniqueTogether", "AlterIndexTogether"):
        option = op.option_name
        model = ctx.model_state(op.name)
        before = {tuple(f) for f in (model.options.get(option) or ())} if model else set()
        for fields in op.option_value or ():
            if tuple(fields) not in before:
                yield Key(
                    op.name,
                    _resolve(ctx, op.name, fields),
                    option == "unique_together",
                    True,
                    f"{option} {tuple(fields)}",
                )


# --- Rules ---------------------------------------------------------------------------------------------------

ROLLOUT_ADD = "add it nullable (or with db_default) → deploy code that writes it → backfill → make it non-null"
ROLLOUT_REMOVE = "deploy code that no longer reads or writes it → remove it in a later migration"
ROLLOUT_CHANGE = "add a new column of the new type → write both → backfill → switch reads → drop the old column"


@rule(
    "PM301",
    "runsql-not-portable",
    "error",
    "write the change with migration operations or the ORM, or run the SQL only on its vendor: a RunPython that "
    "checks schema_editor.connection.vendor before schema_editor.execute(...)",
)
def runsql_not_portable(ctx: OpContext) -> Iterator[Hit]:
    if not isinstance(ctx.operation, RunSQL) or ctx.guarded:
        return
    for attribute in ("sql", "reverse_sql"):
        texts = _sql_texts(getattr(ctx.operation, attribute))
        problems = [problem for text in texts for problem in sql_problems(text, ctx.servers)]
        if problems:
            yield _not_portable_hit(f"RunSQL {attribute}", problems, ctx.servers)


def _not_portable_hit(subject: str, problems: list[tuple[tuple[str, ...], str]], servers: Servers) -> Hit:
    """One hit naming every target the problems break on and every reason, once."""
    targets = tuple(t for t in servers if any(t in breaks_on for breaks_on, _ in problems))
    reasons = "; ".join(dict.fromkeys(why for _, why in problems))
    return Hit(f"{subject} is not portable to {_names(targets)}: {reasons}", targets)


@rule(
    "PM302",
    "runpython-without-reverse",
    "warning",
    "pass reverse_code=migrations.RunPython.noop when undoing needs nothing, or a function that undoes the change",
)
def runpython_without_reverse(ctx: OpContext) -> Iterator[Hit]:
    if isinstance(ctx.operation, RunPython) and ctx.operation.reverse_code is None:
        yield Hit("RunPython has no reverse_code: the migration cannot be unapplied")


@rule(
    "PM303",
    "runsql-without-reverse",
    "warning",
    "pass reverse_sql=migrations.RunSQL.noop when undoing needs nothing, or SQL that undoes the change",
)
def runsql_without_reverse(ctx: OpContext) -> Iterator[Hit]:
    if isinstance(ctx.operation, RunSQL) and ctx.operation.reverse_sql is None:
        yield Hit("RunSQL has no reverse_sql: the migration cannot be unapplied")


def _identifiers(ctx: OpContext) -> Iterator[tuple[str, str]]:
    """(what, name) for every explicit identifier the operation puts in the database."""
    op, kind = ctx.operation, ctx.kind
    if kind == "CreateModel" and op.options.get("db_table"):
        yield "table", op.options["db_table"]
    if kind == "AlterModelTable" and op.table:
        yield "table", op.table
    for model, name, field, old in _new_fields(ctx):
        if getattr(field, "many_to_many", False):
            # Django shortens its own M2M table names (truncate_name); only an explicit db_table is taken as is.
            if field.db_table and not (old is not None and old.db_table == field.db_table):
                yield "M2M table", field.db_table
        elif old is None or _column(name, old) != _column(name, field):
            yield f"column of {model}.{name}", _column(name, field)
    if kind == "RenameField":
        field = ctx.field(op.model_name, op.old_name)
        if field is not None and not field.db_column:
            yield f"column of {op.model_name}.{op.new_name}", _column(op.new_name, field)
    if kind == "CreateModel":
        for item in (*op.options.get("indexes", ()), *op.options.get("constraints", ())):
            yield type(item).__name__.lower(), item.name
    if kind == "AddIndex":
        yield "index", op.index.name
    if kind == "AddConstraint":
        yield "constraint", op.constraint.name
    if kind == "RenameIndex":
        yield "index", op.new_name


@rule(
    "PM304",
    "identifier-too-long",
    "error",
    "keep table, column, index and constraint names to 63 bytes (PostgreSQL) and 64 characters (MySQL/MariaDB)",
)
def identifier_too_long(ctx: OpContext) -> Iterator[Hit]:
    for what, name in _identifiers(ctx):
        if not name:
            continue
        over = {}
        for target, facts in ctx.servers.items():
            limit, unit = facts.max_name_length, facts.identifier_unit
            size = len(name.encode()) if unit == "bytes" else len(name)
            if limit is not None and size > limit:
                over[target] = (facts, f"{target} {facts.identifier_overflow} names over {limit} {unit}")
        if over:
            # A rejected name breaks the migration; a silently truncated one only risks a collision.
            rejected = any(facts.identifier_overflow == "rejects" for facts, _ in over.values())
            yield Hit(
                f"{what} name {name!r} ({len(name)} chars) is too long: {'; '.join(why for _, why in over.values())}",
                tuple(over),
                severity="error" if rejected else "warning",
            )


@rule(
    "PM305",
    "index-on-textfield",
    "error",
    "use a CharField with a max_length for indexed or unique text, or an expression index over a prefix "
    "guarded by vendor",
)
def index_on_textfield(ctx: OpContext) -> Iterator[Hit]:
    for key in _keys(ctx):
        types = {name: _internal_type(field) for name, field in key.fields}
        servers = ctx.servers_where(
            lambda facts, types=types, key=key: (
                not facts.supports_index_on_text_field
                and set(types.values()) & facts.unkeyable_field_types
                and not key.hashed_on(facts)
            )
        )
        if not servers:
            continue
        unkeyable = set().union(*(ctx.servers[target].unkeyable_field_types for target in servers))
        text = [name for name, kind in types.items() if kind in unkeyable]
        kinds = "/".join(sorted({types[name] for name in text}))
        if key.unique or key.explicit:
            yield Hit(
                f"{key.what} keys the {kinds} column(s) {', '.join(text)}: {_names(servers)} cannot index TEXT/BLOB "
                "without a prefix length (error 1170)",
                servers,
            )
        else:
            yield Hit(
                f"{key.what} on a {kinds}: Django silently creates no index on {_names(servers)}, so lookups there "
                "scan the table",
                servers,
                severity="warning",
            )


def _key_bytes(field: Any, facts: ServerFacts) -> int:
    internal = _internal_type(field)
    if internal in facts.unkeyable_field_types:
        return 0  # PM305's business
    if internal == "UUIDField" and facts.has_native_uuid_field:
        return 16
    max_length = getattr(field, "max_length", None)
    if max_length and internal not in facts.fixed_key_bytes:
        return max_length * facts.key_bytes_per_char
    return facts.fixed_key_bytes.get(internal, 0)


_KEY_FACTS = product_named("MySQL")


@rule(
    "PM306",
    "key-too-long",
    "error",
    f"keep indexed CharFields to max_length <= {_KEY_FACTS.max_key_bytes // _KEY_FACTS.key_bytes_per_char} in total "
    "per key (utf8mb4 counts 4 bytes a character), or index a shorter column such as a hash",
)
def key_too_long(ctx: OpContext) -> Iterator[Hit]:
    for key in _keys(ctx):
        over: dict[tuple[int, int], list[str]] = {}
        for target, facts in ctx.servers.items():
            size = sum(_key_bytes(field, facts) for _, field in key.fields)
            if facts.max_key_bytes is not None and size > facts.max_key_bytes and not key.hashed_on(facts):
                over.setdefault((size, facts.max_key_bytes), []).append(target)
        for (size, limit), targets in over.items():
            yield Hit(
                f"{key.what} is a {size}-byte key under utf8mb4, over {_names(targets)}'s {limit} (error 1071)",
                tuple(targets),
            )


@rule(
    "PM307",
    "db-collation-not-portable",
    "error",
    "collation names differ per vendor: use a field subclass whose db_parameters(connection) picks the collation "
    "by connection.vendor, or compare with Lower()/__iexact instead",
)
def db_collation_not_portable(ctx: OpContext) -> Iterator[Hit]:
    for model, name, field, old in _new_fields(ctx):
        collation = getattr(field, "db_collation", None)
        if not collation or (old is not None and getattr(old, "db_collation", None) == collation):
            continue
        known = _collation_targets(collation, ctx.servers)
        missing = tuple(t for t in ctx.servers if t not in known)
        where = f"only on {_names(known)}" if known else "on no known target"
        yield Hit(f"db_collation {collation!r} on {model}.{name} exists {where}", missing)


def _expressions(expression: Any) -> Iterator[Any]:
    yield expression
    for source in getattr(expression, "get_source_expressions", lambda: [])():
        if source is not None:
            yield from _expressions(source)


@rule(
    "PM309",
    "db-default-not-portable",
    "error",
    "use a literal, Value() or one of Django's database functions (Now(), Lower(), ...) which Django compiles per "
    "vendor, instead of raw SQL or Func(function=...)",
)
def db_default_not_portable(ctx: OpContext) -> Iterator[Hit]:
    from django.db.models import Func
    from django.db.models.expressions import RawSQL, Value

    for model, name, field, old in _new_fields(ctx):
        default = getattr(field, "db_default", None)
        if default is None or _not_provided(default):
            continue
        if old is not None and getattr(old, "db_default", None) == default:
            continue
        if isinstance(default, Value) or not hasattr(default, "resolve_expression"):
            kind = _internal_type(field)
            refused = ctx.servers_where(
                lambda facts, kind=kind: kind in facts.unkeyable_field_types and not facts.literal_default_on_text
            )
            if refused:
                yield Hit(
                    f"db_default literal on the {kind} {model}.{name}: {_names(refused)} "
                    f"({', '.join(ctx.servers[t].name + ' ' + ctx.servers[t].version_text for t in refused)}) "
                    "allow no default on TEXT/BLOB/JSON (MySQL before 8.0.13)",
                    refused,
                    severity="warning",
                )
            continue
        problems = []
        for expression in _expressions(default):
            if isinstance(expression, RawSQL):
                problems += sql_problems(expression.sql, ctx.servers)
            # Django's own functions compile per vendor; Func(function=...) and a project's subclasses do not.
            elif isinstance(expression, Func) and (
                type(expression) is Func or not type(expression).__module__.startswith("django.")
            ):
                function = (expression.extra.get("function") or expression.function or "").lower()
                if function in UNEVEN_FUNCTIONS:
                    problems += _function_problem(function, ctx.servers)
        if problems:
            yield _not_portable_hit(f"db_default of {model}.{name}", problems, ctx.servers)


@rule(
    "PM308",
    "mixed-schema-and-data",
    "warning",
    "put RunPython/RunSQL data changes in their own migration, separate from schema changes (or set atomic = False "
    "and make each step safe to rerun)",
)
def mixed_schema_and_data(ctx: OpContext) -> Iterator[Hit]:
    """Reported once per migration, at its first data operation."""
    operations = ctx.migration.operations
    data = [i for i, op in enumerate(operations) if isinstance(op, DATA_OPERATIONS)]
    if not isinstance(ctx.operation, DATA_OPERATIONS) or data[:1] != [ctx.index]:
        return
    if not getattr(ctx.migration, "atomic", True):
        return  # non-atomic: the author has chosen to run each step on its own
    schema = [
        type(op).__name__
        for op in operations
        if not isinstance(op, DATA_OPERATIONS) and type(op).__name__ not in STATE_ONLY_OPERATIONS
    ]
    servers = ctx.servers_where(lambda facts: facts.schema_change_after_writes_fails or not facts.can_rollback_ddl)
    if schema and servers:
        yield Hit(
            f"{ctx.kind} runs in one migration with schema changes ({', '.join(dict.fromkeys(schema))}): PostgreSQL "
            "can fail with 'pending trigger events', MySQL/MariaDB commit DDL and leave it half-applied",
            servers,
        )


@rule("PM311", "addfield-not-null-without-default", "warning", f"safe sequence: {ROLLOUT_ADD}")
def addfield_not_null(ctx: OpContext) -> Iterator[Hit]:
    op = ctx.operation
    if ctx.kind != "AddField" or not ctx.existed(op.model_name):
        return
    field = op.field
    if (
        field.null
        or getattr(field, "many_to_many", False)
        or getattr(field, "generated", False)
        or not _not_provided(field.default)
        or not _not_provided(getattr(field, "db_default", None))
        # Django fills these itself: '' for blank text, now() for auto_now(_add).
        or (field.blank and field.empty_strings_allowed)
        or getattr(field, "auto_now", False)
        or getattr(field, "auto_now_add", False)
    ):
        return
    table = ctx.db_table(op.model_name)
    populated = table in ctx.populated_tables
    yield Hit(
        f"AddField {op.model_name}.{op.name} is NOT NULL without a default on existing table {table}: old code's "
        "INSERTs fail, and existing rows fail on SQLite/PostgreSQL (MySQL fills 0/'')",
        severity="error" if populated else None,
    )


@rule("PM312", "drops-or-renames-in-use", "warning", f"safe sequence: {ROLLOUT_REMOVE}")
def drops_or_renames(ctx: OpContext) -> Iterator[Hit]:
    op, kind = ctx.operation, ctx.kind
    if kind == "RemoveField" and ctx.existed(op.model_name):
        field = ctx.field(op.model_name, op.name)
        if field is not None and getattr(field, "many_to_many", False):
            what = f"the M2M table of {op.model_name}.{op.name}"
        else:
            what = f"column {op.model_name}.{op.name}"
        yield Hit(f"RemoveField drops {what} while the running code may still read or write it")
    elif kind == "DeleteModel" and ctx.existed(op.name):
        yield Hit(f"DeleteModel drops table {ctx.db_table(op.name)} while the running code may still use it")
    elif kind == "RenameField" and ctx.existed(op.model_name):
        field = ctx.field(op.model_name, op.old_name)
        if field is not None and field.db_column:
            return  # the column keeps its name: nothing changes in the database
        yield Hit(
            f"RenameField renames column {op.model_name}.{op.old_name} → {op.new_name}: the running code still uses "
            "the old name",
            hint=f"safe sequence: keep the column with db_column={op.old_name!r}, or {ROLLOUT_CHANGE}",
        )
    elif kind == "RenameModel" and ctx.existed(op.old_name):
        model = ctx.model_state(op.old_name)
        if model is not None and model.options.get("db_table"):
            return  # an explicit db_table is kept: the table is not renamed
        yield Hit(
            f"RenameModel renames table {ctx.db_table(op.old_name)}: the running code still uses the old name",
            hint=f"safe sequence: keep the table with Meta.db_table={ctx.db_table(op.old_name)!r}, or copy it",
        )
    elif kind == "AlterModelTable" and ctx.existed(op.name):
        old, new = ctx.db_table(op.name), op.table or f"{ctx.app_label}_{op.name.lower()}"
        if old != new:
            yield Hit(f"AlterModelTable renames table {old} → {new}: the running code still uses the old name")


DEFAULT_AUTO_FIELD_CHANGE = (
    "the DEFAULT_AUTO_FIELD change: each table and every foreign key to it is rewritten (locking a large table "
    "while it runs); apply it in a quiet window, or keep the old keys by setting default_auto_field = "
    "'django.db.models.AutoField' on the app's AppConfig and regenerating the migration"
)


@rule("PM313", "alterfield-changes-type", "warning", f"safe sequence: {ROLLOUT_CHANGE}")
def alterfield_changes_type(ctx: OpContext) -> Iterator[Hit]:
    op = ctx.operation
    if ctx.kind != "AlterField" or not ctx.existed(op.model_name):
        return
    old = ctx.field(op.model_name, op.name)
    if old is None:
        return
    before, after = _internal_type(old), _internal_type(op.field)
    if (before, after) == ("AutoField", "BigAutoField") and old.primary_key:
        yield Hit(
            f"AlterField changes the primary key {op.model_name}.{op.name} from AutoField to BigAutoField",
            hint=DEFAULT_AUTO_FIELD_CHANGE,
            pattern="AlterField changes the primary key of {count} model(s) from AutoField to BigAutoField (the "
            "DEFAULT_AUTO_FIELD change): {subjects}",
            subject=op.model_name,
        )
    elif before != after:
        yield Hit(
            f"AlterField changes {op.model_name}.{op.name} from {before} to {after}: the table is rewritten and "
            "the running code writes the old type"
        )
    elif (old.max_length or 0) > (op.field.max_length or 0) > 0:
        yield Hit(
            f"AlterField shrinks {op.model_name}.{op.name} max_length {old.max_length} → {op.field.max_length}: "
            "longer values fail (MySQL/PostgreSQL) or stay (SQLite)"
        )


@rule(
    "PM314",
    "unique-on-existing-table",
    "warning",
    "safe sequence: deploy code that stops writing duplicates → remove existing duplicates → add the constraint "
    "(on PostgreSQL, build the unique index CONCURRENTLY first)",
)
def unique_on_existing_table(ctx: OpContext) -> Iterator[Hit]:
    for key in _keys(ctx):
        if not key.unique or not ctx.existed(key.model):
            continue
        if ctx.kind == "AddField" and ctx.operation.field.null:
            continue  # a new nullable column: every existing row is NULL, and NULLs never collide
        yield Hit(
            f"{key.what} adds a unique key to existing table {ctx.db_table(key.model)}: existing rows may "
            "violate it, and building it blocks writes"
        )


# --- Running the rules ---------------------------------------------------------------------------------------


def _module_file(migration: Any) -> Path | None:
    module = sys.modules.get(type(migration).__module__)
    path = getattr(module, "__file__", None)
    return Path(path) if path else None


@cache
def _source(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


@cache
def _operation_lines(path: Path) -> tuple[int, ...]:
    """The line of each element of the Migration class's ``operations = [...]`` list."""
    try:
        tree = ast.parse(_source(path))
    except SyntaxError:
        return ()
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        for statement in node.body:
            targets = statement.targets if isinstance(statement, ast.Assign) else [getattr(statement, "target", None)]
            value = getattr(statement, "value", None)
            if any(isinstance(t, ast.Name) and t.id == "operations" for t in targets) and isinstance(
                value, (ast.List, ast.Tuple)
            ):
                return tuple(element.lineno for element in value.elts)
    return ()


def _relative(path: Path | None, project_root: Path) -> str:
    if path is None:
        return ""
    try:
        return path.resolve().relative_to(Path(project_root).resolve()).as_posix()
    except ValueError:
        return str(path)


def lint_migration(
    migration: Any,
    project_root: Path,
    *,
    from_state: Any = None,
    populated_tables: frozenset[str] = frozenset(),
    servers: Servers | None = None,
) -> list[LintFinding]:
    """Lint one migration. ``from_state`` is the ProjectState before it; without it, rules that need earlier models
    (the old field of an AlterField, the fields an AddIndex names) see nothing and stay silent.
    ``populated_tables`` names database tables known to hold rows: PM311 on them is an error."""
    from django.db.migrations.state import ProjectState

    servers = servers if servers is not None else default_servers()
    app_label = migration.app_label
    path = _module_file(migration)
    lines = _operation_lines(path) if path else ()
    guarded = bool(path and VENDOR_GUARD.search(_source(path)))
    state = from_state.clone() if from_state is not None else ProjectState()
    created: set[str] = set()
    findings: list[tuple[LintFinding, Hit]] = []
    for index, operation in enumerate(migration.operations):
        if type(operation).__name__ == "CreateModel":
            created.add(operation.name_lower)
        # A SeparateDatabaseAndState runs its database_operations: lint those, at the outer operation's place.
        inner = getattr(operation, "database_operations", None)
        for op in inner if inner is not None else [operation]:
            ctx = OpContext(
                app_label, migration, index, op, state, frozenset(created), guarded, populated_tables, servers
            )
            for registered in RULES:
                for hit in registered.check(ctx):
                    findings.append(
                        (
                            LintFinding(
                                code=registered.code,
                                rule=registered.name,
                                migration=f"{app_label}.{migration.name}",
                                operation=index,
                                path=_relative(path, project_root),
                                line=lines[index] if len(lines) == len(migration.operations) else None,
                                message=hit.message,
                                hint=hit.hint or registered.hint,
                                targets=tuple(servers) if hit.targets is None else hit.targets,
                                severity=hit.severity or registered.severity,
                            ),
                            hit,
                        )
                    )
        try:
            operation.state_forwards(app_label, state)
        except Exception:  # no from_state, or a state the migration does not expect: lint on with what we have
            pass
    return _one_per_rule(findings, servers)


def _one_per_rule(findings: list[tuple[LintFinding, Hit]], servers: Servers) -> list[LintFinding]:
    """One finding per rule and migration (at its first hit), listing every hit: ten models switched to
    BigAutoField by one migration are one finding, not ten."""
    groups: dict[tuple[str, str | None], list[tuple[LintFinding, Hit]]] = {}
    for finding, hit in findings:
        groups.setdefault((finding.code, hit.pattern), []).append((finding, hit))
    merged = []
    for (_, pattern), hits in groups.items():
        first = hits[0][0]
        if len(hits) == 1:
            merged.append(first)
            continue
        if pattern:
            message = pattern.format(count=len(hits), subjects=", ".join(hit.subject for _, hit in hits))
        else:
            operations = len({finding.operation for finding, _ in hits})
            listed = "; ".join(finding.message for finding, _ in hits)
            message = f"{operations} operations: {listed}" if operations > 1 else listed
        concerned = {target for finding, _ in hits for target in finding.targets}
        severities = {finding.severity for finding, _ in hits}
        merged.append(
            replace(
                first,
                message=message,
                targets=tuple(target for target in servers if target in concerned),
                severity="error" if "error" in severities else first.severity,
                hits=len(hits),
            )
        )
    return sorted(merged, key=lambda finding: finding.operation)


def ignored_by(finding: LintFinding, ignore: Iterable[str]) -> list[str]:
    """The ``ignore`` entries that silence ``finding``: codes ("PM305"), rule names, "app.migration" or
    "app.migration:PM305" / ":rule-name"."""
    keys = {finding.code, finding.rule, finding.migration}
    keys |= {f"{finding.migration}:{finding.code}", f"{finding.migration}:{finding.rule}"}
    return [item for item in ignore if item in keys]


def lint_migrations(
    migrations: list, project_root: Path, ignore: Iterable[str] = (), servers: Servers | None = None
) -> tuple[list[LintFinding], list[str]]:
    """Lint migrations loaded by MigrationLoader (django.setup() done), each with the project state before it.
    Return the findings no ``ignore`` entry silences, and the entries that silenced nothing."""
    from django.db.migrations.loader import MigrationLoader
    from django.db.migrations.state import ProjectState

    ignore = tuple(ignore)
    loader = MigrationLoader(None, ignore_no_migrations=True)
    graph = loader.graph
    wanted = {(m.app_label, m.name): m for m in migrations}
    # Walk the whole graph once in dependency order, carrying the state forward (linear, not one replay each).
    plan: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for leaf in sorted(graph.leaf_nodes()):
        for node in graph.forwards_plan(leaf):
            if node not in seen:
                seen.add(node)
                plan.append(node)
    states: dict[tuple[str, str], Any] = {}
    state = ProjectState(real_apps=loader.unmigrated_apps)
    for node in plan:
        if node in wanted:
            states[node] = state.clone()
        state = graph.nodes[node].mutate_state(state, preserve=False)
    findings, used = [], set()
    for key, migration in wanted.items():
        for finding in lint_migration(migration, project_root, from_state=states.get(key), servers=servers):
            silencing = ignored_by(finding, ignore)
            used.update(silencing)
            if not silencing:
                findings.append(finding)
    return findings, [item for item in ignore if item not in used]


def _project_migrations(project_dir: Path, apps: list[str]) -> list:
    from django.db.migrations.loader import MigrationLoader

    loader = MigrationLoader(None, ignore_no_migrations=True)
    root = project_dir.resolve()
    chosen = []
    for (app_label, _name), migration in sorted(loader.disk_migrations.items()):
        if apps:
            if app_label in apps:
                chosen.append(migration)
            continue
        path = _module_file(migration)
        if (
            path is not None
            and path.resolve().is_relative_to(root)
            and not {".venv", "site-packages"} & set(path.parts)
        ):
            chosen.append(migration)
    return chosen


def parse_server(item: str) -> tuple[str, ServerFacts]:
    """``postgresql@15=PostgreSQL:15.8`` → the target name and its server's facts."""
    target, _, server = item.partition("=")
    product, _, version = server.partition(":")
    return target, facts_of_server(target, product or None, version or None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.migrations.lint", description=__doc__.splitlines()[0])
    parser.add_argument("--settings", required=True, help="Django settings module")
    parser.add_argument("--project-dir", default=".", help="put on sys.path; paths are reported relative to it")
    parser.add_argument(
        "--app",
        action="append",
        default=[],
        help="lint only this app (repeatable); default: every app whose migrations live under --project-dir",
    )
    parser.add_argument(
        "--ignore",
        action="append",
        default=[],
        help="a code, rule name, app.migration or app.migration:CODE to silence (repeatable)",
    )
    parser.add_argument(
        "--server",
        action="append",
        default=[],
        metavar="TARGET=PRODUCT[:VERSION]",
        help="lint for this target's server (repeatable); default: every kind of target at the oldest version Django "
        "supports",
    )
    args = parser.parse_args(argv)
    project_dir = Path(args.project_dir).resolve()
    sys.path.insert(0, str(project_dir))
    os.environ["DJANGO_SETTINGS_MODULE"] = args.settings
    import django

    django.setup()
    servers = dict(parse_server(item) for item in args.server) or None
    findings, unused = lint_migrations(_project_migrations(project_dir, args.app), project_dir, args.ignore, servers)
    json.dump({"findings": [finding.to_dict() for finding in findings], "unused_ignores": unused}, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
