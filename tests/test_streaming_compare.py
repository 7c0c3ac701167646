"""The comparison reads the query records one test at a time, whatever the order of the files.

The same records written as pytest writes them without xdist (every backend in collection
order) and misordered (each backend in its own order, as xdist workers interleave tests; a
test's records split in two; a test missing on one backend; a truncated last line) give
the same findings. Memory is bounded by one test's records, not by the whole files.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from harness.compare import compare
from harness.errors import ResultsError
from harness.query_compare import nondeterministic_keys
from harness.results import SCHEMA_VERSION, ResultsFollower, ResultsWriter, WorkerResults, read_results
from harness.results_stream import QueryReader
from tests.helpers import REPO
from tests.test_query_compare import refused, select, statement

TESTS = [f"app/tests.py::T::test_{number}" for number in range(1, 10)]
T1, T2, T3, T4, T5, T6, T7, T8, T9 = TESTS
BACKENDS = ("sqlite", "postgresql", "mariadb")
UNORDERED_SITE = "app/views.py:20"


def unordered(test: str, rows: list[list[Any]]) -> dict[str, Any]:
    return select(rows, test=test, site=UNORDERED_SITE, fingerprint="u", explicit_order=False, order_iterated=True)


def suite(backend: str) -> dict[str, tuple[list[dict[str, Any]], str]]:
    """Each test's query records and outcome on ``backend``; T6 did not run on postgresql."""
    error = {"class": "django.db.utils.OperationalError", "code": None, "message": "no such function: REGEXP_LIKE"}
    rows = [["a"], ["b"], ["c"]]
    tests = {
        T1: ([statement("insert", test=T1), select([["a"]], test=T1)], "passed"),
        T2: ([select([["a"]] + ([["A"]] if backend == "mariadb" else []), test=T2, params=["a"])], "passed"),
        T3: ([select(error=error, test=T3) if backend == "sqlite" else select([["1"]], test=T3)], "passed"),
        T4: ([unordered(T4, rows[::-1] if backend == "postgresql" else rows)], "passed"),
        T5: ([unordered(T5, rows[::-1] if backend == "postgresql" else rows)], "passed"),
        T6: ([select([["x"] if backend == "sqlite" else ["y"]], test=T6)], "passed"),
        T7: (
            [select([["p"]] if backend == "postgresql" else [["q"]], test=T7)],
            "failed" if backend == "postgresql" else "passed",
        ),
        T8: ([statement("update", test=T8, rowcount=2 if backend == "mariadb" else 1)], "passed"),
        T9: ([refused(test=T9) if backend == "sqlite" else statement("insert", test=T9)], "passed"),
    }
    if backend == "postgresql":
        del tests[T6]
    # Several queries per test, numbered as the recorder numbers them.
    for records, _ in tests.values():
        records.insert(0, statement("insert", test=records[0]["test"], site="app/tests.py:5"))
        for position, record in enumerate(records, start=1):
            record["position"] = position
    return tests


def write_backend(path: Path, backend: str, order: list[str], split: str | None = None, tail: str = "") -> Path:
    """The results file of ``backend`` with its tests in ``order``; ``split``: a test whose first
    query record is written before the others' (records of a test in two places)."""
    tests = suite(backend)
    writer = ResultsWriter(path)
    writer.write("header", schema_version=SCHEMA_VERSION, target=backend, vendor=backend, float_tolerance=1e-9)
    writer.write("collection", count=len(tests), nodeids=[test for test in TESTS if test in tests])
    if split:
        writer.write("query", **tests[split][0].pop(0))
    for test in order:
        if test not in tests:
            continue
        records, outcome = tests[test]
        for record in records:
            writer.write("query", **record)
        writer.write("test", nodeid=test, outcome=outcome, message=f"{outcome} on {backend}", location=None)
    writer.write("finish", exitstatus=1, duration=1.0)
    writer.close()
    if tail:
        with path.open("a") as handle:
            handle.write(tail)
    return path


def compared(paths: list[Path]) -> tuple[list[dict], dict]:
    comparison = compare([read_results(path) for path in paths])
    matrix = {
        test: {backend: result.outcome for backend, result in row.items()} for test, row in comparison.matrix.items()
    }
    return [finding.to_dict() for finding in comparison.findings], matrix


