"""End to end: Ctrl-C, SIGTERM and SIGKILL of `portability` leave no worker running and no test database.

Each test starts a real run on the local PostgreSQL and MariaDB servers whose tests sleep
long, waits until both test databases exist, then stops `portability` the way a user or a
CI runner does. Workers are found by their command line (it holds the run's results folder),
test databases by the test's unique database name (see tests/e2e/test_safety.py).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.test_safety import (
    SERVERS,
    SLEEPING_DB_TESTS,
    db_project,
    new_tag,
    non_test_databases,
    start_portability,
    stop,
    tagged_test_databases,
    tagged_urls,
    wait_until,
)
from tests.helpers import read_json

pytestmark = pytest.mark.e2e

# Long enough that no test finishes before the signal.
TESTS = SLEEPING_DB_TESTS.format(count=3, seconds=60)
# The first Ctrl-C stops every worker within 5 s; the report follows.
EXITS_WITHIN = 10


def worker_pids(marker: Path) -> list[int]:
    """Pytest workers whose results file is in ``marker`` (the run's results folder)."""
    needle = b"--portability-results\0" + str(marker).encode()
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if needle in cmdline:
            pids.append(int(entry))
    return pids


def kill_leftover_workers(marker: Path) -> None:
    for pid in worker_pids(marker):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class Run:
    """A `portability run` on sqlite, PostgreSQL and MariaDB whose tests are all still sleeping."""

    def __init__(self, tmp_path: Path) -> None:
        self.tag = new_tag()
        self.out = tmp_path / "out"
        self.json_path = tmp_path / "report.json"
        self.results_dir = tmp_path / "results"
        self.before = non_test_databases()
        project = db_project(tmp_path / "proj", TESTS)
        self.process = start_portability(
            [
                "run",
                "--settings",
                "settings",
                "--backends",
                "sqlite,postgresql,mariadb",
                *tagged_urls(self.tag, *SERVERS),
                "--json",
                str(self.json_path),
                "--results-dir",
                str(self.results_dir),
            ],
            project,
            self.out,
        )

    def wait_for_test_databases(self) -> dict[str, set[str]]:
        seen: dict[str, set[str]] = {}

        def both_created() -> bool:
            seen.update(self.test_databases())
            return all(seen.get(target) for target in SERVERS) or self.process.poll() is not None

        assert wait_until(both_created, timeout=60), "no test database appeared within 60 s"
        assert self.process.poll() is None, self.stderr
        assert len(worker_pids(self.results_dir)) == 3
        return seen

    def test_databases(self) -> dict[str, set[str]]:
        return tagged_test_databases(self.tag)

    @property
    def stdout(self) -> str:
        return (self.out / "stdout").read_text()

    @property
    def stderr(self) -> str:
        return (self.out / "stderr").read_text()

    def close(self) -> None:
        stop(self.process)
        kill_leftover_workers(self.results_dir)


@pytest.fixture
def run(tmp_path):
    started = Run(tmp_path)
    yield started
    started.close()


def assert_nothing_left(run: Run) -> None:
    assert worker_pids(run.results_dir) == [], "a worker outlived the run"
    assert run.test_databases() == {"postgresql": set(), "mariadb": set()}
    assert non_test_databases() == run.before


def assert_truthful(stderr: str, created: dict[str, set[str]]) -> None:
    """Every database the message says was dropped is gone, and every server it says is clean is."""
    assert "Traceback" not in stderr
    assert "were dropped" not in stderr  # the old message claimed it without checking
    assert re.search(r"no test database of this run is left on postgresql, mariadb", stderr), stderr
    for line in stderr.splitlines():
        if line.startswith("portability: dropped on "):
            target = line.split()[3].rstrip(":")
            assert line.split(": ", 2)[2].split(" (")[0] in created[target], line


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_one_interrupt_stops_every_worker_and_writes_a_partial_report(run, signum):
    created = run.wait_for_test_databases()
    run.process.send_signal(signum)
    started = time.monotonic()
    returncode = run.process.wait(EXITS_WITHIN + 20)
    elapsed = time.monotonic() - started
    assert returncode == 130, run.stderr
    assert elapsed < EXITS_WITHIN, f"exit {elapsed:.1f} s after the signal"
    assert_nothing_left(run)
    assert_truthful(run.stderr, created)
    assert "portability: interrupted" in run.stderr

    report = read_json(run.json_path)
    assert report["partial"] is True
    assert report["exit_code"] == 130
    assert {backend["name"]: backend["status"] for backend in report["backends"]} == dict.fromkeys(
        ("sqlite", "postgresql", "mariadb"), "interrupted"
    )
    assert "PARTIAL: interrupted" in run.stdout
    # The results files keep what was recorded (header, collection) up to the stop.
    for target in ("sqlite", "postgresql", "mariadb"):
        assert '"type": "header"' in (run.results_dir / f"{target}.jsonl").read_text()


def test_second_ctrl_c_kills_the_workers_and_still_drops_the_test_databases(run):
    created = run.wait_for_test_databases()
    run.process.send_signal(signal.SIGINT)
    time.sleep(0.3)
    run.process.send_signal(signal.SIGINT)
    returncode = run.process.wait(EXITS_WITHIN + 20)
    assert returncode == 130, run.stderr
    assert_nothing_left(run)
    assert_truthful(run.stderr, created)


def test_sigkill_of_portability_stops_the_workers_and_they_drop_their_test_databases(run):
    run.wait_for_test_databases()
    run.process.send_signal(signal.SIGKILL)
    run.process.wait(10)
    # Nothing ties the workers to a dead parent but harness.lifeline: they stop and clean up.
    assert wait_until(lambda: not worker_pids(run.results_dir), timeout=10), "workers outlived a killed parent"
    assert wait_until(lambda: run.test_databases() == {"postgresql": set(), "mariadb": set()}, timeout=5)
    assert_nothing_left(run)
    for target in ("postgresql", "mariadb"):
        log = (run.results_dir / f"{target}.log").read_text()
        assert "is gone: stopping and dropping the test databases" in log or "SIGTERM" in log, log[-2000:]


def test_worker_started_without_a_parent_pid_keeps_pytests_own_signal_handling():
    """Plain `pytest --portability-target` (a tox env, a CI job) is tied to no parent."""
    env = {key: value for key, value in os.environ.items() if key != "PORTABILITY_PARENT_PID"}
    code = "import signal as s; from harness.lifeline import install; print(install(), s.getsignal(15) == s.SIG_DFL)"
    completed = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30)
    assert completed.stdout.split() == ["False", "True"], completed.stderr
