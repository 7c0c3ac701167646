"""The query differential (harness/query_compare.py) on synthetic results: records in, findings out.

Every record is built by the recorder's own ``QueryRecord.to_dict()`` with a real
``RowDigest``, written through ``ResultsWriter`` and read back by ``read_results``, so the
tests see exactly what a worker writes. No database is involved.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from harness.canonical import FLOAT_PLACEHOLDER, MAX_FLOAT_ROWS, Column, RowDigest
from harness.compare import compare
from harness.query_causes import NOT_SUPPORTED_HINT, TRUNCATED_CAUSE
from harness.query_compare import (
    ORDER_DIVERGENCE,
    QUERY_ERROR,
    RESULT_DIVERGENCE,
    UNORDERED_ORDER,
    nondeterministic_keys,
    query_divergences,
    query_findings,
)
from harness.recorder import QueryRecord, ResultPlan
from harness.results import SCHEMA_VERSION, ResultsWriter, WorkerResults, read_results

TEST = "app/tests.py::test_a"
SITE = "app/views.py:10"


# ---------------------------------------------------------------- building records


def result_plan(columns: list[Column], names: list[str]) -> ResultPlan:
    """Plain columns in name order, no row key selected beside them."""
    return ResultPlan(columns, names, list(range(len(columns))), [False] * len(columns))


def select(
    rows: list[list[Any]] = (),
    *,
    renamed: list[list[Any] | None] | None = None,
    floats: list[list[float] | None] | None = None,
    fingerprint: str | None = "f1",
    test: str = TEST,
    site: str = SITE,
    sql: str = 'SELECT "app_node"."name" FROM "app_node"',
    params: list[Any] = (),
    error: dict[str, Any] | None = None,
    complete: bool = True,
    **flags: Any,
) -> dict[str, Any]:
    """A SELECT as the recorder writes it: rows in their raw (and renamed) forms, floats kept aside."""
    digest = RowDigest()
    for index, row in enumerate(rows):
        digest.add(
            list(row),
            renamed[index] if renamed else None,
            floats[index] if floats else None,
        )
    width = len(rows[0]) if rows else 1
    names = [f"c{index}" for index in range(width)]
    record = QueryRecord(
        test=test,
        phase="call",
        site=site,
        kind="select",
        occurrence=1,
        sql=sql,
        params=list(params),
        sequence=0,
        position=0,
        statement="select",
        fingerprint=fingerprint,
        error=error,
        plan=result_plan([Column()] * width, names),
        digest=digest,
        complete=complete,
    )
    for name, value in flags.items():
        assert hasattr(record, name), name
        setattr(record, name, value)
    return record.to_dict()


def statement(kind: str, *, test: str = TEST, site: str = SITE, **fields: Any) -> dict[str, Any]:
    """An INSERT/UPDATE/DELETE (no rows), or a refusal before any SQL (kind "refused")."""
    record = QueryRecord(
        test=test,
        phase="call",
        site=site,
        kind=kind,
        occurrence=1,
        sql="" if kind == "refused" else f"{kind.upper()} ...",
        params=[],
        sequence=0,
        position=0,
        statement=kind if kind != "refused" else "other",
    )
    for name, value in fields.items():
        setattr(record, name, value)
    return record.to_dict()


def refused(**fields: Any) -> dict[str, Any]:
    error = {
        "class": "django.db.utils.NotSupportedError",
        "code": None,
        "message": "This database backend does not support updating conflicts with specifying unique fields "
        "that can trigger the upsert.",
    }
    return statement("refused", error=error, **fields)


def worker(
    directory: Path,
    target: str,
    records: list[dict[str, Any]],
    tests: dict[str, str] | None = None,
    float_tolerance: float = 1e-9,
    name: str | None = None,
) -> WorkerResults:
    """A results file of one target, read back as compare reads it; positions and occurrences
    numbered per test as the recorder numbers them."""
    positions: Counter[str] = Counter()
    occurrences: Counter[tuple[str, str, str]] = Counter()
    path = directory / f"{name or target}.jsonl"
    writer = ResultsWriter(path)
    writer.write("header", schema_version=SCHEMA_VERSION, target=target, vendor=target, float_tolerance=float_tolerance)
    outcomes = dict.fromkeys((record["test"] for record in records), "passed") | (tests or {})
    writer.write("collection", count=len(outcomes))
    for record in records:
        positions[record["test"]] += 1
        occurrences[(record["test"], record["site"], record["kind"])] += 1
        record = {
            **record,
            "position": positions[record["test"]],
            "occurrence": occurrences[(record["test"], record["site"], record["kind"])],
        }
        writer.write("query", **record)
    for nodeid, outcome in outcomes.items():
        writer.write("test", nodeid=nodeid, outcome=outcome, message=f"{outcome} on {target}", location=None)
    writer.write("finish", exitstatus=0, duration=1.0)
    writer.close()
    return read_results(path)


def divergences_of(tmp_path: Path, per_backend: dict[str, list[dict[str, Any]]], **kwargs: Any):
    results = [worker(tmp_path, target, records) for target, records in per_backend.items()]
    return query_divergences(results, **kwargs)


def kinds(divergences) -> list[str]:
    return [divergence.kind for divergence in divergences]


# ---------------------------------------------------------------- matching


def test_identical_results_give_nothing(tmp_path: Path) -> None:
    records = [select([["a"], ["b"]], fingerprint="f1"), select([["c"]], fingerprint="f2")]
    assert divergences_of(tmp_path, {"sqlite": records, "postgresql": records, "mariadb": records}) == []


def test_the_same_fingerprint_sequence_pairs_by_position(tmp_path: Path) -> None:
    sqlite = [select([["a"]], fingerprint="f1"), select([["b"]], fingerprint="f2"), select([["c"]], fingerprint="f1")]
    postgresql = [
        select([["a"]], fingerprint="f1"),
        select([["b"]], fingerprint="f2"),
        select([["C"]], fingerprint="f1"),
    ]
    [divergence] = divergences_of(tmp_path, {"sqlite": sqlite, "postgresql": postgresql})
    assert divergence.kind == RESULT_DIVERGENCE
    assert {backend: record["position"] for backend, record in divergence.records.items()} == {
        "sqlite": 3,
        "postgresql": 3,
    }
    assert divergence.message == "the query returns different rows (postgresql: 1, sqlite: 1)"


def test_a_shuffled_sequence_pairs_by_fingerprint(tmp_path: Path) -> None:
    # for parent in Parent.objects.all(): parent.child_set.all() -- each backend loops in its own order.
    sqlite = [select([[f"child of {item}"]], fingerprint=f"f{item}") for item in (1, 2, 3)]
    postgresql = [select([[f"child of {item}"]], fingerprint=f"f{item}") for item in (3, 1, 2)]
    assert divergences_of(tmp_path, {"sqlite": sqlite, "postgresql": postgresql}) == []
    # ... and a real difference among them is still found, at the right query.
    postgresql[0] = select([["another child of 3"]], fingerprint="f3")
    [divergence] = divergences_of(tmp_path, {"sqlite": sqlite, "postgresql": postgresql})
    assert divergence.kind == RESULT_DIVERGENCE
    assert {backend: record["position"] for backend, record in divergence.records.items()} == {
        "sqlite": 3,
        "postgresql": 1,
    }


def test_the_nth_query_with_one_fingerprint_pairs_with_the_nth(tmp_path: Path) -> None:
    sqlite = [select([["x1"]], fingerprint="x"), select([["y"]], fingerprint="y"), select([["x2"]], fingerprint="x")]
    postgresql = [
        select([["y"]], fingerprint="y"),
        select([["x1"]], fingerprint="x"),
        select([["x2"]], fingerprint="x"),
    ]
    assert divergences_of(tmp_path, {"sqlite": sqlite, "postgresql": postgresql}) == []


def test_a_fingerprint_on_one_backend_only_is_not_compared(tmp_path: Path) -> None:
    # A random filter value: the two queries asked different questions.
    sqlite = [select([["a"]], fingerprint="f1"), select([["random 1"]], fingerprint="r1")]
    postgresql = [select([["a"]], fingerprint="f1"), select([["random 2"]], fingerprint="r2")]
    assert divergences_of(tmp_path, {"sqlite": sqlite, "postgresql": postgresql}) == []


def test_queries_of_other_sites_tests_or_kinds_are_not_paired(tmp_path: Path) -> None:
    sqlite = [select([["a"]], site="app/views.py:10"), select([["b"]], test="app/tests.py::test_b")]
    postgresql = [select([["c"]], site="app/views.py:11"), select([["d"]], test="app/tests.py::test_c")]
    assert divergences_of(tmp_path, {"sqlite": sqlite, "postgresql": postgresql}) == []


def test_a_query_on_one_backend_only_is_not_compared(tmp_path: Path) -> None:
    assert divergences_of(tmp_path, {"sqlite": [select([["a"]])], "postgresql": []}) == []


# ---------------------------------------------------------------- errors


def test_a_query_that_raises_on_one_backend_only_is_a_query_error(tmp_path: Path) -> None:
    error = {"class": "django.db.utils.ProgrammingError", "code": "42883", "message": "operator does not exist"}
    [divergence] = divergences_of(
        tmp_path,
        {"sqlite": [select([["1"]])], "postgresql": [select(error=error)], "mariadb": [select([["1"]])]},
    )
    assert divergence.kind == QUERY_ERROR
    assert divergence.message == "the query raises on postgresql but runs on mariadb, sqlite"
    assert divergence.hint.startswith("no such function or operator on PostgreSQL")


def test_a_query_that_raises_everywhere_is_not_a_difference(tmp_path: Path) -> None:
    error = {"class": "django.db.utils.IntegrityError", "code": None, "message": "UNIQUE constraint failed"}
    assert divergences_of(tmp_path, {"sqlite": [select(error=error)], "postgresql": [select(error=error)]}) == []


def test_an_orm_call_refused_before_any_sql_is_a_query_error(tmp_path: Path) -> None:
    # bulk_create(update_conflicts=True, unique_fields=[...]): MariaDB refuses it in the QuerySet.
    [divergence] = divergences_of(
        tmp_path,
        {"mariadb": [refused()], "postgresql": [statement("insert")], "sqlite": [statement("insert")]},
    )
    assert divergence.kind == QUERY_ERROR
    assert (divergence.test, divergence.site, divergence.statement) == (TEST, SITE, "insert")
    assert divergence.message == "the query raises on mariadb but runs on postgresql, sqlite"
    assert divergence.hint == NOT_SUPPORTED_HINT
    findings = query_findings([divergence], set(), {})
    assert findings[0].code == "PT201"
    assert findings[0].backends["mariadb"]["message"].startswith("django.db.utils.NotSupportedError: ")
    assert findings[0].location == {"path": "app/views.py", "line": 10}


def test_a_refusal_where_the_other_backend_ran_nothing_at_the_site_still_counts(tmp_path: Path) -> None:
    # The call ran on PostgreSQL without a statement at that line (an empty bulk_create, say).
    [divergence] = divergences_of(tmp_path, {"mariadb": [refused()], "postgresql": [select([["x"]], site="a.py:1")]})
    assert divergence.kind == QUERY_ERROR and divergence.statement == "refused"
    assert query_findings([divergence], set(), {})[0].backends["postgresql"]["message"] == "no refusal: the call ran"


def test_a_call_every_backend_refuses_is_not_a_difference(tmp_path: Path) -> None:
    assert divergences_of(tmp_path, {"mariadb": [refused()], "postgresql": [refused()], "sqlite": [refused()]}) == []


def test_a_refusal_in_a_test_another_backend_did_not_run_is_not_a_difference(tmp_path: Path) -> None:
    results = [worker(tmp_path, "mariadb", [refused()]), worker(tmp_path, "postgresql", [], tests={})]
    assert query_divergences(results) == []


def test_a_refusal_in_a_test_skipped_on_the_other_backend_is_not_a_difference(tmp_path: Path) -> None:
    results = [
        worker(tmp_path, "mariadb", [refused()]),
        worker(tmp_path, "postgresql", [], tests={TEST: "skipped"}),
    ]
    assert query_divergences(results) == []


CONVERT_ERROR = {
    "class": "builtins.ValueError",
    "code": None,
    "message": "Database returned an invalid datetime value. Are time zone definitions for your database installed?",
    "stage": "convert",
}


@pytest.mark.parametrize("target", ["mariadb", "mysql"])
def test_a_conversion_error_names_the_missing_time_zone_tables(tmp_path: Path, target: str) -> None:
    # TruncDay(..., tzinfo=...): the SQL ran, Django failed on the rows it returned.
    failing = select([[None]], error=CONVERT_ERROR, complete=False)
    [divergence] = divergences_of(tmp_path, {target: [failing], "postgresql": [select([["2020-01-01"]])]})
    assert divergence.kind == QUERY_ERROR
    assert "time zone" in divergence.hint and "tzinfo" in divergence.hint
    finding = query_findings([divergence], set(), {})[0]
    assert finding.backends[target]["message"].startswith("builtins.ValueError: Database returned an invalid datetime")


def test_the_time_zone_hint_is_only_given_for_mysql_and_mariadb(tmp_path: Path) -> None:
    failing = select([[None]], error=CONVERT_ERROR, complete=False)
    [divergence] = divergences_of(tmp_path, {"sqlite": [failing], "postgresql": [select([["2020-01-01"]])]})
    assert divergence.kind == QUERY_ERROR and divergence.hint == ""


# ---------------------------------------------------------------- rows: raw and renamed forms


def test_rows_that_agree_in_the_renamed_form_are_the_same(tmp_path: Path) -> None:
    # A password hash with a random salt: written by the test, renamed when read back.
    sqlite = select([["alice", "pbkdf2$salt1"]], renamed=[["alice", "<in:t1>"]])
    postgresql = select([["alice", "pbkdf2$salt2"]], renamed=[["alice", "<in:t1>"]])
    assert divergences_of(tmp_path, {"sqlite": [sqlite], "postgresql": [postgresql]}) == []


def test_rows_that_agree_in_the_raw_form_are_the_same(tmp_path: Path) -> None:
    # Equal values written in another order: numbered differently, equal as read.
    sqlite = select([["red"], ["blue"]], renamed=[["<in:t1>"], ["<in:t2>"]])
    postgresql = select([["red"], ["blue"]], renamed=[["<in:t2>"], ["<in:t3>"]])
    assert divergences_of(tmp_path, {"sqlite": [sqlite], "postgresql": [postgresql]}) == []


def test_rows_that_differ_in_both_forms_are_a_result_divergence(tmp_path: Path) -> None:
    sqlite = select([["alice", "x"]], renamed=[["alice", "<in:t1>"]])
    postgresql = select([["bob", "y"]], renamed=[["bob", "<in:t1>"]])
    [divergence] = divergences_of(tmp_path, {"sqlite": [sqlite], "postgresql": [postgresql]})
    assert divergence.kind == RESULT_DIVERGENCE
    assert divergence.cause is None  # nothing in the evidence points at a vendor behaviour


def test_a_different_number_of_rows_is_a_result_divergence(tmp_path: Path) -> None:
    [divergence] = divergences_of(tmp_path, {"sqlite": [select([["a"], ["b"]])], "postgresql": [select([["a"]])]})
    assert divergence.kind == RESULT_DIVERGENCE
    assert divergence.message == "the query returns different rows (postgresql: 1, sqlite: 2)"


def test_incomplete_results_are_not_compared(tmp_path: Path) -> None:
    # A result the code did not read to its end (or whose digest the recorder gave up on).
    sqlite = select([["a"]], complete=False)
    assert divergences_of(tmp_path, {"sqlite": [sqlite], "postgresql": [select([["b"]])]}) == []


def test_only_selects_are_compared_by_rows(tmp_path: Path) -> None:
    assert divergences_of(tmp_path, {"sqlite": [statement("insert")], "postgresql": [statement("insert")]}) == []


# ---------------------------------------------------------------- order


def reordered(**flags: Any) -> dict[str, list[dict[str, Any]]]:
    return {
        "sqlite": [select([["a"], ["b"], ["c"]], **flags)],
        "postgresql": [select([["b"], ["c"], ["a"]], **flags)],
    }


@pytest.mark.parametrize(
    "flags",
    [{"explicit_order": True}, {"order_consumed": True}, {"limit": 3}, {"offset": 2}],
    ids=["order_by", "indexed", "limit_reached", "offset"],
)
def test_another_order_that_the_code_uses_is_an_order_divergence(tmp_path: Path, flags: dict[str, Any]) -> None:
    [divergence] = divergences_of(tmp_path, reordered(**flags))
    assert divergence.kind == ORDER_DIVERGENCE
    assert divergence.cause and "no ORDER BY (or a non-unique one)" in divergence.cause
    assert query_findings([divergence], set(), {})[0].code == "PT203"


def test_a_limit_not_reached_does_not_make_the_order_used(tmp_path: Path) -> None:
    [divergence] = divergences_of(tmp_path, reordered(limit=21))  # .get() fetches up to 21 rows
    assert divergence.kind == UNORDERED_ORDER


def test_another_order_without_order_by_is_a_note_once_per_site(tmp_path: Path) -> None:
    tests = ["app/tests.py::test_a", "app/tests.py::test_b", "app/tests.py::test_c"]
    sqlite = [select([["a"], ["b"]], test=test) for test in tests]
    postgresql = [select([["b"], ["a"]], test=test) for test in tests]
    postgresql.append(select([["x"], ["y"]], test=tests[0], site="app/views.py:20"))
    sqlite.append(select([["y"], ["x"]], test=tests[0], site="app/views.py:20"))
    divergences = divergences_of(tmp_path, {"sqlite": sqlite, "postgresql": postgresql})
    assert kinds(divergences) == [UNORDERED_ORDER] * 4
    findings = query_findings(divergences, set(), {})
    assert len(findings) == 2
    by_site = {(f.location["path"], f.location["line"]): f for f in findings}
    looped = by_site[("app/views.py", 10)]
    assert (looped.kind, looped.code, looped.level) == (UNORDERED_ORDER, "PT204", "note")
    assert looped.details["tests"] == tests and looped.details["test_count"] == 3
    assert looped.message.endswith("(in 3 tests)")
    assert "sqlite: [['a'], ['b']]" in looped.message and "postgresql: [['b'], ['a']]" in looped.message
    single = by_site[("app/views.py", 20)]
    assert single.details["test_count"] == 1 and "(in " not in single.message


def test_another_order_under_a_total_order_is_not_reported(tmp_path: Path) -> None:
    assert divergences_of(tmp_path, reordered(explicit_order=True, total_order=True)) == []


def test_random_order_is_never_an_order_divergence(tmp_path: Path) -> None:
    assert divergences_of(tmp_path, reordered(random_order=True, explicit_order=True)) == []


def test_random_rows_under_a_limit_are_not_compared(tmp_path: Path) -> None:
    # order_by("?")[:2]: each backend (and each run) draws other rows.
    sqlite = select([["a"], ["b"]], random_order=True, limit=2)
    postgresql = select([["c"], ["a"]], random_order=True, limit=2)
    assert divergences_of(tmp_path, {"sqlite": [sqlite], "postgresql": [postgresql]}) == []


def test_random_order_still_compares_the_rows(tmp_path: Path) -> None:
    sqlite = select([["a"], ["b"]], random_order=True)
    postgresql = select([["c"], ["a"]], random_order=True)
    assert kinds(divergences_of(tmp_path, {"sqlite": [sqlite], "postgresql": [postgresql]})) == [RESULT_DIVERGENCE]


# ---------------------------------------------------------------- floats


def float_query(values: list[float], **kwargs: Any) -> dict[str, Any]:
    return select([["x", FLOAT_PLACEHOLDER] for _ in values], floats=[[value] for value in values], **kwargs)


def test_floats_within_the_tolerance_are_the_same(tmp_path: Path) -> None:
    sqlite, postgresql = float_query([1.0, 2.0]), float_query([1.0000000001, 2.0])
    assert divergences_of(tmp_path, {"sqlite": [sqlite], "postgresql": [postgresql]}) == []


def test_floats_beyond_the_tolerance_are_a_result_divergence(tmp_path: Path) -> None:
    sqlite, postgresql = float_query([1.0, 2.0]), float_query([1.5, 2.0])
    [divergence] = divergences_of(tmp_path, {"sqlite": [sqlite], "postgresql": [postgresql]})
    assert divergence.kind == RESULT_DIVERGENCE


def test_floats_compare_as_a_multiset_when_the_order_does_not_matter(tmp_path: Path) -> None:
    sqlite, postgresql = float_query([1.0, 2.0]), float_query([2.0, 1.0000000001])
    assert kinds(divergences_of(tmp_path, {"sqlite": [sqlite], "postgresql": [postgresql]})) == [UNORDERED_ORDER]


def test_a_float_tolerance_of_zero_is_exact(tmp_path: Path) -> None:
    per_backend = {"sqlite": [float_query([1.0])], "postgresql": [float_query([1.0000000001])]}
    assert kinds(divergences_of(tmp_path, per_backend, float_tolerance=0)) == [RESULT_DIVERGENCE]
    # The tolerance the workers recorded with is used when none is given.
    results = [
        worker(tmp_path, target, records, float_tolerance=0.0, name=f"{target}-exact")
        for target, records in per_backend.items()
    ]
    assert kinds(query_divergences(results)) == [RESULT_DIVERGENCE]
    results = [
        worker(tmp_path, target, records, float_tolerance=1e-6, name=f"{target}-loose")
        for target, records in per_backend.items()
    ]
    assert query_divergences(results) == []


def test_floats_are_not_compared_beyond_the_rows_kept(tmp_path: Path) -> None:
    count = MAX_FLOAT_ROWS + 1
    sqlite, postgresql = float_query([1.0] * count), float_query([9.0] * count)
    assert sqlite["float_rows_complete"] is False and len(sqlite["float_rows"]) == MAX_FLOAT_ROWS
    assert divergences_of(tmp_path, {"sqlite": [sqlite], "postgresql": [postgresql]}) == []


# ---------------------------------------------------------------- writes


def test_update_counts_are_compared_per_site_as_sums(tmp_path: Path) -> None:
    # Batched on one backend, in one statement on the other: the same rows affected.
    same = {
        "sqlite": [statement("update", rowcount=1), statement("update", rowcount=1)],
        "postgresql": [statement("update", rowcount=2)],
    }
    assert divergences_of(tmp_path, same) == []
    other = {
        "sqlite": [statement("update", rowcount=1), statement("update", rowcount=1)],
        "postgresql": [statement("update", rowcount=3)],
    }
    [divergence] = divergences_of(tmp_path, other)
    assert divergence.kind == RESULT_DIVERGENCE and divergence.statement == "update"
    assert divergence.message == "update affected a different number of rows (postgresql: 3, sqlite: 2)"
    assert query_findings([divergence], set(), {})[0].backends["sqlite"]["message"] == "2 row(s) affected"


def test_delete_counts_are_compared_too(tmp_path: Path) -> None:
    per_backend = {"sqlite": [statement("delete", rowcount=1)], "postgresql": [statement("delete", rowcount=0)]}
    assert kinds(divergences_of(tmp_path, per_backend)) == [RESULT_DIVERGENCE]


# ---------------------------------------------------------------- stability runs


def test_queries_whose_result_varies_between_runs_are_left_out(tmp_path: Path) -> None:
    stable = select([["a"]], fingerprint="stable")
    first = [stable, select([["random 1"]], fingerprint="drawn")]
    second = [stable, select([["random 2"]], fingerprint="drawn")]
    runs = {
        "sqlite": [worker(tmp_path, "sqlite", first, name="s0"), worker(tmp_path, "sqlite", second, name="s1")],
        "postgresql": [
            worker(tmp_path, "postgresql", second, name="p0"),
            worker(tmp_path, "postgresql", second, name="p1"),
        ],
    }
    unstable = nondeterministic_keys(runs)
    assert unstable == {("sqlite", (TEST, SITE, "select", "drawn", 1))}
    compared = [runs["sqlite"][0], runs["postgresql"][0]]
    assert kinds(query_divergences(compared)) == [RESULT_DIVERGENCE]
    assert query_divergences(compared, unstable) == []


def test_floats_kept_aside_count_in_the_stability_signature(tmp_path: Path) -> None:
    runs = {
        "sqlite": [
            worker(tmp_path, "sqlite", [float_query([1.0])], name="s0"),
            worker(tmp_path, "sqlite", [float_query([1.5])], name="s1"),
        ]
    }
    assert nondeterministic_keys(runs) == {("sqlite", (TEST, SITE, "select", "f1", 1))}


def test_a_random_order_alone_is_not_unstable(tmp_path: Path) -> None:
    runs = {
        "sqlite": [
            worker(tmp_path, "sqlite", [select([["a"], ["b"]], random_order=True)], name="s0"),
            worker(tmp_path, "sqlite", [select([["b"], ["a"]], random_order=True)], name="s1"),
        ]
    }
    assert nondeterministic_keys(runs) == frozenset()


def test_update_counts_that_vary_between_runs_are_left_out(tmp_path: Path) -> None:
    runs = {
        "sqlite": [
            worker(tmp_path, "sqlite", [statement("update", rowcount=2)], name="s0"),
            worker(tmp_path, "sqlite", [statement("update", rowcount=3)], name="s1"),
        ],
        "postgresql": [
            worker(tmp_path, "postgresql", [statement("update", rowcount=3)], name="p0"),
            worker(tmp_path, "postgresql", [statement("update", rowcount=3)], name="p1"),
        ],
    }
    unstable = nondeterministic_keys(runs)
    assert unstable  # the rowcount is part of the signature
    assert query_divergences([runs["sqlite"][0], runs["postgresql"][0]], unstable) == []


# ---------------------------------------------------------------- likely causes, only with evidence


def limited(rows: list[list[Any]], limit: int, **flags: Any) -> dict[str, Any]:
    return select(rows, limit=limit, sql=f"SELECT ... LIMIT {limit}", **flags)


def test_truncation_is_named_when_every_backend_filled_its_limit(tmp_path: Path) -> None:
    per_backend = {"sqlite": [limited([["a"], ["b"]], 2)], "postgresql": [limited([["c"], ["a"]], 2)]}
    [divergence] = divergences_of(tmp_path, per_backend)
    assert divergence.kind == RESULT_DIVERGENCE and divergence.cause == TRUNCATED_CAUSE


def test_truncation_is_named_for_an_offset(tmp_path: Path) -> None:
    per_backend = {"sqlite": [select([["a"]], offset=5)], "postgresql": [select([["b"]], offset=5)]}
    assert divergences_of(tmp_path, per_backend)[0].cause == TRUNCATED_CAUSE


@pytest.mark.parametrize(
    "per_backend",
    [
        # Different row counts: not both at the LIMIT, so the slice did not pick the rows.
        {"sqlite": [limited([["a"], ["b"]], 2)], "postgresql": [limited([["a"]], 2)]},
        # Below the LIMIT everywhere.
        {"sqlite": [limited([["a"]], 5)], "postgresql": [limited([["b"]], 5)]},
        # A total order: the same rows would have been picked.
        {
            "sqlite": [limited([["a"], ["b"]], 2, total_order=True, explicit_order=True)],
            "postgresql": [limited([["c"], ["a"]], 2, total_order=True, explicit_order=True)],
        },
        # No LIMIT at all (random data, say).
        {"sqlite": [select([["a"], ["b"]])], "postgresql": [select([["c"], ["a"]])]},
    ],
    ids=["counts_differ", "limit_not_reached", "total_order", "no_limit"],
)
def test_truncation_is_not_named_without_the_evidence(tmp_path: Path, per_backend) -> None:
    [divergence] = divergences_of(tmp_path, per_backend)
    assert divergence.kind == RESULT_DIVERGENCE and divergence.cause is None


@pytest.mark.parametrize("target", ["mariadb", "mysql"])
def test_collation_is_named_for_a_value_differing_only_by_case_from_a_parameter(tmp_path: Path, target: str) -> None:
    sql = 'SELECT ... WHERE "name" = %s'
    per_backend = {
        target: [select([["Alice"]], sql=sql, params=["alice"])],
        "postgresql": [select([], sql=sql, params=["alice"])],
    }
    [divergence] = divergences_of(tmp_path, per_backend)
    assert divergence.cause and divergence.cause.startswith(f"collation: {target} compare strings without case")
    assert "'Alice' = 'alice'" in divergence.cause


def test_collation_is_not_named_without_a_case_insensitive_backend(tmp_path: Path) -> None:
    sql = 'SELECT ... WHERE "name" = %s'
    per_backend = {
        "sqlite": [select([["Alice"]], sql=sql, params=["alice"])],
        "postgresql": [select([], sql=sql, params=["alice"])],
    }
    assert divergences_of(tmp_path, per_backend)[0].cause is None


def test_collation_is_not_named_without_a_string_parameter(tmp_path: Path) -> None:
    per_backend = {"mariadb": [select([["Alice"]])], "postgresql": [select([["alice"]])]}
    assert divergences_of(tmp_path, per_backend)[0].cause is None


def test_trailing_spaces_are_named(tmp_path: Path) -> None:
    per_backend = {
        "mariadb": [select([["bob "]], params=["bob"])],
        "postgresql": [select([], params=["bob"])],
    }
    cause = divergences_of(tmp_path, per_backend)[0].cause
    assert cause and cause.startswith("trailing spaces: mariadb ignore trailing spaces")


def test_integer_division_is_named(tmp_path: Path) -> None:
    # F("a") / F("b") over integers: 3 / 2 is 1 on PostgreSQL and SQLite, 1.5000 on MariaDB.
    per_backend = {
        "postgresql": [select([[1]])],
        "sqlite": [select([[1]])],
        "mariadb": [select([[{"decimal": "1.5"}]])],
    }
    cause = divergences_of(tmp_path, per_backend)[0].cause
    assert cause and cause.startswith("integer division: postgresql, sqlite divide integers to an integer")


def test_integer_division_is_not_named_for_unrelated_numbers(tmp_path: Path) -> None:
    per_backend = {"postgresql": [select([[1]])], "mariadb": [select([[{"decimal": "7.5"}]])]}
    assert divergences_of(tmp_path, per_backend)[0].cause is None


def test_rounding_is_named_for_close_aggregates(tmp_path: Path) -> None:
    per_backend = {
        "postgresql": [select([[{"decimal": "2.3333333333333333"}]])],
        "mariadb": [select([[{"decimal": "2.3333"}]])],
    }
    cause = divergences_of(tmp_path, per_backend)[0].cause
    assert cause and cause.startswith("rounding:")


def test_rounding_is_named_for_floats_kept_aside(tmp_path: Path) -> None:
    per_backend = {"postgresql": [float_query([2.5001])], "sqlite": [float_query([2.5])]}
    [divergence] = divergences_of(tmp_path, per_backend)
    assert divergence.kind == RESULT_DIVERGENCE and divergence.cause and divergence.cause.startswith("rounding:")


def test_integer_division_is_not_named_when_every_backend_divides_the_same_way(tmp_path: Path) -> None:
    per_backend = {"postgresql": [float_query([2.0001])], "sqlite": [float_query([2.0])]}
    [divergence] = divergences_of(tmp_path, per_backend)
    assert divergence.kind == RESULT_DIVERGENCE
    assert divergence.cause and divergence.cause.startswith("rounding:")


def test_rounding_is_not_named_for_far_apart_numbers(tmp_path: Path) -> None:
    per_backend = {"postgresql": [select([[{"decimal": "2.5"}]])], "mariadb": [select([[{"decimal": "3.5"}]])]}
    assert divergences_of(tmp_path, per_backend)[0].cause is None


def test_null_ordering_is_named_for_an_order_difference_with_nulls(tmp_path: Path) -> None:
    per_backend = {
        "sqlite": [select([[None], ["a"], ["b"]], explicit_order=True)],
        "postgresql": [select([["a"], ["b"], [None]], explicit_order=True)],
    }
    [divergence] = divergences_of(tmp_path, per_backend)
    assert divergence.kind == ORDER_DIVERGENCE
    assert divergence.cause and divergence.cause.startswith("NULL ordering: sqlite sort NULLs first")


def test_a_regular_expression_is_named(tmp_path: Path) -> None:
    sql = 'SELECT ... WHERE "name"::text ~ %s'
    per_backend = {
        "postgresql": [select([["a"]], sql=sql, params=["\\bx"])],
        "sqlite": [select([["b"]], sql=sql.replace(" ~ ", " REGEXP "), params=["\\bx"])],
    }
    cause = divergences_of(tmp_path, per_backend)[0].cause
    assert cause and cause.startswith("regular expression:")


# ---------------------------------------------------------------- findings in failing tests


def test_a_failing_test_gets_only_its_first_divergence_in_its_pt101(tmp_path: Path) -> None:
    failing, passing = "app/tests.py::test_fails", "app/tests.py::test_passes"
    sqlite = [
        select([["a"], ["b"]], test=failing, site="app/views.py:5"),  # unordered, returned as is
        select([["x"]], test=failing, site="app/views.py:6"),
        select([["same"]], test=passing, site="app/views.py:5"),
    ]
    postgresql = [
        select([["b"], ["a"]], test=failing, site="app/views.py:5"),
        select([["y"]], test=failing, site="app/views.py:6"),
        select([["same"]], test=passing, site="app/views.py:5"),
    ]
    comparison = compare(
        [
            worker(tmp_path, "sqlite", sqlite, tests={failing: "passed", passing: "passed"}),
            worker(tmp_path, "postgresql", postgresql, tests={failing: "failed", passing: "passed"}),
        ]
    )
    [finding] = comparison.findings
    assert (finding.code, finding.test) == ("PT101", failing)
    query = finding.details["query"]
    assert query["kind"] == UNORDERED_ORDER and query["site"] == "app/views.py:5"
    assert query["backends"]["postgresql"]["sample"] == [["b"], ["a"]]
    assert query["backends"]["sqlite"]["sample"] == [["a"], ["b"]]


def test_the_first_divergence_is_the_first_to_run(tmp_path: Path) -> None:
    failing = "app/tests.py::test_fails"
    sqlite = [select([["x"]], test=failing, site="app/views.py:6", fingerprint="late"), select([["p"]], test=failing)]
    postgresql = [
        select([["q"]], test=failing),
        select([["y"]], test=failing, site="app/views.py:6", fingerprint="late"),
    ]
    comparison = compare(
        [
            worker(tmp_path, "sqlite", sqlite, tests={failing: "passed"}),
            worker(tmp_path, "postgresql", postgresql, tests={failing: "failed"}),
        ]
    )
    [finding] = comparison.findings
    assert finding.details["query"]["site"] == "app/views.py:6"  # position 1 on sqlite


def test_a_test_failing_everywhere_reports_only_its_first_divergence(tmp_path: Path) -> None:
    failing = "app/tests.py::test_fails"
    sqlite = [select([["x"]], test=failing, site="a.py:1"), select([["p"]], test=failing, site="a.py:2")]
    postgresql = [select([["y"]], test=failing, site="a.py:1"), select([["q"]], test=failing, site="a.py:2")]
    comparison = compare(
        [
            worker(tmp_path, "sqlite", sqlite, tests={failing: "failed"}),
            worker(tmp_path, "postgresql", postgresql, tests={failing: "failed"}),
        ]
    )
    [finding] = comparison.findings
    assert (finding.code, finding.location["path"], finding.location["line"]) == ("PT202", "a.py", 1)


def test_a_passing_test_gets_one_finding_per_site(tmp_path: Path) -> None:
    sqlite = [select([["x"]], fingerprint="1"), select([["p"]], fingerprint="2"), select([["s"]], site="a.py:9")]
    postgresql = [select([["y"]], fingerprint="1"), select([["q"]], fingerprint="2"), select([["t"]], site="a.py:9")]
    comparison = compare([worker(tmp_path, "sqlite", sqlite), worker(tmp_path, "postgresql", postgresql)])
    assert sorted((f.code, f.location["line"]) for f in comparison.findings) == [("PT202", 9), ("PT202", 10)]
    assert {f.level for f in comparison.findings} == {"warning"}