def test_misordered_files_give_the_findings_of_files_in_collection_order(tmp_path: Path) -> None:
    (tmp_path / "in_order").mkdir()
    (tmp_path / "misordered").mkdir()
    in_order = [write_backend(tmp_path / "in_order" / f"{backend}.jsonl", backend, TESTS) for backend in BACKENDS]
    truncated = json.dumps({"type": "query", **select([["z"]], test=T1)})[:60]
    misordered = [
        write_backend(tmp_path / "misordered" / "sqlite.jsonl", "sqlite", TESTS[::-1]),
        write_backend(tmp_path / "misordered" / "postgresql.jsonl", "postgresql", TESTS[4:] + TESTS[:4], split=T2),
        write_backend(
            tmp_path / "misordered" / "mariadb.jsonl",
            "mariadb",
            [T5, T1, T9, T3, T7, T2, T8, T4, T6],
            tail=truncated,
        ),
    ]
    expected_findings, expected_matrix = compared(in_order)
    findings, matrix = compared(misordered)
    assert findings == expected_findings
    assert matrix == expected_matrix
    assert [(finding["code"], finding["test"]) for finding in findings] == [
        ("PT104", "app/tests.py"),  # T6 was not collected on postgresql
        ("PT101", T7),
        ("PT202", T2),
        ("PT201", T3),
        ("PT202", T6),
        ("PT202", T8),
        ("PT201", T9),
        ("PT204", T4),
    ]
    assert findings[1]["details"]["query"]["kind"] == "result_divergence"  # T7's query, tied to its failure
    assert findings[-1]["details"]["tests"] == [T4, T5]
    assert set(findings[4]["backends"]) == {"sqlite", "mariadb"}  # T6 did not run on postgresql
    assert len(read_results(misordered[1]).query_spans[T2]) == 2


def test_stability_repeats_are_read_test_by_test_in_their_own_order(tmp_path: Path) -> None:
    def repeat(name: str, backend: str, order: list[str], t2_rows: list[list[Any]] | None = None) -> WorkerResults:
        path = write_backend(tmp_path / f"{name}.jsonl", backend, order)
        if t2_rows is not None:  # the query of T2 draws other rows in this run
            lines = path.read_text().splitlines(keepends=True)
            record = next(json.loads(line) for line in lines if f'"test": "{T2}"' in line and '"select"' in line)
            changed = {**select(t2_rows, test=T2, params=["a"]), "position": record["position"]}
            lines = [
                json.dumps({"type": "query", **changed}) + "\n" if json.loads(line) == record else line
                for line in lines
            ]
            path.write_text("".join(lines))
        return read_results(path)

    results = [repeat(backend, backend, TESTS) for backend in BACKENDS]
    runs = {backend.target: [backend] for backend in results}
    runs["mariadb"].append(repeat("mariadb.repeat1", "mariadb", TESTS[::-1], t2_rows=[["a"], ["B"]]))
    assert {key[1][0] for key in nondeterministic_keys(runs)} == {T2}
    plain = compare(results)
    steady = compare(results, repeats=runs)
    assert [finding.test for finding in plain.findings if finding.code == "PT202"] == [T2, T6, T8]
    assert [finding.test for finding in steady.findings if finding.code == "PT202"] == [T6, T8]


def test_a_broken_query_line_is_refused_when_its_test_is_read(tmp_path: Path) -> None:
    paths = [write_backend(tmp_path / f"{backend}.jsonl", backend, TESTS) for backend in ("sqlite", "postgresql")]
    text = (
        paths[1]
        .read_text()
        .replace(f'{{"type": "query", "test": "{T3}", "phase"', f'{{"type": "query", "test": "{T3}", "phase": ', 1)
    )
    paths[1].write_text(text)
    broken_line = next(
        number for number, line in enumerate(text.splitlines(), 1) if f'"test": "{T3}", "phase": :' in line
    )
    results = [read_results(path) for path in paths]  # only indexed: the line is not parsed yet
    with pytest.raises(ResultsError, match=f"postgresql.jsonl: line {broken_line}: invalid JSON"):
        compare(results)


def test_the_follower_keeps_the_place_of_queries_not_the_queries(tmp_path: Path) -> None:
    path = write_backend(tmp_path / "sqlite.jsonl", "sqlite", TESTS, split=T4)
    data = path.read_bytes()
    path.write_bytes(b"")
    follower = ResultsFollower(path)
    # The worker writes the file piece by piece, cutting lines anywhere; the follower polls between.
    for cut in range(0, len(data), 700):
        with path.open("ab") as handle:
            handle.write(data[cut : cut + 700])
        follower.poll()
    followed, whole = follower.results, read_results(path)
    assert not hasattr(followed, "queries")
    assert followed.query_spans == whole.query_spans
    assert followed.counts() == whole.counts()
    assert followed.counts()["passed"] == 9
    with QueryReader() as reader:
        assert [reader.queries(followed, test) for test in TESTS] == [reader.queries(whole, test) for test in TESTS]
        assert [record["kind"] for record in reader.queries(followed, T4)] == ["insert", "select"]


# VmHWM, not ru_maxrss: Linux carries the forking process's peak (here, the whole test run's)
# over exec into ru_maxrss, while VmHWM is this process's own.
MEASURE = """
import re, sys
from pathlib import Path
from harness.compare import compare
from harness.results import read_results
comparison = compare([read_results(path) for path in sorted(Path(sys.argv[1]).glob("*.jsonl"))])
assert comparison.findings
print(int(re.search(r"VmHWM:\\s+(\\d+) kB", Path("/proc/self/status").read_text()).group(1)) // 1024)
"""


def test_memory_does_not_grow_with_the_query_records(tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from generate_results import generate
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    # 60,000 query records (40 MB of JSON lines): holding them all took 266 MB; streamed, about 30 MB.
    generate(tmp_path, tests=2000, queries=60_000, order="xdist", divergent_every=97)
    completed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(MEASURE), str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(completed.stdout) < 100, f"peak RSS {completed.stdout.strip()} MB"
