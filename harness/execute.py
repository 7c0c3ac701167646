"""Run the project's tests once per target, each in its own pytest worker process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.cleanup import CLEAN_COMMAND, drop_leftover_test_databases, leftover_hint
from harness.config import ENV_HASH_SEED, RunConfig, Target, env_url_name
from harness.config_schema import check_migration_app
from harness.databases import ENV_RUN_TOKEN, new_run_token
from harness.errors import SettingsError
from harness.lifeline import ENV_PARENT_PID
from harness.results import ResultsFollower, WorkerResults
from harness.urls import redact

POLL_SECONDS = 0.05
# A worker past --timeout gets this long to tear down after SIGINT, then SIGKILL.
INTERRUPT_GRACE_SECONDS = 20
# After Ctrl-C or SIGTERM every worker gets this long to drop its test databases, then SIGKILL.
STOP_GRACE_SECONDS = 4.0
# How long a killed worker may take to be gone (it cannot refuse SIGKILL).
KILL_WAIT_SECONDS = 10
# Connection timeout of the parent's sweep of the test databases a worker left.
SWEEP_TIMEOUT = 3.0
# Django's own runner discovers tests in files matching test*.py.
DJANGO_RUNNER_PATTERN = "test*.py"
# Environment that would change which tests pytest runs or which plugins it loads.
SCRUBBED_ENV = ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD")


@dataclass
class Worker:
    """One pytest process running the suite against one target."""

    target: Target
    results_path: Path
    log_path: Path
    # 0 for the run that is compared; 1.. for --stability-runs repeats.
    repeat: int = 0
    token: str = field(default_factory=new_run_token)
    process: subprocess.Popen | None = None
    started: float | None = None
    returncode: int | None = None
    timed_out: bool = False
    # Stopped by Ctrl-C/SIGTERM before it finished (or never started because of it).
    interrupted: bool = False
    # Killed with SIGKILL (a second Ctrl-C, or it did not stop within STOP_GRACE_SECONDS).
    killed: bool = False
    # The parent's sweep once the worker was gone: what it dropped, or why it could not check.
    dropped_by_parent: list[str] = field(default_factory=list)
    sweep_error: str | None = None
    follower: ResultsFollower = field(init=False)

    def __post_init__(self) -> None:
        self.follower = ResultsFollower(self.results_path)

    @property
    def results(self) -> WorkerResults:
        return self.follower.results

    def log_tail(self, lines: int = 5) -> str:
        if not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace").strip().splitlines()
        return redact("\n".join(text[-lines:]), self.target.secrets)

    @property
    def label(self) -> str:
        return self.target.name + (f" #{self.repeat + 1}" if self.repeat else "")

    def left_databases(self) -> list[str]:
        """Test databases known to be left on the server (the sweep could not reach it)."""
        if self.sweep_error is None:
            return []
        return list((self.results.lost or {}).get("test_databases") or [])

    def leftover_note(self) -> str:
        """What is left on the server after the worker and the sweep, and how to drop it ("" if nothing)."""
        if self.sweep_error is None:
            return ""
        names = self.left_databases()
        if names:
            return leftover_hint(names, self.target.vendor)
        return (
            f"could not check the server for test databases of this run ({self.sweep_error}): any left "
            f"end with _{self.token}; `{CLEAN_COMMAND}` drops them once the server is back"
        )

    def redact_log(self) -> None:
        """Take the target's password out of the worker's log (a driver error may quote it)."""
        if self.log_path.exists() and self.target.secrets:
            text = self.log_path.read_text(errors="replace")
            self.log_path.write_text(redact(text, self.target.secrets))


def project_env(config: RunConfig) -> dict[str, str]:
    """The environment of a child process that imports the project (like manage.py's folder)."""
    env = {key: value for key, value in os.environ.items() if key not in SCRUBBED_ENV}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(config.project_dir), env.get("PYTHONPATH")]))
    env["DJANGO_SETTINGS_MODULE"] = config.settings
    if config.hash_seed is not None:
        # One seed for every process of the run: set iteration order (e.g. a values() list
        # built from a set) is then the same on every backend and in every repeat.
        env[ENV_HASH_SEED] = str(config.hash_seed)
    return env


PREFLIGHT_TIMEOUT = 120
"""Seconds the settings check may take (importing the settings and Django's app registry)."""


