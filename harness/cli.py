"""The `portability` command: parsing only; the work is done by harness.runner."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from harness import __version__
from harness.baseline import DEFAULT_FILE as DEFAULT_BASELINE
from harness.compare import compare
from harness.config import check_report_paths, load_run_config, read_pyproject, resolve_baseline, resolve_fail_on
from harness.config_schema import check_app_label, check_output_file, check_setting
from harness.errors import EXIT_INTERRUPTED, PortabilityError
from harness.report.formats import report_options, report_paths_from
from harness.report.terminal import make_console
from harness.results import WorkerResults, read_results
from harness.vendors import target_order, vendor_for_target


def _interrupt_on_sigterm(signum: int, frame: object) -> None:
    """Treat SIGTERM (CI cancelling a job) like Ctrl-C, so test databases are dropped."""
    raise KeyboardInterrupt


# Options shared by the commands; values are checked in harness.config (one-line errors, exit 2).
fail_on_option = click.option(
    "--fail-on",
    metavar="error|warning|note",
    help="Exit 1 when a finding has this level or a higher one (default: [tool.portability] fail_on, else warning).",
)
no_embedded_option = click.option(
    "--no-embedded",
    is_flag=True,
    help="Never start an embedded PostgreSQL for a postgresql target no server answers "
    "(default: [tool.portability] embedded, else on).",
)
baseline_option = click.option(
    "--baseline",
    metavar="FILE",
    help="Fail only on findings not in this baseline (written by `portability baseline`); list those gone "
    "(default: [tool.portability] baseline).",
)
hash_seed_option = click.option(
    "--hash-seed",
    metavar="N",
    help="PYTHONHASHSEED of every worker (default: [tool.portability] hash_seed, PYTHONHASHSEED, else random).",
)


def _fail(error: PortabilityError) -> None:
    click.echo(f"portability: error: {error}", err=True)
    sys.exit(error.exit_code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="portability")
def main() -> None:
    """Prove that a Django project's ORM code behaves the same on every database it supports."""


@main.command(context_settings={"ignore_unknown_options": False})
@click.option(
    "--project-dir",
    default=".",
    show_default=True,
    help="The Django project (put on sys.path like manage.py's folder).",
)
@click.option(
    "--settings",
    help="Django settings module (default: [tool.portability] settings, DJANGO_SETTINGS_MODULE, the pytest config, "
    "manage.py).",
)
@click.option(
    "--backends", help="Comma-separated targets: sqlite, postgresql, mysql, mariadb (default: all configured)."
)
@click.option("--url", "urls", multiple=True, metavar="TARGET=URL", help="Database URL of a target (repeatable).")
# Numbers and paths are taken as text and checked in harness.config: one-line errors, exit 2, before anything runs.
@click.option("--json", "json_path", metavar="FILE", help="Write the JSON report here.")
@click.option("--jobs", metavar="N", help="Backends run at once (default: all).")
@click.option("--timeout", metavar="SECONDS", help="Stop a backend's run after this many seconds (default 3600).")
@click.option("--results-dir", metavar="DIR", help="Keep each backend's results file (JSON lines) here.")
@click.option("--no-queries", is_flag=True, help="Do not record and compare the ORM queries of each test.")
@click.option("--float-tolerance", metavar="X", help="Relative tolerance for float results, 0 to 1 (1e-9).")
@click.option(
    "--stability-runs",
    metavar="N",
    help="Run each backend N more times; queries whose results vary between runs are left out.",
)
@click.option(
    "-n",
    "--numprocesses",
    metavar="N|auto",
    help="Run each backend's tests in N pytest-xdist processes, each with its own test database (auto: the CPUs "
    "shared among the backends that run at once, and no xdist when that comes to 1; 0: no xdist).",
)
@click.option(
    "--reuse-db",
    is_flag=True,
    default=None,
    help="Keep each server backend's test database between runs; reused while the migrations, models, Django and "
    "server versions and TEST settings are unchanged (`portability clean` drops kept databases).",
)
@report_options
@baseline_option
@no_embedded_option
@fail_on_option
@hash_seed_option
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
def run(
    project_dir,
    settings,
    backends,
    urls,
    json_path,
    jobs,
    timeout,
    results_dir,
    no_queries,
    float_tolerance,
    stability_runs,
    numprocesses,
    reuse_db,
    baseline,
    no_embedded,
    fail_on,
    hash_seed,
    pytest_args,
    **reports,
) -> None:
    """Run the project's tests on every backend and report every outcome that differs.

    Arguments after `--` go to pytest (test selection, -k, -x).
    """
    from harness.runner import run as run_suite

    def body(console: Console) -> int:
        config = load_run_config(
            project_dir=project_dir,
            settings=settings,
            backends=backends,
            urls=list(urls),
            jobs=jobs,
            json_path=json_path,
            report_paths=report_paths_from(reports),
            pytest_args=list(pytest_args),
            timeout=timeout,
            record_queries=False if no_queries else None,
            float_tolerance=float_tolerance,
            stability_runs=stability_runs,
            fail_on=fail_on,
            hash_seed=hash_seed,
            results_dir=results_dir,
            numprocesses=numprocesses,
            reuse_db=reuse_db,
            embedded=False if no_embedded else None,
            baseline=baseline,
        )
        return run_suite(config, console, config.results_dir)

    _run_command(body)


