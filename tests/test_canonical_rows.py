"""Rows canonicalised a column at a time (harness/canonical_rows.py) give exactly what the
row-by-row definition gives: the same raw and renamed forms, floats, first-sight labels and digests."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.canonical import (
    CLOCK_FIELD,
    FLOAT_PLACEHOLDER,
    GENERATED_UUID,
    KEY,
    KEY_DERIVED,
    PLAIN,
    Clock,
    Column,
    RowDigest,
    canonical_plain,
)
from harness.canonical_rows import WRITTEN_IN_KEYED_ROW, ResultPlan, RowCanonicaliser
from harness.identity import CLASS, TEST, Identities
from harness.recorder import QueryRecord, QueryRecorder
from harness.results import ResultsWriter

UTC = dt.UTC
NOW = dt.datetime.now(UTC)


def reference_row(row: Any, plan: ResultPlan, identities: Identities, clock: Clock, tolerant: bool) -> tuple:
    """The row-by-row definition (docs/value-identity.md): raw, renamed (None: nothing renamed), floats."""
    raw: list[Any] = []
    renamed: list[Any] = []
    floats: list[float] | None = None
    differs = False
    for index in plan.order:
        value = row[index] if index < len(row) else None
        column = plan.columns[index]
        if value is None:
            raw_value = renamed_value = None
        elif column.role == PLAIN:
            if tolerant and isinstance(value, float) and math.isfinite(value):
                raw_value = renamed_value = FLOAT_PLACEHOLDER
                floats = [*floats, value] if floats else [value]
            else:
                raw_value = canonical_plain(value, clock)
                label = identities.written_label(column.source, value) if column.source else None
                if label is None:
                    renamed_value = raw_value
                else:
                    renamed_value = WRITTEN_IN_KEYED_ROW if plan.keyed[index] else label
        elif column.role in (KEY, GENERATED_UUID):
            label = identities.key_label(column.model, value)
            if label is not None:
                raw_value = renamed_value = label
            else:
                raw_value = f"{column.model}#={value}"
                renamed_value = identities.sighted_key_label(column.model, value)
        elif column.role == CLOCK_FIELD:
            raw_value = renamed_value = "<clock>"
        else:
            raw_value = renamed_value = "<computed from a key>"
        raw.append(raw_value)
        renamed.append(renamed_value)
        differs = differs or renamed_value is not raw_value
    return raw, renamed if differs else None, floats


# ---------------------------------------------------------------- generated results

# One strategy per type of plain value: a column holds one of them (and None), or several.
KINDS = [
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from(["a", "b", "salt", ""]),
    st.sampled_from([0.5, -1.25, 0.0, math.inf, math.nan]),
    st.sampled_from([Decimal("1.50"), Decimal("1.5"), Decimal("0"), Decimal("-0.0"), Decimal("NaN")]),
    st.sampled_from(
        [
            dt.datetime(2001, 2, 3, 4, tzinfo=UTC),
            dt.datetime(2001, 2, 3, 5, tzinfo=dt.timezone(dt.timedelta(hours=1))),  # the same instant
            dt.datetime(2001, 2, 3, 4),  # naive
            NOW,
            NOW + dt.timedelta(minutes=3),
            NOW - dt.timedelta(days=401),
        ]
    ),
    st.sampled_from([dt.date(2020, 1, 2), dt.date(2020, 1, 3)]),
    st.sampled_from([dt.time(8, 30), dt.time(8, 30, tzinfo=UTC)]),
    st.sampled_from([dt.timedelta(seconds=5), dt.timedelta(0)]),
    st.sampled_from([uuid.UUID(int=1), uuid.UUID(int=2)]),
    st.sampled_from([b"\x00\x01", b"", memoryview(b"xy")]),
    st.sampled_from([{"k": [1, 2]}, [1, "a"]]),
]
PLAIN_VALUES = st.one_of(st.none(), *KINDS)
KEY_VALUES = st.one_of(st.none(), st.integers(1, 6))
UUID_KEYS = st.one_of(st.none(), st.sampled_from([uuid.UUID(int=1), uuid.UUID(int=2), uuid.UUID(int=3)]))
COLUMNS = st.sampled_from(
    [
        ("plain", Column(PLAIN)),
        ("written", Column(PLAIN, source="t.written")),
        ("other", Column(PLAIN, source="t.other")),
        ("key", Column(KEY, "app.A")),
        ("fk", Column(KEY, "app.B")),
        ("self", Column(KEY, "app.A")),
        ("uuid", Column(GENERATED_UUID, "app.U")),
        ("clock", Column(CLOCK_FIELD)),
        ("derived", Column(KEY_DERIVED)),
    ]
)


@st.composite
def results(draw: Any) -> tuple[ResultPlan, list[tuple], list[tuple[str, Any]]]:
    """A plan, rows whose columns hold one type or several, and the writes and keys made before."""
    chosen = draw(st.lists(COLUMNS, min_size=0, max_size=6))
    columns = [column for _, column in chosen]
    names = [f"{name}{position}" for position, (name, _) in enumerate(chosen)]
    order = sorted(range(len(names)), key=names.__getitem__)
    keyed = [draw(st.booleans()) for _ in columns]
    strategies = []
    for column in columns:
        if column.role == KEY:
            strategies.append(KEY_VALUES)
        elif column.role == GENERATED_UUID:
            strategies.append(UUID_KEYS)
        elif draw(st.booleans()):  # one type, as most columns
            strategies.append(st.one_of(st.none(), draw(st.sampled_from(KINDS))))
        else:
            strategies.append(PLAIN_VALUES)
    rows = draw(st.lists(st.tuples(*strategies), min_size=0, max_size=12))
    if rows and draw(st.booleans()):
        rows[-1] = rows[-1][: len(columns) // 2]  # a short row reads as None beyond its end
    events = draw(
        st.lists(
            st.one_of(
                st.tuples(st.just("key:app.A"), st.integers(1, 6)),
                st.tuples(st.just("key:app.B"), st.integers(1, 6)),
                st.tuples(st.just("key:app.U"), st.sampled_from([uuid.UUID(int=1), uuid.UUID(int=2)])),
                st.tuples(st.just("write:t.written"), PLAIN_VALUES),
            ),
            max_size=10,
        )
    )
    # Most values read from a written column were written by the test (its fixtures).
    read_back = [value for row in rows for value in row]
    read_back = [value for value in read_back if value is not None]
    if read_back:
        events += [("write:t.written", value) for value in draw(st.lists(st.sampled_from(read_back), max_size=12))]
    return ResultPlan(columns, sorted(names), order, keyed, True), rows, events


def identities_after(events: list[tuple[str, Any]]) -> Identities:
    identities = Identities()
    identities.enter_test("t.py::C::test")
    for position, (event, value) in enumerate(events):
        scope = CLASS if position % 2 else TEST
        kind, target = event.split(":", 1)
        if kind == "key":
            identities.register_key(target, value, scope)
        else:
            identities.register_written(target, value, scope)
    return identities


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(results(), st.booleans(), st.integers(1, 5))
def test_chunks_canonicalise_as_row_by_row(result: Any, tolerant: bool, chunk: int) -> None:
    plan, rows, events = result
    clock = Clock()
    expected_identities, identities = identities_after(events), identities_after(events)
    expected = [reference_row(row, plan, expected_identities, clock, tolerant) for row in rows]
    canonicaliser = RowCanonicaliser(1e-9 if tolerant else 0)
    got: list[tuple] = []
    by_chunks, by_rows = RowDigest(), RowDigest()
    for start in range(0, len(rows), chunk):
        canonical = canonicaliser.rows(rows[start : start + chunk], plan, identities, clock)
        by_chunks.add_rows(canonical.raw, canonical.renamed, canonical.floats)
        for position, raw in enumerate(canonical.raw):
            renamed = canonical.renamed[position] if canonical.renamed is not None else raw
            floats = canonical.floats[position] if canonical.floats is not None else None
            got.append((list(raw), list(renamed), floats))
    for raw, renamed, floats in expected:
        by_rows.add(raw, renamed, floats)
    assert _comparable(got) == _comparable([(raw, renamed or raw, floats) for raw, renamed, floats in expected])
    assert by_chunks.to_dict() == by_rows.to_dict()


def _comparable(rows: list[tuple]) -> str:
    return repr(rows)  # NaN-free by now (canonical forms), and repr tells 1 from True from 1.0


# ---------------------------------------------------------------- the recorder holds rows back


def recorder(tmp_path: Path) -> QueryRecorder:
    rec = QueryRecorder(writer=ResultsWriter(tmp_path / "r.jsonl"), project_root=str(tmp_path))
    rec.start_test("t.py::test")
    return rec


def record(plan: ResultPlan) -> QueryRecord:
    query = QueryRecord(
        test="t.py::test",
        phase="call",
        site="t.py:1",
        kind="select",
        occurrence=1,
        sql="",
        params=[],
        sequence=1,
        position=1,
    )
    query.plan = plan
    return query


def test_held_rows_are_digested_before_a_write_changes_the_labels(tmp_path: Path) -> None:
    """iterator(): the code writes between two rows; each row is renamed as it was when read."""
    plan = ResultPlan([Column(PLAIN, source="t.name")], ["name"], [0], [False], deferrable=True)
    rec = recorder(tmp_path)
    rec.identities.register_written("t.name", "x", TEST)
    held = record(plan)
    stream = rec._stream(held, iter([("x",), ("x",)]))
    next(stream)
    rec.identities.register_written("t.name", "x", TEST)  # x is now the second write
    list(stream)

    expected = RowDigest()
    expected.add(["x"], ["<in:t1>"])
    expected.add(["x"], ["<in:t2>"])
    assert held.complete and held.digest is not None
    assert held.digest.to_dict() == expected.to_dict()


def test_rows_read_before_the_code_stops_reading_are_digested(tmp_path: Path) -> None:
    plan = ResultPlan([Column(PLAIN)], ["n"], [0], [False], deferrable=True)
    rec = recorder(tmp_path)
    held = record(plan)
    stream = rec._stream(held, iter([(1,), (2,), (3,)]))
    next(stream), next(stream)
    stream.close()
    assert held.digest is not None and held.digest.rows == 2 and not held.complete


def test_the_end_of_a_test_digests_what_a_half_read_result_holds(tmp_path: Path) -> None:
    plan = ResultPlan([Column(PLAIN)], ["n"], [0], [False], deferrable=True)
    rec = recorder(tmp_path)
    held = record(plan)
    rec.records.append(held)
    stream = rec._stream(held, iter([(1,), (2,), (3,)]))
    next(stream)
    rec.finish_test()
    assert held.digest is not None and held.digest.rows == 1


def test_remembered_datetimes_are_forgotten_when_a_test_travels_back_in_time() -> None:
    import time_machine

    plan = ResultPlan([Column(PLAIN)], ["at"], [0], [False])
    canonicaliser = RowCanonicaliser(1e-9)
    identities = Identities()
    old = dt.datetime(2001, 2, 3, 4, tzinfo=UTC)
    [first] = canonicaliser.rows([(old,)], plan, identities, Clock()).raw
    assert first == ({"datetime": old.isoformat()},)
    with time_machine.travel(old, tick=False):
        [again] = canonicaliser.rows([(old,)], plan, identities, Clock()).raw
    assert again == ({"datetime": "now"},)
