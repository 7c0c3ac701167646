"""Run the project's tests once per target, each in its own pytest worker process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.cleanup import drop_leftover_test_databases
from harness.config import ENV_HASH_SEED, RunConfig, Target, check_migration_app, env_url_name
from harness.databases import ENV_RUN_TOKEN, new_run_token
from harness.errors import SettingsError
from harness.results import ResultsFollower, WorkerResults
from harness.urls import redact

POLL_SECONDS = 0.05
INTERRUPT_GRACE_SECONDS = 20
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


def preflight(config: RunConfig, app: str | None = None) -> list[str]:
    """Import the settings in a child process; raise SettingsError with one line if that fails.

    ``app`` (`migrations --app`) must be an installed app with migrations: a ConfigError if not.
    """
    completed = subprocess.run(
        [sys.executable, "-m", "harness.preflight", config.settings],
        cwd=config.project_dir,
        env=project_env(config),
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = completed.stdout.strip().splitlines()
    try:
        answer = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        detail = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        raise SettingsError(detail=f"checking settings {config.settings!r} failed: {detail}") from None
    if not answer["ok"]:
        raise SettingsError(detail=answer["error"])
    if app is not None:
        check_migration_app(app, answer["migration_apps"])
    return answer["aliases"]


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
    return command + config.test_paths + config.pytest_args


def worker_env(config: RunConfig, worker: Worker) -> dict[str, str]:
    env = project_env(config)
    # The URL travels in the environment, never on a command line others can read.
    env[env_url_name(worker.target.name)] = worker.target.url
    env[ENV_RUN_TOKEN] = worker.token
    return env


def run_workers(
    config: RunConfig,
    targets: list[Target],
    results_dir: Path,
    on_progress: Callable[[list[Worker]], None] = lambda workers: None,
    command: Callable[[RunConfig, Worker], list[str]] | None = None,
) -> list[Worker]:
    """Run one worker per target (and per stability repeat), at most ``config.jobs`` at a time.

    A worker runs ``command(config, worker)``: the project's tests under pytest by default.
    """
    command = command or pytest_command
    workers = [
        Worker(target, results_dir / f"{target.name}{suffix}.jsonl", results_dir / f"{target.name}{suffix}.log", repeat)
        for repeat in range(1 + config.stability_runs)
        for target in targets
        for suffix in [f".repeat{repeat}" if repeat else ""]
    ]
    pending = list(workers)
    try:
        while pending or any(worker.returncode is None and worker.process for worker in workers):
            running = [worker for worker in workers if worker.process and worker.returncode is None]
            while pending and len(running) < config.jobs:
                worker = pending.pop(0)
                _start(config, worker, command(config, worker))
                running.append(worker)
            for worker in running:
                _check(config, worker)
            on_progress(workers)
            time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        _stop_all(workers)
        raise
    finally:
        for worker in workers:
            if worker.process is not None:
                _sweep(worker)
                worker.redact_log()
    for worker in workers:
        worker.follower.poll()
    on_progress(workers)
    return workers


def _start(config: RunConfig, worker: Worker, command: list[str]) -> None:
    worker.results_path.unlink(missing_ok=True)
    log = worker.log_path.open("w")
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
    for worker in workers:
        if worker.process is not None and worker.process.poll() is None:
            _interrupt(worker)


def _sweep(worker: Worker) -> None:
    """Drop any test database this worker's run left behind (a crash, a kill)."""
    try:
        drop_leftover_test_databases(worker.target, worker.token)
    except Exception:  # noqa: BLE001,S110 - the server may be gone; nothing of ours can be left then
        pass
