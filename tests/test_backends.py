"""One status function for run, report and migrations: partial results are never a clean run."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.backends import derive_status, exit_code, partial_results_findings
from harness.compare import Comparison
from harness.results import SCHEMA_VERSION, ResultsWriter, read_results


def write_results(
    path: Path, *, finish: int | None = 0, lost: bool = False, tests: int = 2, collection_error: bool = False
) -> Path:
    writer = ResultsWriter(path)
    writer.write("header", schema_version=SCHEMA_VERSION, target="postgresql", vendor="postgresql")
    if collection_error:
        writer.write("collection_error", nodeid="t.py", message="SyntaxError", location={"path": "t.py", "line": 1})
    writer.write("collection", count=tests + 1, nodeids=[f"t.py::t{n}" for n in range(tests + 1)])
    for number in range(tests):
        writer.write("test", nodeid=f"t.py::t{number}", outcome="passed")
    if lost:
        writer.write("lost", nodeid=f"t.py::t{tests}", error="server closed the connection", test_databases=["x"])
        writer.write("test", nodeid=f"t.py::t{tests}", outcome="failed")
    if finish is not None:
        writer.write("finish", exitstatus=finish, duration=1.0)
    writer.close()
    return path


@pytest.mark.parametrize(
    ("file", "process", "status", "reason"),
    [
        ({}, {}, "ran", ""),
        ({"finish": 1}, {"returncode": 1}, "ran", ""),
        ({"finish": 5, "tests": 0}, {"returncode": 5}, "ran", ""),
        ({"finish": None}, {}, "crashed", "the results end before the run finished (worker exit code unknown)"),
        (
            {"finish": None},
            {"returncode": -9},
            "crashed",
            "the results end before the run finished (killed by signal 9)",
        ),
        ({"finish": 2}, {}, "interrupted", "interrupted before every test ran"),
        ({}, {"interrupted": True}, "interrupted", "interrupted before every test ran"),
        (
            {"finish": 2, "collection_error": True, "tests": 0},
            {"returncode": 2},
            "collection failed",
            "a test module failed to import, so pytest ran no test here",
        ),
        (
            {"finish": 2, "collection_error": True},
            {"returncode": -9},
            "interrupted",
            "interrupted before every test ran",
        ),
        ({"finish": 3}, {}, "crashed", "the worker finished with exit status 3"),
        (
            {"finish": 0},
            {"returncode": 1},
            "crashed",
            "the results say exit status 0 but the worker exited with code 1",
        ),
        ({}, {"timed_out": True, "returncode": 2}, "timed out", "stopped after the --timeout limit"),
        (
            {"lost": True, "finish": 1},
            {"returncode": 1},
            "lost",
            "the connection to the server was lost during t.py::t2: server closed the connection",
        ),
    ],
)
def test_status_from_file_and_process(tmp_path: Path, file: dict, process: dict, status: str, reason: str) -> None:
    results = read_results(write_results(tmp_path / "postgresql.jsonl", **file))
    backend = derive_status(results, **process)
    assert (backend.status, backend.reason) == (status, reason)
    findings = partial_results_findings([backend])
    code = exit_code(Comparison(backends=["postgresql"], findings=findings), [backend], "error")
    if status in ("ran", "collection failed"):
        assert findings == [] and code == 0
    else:
        # Partial results: a PT102 with a hint of its own, and never exit 0 (whatever --fail-on says).
        [finding] = findings
        assert (finding.code, finding.level) == ("PT102", "error")
        assert "migration" not in finding.hint
        assert code == (3 if status == "lost" else 1)


def test_tests_recorded_after_the_server_was_lost_are_not_kept(tmp_path: Path) -> None:
    results = read_results(write_results(tmp_path / "postgresql.jsonl", lost=True))
    assert sorted(results.tests) == ["t.py::t0", "t.py::t1"]


def test_nothing_collected_anywhere_exits_5(tmp_path: Path) -> None:
    backend = derive_status(read_results(write_results(tmp_path / "postgresql.jsonl", finish=5, tests=-1)))
    comparison = Comparison(backends=["postgresql"], collected_nothing=True)
    assert exit_code(comparison, [backend], "warning") == 5


def test_report_of_lost_results_names_the_databases_that_may_be_left(tmp_path: Path) -> None:
    backend = derive_status(read_results(write_results(tmp_path / "postgresql.jsonl", lost=True)))
    assert backend.status == "lost"
    assert backend.reason.endswith(
        "; test database(s) that may be left on the server: x; `portability clean` drops them once it is back"
    )
