"""Fold pytest's per-phase reports into one outcome and a one-line message per test."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

import pytest

from harness.paths import is_library_path
from harness.results import ERROR, FAILED, PASSED, SKIPPED, XFAILED, XPASSED

MAX_MESSAGE = 1000


def fold_outcome(reports: Sequence[pytest.TestReport]) -> tuple[str, str]:
    """Return (outcome, message) for one test from its setup/call/teardown reports.

    A test can have several call reports (unittest subtests); any failure among them fails the test.
    """
    outcome, message = PASSED, ""
    for report in reports:
        if outcome in (FAILED, ERROR):
            break
        expected_failure = hasattr(report, "wasxfail")
        if report.failed:
            outcome = FAILED if report.when == "call" else ERROR
            prefix = "" if report.when == "call" else f"error in {report.when}: "
            message = prefix + describe_failure(report)
        elif report.skipped and (report.when == "setup" or report.when == "call"):
            outcome = XFAILED if expected_failure else SKIPPED
            message = report.wasxfail if expected_failure else describe_failure(report)
        elif report.when == "call" and expected_failure:
            outcome = XPASSED
    return outcome, message


def describe_failure(report: pytest.BaseReport) -> str:
    """The failure as one line: the exception and where the project's code raised it, or the skip reason."""
    longrepr = report.longrepr
    if longrepr is None:
        return ""
    if isinstance(longrepr, tuple):  # a skip: (path, line, reason)
        text = str(longrepr[2]).removeprefix("Skipped: ")
    elif getattr(longrepr, "reprcrash", None) is not None:
        text = longrepr.reprcrash.message
        location = _project_location(longrepr)
        if location:
            text = f"{text} ({location})"
    else:
        lines = str(longrepr).strip().splitlines()
        text = lines[-1] if lines else ""
    return " ".join(text.split())[:MAX_MESSAGE]


def _project_location(longrepr: object) -> str | None:
    """path:line of the innermost traceback entry in the project's own code."""
    entries = getattr(getattr(longrepr, "reprtraceback", None), "reprentries", [])
    for entry in reversed(entries):
        location = getattr(entry, "reprfileloc", None)
        if location is not None and not is_library_path(location.path):
            return f"{location.path}:{location.lineno}"
    return None


# In a collection error's text: `File "PATH", line N` (a SyntaxError) and `PATH:N: in <module>` (a traceback entry).
_SYNTAX_ERROR_AT = re.compile(r'File "(?P<path>[^"]+)", line (?P<line>\d+)')
_TRACEBACK_ENTRY = re.compile(r"^(?P<path>\S+\.py):(?P<line>\d+): in ")


def describe_collection_error(report: pytest.CollectReport, rootdir: str) -> tuple[str, dict]:
    """A module that failed to import: the error as one line, and the project's file:line that raised it.

    pytest hands over only the formatted text for import and syntax errors, so it is read from there.
    """
    text = str(report.longrepr or "")
    error_lines = [line[1:].strip() for line in text.splitlines() if line.startswith("E ")]
    message = error_lines[-1] if error_lines else (text.strip().splitlines() or [""])[-1]
    path, line = report.fspath, None
    syntax = _SYNTAX_ERROR_AT.search("\n".join(error_lines))
    entries = [match for match in map(_TRACEBACK_ENTRY.match, text.splitlines()) if match]
    project_entries = [match for match in entries if not is_library_path(match["path"])]
    found = syntax or (project_entries[-1] if project_entries else None)
    if found:
        path, line = found["path"], int(found["line"])
    if os.path.isabs(path) and path.startswith(os.path.join(rootdir, "")):
        path = os.path.relpath(path, rootdir)
    message = " ".join(message.split())[:MAX_MESSAGE]
    return (f"{message} ({path}:{line})" if line else message), {"path": path, "line": line}
