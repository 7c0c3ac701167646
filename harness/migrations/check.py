"""`portability migrations`: apply, reverse, re-apply and introspect on every backend, then compare."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.backends import BackendStatus, exit_code, partial_results_findings
from harness.compare import Comparison
from harness.config import RunConfig
from harness.errors import ConfigError
from harness.execute import Worker, preflight, project_env, run_workers
from harness.findings import Finding
from harness.migrations.compare import migration_findings
from harness.report.progress import WorkerProgress
from harness.report.terminal import render_findings
from harness.runner import print_run_header, probe_targets, settle_findings, worker_status, write_report_file


def worker_command(app: str | None, paths: list[str] | None) -> Any:
    def command(config: RunConfig, worker: Worker) -> list[str]:
        arguments = [
            sys.executable,
            "-m",
            "harness.migrations.worker",
            "--target",
            worker.target.name,
            "--results",
            str(worker.results_path),
        ]
        if app:
            arguments += ["--check-app", app]
        if paths is not None:
            # An empty list checks nothing (no migration changed): the migrations are still applied, and the
            # schema and the models still compared.
            arguments += ["--check-paths", json.dumps(paths)]
        return arguments

    return command


def changed_migration_files(project_dir: Path, since: str) -> list[str]:
    """Migration files added or changed since a git revision (committed or not)."""

    def git(*arguments: str) -> list[str]:
        completed = subprocess.run(["git", "-C", str(project_dir), *arguments], capture_output=True, text=True)
        if completed.returncode != 0:
            said = (completed.stderr.strip().splitlines() or ["no such revision"])[0]
            raise ConfigError(detail=f"--since {since!r}: {said}; pass a revision of the project's git repository")
        return completed.stdout.splitlines()

    git("rev-parse", "--verify", "--quiet", f"{since}^{{commit}}")

    names = git("diff", "--name-only", "--relative", since, "--") + git("ls-files", "--others", "--exclude-standard")
    return sorted(
        {
            name
            for name in names
            if "/migrations/" in f"/{name}"
            and name.endswith(".py")
            and not name.endswith("__init__.py")
            and _defines_a_migration(project_dir / name)
        }
    )


def _defines_a_migration(path: Path) -> bool:
    """Is this file a Django migration (not any module of a package named migrations, nor a deleted file)?"""
    try:
        return re.search(r"^class Migration\(", path.read_text(errors="replace"), re.MULTILINE) is not None
    except OSError:
        return False


def run_migrations_check(
    config: RunConfig,
    console: Console,
    *,
    app: str | None,
    since: str | None,
    show_plan: bool,
    ignore: list[str],
    results_dir: Path | None = None,
) -> int:
    """Check the project's migrations on every available target; render; return the exit code."""
    preflight(config, app=app)
    paths = changed_migration_files(config.project_dir, since) if since else None
    linted_for = [target.name for target in config.targets]  # before unanswered default targets are dropped
    ready, unavailable = probe_targets(config)
    print_run_header(console, config)
    if paths is not None:
        console.print(
            f"checking {len(paths)} migration file(s) changed since {since}: {', '.join(paths) or '-'}", markup=False
        )
    holder = nullcontext(str(results_dir)) if results_dir else tempfile.TemporaryDirectory(prefix="portability-")
    with holder as directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        with WorkerProgress(console) as progress:
            workers = run_workers(config, ready, Path(directory), progress.update, worker_command(app, paths))
        results = [worker.results for worker in workers if worker.results.header]
        findings = migration_findings(results)
        servers = {name: (None, None) for name in linted_for}
        servers.update(
            {result.target: (result.header.get("product"), result.header.get("server_version")) for result in results}
        )
        findings += run_lint(config, app, paths, ignore, servers)
        statuses = {**unavailable, **{worker.target.name: _status(worker) for worker in workers}}
    backends = [statuses[target.name] for target in config.targets]
    findings += partial_results_findings(backends)
    comparison = Comparison(backends=[result.target for result in results], findings=findings)
    settle_findings(comparison, [], config.expected, config.baseline, config.project_dir, family="PM")
    code = exit_code(comparison, backends, config.fail_on)
    render_migration_backends(console, backends)
    if show_plan:
        render_plan(console, results)
    render_findings(console, comparison, config.fail_on)
    write_report_file(console, config, backends, comparison, code)
    return code


