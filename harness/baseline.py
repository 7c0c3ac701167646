"""Baselines: today's findings kept in the repository, so a run fails only on new ones.

``portability baseline REPORT.json...`` writes the findings of JSON reports (of `run` and
`migrations`) to a baseline file. With ``--baseline FILE`` (or ``baseline`` in
``[tool.portability]``), a finding found in it is *known* (level note) and the run fails only on the
others; baseline entries that no longer happen are listed (PT107, a note: refresh the baseline).

A finding is matched by its code, its test, its file and the text of its call-site line (not the
line number: the code above it may move), or, without a line, by its message with line numbers
taken out.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from harness import __version__
from harness.errors import ConfigError
from harness.findings import NOTE, Finding

BASELINE_VERSION = 1
DEFAULT_FILE = "portability-baseline.json"
_LINE_NUMBER = re.compile(r"(?<=\.py):\d+|\bline \d+")
KNOWN_PREFIX = "known (in the baseline): "
# Findings about the run itself or about declarations, never the code: not baselined.
NOT_BASELINED = frozenset({"setup_failure", "unexpected_success", "unused_declaration", "baseline_resolved"})


@dataclass(frozen=True)
class Entry:
    code: str
    test: str
    path: str
    site: str  # the call site's source line (stripped), or the message without line numbers

    @classmethod
    def of(cls, code: str, test: str | None, location: dict[str, Any] | None, message: str, project_dir: Path) -> Entry:
        """The entry of a finding, from its code, test, location and message."""
        path, line = (location or {}).get("path") or "", (location or {}).get("line")
        site = _source_line(project_dir / path, line) if path and line else None
        if site is None:
            site = _LINE_NUMBER.sub("", message.removeprefix(KNOWN_PREFIX))
        return cls(code, test or "", path, site)

    def describe(self) -> str:
        where = " @ ".join(part for part in (self.test, self.path) if part)
        return f"{self.code} {where}: {self.site[:80]}".strip()


def _source_line(path: Path, line: int) -> str | None:
    lines = _source_lines(path)
    return lines[line - 1].strip() if lines is not None and 0 < line <= len(lines) else None


@lru_cache(maxsize=256)
def _source_lines(path: Path) -> list[str] | None:
    """A source file's lines, read once for all the findings in it."""
    try:
        return path.read_text(errors="replace").splitlines()
    except OSError:
        return None


def write_baseline(report_paths: list[Path], output: Path, project_dir: Path) -> int:
    """Write the findings of the JSON reports to ``output``; return how many."""
    entries = []
    for path in report_paths:
        try:
            report = json.loads(path.read_text())
            findings = report["findings"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ConfigError(
                detail=f"{path}: not a portability JSON report ({error}): pass a file written by --json"
            ) from None
        entries += [
            Entry.of(
                finding["code"], finding.get("test"), finding.get("location"), finding.get("message", ""), project_dir
            )
            for finding in findings
            if finding.get("kind") not in NOT_BASELINED and not finding.get("details", {}).get("declared")
        ]
    output.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "baseline_version": BASELINE_VERSION,
        "tool": {"name": "portability", "version": __version__},
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "findings": sorted((entry.__dict__ for entry in entries), key=lambda e: tuple(e.values())),
    }
    output.write_text(json.dumps(document, indent=2) + "\n")
    return len(entries)


def read_baseline(path: Path, source: str = "--baseline") -> list[Entry]:
    """The entries of a baseline file; a missing or malformed one is a one-line error."""
    try:
        document = json.loads(path.read_text())
        if document.get("baseline_version") != BASELINE_VERSION:
            raise ValueError(f"baseline_version {document.get('baseline_version')!r} is not {BASELINE_VERSION}")
        return [Entry(**entry) for entry in document["findings"]]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise ConfigError(
            detail=f"{source} {str(path)!r}: not a portability baseline ({error}); write one with "
            "`portability baseline REPORT.json`"
        ) from None


def apply(findings: list[Finding], entries: list[Entry], project_dir: Path, family: str) -> list[Finding]:
    """Mark the findings the baseline knows (level note); return the PT107 note for its entries of this
    command's ``family`` of codes ("PT": run and report, "PM": migrations) that are gone, if any."""
    remaining = Counter(entry for entry in entries if entry.code.startswith(family))
    for finding in findings:
        entry = Entry.of(finding.code, finding.test, finding.location, finding.message, project_dir)
        if remaining[entry] > 0 and not finding.details.get("declared"):
            remaining[entry] -= 1
            finding.details.update(severity=NOTE, baseline="known")
            finding.message = f"{KNOWN_PREFIX}{finding.message}"
    gone = list(remaining.elements())
    if not gone:
        return []
    listed = "; ".join(entry.describe() for entry in gone[:10]) + ("; …" if len(gone) > 10 else "")
    return [
        Finding(
            kind="baseline_resolved",
            location=None,
            message=f"{len(gone)} finding(s) of the baseline no longer happen: {listed}",
            backends={},
            details={"gone": [entry.__dict__ for entry in gone]},
        )
    ]
