"""One `portability run` from start to finish: check, probe, execute, compare, report."""

from __future__ import annotations

import re
import tempfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from harness import baseline, declarations, embedded
from harness.backends import (
    DRIVER_MISSING,
    NOT_REACHABLE,
    BackendStatus,
    derive_status,
    exit_code,
    partial_results_findings,
)
from harness.compare import Comparison, compare
from harness.config import RANDOM_HASH_SEED, RunConfig, Target, env_url_name
from harness.errors import EXIT_INTERRUPTED, BackendUnavailableError, ConfigError, DriverMissingError, SettingsError
from harness.execute import RunInterrupted, SettingsCheck, Worker, run_workers
from harness.probe import NO_ANSWER, ServerInfo, probe
from harness.report.formats import write_reports
from harness.report.json_report import build_report
from harness.report.progress import WorkerProgress
from harness.report.terminal import render_report
from harness.results import WorkerResults
from harness.urls import parse_target_url
from harness.vendors import target_label

# pytest's exit code for a usage error: the arguments after `--` were not understood.
PYTEST_USAGE_ERROR = 4


# A target label that names a server version: postgresql@15, mariadb@10.11.
VERSION_LABEL = re.compile(r"\d+(?:\.\d+)*")


def probe_targets(config: RunConfig) -> tuple[list[Target], dict[str, BackendStatus]]:
    """Probe every target at once; a requested target that cannot run is an error.

    A target nobody configured (its default URL, not in --backends or [tool.portability] backends)
    where no server answers is left out quietly, and dropped from ``config.targets``: a machine
    without MySQL is not told so on every run. Any other target that cannot run is listed with
    the hint that fits its failure.
    """

    def attempt(target: Target) -> ServerInfo | DriverMissingError:
        try:
            return probe(target, timeout=config.probe_timeout)
        except DriverMissingError as error:
            return error

    config.targets = [
        target if target.embedded is None else serve_from_embedded(target, target.embedded) for target in config.targets
    ]
    with ThreadPoolExecutor(max_workers=len(config.targets) or 1) as pool:
        answers = dict(zip(config.targets, pool.map(attempt, config.targets), strict=True))
    for position, target in enumerate(config.targets):
        major = embedded_major_for(config, target, answers[target])
        if major is not None:
            served = config.targets[position] = serve_from_embedded(target, major)
            answers = {served if known is target else known: answer for known, answer in answers.items()}
            answers[served] = attempt(served)
    ready, unavailable, left_out = [], {}, set()
    for target, answer in answers.items():
        requested = target.name in config.requested
        check_version_label(target, answer)
        if isinstance(answer, DriverMissingError):
            if requested:
                raise answer
            unavailable[target.name] = BackendStatus(
                target.name,
                target.vendor.django_vendor,
                None,
                None,
                DRIVER_MISSING,
                target.masked_url,
                str(answer),
            )
        elif not answer.reachable:
            if requested:
                raise BackendUnavailableError(
                    target=target.name,
                    state=answer.state,
                    url=target.masked_url,
                    failure=answer.failure,
                    hint=answer.hint,
                    reason=answer.reason,
                )
            if target.url_source == "default" and target.name not in config.named and answer.failure in NO_ANSWER:
                left_out.add(target.name)
                continue
            unavailable[target.name] = BackendStatus(
                target.name, answer.vendor, None, None, NOT_REACHABLE, target.masked_url, answer.explanation
            )
        else:
            ready.append(target)
    config.targets = [target for target in config.targets if target.name not in left_out]
    return ready, unavailable


def embedded_major_for(config: RunConfig, target: Target, answer: ServerInfo | DriverMissingError) -> str | None:
    """The PostgreSQL major version ("" the newest) an embedded server should serve this target in, or None.

    Only a postgresql target nobody gave a URL, where no server answers at the default address (or, for
    ``postgresql@16``, where the server that answers is not PostgreSQL 16), and only when an installed
    package provides that version: a server that answers is never replaced.
    """
    if not (config.embedded and target.url_source == "default" and target.vendor.target == "postgresql"):
        return None
    label = target_label(target.name) or ""
    if (label and not label.isdigit()) or not isinstance(answer, ServerInfo):
        return None
    if answer.reachable:
        if not label or version_fits(label, answer.version):
            return None
    elif answer.failure not in NO_ANSWER:
        return None
    if not any(not label or build.major == label for build in embedded.distributions()):
        return None
    return label