class SettingsCheck:
    """The settings check (harness.preflight) in a child process, started before the workers so it
    costs no wall time of its own: the run polls it and stops at its first failure."""

    def __init__(self, config: RunConfig) -> None:
        self.settings = config.settings
        # Files, not pipes: a child writing more than a pipe holds would block until read.
        self._stdout, self._stderr = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "harness.preflight", config.settings],
            cwd=config.project_dir,
            env=project_env(config),
            stdin=subprocess.DEVNULL,
            stdout=self._stdout,
            stderr=self._stderr,
            text=True,
        )
        self._started = time.monotonic()
        self._answer: dict[str, Any] | None = None

    def check(self) -> None:
        """Raise SettingsError if the check has failed (or overrun); return at once if it is still running."""
        if self._answer is None and self._process.poll() is None:
            if time.monotonic() - self._started > PREFLIGHT_TIMEOUT:
                self.stop()
                raise SettingsError(
                    detail=f"checking settings {self.settings!r} took over {PREFLIGHT_TIMEOUT} s: "
                    "does importing them or setting Django up wait on something?"
                )
            return
        self.wait()

    def wait(self, app: str | None = None) -> list[str]:
        """The settings' database aliases once the check has passed; SettingsError with one line if not.

        ``app`` (`migrations --app`) must be an installed app with migrations: a ConfigError if not.
        """
        if self._answer is None:
            try:
                self._process.wait(timeout=max(0.0, PREFLIGHT_TIMEOUT - (time.monotonic() - self._started)))
            except subprocess.TimeoutExpired:
                self.check()
            self._answer = self._read_answer()
        if not self._answer["ok"]:
            raise SettingsError(detail=self._answer["error"])
        if app is not None:
            check_migration_app(app, self._answer["migration_apps"])
        return self._answer["aliases"]

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def _read_answer(self) -> dict[str, Any]:
        self._stdout.seek(0)
        self._stderr.seek(0)
        lines = self._stdout.read().strip().splitlines()
        stderr = self._stderr.read()
        self._stdout.close()
        self._stderr.close()
        try:
            return json.loads(lines[-1])
        except (IndexError, json.JSONDecodeError):
            detail = (stderr.strip().splitlines() or ["no output"])[-1]
            return {"ok": False, "error": f"checking settings {self.settings!r} failed: {detail}"}


def preflight(config: RunConfig, app: str | None = None) -> list[str]:
    """Import the settings in a child process; raise SettingsError with one line if that fails."""
    return SettingsCheck(config).wait(app)


def pytest_command(config: RunConfig, worker: Worker) -> list[str]:
    """The pytest command line of one worker."""
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "--color=no",
        # Short tracebacks: the long style prints call arguments, such as a driver's DSN.
        "--tb=short",
        "--rootdir",
        str(config.project_dir),
        "--ds",
        config.settings,
        "--portability-target",
        worker.target.name,
        "--portability-results",
        str(worker.results_path),
    ]
    if not config.record_queries:
        command.append("--portability-no-queries")
    else:
        command += ["--portability-float-tolerance", str(config.float_tolerance)]
    if not config.has_pytest_config:
        # A project that only ever ran `manage.py test`: collect what Django's runner would.
        command += ["-o", f"python_files={DJANGO_RUNNER_PATTERN}"]
    processes = config.processes_per_backend()
    if processes is not None and not (processes == 1 and isinstance(config.numprocesses, str)):
        # pytest-xdist: each of its workers gets its own test database (see harness.merge for the results).
        command += ["-n", str(processes)]
    if config.reuse_db:
        command.append("--portability-reuse-db")
    return command + config.test_paths + config.pytest_args


def worker_env(config: RunConfig, worker: Worker) -> dict[str, str]:
    env = project_env(config)
    # The URL travels in the environment, never on a command line others can read.
    env[env_url_name(worker.target.name)] = worker.target.url
    env[ENV_RUN_TOKEN] = worker.token
    # The worker stops, and drops its test databases, when this process goes away (harness.lifeline).
    env[ENV_PARENT_PID] = str(os.getpid())
    return env


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped the run; every worker is gone and its test databases were swept."""

    def __init__(self, workers: list[Worker]) -> None:
        super().__init__("interrupted")
        self.workers = workers

    def cleanup_lines(self) -> list[str]:
        return cleanup_lines(self.workers)


def cleanup_lines(workers: list[Worker]) -> list[str]:
    """What is true of the run's test databases once its workers are gone (checked, never assumed)."""
    checked, lines = [], []
    for worker in workers:
        if worker.process is None or not worker.target.vendor.is_server:
            continue
        if worker.dropped_by_parent:
            why = "its worker was killed first" if worker.killed else "its worker did not drop them"
            lines.append(f"dropped on {worker.label}: {', '.join(worker.dropped_by_parent)} ({why})")
        if worker.sweep_error is None:
            checked.append(worker.label)
        else:
            lines.append(f"{worker.label}: {worker.leftover_note()}")
    if checked:
        lines.insert(
            0, f"no test database of this run is left on {', '.join(checked)} (checked after the workers stopped)"
        )
    return lines