def run_lint(
    config: RunConfig,
    app: str | None,
    paths: list[str] | None,
    ignore: list[str],
    servers: dict[str, tuple[str | None, str | None]],
) -> list[Finding]:
    """The static lint rules, run once in a child process with the project's settings, for ``servers``
    (target → the product and version it reached, or (None, None): what the target expects)."""

    command = [
        sys.executable,
        "-m",
        "harness.migrations.lint",
        "--settings",
        config.settings,
        "--project-dir",
        str(config.project_dir),
    ]
    if app:
        command += ["--app", app]
    for code in ignore:
        command += ["--ignore", code]
    for target, (product, version) in servers.items():
        command += ["--server", f"{target}={product or ''}:{version or ''}"]  # lint.parse_server reads it
    completed = subprocess.run(
        command, cwd=config.project_dir, env=project_env(config), capture_output=True, text=True, timeout=300
    )
    if completed.returncode != 0:
        raise ConfigError(detail=f"migration lint failed: {(completed.stderr.strip().splitlines() or ['?'])[-1]}")
    linted = json.loads(completed.stdout)
    findings = []
    if app is None and paths is None:  # every migration was linted: an entry that silenced nothing is stale
        findings += [
            Finding(
                kind="unused_declaration",
                location=None,
                message=f"the lint ignore entry {item!r} (--ignore or migrations_ignore) matches nothing: remove it",
                backends={},
                details={"ignore": item},
            )
            for item in linted["unused_ignores"]
        ]
    for item in linted["findings"]:
        if paths is not None and item["path"] not in paths:
            continue
        findings.append(
            Finding(
                kind="migration_lint",
                test=None,
                location={"path": item["path"], "line": item.get("line")},
                message=f"{item['migration']}: {item['message']}",
                backends={target: {"outcome": item["severity"], "message": item["rule"]} for target in item["targets"]},
                details={
                    "code": item["code"],
                    "rule": item["rule"],
                    "hint": item["hint"],
                    "migration": item["migration"],
                    "severity": item["severity"],
                    "hits": item.get("hits", 1),
                },
            )
        )
    return findings


def _status(worker: Worker) -> BackendStatus:
    results = worker.results
    status = worker_status(worker)
    steps = [record for record in results.other.get("migration", []) if record["phase"] == "apply"]
    status.counts = {
        "applied": sum(step["status"] == "applied" for step in steps),
        "failed": sum(step["status"] == "failed" for step in steps),
        "skipped": sum(step["status"] == "skipped" for step in steps),
    }
    return status


def render_migration_backends(console: Console, backends: list[BackendStatus]) -> None:
    from rich.table import Table

    table = Table(title="Backends", title_justify="left")
    for column in ("backend", "server", "status", "applied", "failed", "skipped", "time"):
        table.add_column(column, justify="right" if column in ("applied", "failed", "skipped", "time") else "left")
    for backend in backends:
        counts = backend.counts
        table.add_row(
            backend.name,
            backend.server,
            backend.status,
            *(str(counts[key]) if counts else "-" for key in ("applied", "failed", "skipped")),
            f"{backend.duration:.1f}s" if backend.duration is not None else "-",
        )
    console.print(table)
    for backend in backends:
        if backend.reason:
            console.print(f"  {backend.name}: {backend.status} at {backend.url}: {backend.reason}", markup=False)


def render_plan(console: Console, results: list[Any]) -> None:
    """Per migration, each target's SQL side by side (as `sqlmigrate` would show it)."""
    by_migration: dict[str, dict[str, list[str]]] = {}
    for result in results:
        for step in result.other.get("migration", []):
            if step["phase"] == "apply" and step.get("sql"):
                by_migration.setdefault(step["migration"], {})[result.target] = step["sql"]
    for migration, per_target in by_migration.items():
        console.print(f"[bold]{migration}[/]")
        for target, statements in per_target.items():
            console.print(f"  {target}:", markup=False)
            for statement in statements:
                console.print(f"    {statement}", markup=False, style="dim")
