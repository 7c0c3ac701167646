"""Record every ORM query a test runs: a key that matches the same query on every backend,
the SQL as the backend ran it, and the error or the canonical result as the application saw it.

Hooks into Django at three documented or stable points: ``connection.execute_wrappers``
(every statement, its error and row count), ``SQLCompiler.results_iter`` (rows after
Django's converters) and the compilers' ``execute_sql`` (which model and columns a
statement concerns, keys returned by INSERT). Digests are streamed: memory stays
bounded whatever the size of the results.
"""

from __future__ import annotations

import contextvars
import functools
import os
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from harness.canonical import (
    CLOCK_FIELD,
    GENERATED_UUID,
    KEY,
    KEY_DERIVED,
    PLAIN,
    Clock,
    Column,
    KeyMap,
    RowDigest,
    canonical_value,
)
from harness.paths import library_prefixes
from harness.results import ResultsWriter

# Statements compared by their results; others are only compared for errors.
SELECT, INSERT, UPDATE, DELETE, OTHER = "select", "insert", "update", "delete", "other"
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

_inside_write: contextvars.ContextVar[str | None] = contextvars.ContextVar("portability_write", default=None)
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
    error: dict[str, Any] | None = None
    rowcount: int | None = None
    columns: list[Column] | None = None
    digest: RowDigest | None = None
    complete: bool = False
    total_order: bool = False
    explicit_order: bool = False
    offset: int = 0
    limit: int | None = None
    random_order: bool = False
    order_consumed: bool = False

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
        if self.error is not None:
            data["error"] = self.error
        if self.rowcount is not None:
            data["rowcount"] = self.rowcount
        if self.digest is not None:
            data.update(
                rows=self.digest.rows,
                digest_ordered=self.digest.ordered,
                digest_unordered=self.digest.unordered,
                sample=self.digest.sample,
                complete=self.complete,
                total_order=self.total_order,
                explicit_order=self.explicit_order,
                offset=self.offset,
                limit=self.limit,
                random_order=self.random_order,
                order_consumed=self.order_consumed,
            )
        return data


