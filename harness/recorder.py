"""Record every ORM query a test runs: where it ran, what it asked, and what came back.

Hooks into Django at stable points: ``connection.execute_wrappers`` (every statement, its
error and row count), ``SQLCompiler.execute_sql``/``results_iter`` (the rows after Django's
converters, the columns' roles, the query's inputs), the insert and update compilers (keys
created, values written) and ``NotSupportedError`` (an ORM call refused before any SQL).
Digests are streamed: memory stays bounded whatever the size of the results.

The recorder never changes the code under test: every hook runs the original exactly once
and passes its result or exception through; the recorder's own errors are caught, counted
and written to the results file (``recorder_error``), never raised into the test; nothing is
stored on the application's objects (querysets are looked up in a weak map).
"""

from __future__ import annotations

import contextvars
import dis
import os
import sys
import threading
import traceback
import weakref
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from harness.canonical import GENERATED_UUID, KEY, PLAIN, Clock, RowDigest, canonical_plain
from harness.canonical_rows import ResultPlan, RowCanonicaliser
from harness.identity import SCOPE_OF_FIXTURE, SESSION, TEST, Identities
from harness.orm_inspect import (
    column_id,
    column_name,
    column_role,
    field_role,
    has_explicit_order,
    has_total_order,
    immutable_values,
    input_fingerprint,
    key_column_names,
    natural_key_fields,
    row_keyed,
)
from harness.paths import library_prefixes
from harness.results import ResultsWriter
from harness.vendors import driver_error_code

# Statements compared by their results; others are only compared for errors.
SELECT, INSERT, UPDATE, DELETE, OTHER = "select", "insert", "update", "delete", "other"
# An ORM call Django refused before sending any SQL (NotSupportedError).
REFUSED = "refused"
STATEMENT_KINDS = {
    "SELECT": SELECT,
    "WITH": SELECT,
    "INSERT": INSERT,
    "UPDATE": UPDATE,
    "DELETE": DELETE,
    "REPLACE": INSERT,
}
# Transaction bookkeeping the ORM issues on its own: never compared.
IGNORED_PREFIXES = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT", "SET ", "SHOW ", "BEGIN", "COMMIT")
MAX_SQL_CHARS = 2000
MAX_PARAMS = 20
MAX_TRACEBACKS = 5
CONTAINS_OP = dis.opmap["CONTAINS_OP"]
# Rows of a deferrable result (ResultPlan.deferrable) digested together.
CHUNK_ROWS = 256
# Result plans remembered (_plan); forgotten all at once beyond this.
MAX_PLANS = 10_000

_inside_write: contextvars.ContextVar[str | None] = contextvars.ContextVar("portability_write", default=None)
_inside_statement: contextvars.ContextVar[bool] = contextvars.ContextVar("portability_statement", default=False)
_last_record: contextvars.ContextVar[QueryRecord | None] = contextvars.ContextVar("portability_record", default=None)


@dataclass(slots=True)
class QueryRecord:
    """One statement run by one test; the unit that is compared across backends."""

    test: str
    phase: str
    site: str
    kind: str
    occurrence: int
    sql: str
    params: list[Any]
    sequence: int
    position: int
    # What the SQL statement itself is (kind may say otherwise: a pre-select belongs to its UPDATE).
    statement: str = OTHER
    fingerprint: str | None = None
    error: dict[str, Any] | None = None
    rowcount: int | None = None
    plan: ResultPlan | None = None
    digest: RowDigest | None = None
    complete: bool = False
    total_order: bool = False
    explicit_order: bool = False
    offset: int = 0
    limit: int | None = None
    random_order: bool = False
    order_consumed: bool = False
    # False while the evaluated queryset was only asked `in`, len() or bool(): its order cannot matter.
    order_iterated: bool = True

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "test": self.test,
            "phase": self.phase,
            "site": self.site,
            "kind": self.kind,
            "occurrence": self.occurrence,
            "sql": self.sql,
            "params": self.params,
            "position": self.position,
        }
        if self.fingerprint is not None:
            data["fingerprint"] = self.fingerprint
        if self.error is not None:
            data["error"] = self.error
        if self.rowcount is not None:
            data["rowcount"] = self.rowcount
        if self.digest is not None and self.plan is not None:
            data.update(self.digest.to_dict())
            data.update(
                columns=self.plan.names,
                complete=self.complete,
                total_order=self.total_order,
                explicit_order=self.explicit_order,
                offset=self.offset,
                limit=self.limit,
                random_order=self.random_order,
                order_consumed=self.order_consumed,
                order_iterated=self.order_iterated,
            )
        return data


