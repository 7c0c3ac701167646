"""The report files `run`, `migrations` and `report` can write, each from the same report model.

The model is the JSON report's dict (:func:`harness.report.json_report.build_report`, documented in
docs/report-schema.md). A format is one module under harness/report/ with a
``write(path: Path, report: dict) -> None``; adding one means a line in :data:`FORMATS`, never a
change to the commands, which get one ``--NAME FILE`` option per format from :func:`report_options`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any

import click


@dataclass(frozen=True)
class ReportFormat:
    name: str  # the option is --NAME
    label: str  # as the terminal names the file it wrote
    module: str  # harness.report.<module>.write(path, report)
    help: str

    @property
    def option(self) -> str:
        return f"--{self.name}"

    def write(self, path: Path, report: dict[str, Any]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        import_module(f"harness.report.{self.module}").write(path, report)


FORMATS: tuple[ReportFormat, ...] = (
    ReportFormat("json", "JSON", "json_report", "Write the JSON report here."),
    ReportFormat(
        "junit",
        "JUnit",
        "junit",
        "Write a JUnit XML report here (one testcase per test and backend, and per finding).",
    ),
    ReportFormat("sarif", "SARIF", "sarif", "Write a SARIF 2.1.0 report here (code scanning)."),
    ReportFormat(
        "markdown",
        "Markdown",
        "markdown",
        "Write a Markdown summary here (a pull-request comment, $GITHUB_STEP_SUMMARY).",
    ),
    ReportFormat("html", "HTML", "html", "Write a self-contained HTML report here."),
)
BY_NAME = {report_format.name: report_format for report_format in FORMATS}


def report_options(command: Callable) -> Callable:
    """One ``--NAME FILE`` option per format but JSON (each command has its own --json); the command gets them
    as ``report_<name>`` arguments, read back with :func:`report_paths_from`."""
    for report_format in reversed(FORMATS[1:]):
        command = click.option(
            report_format.option,
            f"report_{report_format.name}",
            metavar="FILE",
            help=report_format.help,
        )(command)
    return command


def report_paths_from(options: dict[str, Any]) -> dict[str, str | None]:
    """Pop the report options click passed to a command: {format name: path or None}."""
    return {report_format.name: options.pop(f"report_{report_format.name}", None) for report_format in FORMATS[1:]}


def write_reports(paths: dict[str, Path | None], report: dict[str, Any]) -> list[tuple[ReportFormat, Path]]:
    """Write every requested report (format name → path; None: not asked); return what was written, in FORMATS
    order."""
    written = []
    for report_format in FORMATS:
        path = paths.get(report_format.name)
        if path is not None:
            report_format.write(path, report)
            written.append((report_format, path))
    return written
