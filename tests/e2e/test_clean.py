"""End to end: `portability clean` drops the test databases dead runs left, and nothing else.

On a throwaway server of each kind, three databases that look alike: one left by a worker
killed with SIGKILL (marked, its run dead), one of a worker still running (marked, alive),
and one merely named like a test database (unmarked). `clean` must drop only the first.
Workers are started as `pytest --portability-target` without a parent, as a tox env or CI
job would, so nothing but the marker and the liveness checks protect the live one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cleanup import MARKER_PREFIX, Marker
from harness.config import env_url_name
from harness.urls import parse_target_url
from harness.vendors import vendor_for_target
from tests.e2e.test_safety import SLEEPING_DB_TESTS, db_project, wait_until
from tests.helpers import run_portability
from tests.servers import throwaway_mariadb, throwaway_postgresql

pytestmark = pytest.mark.e2e

UNMARKED = "test_foo_deadbeef"


def start_worker(project: Path, target: str, url: str, token: str, log: Path) -> subprocess.Popen:
    """A pytest worker with the harness's plugin, tied to no `portability` process."""
    env = {key: value for key, value in os.environ.items() if key != "PORTABILITY_PARENT_PID"}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "settings",
            "PYTHONPATH": str(project),
            env_url_name(target): url,
            "PORTABILITY_RUN_TOKEN": token,
        }
    )
    with log.open("w") as output:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pytest",
                "-p",
                "no:cacheprovider",
                "--portability-target",
                target,
                "--portability-results",
                str(log.with_suffix(".jsonl")),
                "-o",
                "python_files=test*.py",
            ],
            cwd=project,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            # A test run started in the background (as CI may) inherits SIGINT ignored; the
            # worker must take the SIGINT the test sends it, as one at a terminal would.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )


def marked(target: str, url: str) -> dict[str, str]:
    vendor = vendor_for_target(target)
    connection = vendor.connect(parse_target_url(target, url), timeout=5)
    try:
        return vendor.marked_test_databases(connection.cursor())
    finally:
        connection.close()


def clean(target: str, url: str, *extra: str, cwd: Path):
    result = run_portability("clean", "--backends", target, "--url", f"{target}={url}", *extra, cwd=cwd, timeout=60)
    assert "Traceback" not in result.output, result.output
    return result


@pytest.mark.parametrize("target", ["postgresql", "mariadb"])
def test_clean_drops_only_marked_test_databases_of_dead_runs(tmp_path, target):
    server_context = throwaway_postgresql() if target == "postgresql" else throwaway_mariadb()
    with server_context as server:
        project = db_project(tmp_path / "proj", SLEEPING_DB_TESTS.format(count=1, seconds=120))
        dead_name, live_name = "test_portability_dead0001", "test_portability_a11ve002"
        dead = start_worker(project, target, server.url, "dead0001", tmp_path / "dead.log")
        live = start_worker(project, target, server.url, "a11ve002", tmp_path / "live.log")
        try:
            assert wait_until(lambda: {dead_name, live_name} <= set(marked(target, server.url)), timeout=60), (
                tmp_path / "dead.log"
            ).read_text()[-2000:]
            # A worker killed so that it cannot clean up: its test database stays, marked.
            os.killpg(dead.pid, signal.SIGKILL)
            dead.wait(10)
            if target == "postgresql":
                server.psql(f"CREATE DATABASE {UNMARKED}")
            else:
                server.sql(f"CREATE DATABASE {UNMARKED}")
            everything = server.databases()
            assert {dead_name, live_name, UNMARKED} <= everything

            # The marker says who made the database (PostgreSQL: its comment; MariaDB: the registry).
            marker = Marker.parse(marked(target, server.url)[dead_name])
            assert marker is not None and marker.token == "dead0001" and marker.pid == dead.pid
            if target == "postgresql":
                comment = server.psql(
                    f"SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '{dead_name}'"
                )
                assert comment.startswith(f"{MARKER_PREFIX} run=dead0001 pid={dead.pid} host=")
            else:
                rows = server.sql("SELECT name FROM portability_registry.test_databases").split()
                assert sorted(rows) == sorted([dead_name, live_name])
                assert "portability_registry" in everything

            listed = clean(target, server.url, "--dry-run", cwd=tmp_path)
            assert listed.returncode == 1, listed.output
            assert f"would drop {dead_name}" in listed.stdout, listed.stdout
            assert f"skipped {live_name}" in listed.stdout, listed.stdout
            assert UNMARKED not in listed.stdout
            assert server.databases() == everything

            cleaned = clean(target, server.url, cwd=tmp_path)
            assert cleaned.returncode == 1, cleaned.output  # the live run's database is left: not clean yet
            assert f"dropped {dead_name} (run dead0001, pid {dead.pid}" in cleaned.stdout, cleaned.stdout
            assert f"skipped {live_name}" in cleaned.stdout and "still alive" in cleaned.stdout, cleaned.stdout
            assert server.databases() == everything - {dead_name}
            assert live.poll() is None, "clean disturbed the live run"
        finally:
            for worker in (dead, live):
                if worker.poll() is None:
                    os.killpg(worker.pid, signal.SIGINT)
                    worker.wait(30)
        # The live worker dropped its own database when it stopped: nothing marked is left.
        assert live_name not in server.databases()
        again = clean(target, server.url, cwd=tmp_path)
        assert again.returncode == 0, again.output
        assert "no test database left by a portability run" in again.stdout
        assert UNMARKED in server.databases()


def test_clean_of_an_unreachable_requested_server_exits_3(tmp_path):
    result = run_portability(
        "clean", "--backends", "postgresql", "--url", "postgresql=postgres://postgres@127.0.0.1:1/x", cwd=tmp_path
    )
    assert result.returncode == 3, result.output
    assert "not reachable" in result.stdout and "Traceback" not in result.output


def test_marker_round_trip():
    marker = Marker.for_this_process("abcd1234")
    assert Marker.parse(marker.text) == marker
    assert marker.text.startswith(f"{MARKER_PREFIX} run=abcd1234 pid={os.getpid()} host=")
    assert Marker.parse("a comment someone else wrote") is None
    assert Marker.parse(None) is None
