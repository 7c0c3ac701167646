"""Outcome matrix and findings from results files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.compare import compare
from harness.errors import ResultsError
from harness.results import SCHEMA_VERSION, ResultsWriter, read_results


def results_file(
    tmp_path: Path,
    target: str,
    tests: dict[str, str],
    setup_failure: dict | None = None,
    collection_errors: dict[str, str] | None = None,
    collected: list[str] | None = None,
):
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / f"{target}.jsonl"
    writer = ResultsWriter(path)
    writer.write("header", schema_version=SCHEMA_VERSION, target=target, vendor=target)
    for module, message in (collection_errors or {}).items():
        writer.write("collection_error", nodeid=module, message=message, location={"path": module, "line": 2})
    nodeids = list(tests) if collected is None else collected
    writer.write("collection", count=len(nodeids), nodeids=nodeids)
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


def test_a_module_that_fails_to_import_on_one_backend_is_one_collection_error(tmp_path: Path) -> None:
    comparison = compare(
        [
            results_file(tmp_path, "sqlite", {"app/tests.py::T::test_a": "passed"}),
            results_file(
                tmp_path, "postgresql", {}, collection_errors={"app/tests.py": "ImportError: no psycopg (x.py:2)"}
            ),
        ]
    )
    # One PT103 naming the module and the backend; its tests are not also a PT104 or PT101 each.
    [finding] = comparison.findings
    assert (finding.code, finding.level, finding.test) == ("PT103", "error", "app/tests.py")
    assert finding.message == "app/tests.py could not be collected on postgresql"
    assert finding.backends == {"postgresql": {"outcome": "error", "message": "ImportError: no psycopg (x.py:2)"}}
    assert finding.location == {"path": "app/tests.py", "line": 2}
    assert not comparison.collected_nothing


def test_a_syntax_error_everywhere_is_a_collection_error_not_a_clean_run(tmp_path: Path) -> None:
    error = {"app/tests.py": "SyntaxError: invalid syntax (app/tests.py:2)"}
    comparison = compare(
        [
            results_file(tmp_path / "a", "sqlite", {}, collection_errors=error),
            results_file(tmp_path / "b", "mariadb", {}, collection_errors=error),
        ]
    )
    [finding] = comparison.findings
    assert finding.code == "PT103"
    assert "on every backend" in finding.message
    assert not comparison.collected_nothing


def test_nothing_collected_anywhere_is_flagged(tmp_path: Path) -> None:
    comparison = compare([results_file(tmp_path / "a", "sqlite", {}), results_file(tmp_path / "b", "mariadb", {})])
    assert comparison.findings == []
    assert comparison.collected_nothing


def test_tests_collected_on_one_backend_only_are_named(tmp_path: Path) -> None:
    comparison = compare(
        [
            results_file(tmp_path / "a", "sqlite", {"t.py::a": "passed"}),
            results_file(tmp_path / "b", "postgresql", {"t.py::a": "passed", "t.py::pg_only": "passed"}),
        ]
    )
    [finding] = comparison.findings
    assert (finding.code, finding.level, finding.test) == ("PT104", "note", "t.py")
    assert finding.message == "t.py: 1 test(s) collected on postgresql but not on sqlite"
    assert finding.backends == {
        "sqlite": {"outcome": "missing", "message": "1 of them not collected here", "missing": ["t.py::pg_only"]}
    }


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
