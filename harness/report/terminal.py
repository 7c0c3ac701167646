"""The terminal report: a table of backends, then every finding with its evidence per backend."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from harness.backends import RAN, BackendStatus
from harness.compare import Comparison
from harness.results import ERROR, FAILED, PASSED, SKIPPED, XFAILED, XPASSED

STATUS_STYLE = {RAN: "green"}


def render_backends(console: Console, backends: list[BackendStatus]) -> None:
    table = Table(title="Backends", title_justify="left")
    for column in ("backend", "server", "status", "passed", "failed", "errors", "skipped", "xfail", "time"):
        table.add_column(column, justify="right" if column in ("passed", "failed", "errors", "skipped", "xfail", "time") else "left")
    for backend in backends:
        counts = backend.counts
        ran = bool(counts)
        status = Text(backend.status, style=STATUS_STYLE.get(backend.status, "yellow"))
        if backend.reason:
            status.append(f": {backend.reason}", style="dim")
        table.add_row(
            backend.name,
            backend.server,
            status,
            *(str(counts.get(outcome, 0)) if ran else "-" for outcome in (PASSED, FAILED, ERROR, SKIPPED)),
            str(counts.get(XFAILED, 0) + counts.get(XPASSED, 0)) if ran else "-",
            f"{backend.duration:.1f}s" if backend.duration is not None else "-",
        )
    console.print(table)


def render_findings(console: Console, comparison: Comparison) -> None:
    if not comparison.findings:
        console.print(f"[green]No findings[/]: {len(comparison.matrix)} tests behave the same on {', '.join(comparison.backends)}.")
        return
    console.print(f"[bold red]{len(comparison.findings)} finding(s)[/]")
    for finding in comparison.findings:
        where = ""
        if finding.location and finding.location.get("path"):
            line = finding.location.get("line")
            where = f" {finding.location['path']}" + (f":{line}" if line else "")
        subject = finding.test or ""
        console.print(Text.assemble((f"{finding.code} {finding.kind}", "bold red"), where, " ", (subject, "bold")))
        console.print(f"  {finding.message}", markup=False)
        for backend, evidence in sorted(finding.backends.items()):
            message = evidence.get("message") or ""
            console.print(f"    {backend:<11} {evidence.get('outcome', ''):<8} {message}", markup=False, highlight=False)
        console.print(f"  hint: {finding.hint}", style="dim", markup=False)
