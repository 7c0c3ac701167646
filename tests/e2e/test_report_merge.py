"""End to end: `portability report` on the results of separate per-backend pytest jobs (the CI use).

Three plain `pytest --portability-target` runs, one per backend, merged by `portability report`,
give the same outcomes and the same findings as one `portability run` of the same project with
the same hash seed (timings aside). Files written by another portability version are refused in
one line naming the file. (A file without its finish record: tests/e2e/test_exit_codes.py.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests import helpers
from tests.e2e.test_queries import MODELS, TESTS
from tests.helpers import ALL_THREE, read_json, run_portability, run_with_report, write_project

pytestmark = pytest.mark.e2e

HASH_SEED = "1234"


def pytest_job(project: Path, target: str, results: Path) -> None:
    helpers.pytest_job(project, target, results, hash_seed=HASH_SEED)


def comparable(report: dict[str, Any]) -> dict[str, Any]:
    """What must be the same whichever way the report was made: outcomes and findings, not timings or paths."""
    return {
        "tests": report["tests"],
        "findings": sorted(json.dumps(finding, sort_keys=True) for finding in report["findings"]),
        "backends": [
            {key: backend[key] for key in ("name", "product", "version", "status", "counts")}
            for backend in report["backends"]
        ],
        "exit_code": report["exit_code"],
    }


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_project(
        tmp_path_factory.mktemp("merge") / "project", {"lab/models.py": MODELS, "lab/tests.py": TESTS}, apps=("lab",)
    )


def test_three_pytest_jobs_merged_give_what_one_run_gives(project: Path, tmp_path: Path) -> None:
    result, one_run = run_with_report(project, "--hash-seed", HASH_SEED)
    assert result.returncode == 1 and one_run["findings"], result.output
    files = []
    for target in ALL_THREE:
        files.append(tmp_path / f"{target}.jsonl")
        pytest_job(project, target, files[-1])
    merged_path = tmp_path / "merged.json"
    merged = run_portability("report", *map(str, files), "--json", str(merged_path), cwd=project)
    assert merged.returncode == 1, merged.output
    assert comparable(read_json(merged_path)) == comparable(one_run)


def test_a_file_from_another_portability_version_is_refused_in_one_line(project: Path, tmp_path: Path) -> None:
    results = tmp_path / "sqlite.jsonl"
    pytest_job(project, "sqlite", results)
    lines = results.read_text().splitlines()
    header = json.loads(lines[0])
    assert header["type"] == "header" and header["harness_version"]
    lines[0] = json.dumps({**header, "harness_version": "0.0.1"})
    results.write_text("\n".join(lines) + "\n")
    result = run_portability("report", str(results), cwd=tmp_path)
    assert result.returncode == 2, result.output
    [line] = result.stderr.strip().splitlines()
    assert str(results) in line and "portability 0.0.1" in line and "Traceback" not in result.output


def test_a_named_backend_without_a_results_file_is_crashed(project: Path, tmp_path: Path) -> None:
    """A CI job that died before pytest wrote anything must not let the merged report go green."""
    results = tmp_path / "sqlite.jsonl"
    pytest_job(project, "sqlite", results)
    report_path = tmp_path / "merged.json"
    result = run_portability(
        "report", str(results), "--backends", "sqlite,postgresql", "--json", str(report_path), "--fail-on", "error",
        cwd=project,
    )  # fmt: skip
    assert result.returncode == 1, result.output
    report = read_json(report_path)
    assert {backend["name"]: backend["status"] for backend in report["backends"]} == {
        "sqlite": "ran",
        "postgresql": "crashed",
    }
    [partial] = [finding for finding in report["findings"] if finding["code"] == "PT102"]
    assert "no results file" in partial["backends"]["postgresql"]["message"]