@main.command()
@click.option("--project-dir", default=".", show_default=True, help="The Django project.")
@click.option("--settings", help="Django settings module (resolved as for `run`).")
@click.option("--backends", help="Comma-separated targets (default: all configured).")
@click.option("--url", "urls", multiple=True, metavar="TARGET=URL", help="Database URL of a target (repeatable).")
@click.option("--json", "json_path", metavar="FILE", help="Write the JSON report here.")
@click.option("--jobs", metavar="N", help="Backends checked at once (default: all).")
@click.option("--results-dir", metavar="DIR", help="Keep each backend's results file here.")
@click.option("--app", help="Check only this app's migrations (the others are applied, unchecked).")
@click.option("--since", metavar="GIT_REV", help="Check only migration files added or changed since this revision.")
@click.option("--plan", "show_plan", is_flag=True, help="Print each migration's SQL per backend, side by side.")
@click.option("--ignore", multiple=True, metavar="CODE|APP.MIGRATION[:CODE]", help="Silence a lint rule.")
@report_options
@baseline_option
@no_embedded_option
@fail_on_option
@hash_seed_option
def migrations(
    project_dir,
    settings,
    backends,
    urls,
    json_path,
    jobs,
    results_dir,
    app,
    since,
    show_plan,
    ignore,
    baseline,
    no_embedded,
    fail_on,
    hash_seed,
    **reports,
):
    """Check that every migration applies, reverses and leaves the same schema on every backend."""
    from harness.migrations.check import run_migrations_check

    def body(console: Console) -> int:
        app_label = check_app_label(app)
        ignored = [item for given in ignore for item in check_setting("migrations_ignore", given, "--ignore")]
        config = load_run_config(
            project_dir=project_dir,
            settings=settings,
            backends=backends,
            urls=list(urls),
            jobs=jobs,
            json_path=json_path,
            report_paths=report_paths_from(reports),
            pytest_args=[],
            fail_on=fail_on,
            hash_seed=hash_seed,
            results_dir=results_dir,
            embedded=False if no_embedded else None,
            baseline=baseline,
        )
        configured = read_pyproject(config.project_dir).get("migrations_ignore", [])
        return run_migrations_check(
            config,
            console,
            app=app_label,
            since=since,
            show_plan=show_plan,
            ignore=[*configured, *ignored],
            results_dir=config.results_dir,
        )

    _run_command(body)