def version_fits(label: str, version: str | None) -> bool:
    """Whether a server's version is the one a version-like label names (``15`` fits 15.14, ``10.11`` 10.11.9)."""
    return version is not None and (version == label or version.startswith(label + "."))


def check_version_label(target: Target, answer: ServerInfo | DriverMissingError) -> None:
    """A target labelled with a version (``postgresql@15``, ``mariadb@10.11``) must reach that version."""
    label = target_label(target.name)
    if not label or not VERSION_LABEL.fullmatch(label) or not isinstance(answer, ServerInfo) or not answer.reachable:
        return
    if not version_fits(label, answer.version):
        raise ConfigError(
            detail=f"target {target.name!r} reached {answer.product} {answer.version} at {target.masked_url}, not "
            f"version {label}: give it the URL of that server (--url {target.name}=URL or "
            f"{env_url_name(target.name)}), or a label that is not a version"
        )


def serve_from_embedded(target: Target, major: str) -> Target:
    """The target pointed at the embedded PostgreSQL of ``major`` ("" the newest), started if need be."""
    server = embedded.ensure_running(major)
    state = "started" if server.started_now else "already running"
    return replace(
        target,
        url=server.url,
        database=parse_target_url(target.name, server.url),
        embedded_version=server.distribution.version,
        url_source=f"embedded PostgreSQL {server.distribution.version}, {state} in {server.data_dir}; "
        "`portability servers stop` stops it",
    )


def run(config: RunConfig, console: Console, results_dir: Path | None = None) -> int:
    """Run the suite on every available target; render the report; return the exit code."""
    settings_check = SettingsCheck(config)
    try:
        try:
            ready, unavailable = probe_targets(config)
        except (BackendUnavailableError, DriverMissingError):
            settings_check.wait()  # a settings error is told first, as before the check ran alongside
            raise
        settings_check.check()
        return _run_checked(config, console, settings_check, ready, unavailable, results_dir)
    finally:
        settings_check.stop()


def _run_checked(
    config: RunConfig,
    console: Console,
    settings_check: SettingsCheck,
    ready: list[Target],
    unavailable: dict[str, BackendStatus],
    results_dir: Path | None,
) -> int:
    print_run_header(console, config)
    for target in config.targets:
        if target.name in unavailable:
            console.print(f"  {target.name:<11} {unavailable[target.name].status} at {target.masked_url}", markup=False)
        else:
            console.print(f"  {target.name:<11} {target.masked_url} (URL from {target.url_source})", markup=False)
    holder = nullcontext(str(results_dir)) if results_dir else tempfile.TemporaryDirectory(prefix="portability-")
    with holder as directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        interruption: RunInterrupted | None = None
        with WorkerProgress(console) as progress:
            try:
                all_workers = run_workers(
                    config, ready, Path(directory), on_progress=progress.update, gate=settings_check.check
                )
            except RunInterrupted as stopped:
                # Every worker is gone and swept: say what is true of the test databases first (a
                # further Ctrl-C only cuts the partial report short), then report what ran.
                interruption, all_workers = stopped, stopped.workers
        if interruption:
            report_interruption(interruption)
        else:
            settings_check.wait()  # the workers may all have ended before it did
        workers = [worker for worker in all_workers if worker.repeat == 0]
        if not interruption:
            _raise_on_pytest_usage_error(workers)
        runs: dict[str, list[WorkerResults]] = {}
        for worker in all_workers:
            if worker.results.header:
                runs.setdefault(worker.target.name, []).append(worker.results)
        finished = [worker.results for worker in workers if worker.results.header]
        comparison = compare(finished, repeats=runs)
        settle_findings(comparison, finished, config.expected, config.baseline, config.project_dir)
        statuses = {**unavailable, **{worker.target.name: worker_status(worker) for worker in workers}}
    backends = [statuses[target.name] for target in config.targets]
    comparison.findings.extend(partial_results_findings(backends))
    code = EXIT_INTERRUPTED if interruption else exit_code(comparison, backends, config.fail_on)
    render_report(console, backends, comparison, config.fail_on, interrupted=interruption is not None)
    write_report_file(console, config, backends, comparison, code)
    return code