@dataclass
class QueryRecorder:
    """Collects the queries of the running test and writes them when the test ends."""

    writer: ResultsWriter
    project_root: str
    float_tolerance: float = 1e-9
    test: str | None = None
    paused: bool = False
    phase: str = "setup"
    identities: Identities = field(default_factory=Identities)
    clock: Clock = field(default_factory=Clock)
    records: list[QueryRecord] = field(default_factory=list)
    occurrences: Counter = field(default_factory=Counter)
    sequence: int = 0
    internal_errors: int = 0
    tracebacks: list[str] = field(default_factory=list)
    _fixture_scopes: list[str] = field(default_factory=list)
    _libraries: tuple[str, ...] = field(default_factory=library_prefixes)
    _site_cache: dict[str, str | None] = field(default_factory=dict)
    _queryset_records: weakref.WeakKeyDictionary = field(default_factory=weakref.WeakKeyDictionary)
    _compiler_records: weakref.WeakKeyDictionary = field(default_factory=weakref.WeakKeyDictionary)
    _restore: list[Callable[[], None]] = field(default_factory=list)
    # Rows read but not digested yet, per result being read: (record, rows).
    _held: dict[int, tuple[QueryRecord, list[Any]]] = field(default_factory=dict)
    _plans: dict[tuple, tuple[ResultPlan, Any, list[Any]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._rows = RowCanonicaliser(self.float_tolerance)
        self._held_lock = threading.RLock()
        # Held rows are digested before any label changes, as they would have been when read.
        self.identities.before_change = self._digest_all_held

    # ------------------------------------------------------------ test lifecycle

    def start_test(self, nodeid: str) -> None:
        try:
            self.identities.enter_test(nodeid)
        except Exception:  # noqa: BLE001 - never raised into the run
            self._internal_error()
        self.test, self.phase = nodeid, "setup"
        self.clock = Clock()
        self.occurrences.clear()

    def set_phase(self, phase: str) -> None:
        self.phase = phase

    def enter_fixture(self, pytest_scope: str) -> None:
        self._fixture_scopes.append(SCOPE_OF_FIXTURE.get(pytest_scope, TEST))

    def leave_fixture(self) -> None:
        if self._fixture_scopes:
            self._fixture_scopes.pop()

    def scope(self) -> str:
        """The label scope of a row or value created now: the innermost fixture's, else the test's."""
        if self._fixture_scopes:
            return self._fixture_scopes[-1]
        return TEST if self.test is not None else SESSION

    def finish_test(self) -> None:
        self._digest_all_held()
        # A result the test left half-read is not watched any more (its record is written now).
        self._held.clear()
        try:
            for record in self.records:
                # Flushed with the test's own record, which follows.
                self.writer.write("query", flush=False, **record.to_dict())
        except Exception:  # noqa: BLE001 - never raised into the run
            self._internal_error()
        self.records.clear()
        self.test = None

    def finish_session(self) -> list[str]:
        """Write the recorder's own errors to the results; return them for the worker's log."""
        if self.internal_errors:
            self.writer.write("recorder_error", count=self.internal_errors, tracebacks=self.tracebacks)
        return self.tracebacks

    def _recording(self) -> bool:
        return self.test is not None and not self.paused

    def _internal_error(self) -> None:
        """The recorder failed: count it, keep the traceback, and let the test go on untouched."""
        self.internal_errors += 1
        if len(self.tracebacks) < MAX_TRACEBACKS:
            self.tracebacks.append(f"in {self.test}:\n{traceback.format_exc()}")

    # ------------------------------------------------------------ Django hooks

    def install(self) -> None:
        """Hook into Django; :meth:`uninstall` undoes it."""
        from django.db import connections
        from django.db.backends.signals import connection_created
        from django.db.models.query import QuerySet
        from django.db.models.sql import compiler
        from django.db.utils import NotSupportedError

        def add_wrapper(sender: Any = None, connection: Any = None, **kwargs: Any) -> None:
            if self.execute_wrapper not in connection.execute_wrappers:
                connection.execute_wrappers.append(self.execute_wrapper)

        for connection in connections.all():
            add_wrapper(connection=connection)
        connection_created.connect(add_wrapper, weak=False)
        self._restore.append(lambda: connection_created.disconnect(add_wrapper))
        self._patch(compiler.SQLCompiler, "execute_sql", self._wrap_execute_sql)
        self._patch(compiler.SQLCompiler, "results_iter", self._wrap_results_iter)
        self._patch(compiler.SQLInsertCompiler, "execute_sql", self._wrap_insert)
        self._patch(compiler.SQLUpdateCompiler, "execute_sql", self._wrap_update)
        self._patch(QuerySet, "_fetch_all", self._wrap_fetch_all)
        self._patch(QuerySet, "__getitem__", self._wrap_getitem)
        self._patch(QuerySet, "__iter__", self._wrap_iter)
        self._patch_refusals(NotSupportedError)

    def uninstall(self) -> None:
        while self._restore:
            self._restore.pop()()

    def _patch(self, owner: type, name: str, make: Callable[[Callable], Callable]) -> None:
        original = owner.__dict__[name]
        setattr(owner, name, make(original))
        self._restore.append(lambda: setattr(owner, name, original))

    def execute_wrapper(self, execute: Callable, sql: str, params: Any, many: bool, context: dict) -> Any:
        record = None
        if self._recording():
            try:
                record = self._statement_record(sql, params, many)
            except Exception:  # noqa: BLE001 - never raised into the test
                self._internal_error()
        token = _inside_statement.set(True)
        try:
            result = execute(sql, params, many, context)
        except Exception as error:
            if record is not None:
                self._record_error(record, error)
            raise
        finally:
            _inside_statement.reset(token)
        if record is not None and record.statement in (UPDATE, DELETE):
            # What update() and delete() return to the application.
            record.rowcount = getattr(context.get("cursor"), "rowcount", None)
        return result

    def _record_error(self, record: QueryRecord, error: BaseException, stage: str | None = None) -> None:
        try:
            record.error = describe_database_error(error, stage)
        except Exception:  # noqa: BLE001 - the test's own exception goes on unchanged
            self._internal_error()

    def _statement_record(self, sql: str, params: Any, many: bool) -> QueryRecord | None:
        statement = sql.lstrip()[:24].upper()
        if statement.startswith(IGNORED_PREFIXES):
            return None
        site = self._call_site()
        if site is None:
            return None
        statement_kind = STATEMENT_KINDS.get(statement.split(None, 1)[0] if statement else "", OTHER)
        # A SELECT the ORM runs inside an UPDATE (MySQL's pre-select) belongs to that UPDATE.
        record = self._new_record(site, _inside_write.get() or statement_kind, sql, [] if many else params)
        record.statement = statement_kind
        _last_record.set(record)
        return record

    def _new_record(self, site: str, kind: str, sql: str, params: Any) -> QueryRecord:
        self.occurrences[(site, kind)] += 1
        self.sequence += 1
        record = QueryRecord(
            test=self.test or "",
            phase=self.phase,
            site=site,
            kind=kind,
            occurrence=self.occurrences[(site, kind)],
            sql=sql[:MAX_SQL_CHARS],
            params=_short_params(params),
            sequence=self.sequence,
            position=len(self.records) + 1,
        )
        self.records.append(record)
        return record

    def _call_site(self) -> str | None:
        """path:line of the innermost frame in the project's own code (not Django, not libraries)."""
        frame = sys._getframe(2)
        paths = self._site_cache
        while frame is not None:
            filename = frame.f_code.co_filename
            relative = paths[filename] if filename in paths else self._project_path(filename)
            if relative is not None:
                return f"{relative}:{frame.f_lineno}"
            frame = frame.f_back
        return None

    def _project_path(self, filename: str) -> str | None:
        """The file's path relative to the project, or None when it is not the project's own code."""
        relative = self._site_cache.get(filename, False)
        if relative is False:
            is_project = filename.startswith(self.project_root) and not filename.startswith(self._libraries)
            relative = self._site_cache[filename] = os.path.relpath(filename, self.project_root) if is_project else None
        return relative

    def _is_project_file(self, filename: str) -> bool:
        return self._project_path(filename) is not None

    # ------------------------------------------------------------ refusals before any SQL

    def _patch_refusals(self, error_class: type[BaseException]) -> None:
        recorder = self

        def __init__(error: BaseException, *args: Any) -> None:
            BaseException.__init__(error, *args)
            # Django's own wrapping of a driver error happens inside a statement: recorded there.
            if recorder._recording() and not _inside_statement.get():
                try:
                    recorder._refused(error)
                except Exception:  # noqa: BLE001 - never raised into the test
                    recorder._internal_error()

        own = error_class.__dict__.get("__init__")
        error_class.__init__ = __init__  # type: ignore[misc]
        self._restore.append(lambda: setattr(error_class, "__init__", own) if own else delattr(error_class, "__init__"))

    def _refused(self, error: BaseException) -> None:
        site = self._call_site()
        if site is not None:
            record = self._new_record(site, REFUSED, "", [])
            self._record_error(record, error)

    # ------------------------------------------------------------ SELECT: columns, inputs, rows

    def _wrap_execute_sql(self, original: Callable) -> Callable:
        recorder = self

        def execute_sql(compiler: Any, result_type: Any = "multi", *args: Any, **kwargs: Any) -> Any:
            if not recorder._recording():
                return original(compiler, result_type, *args, **kwargs)
            _last_record.set(None)
            result = original(compiler, result_type, *args, **kwargs)
            try:
                recorder._after_select(compiler, result_type, result)
            except Exception:  # noqa: BLE001 - never raised into the test
                recorder._internal_error()
            return result

        return execute_sql

    def _after_select(self, compiler: Any, result_type: Any, result: Any) -> None:
        record = _last_record.get()
        if record is None or record.kind != SELECT or _inside_write.get() is not None:
            return
        self._describe_select(record, compiler)
        if result_type == "multi":
            self._compiler_records[compiler] = record
        elif result_type == "single":
            self._digest_single(record, compiler, result)

    def _describe_select(self, record: QueryRecord, compiler: Any) -> None:
        query = compiler.query
        if compiler.select is not None:
            selected = [(select[0], select[2]) for select in compiler.select[0 : compiler.col_count]]
        else:  # an aggregate over a subquery (e.g. distinct().count()): its annotations
            selected = [(expression, alias) for alias, expression in query.annotation_select.items()]
        record.plan = self._plan(query.get_meta(), selected)
        record.fingerprint = input_fingerprint(query, self.identities, self.clock)
        record.offset = query.low_mark
        record.limit = None if query.high_mark is None else query.high_mark - query.low_mark
        record.random_order = "?" in query.order_by
        record.total_order = has_total_order(query)
        record.explicit_order = has_explicit_order(query)

    def _plan(self, opts: Any, selected: list[tuple[Any, str | None]]) -> ResultPlan:
        """The result plan of the selected expressions; remembered when they are all plain column
        references (what a plan of those depends on: each one's table alias, field, output field and
        select alias). The key holds ids, the entry the objects themselves, so no id is reused meanwhile."""
        key: tuple | None = (id(opts), *[_column_reference(expression, alias) for expression, alias in selected])
        if None in key:
            key = None
        else:
            known = self._plans.get(key)
            if known is not None:
                return known[0]
        key_columns = key_column_names(opts)
        columns = [column_role(expression, key_columns) for expression, _ in selected]
        names = [column_name(expression, alias) for expression, alias in selected]
        order = sorted(range(len(names)), key=names.__getitem__)
        expressions = [expression for expression, _ in selected]
        plan = ResultPlan(columns, sorted(names), order, row_keyed(expressions), immutable_values(expressions))
        if key is not None:
            if len(self._plans) >= MAX_PLANS:
                self._plans.clear()
            self._plans[key] = (
                plan,
                opts,
                [(expression.target, expression.output_field) for expression in expressions],
            )
        return plan

    def _digest_single(self, record: QueryRecord, compiler: Any, result: Any) -> None:
        """A one-row result (count(), aggregate(), exists()), through Django's converters."""
        rows = [result] if result else []
        if rows and compiler.select is None:
            expressions = list(compiler.query.annotation_select.values())
        else:
            expressions = [select[0] for select in (compiler.select or [])[0 : compiler.col_count]]
        converters = compiler.get_converters(expressions) if rows else None
        if converters:
            rows = list(compiler.apply_converters(rows, converters))
        record.digest = RowDigest()
        self._digest_rows(record, rows)
        record.complete = record.digest is not None

    def _wrap_results_iter(self, original: Callable) -> Callable:
        recorder = self

        def results_iter(compiler: Any, *args: Any, **kwargs: Any) -> Iterator:
            rows = original(compiler, *args, **kwargs)
            try:
                record = recorder._compiler_records.pop(compiler, None) if recorder._recording() else None
            except Exception:  # noqa: BLE001 - never raised into the test
                recorder._internal_error()
                return rows
            if record is None or record.plan is None:
                return rows
            return recorder._stream(record, rows)

        return results_iter

    def _stream(self, record: QueryRecord, rows: Iterator) -> Iterator:
        """Pass the rows on unchanged, digesting them a chunk at a time when their values cannot
        change before the chunk is full (else one by one)."""
        record.digest = RowDigest()
        held: list[Any] = []
        hold = held.append
        chunk = CHUNK_ROWS if record.plan is not None and record.plan.deferrable else 1
        self._held[id(held)] = (record, held)
        try:
            while True:
                try:
                    row = next(rows)
                except StopIteration:
                    break
                except Exception as error:
                    # Raised while Django converted the rows (e.g. an invalid datetime from the server).
                    self._record_error(record, error, stage="convert")
                    raise
                hold(row)
                if len(held) >= chunk:
                    self._digest_held(record, held)
                yield row
            self._digest_held(record, held)
            record.complete = record.digest is not None
        finally:
            # The rows read before the code stopped reading (iterator() left early, an error).
            self._digest_held(record, held)
            self._held.pop(id(held), None)
            # Abandoned half-way (iterator() left early): close Django's generator now, as it would be
            # without us, so a server-side cursor is released at once.
            close = getattr(rows, "close", None)
            if close is not None:
                close()

    def _digest_held(self, record: QueryRecord, held: list[Any]) -> None:
        if not held:
            return
        # Another thread (a live server's) may digest this result's held rows, or append to them,
        # meanwhile: one digests at a time, and only the rows it took are removed.
        with self._held_lock:
            rows = held.copy()
            del held[: len(rows)]
            self._digest_rows(record, rows)

    def _digest_all_held(self) -> None:
        for record, held in list(self._held.values()):
            self._digest_held(record, held)

    def _digest_rows(self, record: QueryRecord, rows: list[Any]) -> None:
        if record.digest is None or record.plan is None:
            return
        try:
            canonical = self._rows.rows(rows, record.plan, self.identities, self.clock)
            record.digest.add_rows(canonical.raw, canonical.renamed, canonical.floats)
        except Exception:  # noqa: BLE001 - never raised into the test
            self._internal_error()
            record.digest = None

    def _canonical_row(self, row: Any, plan: ResultPlan) -> tuple[list, list | None, list | None]:
        """One row in its raw and renamed forms (None when nothing was renamed), and its floats."""
        canonical = self._rows.rows([row], plan, self.identities, self.clock)
        raw = list(canonical.raw[0])
        renamed = None if canonical.renamed is None else list(canonical.renamed[0])
        return raw, None if renamed == raw else renamed, canonical.floats[0] if canonical.floats else None

    # ------------------------------------------------------------ writes: keys created, values written

    def _wrap_insert(self, original: Callable) -> Callable:
        recorder = self

        def execute_sql(compiler: Any, *args: Any, **kwargs: Any) -> Any:
            token = _inside_write.set(INSERT)
            try:
                rows = original(compiler, *args, **kwargs)
            finally:
                _inside_write.reset(token)
            try:
                recorder._register_inserted(compiler, rows)
            except Exception:  # noqa: BLE001 - never raised into the test
                recorder._internal_error()
            return rows

        return execute_sql

    def _register_inserted(self, compiler: Any, rows: list) -> None:
        query = compiler.query
        opts = query.get_meta()
        label = opts.concrete_model._meta.label
        scope = self.scope()
        identities = self.identities
        pk = opts.pk
        keys = self._inserted_keys(compiler, rows)
        pk_role = field_role(pk).role
        if keys is None and pk_role in (KEY, GENERATED_UUID):
            # Explicit keys (fixtures, create(id=...)) and generated UUIDs: known from the objects.
            keys = [getattr(obj, pk.attname, None) for obj in query.objs]
        for raw in keys or []:
            identities.register_key(label, raw, scope)
        if scope == SESSION and pk_role == KEY and keys and len(keys) == len(query.objs):
            self._name_initial_rows(opts, label, zip(query.objs, keys, strict=True))
        for field_ in query.fields:
            if field_role(field_).role != PLAIN:
                continue
            column = column_id(field_)
            for obj in query.objs:
                identities.register_written(column, as_read_back(field_, getattr(obj, field_.attname, None)), scope)

    @staticmethod
    def _inserted_keys(compiler: Any, rows: list) -> list | None:
        """The auto keys the INSERT returned, one per object (None: it returned none)."""
        for index, field_ in enumerate(compiler.returning_fields or []):
            if field_.primary_key and field_role(field_).role == KEY:
                return [row[index] for row in rows]
        return None

    def _name_initial_rows(self, opts: Any, label: str, objs_and_keys: Iterator[tuple[Any, Any]]) -> None:
        """Rows made while the test database was built (content types, permissions) are named by
        their natural key: a vendor-specific model or migration shifts every creation order after it."""
        fields = natural_key_fields(opts)
        if fields is None:
            return
        for obj, raw in objs_and_keys:
            natural = []
            for field_ in fields:
                value = getattr(obj, field_.attname, None)
                column = field_role(field_)
                if column.role == KEY:
                    value = self.identities.key_label(column.model, value)
                    if value is None:
                        break
                natural.append(canonical_plain(value, self.clock))
            else:
                self.identities.name_key(label, raw, natural)

    def _wrap_update(self, original: Callable) -> Callable:
        recorder = self

        def execute_sql(compiler: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                recorder._register_updated(compiler)
            except Exception:  # noqa: BLE001 - never raised into the test
                recorder._internal_error()
            token = _inside_write.set(UPDATE)
            try:
                return original(compiler, *args, **kwargs)
            finally:
                _inside_write.reset(token)

        return execute_sql

    def _register_updated(self, compiler: Any) -> None:
        scope = self.scope()
        table = compiler.query.get_meta().db_table
        for field_, _, value in compiler.query.values:
            if hasattr(value, "resolve_expression") or getattr(field_, "column", None) is None:
                continue
            self.identities.register_written(f"{table}.{field_.column}", as_read_back(field_, value), scope)

    # ------------------------------------------------------------ order consumed by the code

    def _wrap_fetch_all(self, original: Callable) -> Callable:
        recorder = self

        def _fetch_all(queryset: Any) -> None:
            if queryset._result_cache is not None or not recorder._recording():
                return original(queryset)
            before = recorder.sequence
            original(queryset)
            try:
                # The queryset's own SELECT is the first one it ran (prefetches come after).
                first = None
                for record in reversed(recorder.records):
                    if record.sequence <= before:
                        break
                    if record.kind == SELECT:
                        first = record
                if first is not None:
                    first.order_iterated = False  # until the code iterates the result
                    recorder._queryset_records[queryset] = first
            except Exception:  # noqa: BLE001 - never raised into the test
                recorder._internal_error()

        return _fetch_all

    def _wrap_iter(self, original: Callable) -> Callable:
        recorder = self

        def __iter__(queryset: Any) -> Any:
            rows = original(queryset)
            try:
                record = recorder._queryset_records.get(queryset)
                if record is not None and not _asked_by_in_operator(sys._getframe(1)):
                    record.order_iterated = True
            except Exception:  # noqa: BLE001 - never raised into the test
                recorder._internal_error()
            return rows

        return __iter__

    def _wrap_getitem(self, original: Callable) -> Callable:
        recorder = self

        def __getitem__(queryset: Any, key: Any) -> Any:
            if queryset._result_cache is not None:
                # The project's code indexing an evaluated result depends on the order the backend gave
                # (Django's own `objs[0]`, e.g. the delete collector asking for the model, does not).
                try:
                    record = recorder._queryset_records.get(queryset)
                    if record is not None and recorder._is_project_file(sys._getframe(1).f_code.co_filename):
                        record.order_consumed = True
                except Exception:  # noqa: BLE001 - never raised into the test
                    recorder._internal_error()
            return original(queryset, key)

        return __getitem__


def _column_reference(expression: Any, alias: str | None) -> tuple | None:
    """What a plan depends on of a plain column reference (Col); None for any other expression."""
    if type(expression).__name__ != "Col":
        return None
    return (expression.alias, id(expression.target), id(expression.output_field), alias)


def as_read_back(field: Any, value: Any) -> Any:
    """The value as the field will read it back: an int assigned to a CharField comes back as text
    (a generic relation's object_pk = obj.pk)."""
    if value is None or hasattr(value, "resolve_expression"):
        return value
    try:
        return field.to_python(value)
    except Exception:  # noqa: BLE001 - a value the field would refuse is compared as it is
        return value


def _asked_by_in_operator(frame: Any) -> bool:
    """Is this frame running `x in queryset`? (QuerySet has no __contains__: `in` iterates it.)"""
    code, offset = frame.f_code.co_code, frame.f_lasti
    return 0 <= offset < len(code) and code[offset] == CONTAINS_OP


def describe_database_error(error: BaseException, stage: str | None = None) -> dict[str, Any]:
    """The error as the backend reported it: class, vendor code, one-line message."""
    code = driver_error_code(error.__cause__ or error)
    message = " ".join(str(error).split())[:500]
    described = {"class": f"{type(error).__module__}.{type(error).__name__}", "code": code, "message": message}
    if stage:
        described["stage"] = stage
    return described


def _short_params(params: Any) -> list[Any]:
    if params is None:
        return []
    values = list(params.values()) if isinstance(params, dict) else list(params)
    return [
        value if isinstance(value, int | float | bool | type(None)) else str(value)[:100]
        for value in values[:MAX_PARAMS]
    ]
