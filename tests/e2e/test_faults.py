"""End to end: a database server that goes away mid-run makes its backend `lost`, never a list of failures.

Each test starts its own throwaway server (tests/servers.py), runs `portability run` on it and
on SQLite, breaks the server a few tests in (a fast shutdown of PostgreSQL, SIGKILL of
MariaDB), and checks that the run stops within seconds with exit code 3, keeps what ran before,
reports no code divergence for the lost backend, and names the test database it had to leave
on the server. The server is then started again to see that database really is there, and
`portability clean` drops it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.e2e.test_safety import SLEEPING_DB_TESTS, db_project, start_portability, stop, wait_until
from tests.helpers import read_json, run_portability
from tests.servers import throwaway_mariadb, throwaway_postgresql

pytestmark = pytest.mark.e2e

# Enough tests to be cut off in the middle: 40 tests of a quarter second each.
TESTS = SLEEPING_DB_TESTS.format(count=40, seconds=0.25)
# Tests the lost backend must have finished before the server is broken.
BEFORE_FAULT = 5
# The run must end this soon after the server went away (it used to take minutes).
STOPS_WITHIN = 30


def results_records(path: Path) -> list[dict]:
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    return [json.loads(line) for line in lines if line.endswith("}")]


def finished_tests(path: Path) -> int:
    return sum(record["type"] == "test" for record in results_records(path))


@pytest.mark.parametrize("target", ["postgresql", "mariadb"])
def test_server_gone_mid_run_marks_the_backend_lost(tmp_path, target):
    server_context = throwaway_postgresql() if target == "postgresql" else throwaway_mariadb()
    with server_context as server:
        project = db_project(tmp_path / "proj", TESTS)
        json_path, results_dir, out = tmp_path / "report.json", tmp_path / "results", tmp_path / "out"
        process = start_portability(
            [
                "run",
                "--settings",
                "settings",
                "--backends",
                f"sqlite,{target}",
                "--url",
                f"{target}={server.url}",
                "--json",
                str(json_path),
                "--results-dir",
                str(results_dir),
            ],
            project,
            out,
        )
        results_path = results_dir / f"{target}.jsonl"
        try:
            assert wait_until(lambda: finished_tests(results_path) >= BEFORE_FAULT, timeout=60), (
                out / "stderr"
            ).read_text()
            # The fault: PostgreSQL's fast shutdown closes every connection; MariaDB dies as in a crash.
            server.stop() if target == "postgresql" else server.kill()
            broken = time.monotonic()
            returncode = process.wait(STOPS_WITHIN + 30)
            elapsed = time.monotonic() - broken
        finally:
            stop(process)
        stdout, stderr = (out / "stdout").read_text(), (out / "stderr").read_text()
        assert "Traceback" not in stdout + stderr
        assert returncode == 3, stdout + stderr
        assert elapsed < STOPS_WITHIN, f"the run took {elapsed:.1f} s to end after the server went away"

        records = results_records(results_path)
        lost = [record for record in records if record["type"] == "lost"]
        assert len(lost) == 1, records[-5:]
        # Every test that finished before the loss is kept; the one running when it happened is not.
        before = [record["nodeid"] for record in records[: records.index(lost[0])] if record["type"] == "test"]
        assert len(before) >= BEFORE_FAULT
        report = read_json(json_path)
        assert report["partial"] is True and report["exit_code"] == 3
        backends = {backend["name"]: backend for backend in report["backends"]}
        assert backends["sqlite"]["status"] == "ran"
        assert backends[target]["status"] == "lost", backends[target]
        assert backends[target]["counts"]["passed"] == len(before), (backends[target], before)
        assert backends[target]["counts"]["failed"] == backends[target]["counts"]["error"] == 0
        codes = [finding["code"] for finding in report["findings"]]
        assert "PT101" not in codes, codes
        assert codes == ["PT102"], codes
        for nodeid in before:
            assert report_outcome(report, nodeid, target) == "passed"

        # The terminal names the test database left on the server and how to drop it.
        names = lost[0]["test_databases"]
        assert len(names) == 1 and names[0].startswith("test_portability_"), lost
        assert "PARTIAL: " in stdout
        assert names[0] in stdout and "portability clean" in stdout, stdout
        assert f"DROP DATABASE IF EXISTS {quote(target, names[0])}" in stdout, stdout

        # It really is there once the server is back, and `portability clean` drops it (and only it).
        server.start()
        before_clean = server.databases()
        assert names[0] in before_clean
        cleaned = run_portability(
            "clean", "--backends", target, "--url", f"{target}={server.url}", cwd=tmp_path, timeout=60
        )
        assert cleaned.returncode == 0, cleaned.output
        assert f"dropped {names[0]}" in cleaned.stdout, cleaned.output
        assert server.databases() == before_clean - {names[0]}


def quote(target: str, name: str) -> str:
    return f'"{name}"' if target == "postgresql" else f"`{name}`"


def report_outcome(report: dict, nodeid: str, target: str) -> str | None:
    for test in report["tests"]:
        if test["nodeid"] == nodeid:
            return test["outcomes"].get(target)
    return None