def _run_command(body: Callable[[Console], int]) -> None:
    """Run a command's body: one-line errors, Ctrl-C and SIGTERM handled, the exit code returned."""
    signal.signal(signal.SIGTERM, _interrupt_on_sigterm)
    try:
        code = body(make_console())
    except PortabilityError as error:
        _fail(error)
    except KeyboardInterrupt as interruption:
        # Only what was checked is said: RunInterrupted knows what is left of the test databases.
        click.echo("portability: interrupted", err=True)
        for line in interruption.cleanup_lines() if hasattr(interruption, "cleanup_lines") else []:
            click.echo(f"portability: {line}", err=True)
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(code)


def _report_order(results_file: WorkerResults) -> tuple[int, str]:
    return target_order(results_file.target)


def _refuse_two_files_per_target(files: list[WorkerResults]) -> None:
    seen: dict[str, Path] = {}
    for results_file in files:
        if results_file.target in seen:
            raise PortabilityError(
                detail=f"two results files for target {results_file.target!r} ({seen[results_file.target]}, "
                f"{results_file.path}): report each Python/Django combination separately"
            )
        seen[results_file.target] = results_file.path


def _merged_hash_seed(files: list[WorkerResults]) -> int | None:
    """The hash seed every file was run with; a one-line warning (and None) when they differ."""
    seeds = {results_file.target: results_file.header.get("hash_seed") for results_file in files}
    if len(set(seeds.values())) > 1:
        listed = ", ".join(f"{target} {'unset' if seed is None else seed}" for target, seed in seeds.items())
        click.echo(
            f"portability: warning: the results files were run with different hash seeds ({listed}): "
            "columns built from a set may come in another order; give every job the same PYTHONHASHSEED",
            err=True,
        )
        return None
    return next(iter(seeds.values()), None)


def _no_results_file(name: str) -> Any:
    """A backend named in report's --backends whose job wrote no results file."""
    from harness.backends import CRASHED, BackendStatus

    reason = "no results file for it: its job ended before pytest wrote one (see that job's log)"
    return BackendStatus(name, vendor_for_target(name).django_vendor, None, None, CRASHED, reason=reason)


def _results_files_in(results_dir: str | None) -> list[Path]:
    """The *.jsonl files of report's --results-dir."""
    if results_dir is None:
        return []
    folder = Path(results_dir)
    if not folder.is_dir():
        raise PortabilityError(
            detail=f"--results-dir {results_dir!r} is not a folder: pass the folder holding the *.jsonl results files"
        )
    return sorted(folder.glob("*.jsonl"))


@main.command()
@click.argument("results", nargs=-1, type=click.Path(path_type=Path))
@click.option("--results-dir", metavar="DIR", help="Read every *.jsonl file in this folder.")
@click.option("--json", "json_path", metavar="FILE", help="Write the JSON report here.")
@click.option(
    "--backends",
    help="Comma-separated targets that must have a results file (a job that wrote none is crashed, PT102).",
)
@report_options
@baseline_option
@fail_on_option
def report(results, results_dir, backends, json_path, baseline, fail_on, **reports) -> None:
    """Merge results files written by `pytest --portability-results` (one per backend) into one report.

    [tool.portability] fail_on, expected and baseline are read from the current directory's pyproject.toml.
    """
    from harness.backends import derive_status, exit_code, partial_results_findings
    from harness.report.terminal import render_report
    from harness.runner import settle_findings, write_report_files

    console = make_console()
    try:
        table = read_pyproject(Path.cwd())
        threshold = resolve_fail_on(fail_on, table)
        baseline_entries = resolve_baseline(baseline, table, Path.cwd())
        expected_backends = check_setting("backends", backends, "--backends") if backends is not None else []
        report_paths = {
            "json": check_output_file("--json", json_path),
            **check_report_paths(report_paths_from(reports)),
        }
        paths = list(results) + _results_files_in(results_dir)
        if not paths:
            raise PortabilityError(detail="no results files: pass RESULTS... or --results-dir DIR")
        files = sorted((read_results(path) for path in paths), key=_report_order)
        _refuse_two_files_per_target(files)
        hash_seed = _merged_hash_seed(files)
        # Reads the query records test by test: a broken one is found (and refused) here.
        comparison = compare(files)
        settle_findings(comparison, files, table.get("expected", {}), baseline_entries)
    except PortabilityError as error:
        _fail(error)
    statuses = [derive_status(results_file) for results_file in files]
    statuses += [_no_results_file(name) for name in expected_backends if name not in {f.target for f in files}]
    comparison.findings.extend(partial_results_findings(statuses))
    code = exit_code(comparison, statuses, threshold)
    render_report(console, statuses, comparison, threshold)
    write_report_files(console, report_paths, statuses, comparison, code, hash_seed)
    sys.exit(code)