def run_workers(
    config: RunConfig,
    targets: list[Target],
    results_dir: Path,
    on_progress: Callable[[list[Worker]], None] = lambda workers: None,
    command: Callable[[RunConfig, Worker], list[str]] | None = None,
    gate: Callable[[], None] = lambda: None,
) -> list[Worker]:
    """Run one worker per target (and per stability repeat), at most ``config.jobs`` at a time.

    A worker runs ``command(config, worker)``: the project's tests under pytest by default.
    ``gate`` is called while they run: what it raises stops every worker (their databases are
    swept) and is raised on (the settings check that runs meanwhile).
    """
    command = command or pytest_command
    workers = [
        Worker(target, results_dir / f"{target.name}{suffix}.jsonl", results_dir / f"{target.name}{suffix}.log", repeat)
        for repeat in range(1 + config.stability_runs)
        for target in targets
        for suffix in [f".repeat{repeat}" if repeat else ""]
    ]
    pending = list(workers)
    interrupted = False
    try:
        while pending or any(worker.returncode is None and worker.process for worker in workers):
            running = [worker for worker in workers if worker.process and worker.returncode is None]
            while pending and len(running) < config.jobs:
                worker = pending.pop(0)
                _start(config, worker, command(config, worker))
                running.append(worker)
            for worker in running:
                _check(config, worker)
            gate()
            on_progress(workers)
            time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        interrupted = True
        for worker in workers:
            worker.interrupted = worker.interrupted or worker.process is None or worker.process.poll() is None
    finally:
        # No test database is swept while a worker may still use it: every worker is gone first.
        _stop_all(workers)
        with _signals_deferred() as received:
            for worker in workers:
                if worker.process is not None:
                    _sweep(worker)
                    worker.redact_log()
                    worker.follower.poll()
        interrupted = interrupted or bool(received)
    if interrupted:
        raise RunInterrupted(workers)
    on_progress(workers)
    return workers


def _start(config: RunConfig, worker: Worker, command: list[str]) -> None:
    worker.results_path.unlink(missing_ok=True)
    log = worker.log_path.open("w")
    # Popen from the main thread only: a worker's parent-death signal follows the thread that forked it.
    assert threading.current_thread() is threading.main_thread(), "workers are started from the main thread"
    worker.process = subprocess.Popen(
        command,
        cwd=config.project_dir,
        env=worker_env(config, worker),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        # Own process group: Ctrl-C is forwarded once, by us, so workers can clean up.
        start_new_session=True,
    )
    log.close()
    worker.started = time.monotonic()


def _check(config: RunConfig, worker: Worker) -> None:
    worker.follower.poll()
    assert worker.process is not None and worker.started is not None
    worker.returncode = worker.process.poll()
    if worker.returncode is None and time.monotonic() - worker.started > config.timeout:
        worker.timed_out = True
        _interrupt(worker)


def _interrupt(worker: Worker) -> None:
    """Ask a worker to stop as Ctrl-C would (pytest then tears its databases down), kill it if it won't."""
    assert worker.process is not None
    try:
        os.killpg(worker.process.pid, signal.SIGINT)
        worker.returncode = worker.process.wait(INTERRUPT_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(worker.process.pid, signal.SIGKILL)
        worker.returncode = worker.process.wait()
    except ProcessLookupError:
        worker.returncode = worker.process.wait()


def _stop_all(workers: list[Worker]) -> None:
    """Stop every running worker at once: SIGINT (it drops its test databases), SIGKILL after
    STOP_GRACE_SECONDS or at a second Ctrl-C/SIGTERM; return once every one is gone."""
    running = [worker for worker in workers if worker.process is not None and worker.process.poll() is None]
    if not running:
        return
    for worker in running:
        worker.interrupted = True
        _signal_group(worker, signal.SIGINT)
    try:
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while time.monotonic() < deadline and any(worker.process.poll() is None for worker in running):
            time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        pass  # a second Ctrl-C: kill them now
    with _signals_deferred():
        for worker in running:
            if worker.process.poll() is None:
                worker.killed = True
                _signal_group(worker, signal.SIGKILL)
        for worker in running:
            try:
                worker.returncode = worker.process.wait(KILL_WAIT_SECONDS)
            except subprocess.TimeoutExpired:
                worker.returncode = worker.process.poll()


def _signal_group(worker: Worker, signum: int) -> None:
    assert worker.process is not None
    try:
        os.killpg(worker.process.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


@contextmanager
def _signals_deferred() -> Iterator[list[int]]:
    """Ctrl-C and SIGTERM only noted (in the yielded list) while the block runs: cleaning up
    (killing, waiting, dropping test databases) is never cut short."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    for signum in previous:
        signal.signal(signum, lambda number, frame: received.append(number))
    try:
        yield received
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _sweep(worker: Worker) -> None:
    """Drop any test database this worker's run left behind (a crash, a kill); note what could not be checked."""
    try:
        worker.dropped_by_parent = drop_leftover_test_databases(worker.target, worker.token, timeout=SWEEP_TIMEOUT)
        worker.sweep_error = None
    except Exception as error:  # noqa: BLE001 - the server may be gone: said in the report
        worker.sweep_error = redact(" ".join(str(error).split()) or type(error).__name__, worker.target.secrets)[:300]