@dataclass
class QueryRecorder:
    """Collects the queries of the running test and writes them when the test ends."""

    writer: ResultsWriter
    project_root: str
    float_digits: int = 9
    test: str | None = None
    paused: bool = False
    phase: str = "setup"
    first_in_class: bool = True
    keys: KeyMap = field(default_factory=KeyMap)
    clock: Clock = field(default_factory=Clock)
    records: list[QueryRecord] = field(default_factory=list)
    occurrences: Counter = field(default_factory=Counter)
    sequence: int = 0
    _class_id: str | None = None
    _libraries: tuple[str, ...] = field(default_factory=library_prefixes)
    _site_cache: dict[str, str | None] = field(default_factory=dict)
    _columns_by_field: dict[Any, Column] = field(default_factory=dict)
    _restore: list[Callable[[], None]] = field(default_factory=list)

    # ------------------------------------------------------------ test lifecycle

    def start_test(self, nodeid: str) -> None:
        class_id = nodeid.rsplit("::", 1)[0]
        self.first_in_class = class_id != self._class_id
        if self.first_in_class:
            self.keys.new_class()
            self._class_id = class_id
        self.keys.new_test()
        self.test, self.phase = nodeid, "setup"
        self.clock = Clock()
        self.occurrences.clear()

    def set_phase(self, phase: str) -> None:
        self.phase = phase

    def finish_test(self) -> None:
        for record in self.records:
            # Flushed with the test's own record, which follows.
            self.writer.write("query", flush=False, **record.to_dict())
        self.records.clear()
        self.test = None

    # ------------------------------------------------------------ Django hooks

    def install(self) -> None:
        """Hook into Django; :meth:`uninstall` undoes it."""
        from django.db import connections
        from django.db.backends.signals import connection_created
        from django.db.models.query import QuerySet
        from django.db.models.sql import compiler

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
        self._patch(compiler.SQLUpdateCompiler, "execute_sql", self._wrap_write(UPDATE))
        self._patch(QuerySet, "_fetch_all", self._wrap_fetch_all)
        self._patch(QuerySet, "__getitem__", self._wrap_getitem)

    def uninstall(self) -> None:
        while self._restore:
            self._restore.pop()()

    def _patch(self, owner: type, name: str, make: Callable[[Callable], Callable]) -> None:
        original = owner.__dict__[name]
        setattr(owner, name, make(original))
        self._restore.append(lambda: setattr(owner, name, original))

    def execute_wrapper(self, execute: Callable, sql: str, params: Any, many: bool, context: dict) -> Any:
        if self.test is None or self.paused:
            return execute(sql, params, many, context)
        statement = sql.lstrip()[:24].upper()
        if statement.startswith(IGNORED_PREFIXES):
            return execute(sql, params, many, context)
        site = self._call_site()
        if site is None:
            return execute(sql, params, many, context)
        statement_kind = STATEMENT_KINDS.get(statement.split(None, 1)[0] if statement else "", OTHER)
        # A SELECT the ORM runs inside an UPDATE (MySQL's pre-select) belongs to that UPDATE.
        kind = _inside_write.get() or statement_kind
        record = self._new_record(site, kind, sql, params, many)
        _last_record.set(record)
        try:
            result = execute(sql, params, many, context)
        except Exception as error:
            record.error = describe_database_error(error)
            raise
        if statement_kind in (UPDATE, DELETE):
            # What update() and delete() return to the application.
            record.rowcount = getattr(context.get("cursor"), "rowcount", None)
        return result

    def _new_record(self, site: str, kind: str, sql: str, params: Any, many: bool) -> QueryRecord:
        self.occurrences[(site, kind)] += 1
        self.sequence += 1
        record = QueryRecord(
            test=self.test or "",
            phase=self.phase,
            site=site,
            kind=kind,
            occurrence=self.occurrences[(site, kind)],
            sql=sql[:MAX_SQL_CHARS],
            params=[] if many else _short_params(params),
            sequence=self.sequence,
            position=len(self.records) + 1,
        )
        self.records.append(record)
        return record

    def _call_site(self) -> str | None:
        """path:line of the innermost frame in the project's own code (not Django, not libraries)."""
        frame = sys._getframe(2)
        cache = self._site_cache
        while frame is not None:
            filename = frame.f_code.co_filename
            relative = cache.get(filename, False)
            if relative is False:
                is_project = filename.startswith(self.project_root) and not filename.startswith(self._libraries)
                relative = cache[filename] = os.path.relpath(filename, self.project_root) if is_project else None
            if relative is not None:
                return f"{relative}:{frame.f_lineno}"
            frame = frame.f_back
        return None

    # ------------------------------------------------------------ compiler wrappers

    def _wrap_execute_sql(self, original: Callable) -> Callable:
        recorder = self

        def execute_sql(compiler: Any, result_type: Any = "multi", *args: Any, **kwargs: Any) -> Any:
            if recorder.test is None:
                return original(compiler, result_type, *args, **kwargs)
            _last_record.set(None)
            try:
                result = original(compiler, result_type, *args, **kwargs)
            except Exception as error:
                if _last_record.get() is None and _inside_write.get() is None:
                    # Raised by Django before any SQL ran (e.g. a feature the backend lacks).
                    site = recorder._call_site()
                    if site is not None:
                        record = recorder._new_record(site, SELECT, "", [], False)
                        record.error = describe_database_error(error)
                raise
            record = _last_record.get()
            if record is not None and record.kind == SELECT and _inside_write.get() is None:
                compiler._portability_record = record
                recorder._describe_select(record, compiler)
                if result_type == "single":
                    recorder._digest_rows(record, compiler, [result] if result else [])
                    record.complete = True
            return result

        return execute_sql

    def _wrap_results_iter(self, original: Callable) -> Callable:
        recorder = self

        def results_iter(compiler: Any, *args: Any, **kwargs: Any) -> Iterator:
            rows = original(compiler, *args, **kwargs)
            record = getattr(compiler, "_portability_record", None)
            if recorder.test is None or record is None or record.digest is not None:
                return rows
            return recorder._stream(record, rows)

        return results_iter

    def _stream(self, record: QueryRecord, rows: Iterator) -> Iterator:
        digest = record.digest = RowDigest()
        columns = record.columns or []
        for row in rows:
            digest.add(self._canonical_row(row, columns))
            yield row
        record.complete = True

    def _digest_rows(self, record: QueryRecord, compiler: Any, raw_rows: list) -> None:
        fields = [select[0] for select in compiler.select[0 : compiler.col_count]]
        converters = compiler.get_converters(fields)
        rows = compiler.apply_converters(raw_rows, converters) if converters else raw_rows
        record.digest = RowDigest()
        for row in rows:
            record.digest.add(self._canonical_row(row, record.columns or []))

    def _canonical_row(self, row: Any, columns: list[Column]) -> list[Any]:
        return [
            canonical_value(
                value, columns[index] if index < len(columns) else Column(), self.keys, self.clock, self.float_digits
            )
            for index, value in enumerate(row)
        ]

    def _describe_select(self, record: QueryRecord, compiler: Any) -> None:
        query = compiler.query
        key_columns = key_column_names(query.get_meta())
        record.columns = [self._column(select[0], key_columns) for select in compiler.select[0 : compiler.col_count]]
        record.offset = query.low_mark
        record.limit = None if query.high_mark is None else query.high_mark - query.low_mark
        record.random_order = "?" in query.order_by
        record.total_order = has_total_order(query)
        record.explicit_order = bool(query.order_by) or bool(query.default_ordering and query.get_meta().ordering)

    def _column(self, expression: Any, key_columns: frozenset[str]) -> Column:
        """column_of, remembered per model field for plain column references (most columns)."""
        target = getattr(expression, "target", None)
        if target is None or type(expression).__name__ != "Col":
            return column_of(expression, key_columns)
        column = self._columns_by_field.get(target)
        if column is None:
            column = self._columns_by_field[target] = column_of(expression, key_columns)
        return column

    def _wrap_insert(self, original: Callable) -> Callable:
        recorder = self

        def execute_sql(compiler: Any, *args: Any, **kwargs: Any) -> Any:
            if recorder.test is None:
                return original(compiler, *args, **kwargs)
            token = _inside_write.set(INSERT)
            try:
                rows = original(compiler, *args, **kwargs)
            finally:
                _inside_write.reset(token)
            recorder._register_inserted(compiler, rows)
            return rows

        return execute_sql

    def _register_inserted(self, compiler: Any, rows: list) -> None:
        from django.db.models import UUIDField
        from django.db.models.fields import AutoFieldMixin

        opts = compiler.query.get_meta()
        label = opts.concrete_model._meta.label
        class_scope = self.phase == "setup" and self.first_in_class
        for index, field_ in enumerate(compiler.returning_fields or []):
            if isinstance(field_, AutoFieldMixin):
                for row in rows:
                    self.keys.register(label, row[index], class_scope)
        pk = opts.pk
        if isinstance(pk, UUIDField) and pk.has_default():
            for obj in compiler.query.objs:
                self.keys.register(label, obj.pk, class_scope)

    def _wrap_write(self, kind: str) -> Callable[[Callable], Callable]:
        def wrap(original: Callable) -> Callable:
            def execute_sql(compiler: Any, *args: Any, **kwargs: Any) -> Any:
                token = _inside_write.set(kind)
                try:
                    return original(compiler, *args, **kwargs)
                finally:
                    _inside_write.reset(token)

            return execute_sql

        return wrap

    def _wrap_fetch_all(self, original: Callable) -> Callable:
        recorder = self

        def _fetch_all(queryset: Any) -> None:
            if queryset._result_cache is not None or recorder.test is None:
                return original(queryset)
            before = recorder.sequence
            original(queryset)
            # The queryset's own SELECT is the first one it ran (prefetches come after).
            first = None
            for record in reversed(recorder.records):
                if record.sequence <= before:
                    break
                if record.kind == SELECT:
                    first = record
            queryset._portability_record = first

        return _fetch_all

    def _wrap_getitem(self, original: Callable) -> Callable:
        def __getitem__(queryset: Any, key: Any) -> Any:
            if queryset._result_cache is not None:
                # Indexing an evaluated result: the code depends on the order the backend gave.
                record = getattr(queryset, "_portability_record", None)
                if record is not None:
                    record.order_consumed = True
            return original(queryset, key)

        return __getitem__


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
        if not isinstance(getattr(expression, "output_field", None), AutoFieldMixin | ForeignObject):
            return Column(KEY_DERIVED)
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
    return Column(PLAIN)