def report_interruption(interruption: RunInterrupted) -> None:
    """On stderr: the run was interrupted, and what is (checked, not assumed) of its test databases."""
    stopped = [worker for worker in interruption.workers if worker.process is not None and worker.interrupted]
    killed = [worker.label for worker in stopped if worker.killed]
    line = f"portability: interrupted: stopped {len(stopped)} worker(s)"
    if killed:
        line += f" ({', '.join(killed)} killed with SIGKILL)"
    click.echo(line + "; the report below is partial", err=True)
    for text in interruption.cleanup_lines():
        click.echo(f"portability: {text}", err=True)


def print_run_header(console: Console, config: RunConfig) -> None:
    console.print(
        f"settings: {config.settings} (from {config.settings_source}); project: {config.project_dir}; "
        f"hash seed: {describe_hash_seed(config)}",
        markup=False,
    )
    if isinstance(config.numprocesses, str):
        processes = config.processes_per_backend()
        console.print(
            f"-n {config.numprocesses}: {processes} pytest-xdist process(es) per backend"
            f"{' (no xdist)' if processes == 1 else ''}: the CPUs shared among the backends that run at once",
            markup=False,
        )


def describe_hash_seed(config: RunConfig) -> str:
    if config.hash_seed_source == RANDOM_HASH_SEED:
        return f"{config.hash_seed} (random; --hash-seed {config.hash_seed} repeats it)"
    return f"{config.hash_seed} (from {config.hash_seed_source})"


def write_report_file(
    console: Console, config: RunConfig, backends: list[BackendStatus], comparison: Comparison, exit_code: int
) -> None:
    write_report_files(
        console, {"json": config.json_path, **config.report_paths}, backends, comparison, exit_code, config.hash_seed
    )


def settle_findings(
    comparison: Comparison,
    results: list[WorkerResults],
    expected: dict[str, Any],
    baseline_entries: list[Any] | None,
    project_dir: Path = Path(),
    family: str = "PT",
) -> None:
    """What the project declared and what its baseline knows: those findings become notes; stale declarations
    and baseline entries are reported (run, migrations and report alike)."""
    declarations.apply_to_run(comparison, results, expected)
    if baseline_entries is not None:
        comparison.findings.extend(baseline.apply(comparison.findings, baseline_entries, project_dir, family))


def write_report_files(
    console: Console,
    paths: dict[str, Path | None],
    backends: list[BackendStatus],
    comparison: Comparison,
    exit_code: int,
    hash_seed: int | None,
) -> None:
    """Every report file asked for (format name → path), from one report model; each one said."""
    if not any(paths.values()):
        return
    report = build_report(backends, comparison, exit_code, hash_seed)
    for report_format, path in write_reports(paths, report):
        console.print(f"{report_format.label} report: {path}", markup=False)


def _raise_on_pytest_usage_error(workers: list[Worker]) -> None:
    if workers and all(worker.returncode == PYTEST_USAGE_ERROR for worker in workers):
        lines = [line for line in workers[0].log_tail(20).splitlines() if "error" in line.lower()]
        raise SettingsError(detail=f"pytest rejected its arguments: {(lines or ['see pytest --help'])[-1].strip()}")


def worker_status(worker: Worker) -> BackendStatus:
    """The backend's status from its worker's results file and process (see backends.derive_status)."""
    status = derive_status(
        worker.results,
        returncode=worker.returncode,
        timed_out=worker.timed_out,
        interrupted=worker.interrupted,
        last_output=lambda: worker.log_tail(3),
    )
    note = worker.leftover_note()
    if note:
        status.reason = f"{status.reason}; {note}" if status.reason else note
    if worker.target.embedded_version and status.version:
        status.version = f"{status.version} (embedded)"
    status.name, status.vendor = worker.target.name, status.vendor or worker.target.vendor.django_vendor
    status.url = status.url or worker.target.masked_url
    return status
