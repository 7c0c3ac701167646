"""Outcome matrix and findings from results files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.compare import compare
from harness.errors import ResultsError
from harness.results import SCHEMA_VERSION, ResultsWriter, read_results


def results_file(tmp_path: Path, target: str, tests: dict[str, str], setup_failure: dict | None = None):
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / f"{target}.jsonl"
    writer = ResultsWriter(path)
    writer.write("header", schema_version=SCHEMA_VERSION, target=target, vendor=target)
    writer.write("collection", count=len(tests))
    for nodeid, outcome in tests.items():
        writer.write(
            "test",
            nodeid=nodeid,
            outcome=outcome,
            message=f"{outcome} on {target}",
            location={"path": "app/tests.py", "line": 3},
        )
    if setup_failure:
        writer.write("setup_failure", **setup_failure)
    writer.write("finish", exitstatus=0, duration=1.0)
    writer.close()
    return read_results(path)


def test_pass_here_fail_there_is_a_divergence(tmp_path: Path) -> None:
    comparison = compare(
        [
            results_file(tmp_path, "sqlite", {"t.py::a": "passed", "t.py::b": "passed"}),
            results_file(tmp_path, "postgresql", {"t.py::a": "failed", "t.py::b": "passed"}),
        ]
    )
    [finding] = comparison.findings
    assert (finding.kind, finding.code, finding.test) == ("outcome_divergence", "PT101", "t.py::a")
    assert finding.backends["postgresql"] == {"outcome": "failed", "message": "failed on postgresql"}
    assert finding.message == "passes on sqlite but fails on postgresql"


@pytest.mark.parametrize(
    "outcomes",
    [("failed", "failed"), ("passed", "skipped"), ("failed", "error"), ("passed", "xfailed"), ("skipped", "error")],
)
def test_same_behaviour_is_not_a_finding(tmp_path: Path, outcomes: tuple[str, str]) -> None:
    comparison = compare(
        [
            results_file(tmp_path, "sqlite", {"t.py::a": outcomes[0]}),
            results_file(tmp_path, "mariadb", {"t.py::a": outcomes[1]}),
        ]
    )
    assert comparison.findings == []


def test_a_setup_failure_is_reported_once_and_its_errors_are_not_divergences(tmp_path: Path) -> None:
    comparison = compare(
        [
            results_file(tmp_path, "sqlite", {"t.py::a": "passed"}),
            results_file(
                tmp_path,
                "mariadb",
                {"t.py::a": "error"},
                setup_failure={"migration": "app.0002_x", "operation": "Raw SQL operation", "error": "1064"},
            ),
        ]
    )
    [finding] = comparison.findings
    assert finding.kind == "setup_failure"
    assert finding.details["migration"] == "app.0002_x"
    assert "migration app.0002_x (Raw SQL operation) failed on mariadb" in finding.message


def test_a_module_that_fails_to_import_on_one_backend_fails_its_tests_there(tmp_path: Path) -> None:
    comparison = compare(
        [
            results_file(tmp_path, "sqlite", {"app/tests.py::T::test_a": "passed"}),
            results_file(tmp_path, "postgresql", {"app/tests.py": "error"}),
        ]
    )
    assert [finding.test for finding in comparison.findings] == ["app/tests.py::T::test_a"]


def test_results_with_another_schema_version_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "old.jsonl"
    path.write_text(json.dumps({"type": "header", "schema_version": 99, "target": "sqlite"}) + "\n")
    with pytest.raises(ResultsError, match="schema_version 99"):
        read_results(path)


def test_a_truncated_last_line_is_ignored(tmp_path: Path) -> None:
    results = results_file(tmp_path, "sqlite", {"t.py::a": "passed"})
    with results.path.open("a") as handle:
        handle.write('{"type": "test", "nodeid": "t.py::b", "outc')
    assert list(read_results(results.path).tests) == ["t.py::a"]


def test_report_refuses_two_results_files_for_one_target(tmp_path: Path) -> None:
    from tests.helpers import run_portability

    first = results_file(tmp_path / "py311", "sqlite", {"t.py::a": "passed"})
    second = results_file(tmp_path / "py312", "sqlite", {"t.py::a": "failed"})
    result = run_portability("report", str(first.path), str(second.path), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "two results files for target 'sqlite'" in result.stderr