@functools.cache
def key_column_names(opts: Any) -> frozenset[str]:
    """Column names of a model that hold auto keys (its own or those it points at)."""
    return frozenset(field.column for field in opts.concrete_fields if column_of_field(field).role == KEY)


def column_of_field(field: Any) -> Column:
    from django.db.models.expressions import Col

    return column_of(Col(field.model._meta.db_table, field))


def _sources(expression: Any) -> Iterator[Any]:
    for source in getattr(expression, "get_source_expressions", lambda: [])() or []:
        if source is not None:
            yield source
            yield from _sources(source)


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


@functools.cache
def unique_field_names(opts: Any) -> frozenset[str]:
    """Names by which an ORDER BY can name a unique column of the model."""
    unique = [field for field in opts.concrete_fields if field.unique]
    return frozenset({"pk", opts.pk.name, opts.pk.attname} | {f.name for f in unique} | {f.attname for f in unique})


def describe_database_error(error: BaseException) -> dict[str, Any]:
    """The error as the backend reported it: class, vendor code, one-line message."""
    cause = error.__cause__ or error
    code: Any = getattr(cause, "pgcode", None) or getattr(cause, "sqlite_errorname", None)
    if code is None and cause.args and isinstance(cause.args[0], int):
        code = cause.args[0]  # MySQL and MariaDB
    message = " ".join(str(error).split())[:500]
    return {"class": f"{type(error).__module__}.{type(error).__name__}", "code": code, "message": message}


def _short_params(params: Any) -> list[Any]:
    if params is None:
        return []
    values = list(params.values()) if isinstance(params, dict) else list(params)
    return [
        value if isinstance(value, int | float | bool | type(None)) else str(value)[:100]
        for value in values[:MAX_PARAMS]
    ]