@main.command()
@click.argument("reports", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--output", "-o", default=DEFAULT_BASELINE, show_default=True, metavar="FILE", help="The baseline file to write."
)
@click.option("--project-dir", default=".", show_default=True, help="The project the reports' paths are relative to.")
def baseline(reports, output, project_dir) -> None:
    """Write the findings of JSON reports (of run and migrations) to a baseline file kept in the repository.

    Then `--baseline FILE` (or [tool.portability] baseline) fails a run only on findings not in it.
    """
    from harness.baseline import write_baseline

    def body(console: Console) -> int:
        path = check_output_file("--output", output)
        count = write_baseline(list(reports), path, Path(project_dir))
        console.print(f"baseline: {count} finding(s) written to {path}", markup=False)
        return 0

    _run_command(body)


@main.command()
@click.option("--project-dir", default=".", show_default=True, help="Where [tool.portability] is read from.")
@click.option("--backends", help="Comma-separated targets whose servers are cleaned (default: all configured).")
@click.option("--url", "urls", multiple=True, metavar="TARGET=URL", help="Database URL of a target (repeatable).")
@click.option("--dry-run", is_flag=True, help="Only list the test databases that would be dropped.")
@click.option("--force", is_flag=True, help="Drop them even when their run may still be alive.")
def clean(project_dir, backends, urls, dry_run, force) -> None:
    """Drop the test databases that killed or crashed runs left on the servers.

    Only databases the harness marked when it created them, and only when their run is gone
    (no session connected, worker not running on this host); servers are the ones `run` uses.
    Exit 0 when none is left.
    """
    from harness.cleanup import clean_servers, with_embedded_servers
    from harness.config import resolve_targets, split_names

    def body(console: Console) -> int:
        root = Path(project_dir).resolve()
        if not root.is_dir():
            raise PortabilityError(detail=f"--project-dir {project_dir!r} is not a directory")
        requested = split_names(backends)
        targets = with_embedded_servers(resolve_targets(read_pyproject(root), list(urls), requested), requested)
        return clean_servers(
            targets, requested, dry_run=dry_run, force=force, say=lambda text: console.print(text, markup=False)
        )

    _run_command(body)


@main.group()
def servers() -> None:
    """The embedded PostgreSQL servers `run` starts when no server answers (kept running between runs)."""


@servers.command("list")
def servers_list() -> None:
    """List the embedded servers: version, data folder, whether running; and the installed builds."""
    from harness import embedded

    def body(console: Console) -> int:
        builds = ", ".join(f"PostgreSQL {item.version} ({item.package})" for item in embedded.distributions())
        console.print(f"installed: {builds or 'none (' + embedded.INSTALL_HINT + ')'}", markup=False)
        running = embedded.running_servers()
        for data_dir, pid in running:
            console.print(f"running: {data_dir} (pid {pid})", markup=False)
        if not running:
            console.print(f"running: none (data folder {embedded.base_dir()})", markup=False)
        return 0

    _run_command(body)


@servers.command("stop")
def servers_stop() -> None:
    """Stop every embedded server (their data is kept; the next run starts them again)."""
    from harness import embedded

    def body(console: Console) -> int:
        running = embedded.running_servers()
        for data_dir, _pid in running:
            embedded.stop(data_dir)
            console.print(f"stopped: {data_dir}", markup=False)
        if not running:
            console.print("no embedded server is running", markup=False)
        return 0

    _run_command(body)


if __name__ == "__main__":
    main()
