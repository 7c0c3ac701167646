"""The terminal report: a table of backends, then every finding with its evidence per backend."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from harness.backends import COMPLETE, NEVER_STARTED, RAN, BackendStatus
from harness.compare import Comparison
from harness.findings import LEVELS, Finding, findings_exit_code
from harness.results import ERROR, FAILED, PASSED, SKIPPED, XFAILED, XPASSED

COUNT_COLUMNS = (
    ("passed", (PASSED,)),
    ("failed", (FAILED,)),
    ("errors", (ERROR,)),
    ("skipped", (SKIPPED,)),
    ("xfail", (XFAILED, XPASSED)),
)
LEVEL_STYLES = {"error": "bold red", "warning": "bold yellow", "note": "bold cyan"}


def make_console() -> Console:
    """A console that keeps tables readable in CI logs, where there is no terminal width."""
    console = Console(highlight=False, soft_wrap=True)
    if not console.is_terminal:
        console.width = 120
    return console


def render_backends(console: Console, backends: list[BackendStatus]) -> None:
    table = Table(title="Backends", title_justify="left")
    table.add_column("backend")
    table.add_column("server")
    table.add_column("status")
    for column, _ in COUNT_COLUMNS:
        table.add_column(column, justify="right")
    table.add_column("time", justify="right")
    for backend in backends:
        ran = bool(backend.counts)
        table.add_row(
            backend.name,
            backend.server,
            Text(backend.status, style="green" if backend.status == RAN else "yellow"),
            *(
                str(sum(backend.counts.get(outcome, 0) for outcome in outcomes)) if ran else "-"
                for _, outcomes in COUNT_COLUMNS
            ),
            f"{backend.duration:.1f}s" if backend.duration is not None else "-",
        )
    console.print(table)
    for backend in backends:
        if backend.reason:
            where = f" at {backend.url}" if backend.url else ""
            console.print(f"  {backend.name}: {backend.status}{where}: {backend.reason}", markup=False)


def partial_backends(backends: list[BackendStatus]) -> list[BackendStatus]:
    """Backends that started but whose results are partial (interrupted, lost, timed out, crashed)."""
    return [backend for backend in backends if backend.status not in COMPLETE | NEVER_STARTED]


def render_report(
    console: Console, backends: list[BackendStatus], comparison: Comparison, fail_on: str, interrupted: bool = False
) -> None:
    """The backends table and every finding, between two PARTIAL banners when the run is not whole."""
    render_partial(console, backends, interrupted)
    render_backends(console, backends)
    render_findings(console, comparison, fail_on)
    render_partial(console, backends, interrupted)


def render_partial(console: Console, backends: list[BackendStatus], interrupted: bool = False) -> None:
    """A banner when the report covers only part of the run: never mistaken for a clean one."""
    partial = partial_backends(backends)
    if not interrupted and not partial:
        return
    what = "interrupted" if interrupted else ", ".join(f"{backend.name} {backend.status}" for backend in partial)
    console.print(
        f"PARTIAL: {what}: these results cover only the tests that ran before the stop", style="bold red", markup=False
    )


def level_summary(findings: list[Finding]) -> str:
    """E.g. "3 finding(s): 1 error, 1 warning, 1 note" (highest level first)."""
    counts = {level: sum(finding.level == level for finding in findings) for level in reversed(LEVELS)}
    parts = [f"{count} {level}{'s' if count > 1 else ''}" for level, count in counts.items() if count]
    return f"{len(findings)} finding(s): {', '.join(parts)}"


def render_findings(console: Console, comparison: Comparison, fail_on: str | None = None) -> None:
    for warning in comparison.warnings:
        console.print(f"portability: warning: {warning['message']}", style="yellow", markup=False)
    if not comparison.findings and comparison.collected_nothing:
        console.print(
            f"No tests collected on any backend ({', '.join(comparison.backends)}): nothing was tested (exit code "
            "5); check the test paths ([tool.portability] tests, pytest's testpaths) and the arguments after --",
            style="red",
            markup=False,
        )
        return
    if not comparison.findings and not comparison.matrix:
        console.print(f"[green]No findings[/] on {', '.join(comparison.backends)}.")
        return
    if not comparison.findings:
        failing = sum(
            1 for row in comparison.matrix.values() if any(r.outcome in (FAILED, ERROR) for r in row.values())
        )
        console.print(
            f"[green]No findings[/]: {len(comparison.matrix)} tests behave the same on "
            f"{', '.join(comparison.backends)}"
            + (f" [yellow](but {failing} of them fail on every backend)[/]." if failing else ".")
        )
        return
    highest = max((finding.level for finding in comparison.findings), key=LEVELS.index)
    console.print(level_summary(comparison.findings), style=LEVEL_STYLES[highest], markup=False)
    if fail_on and not findings_exit_code(comparison.findings, fail_on):
        console.print(f"  none at or above --fail-on {fail_on}: exit code 0", markup=False)
    for finding in comparison.findings:
        where = ""
        if finding.location and finding.location.get("path"):
            line = finding.location.get("line")
            where = f" {finding.location['path']}" + (f":{line}" if line else "")
        console.print(
            Text.assemble(
                (finding.code, "bold"), " ", (finding.level, LEVEL_STYLES[finding.level]), f" {finding.kind}", where
            )
        )
        if finding.test:
            console.print(f"  test: {finding.test}", markup=False)
        console.print(f"  {finding.message}", markup=False)
        render_evidence(console, finding.backends)
        query = finding.details.get("query")
        if query:
            console.print(f"  first differing query, at {query['site']}: {query['message']}", markup=False)
            render_evidence(console, query["backends"])
            if query.get("cause"):
                console.print(f"  likely cause: {query['cause']}", markup=False)
            if query.get("hint"):
                console.print(f"  query hint: {query['hint']}", markup=False)
        console.print(f"  hint: {finding.hint}", style="dim", markup=False)


def render_evidence(console: Console, backends: dict[str, dict]) -> None:
    """Each backend's outcome and message, then its SQL when it differs from the others'."""
    for backend, evidence in sorted(backends.items()):
        message = evidence.get("message") or ""
        console.print(f"    {backend:<11} {evidence.get('outcome', ''):<8} {message}", markup=False)
        for nodeid in evidence.get("missing", [])[:5]:
            console.print(f"      not collected here: {nodeid}", markup=False)
    for backend, evidence in sorted(backends.items()):
        if evidence.get("sql"):
            sql = " ".join(evidence["sql"].split())
            console.print(f"      sql {backend:<11} {sql[:300]}", style="dim", markup=False)
