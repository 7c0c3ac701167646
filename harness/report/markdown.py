"""The Markdown summary (``--markdown``): a pull-request comment or a ``$GITHUB_STEP_SUMMARY``.

A headline with the result, the backends table, the findings counted by code, then the first findings (highest
level first) with their evidence per backend folded in ``<details>``. Text from the run is escaped (Markdown, HTML,
@mentions); SQL goes in fenced blocks. Whole findings are left out, never part of a code block, to stay under
GitHub's comment limit (65,536 characters), and the summary says how many.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from pathlib import Path
from typing import Any

from harness.backends import COMPLETE, NEVER_STARTED, RAN
from harness.errors import EXIT_NO_TESTS, EXIT_SAME
from harness.findings import LEVELS
from harness.report.terminal import COUNT_COLUMNS

MAX_CHARS = 60_000  # GitHub's limit is 65,536: room for what a workflow wraps around it
FIRST_FINDINGS = 20
TEXT_CHARS, SQL_CHARS, MISSING_SHOWN = 1_000, 2_000, 5
MIGRATION_COLUMNS = ("applied", "failed", "skipped")
# Markdown's (and GitHub's: ~strike~, $math$) punctuation, HTML's, newlines, and @mentions (a code span never pings).
SPECIAL = re.compile(r"(?<![\w`])@\w[\w-]*|[\\`*_\[\]|~$<>&]|\r\n|\n|\r")


def write(path: Path, report: dict[str, Any]) -> None:
    path.write_text(render(report), encoding="utf-8")


def render(report: dict[str, Any]) -> str:
    findings = sorted(report["findings"], key=lambda finding: -LEVELS.index(finding["level"]))
    head = "\n\n".join(
        part
        for part in (headline(report), partial_banner(report), backends_table(report), harness_warnings(report))
        if part
    )
    if findings:
        head += "\n\n#### Findings by code\n\n" + codes_table(findings) + "\n\n#### Findings"
    blocks: list[str] = []
    size = len(head) + 300  # the "more" line
    for number, finding in enumerate(findings[:FIRST_FINDINGS], 1):
        block = finding_block(number, finding)
        if size + len(block) + 2 > MAX_CHARS:
            break
        blocks.append(block)
        size += len(block) + 2
    left = len(findings) - len(blocks)
    more = ""
    if left:
        why = " (cut to stay under GitHub's comment limit)" if len(blocks) < min(len(findings), FIRST_FINDINGS) else ""
        more = f"… and {left} more finding(s) not shown here{why}: the JSON report (`--json`) has every one."
    return "\n\n".join(part for part in (head, *blocks, more) if part) + "\n"


def is_migrations(report: dict[str, Any]) -> bool:
    """`portability migrations` counts applied/failed/skipped per backend and has no tests."""
    if any("applied" in backend["counts"] for backend in report["backends"]):
        return True
    return not report["tests"] and any(finding["code"].startswith("PM") for finding in report["findings"])


def headline(report: dict[str, Any]) -> str:
    findings, exit_code = report["findings"], report["exit_code"]
    if findings:
        counts = Counter(finding["level"] for finding in findings)
        result = ", ".join(
            f"{counts[level]} {level}{'s' * (counts[level] > 1)}" for level in LEVELS[::-1] if counts[level]
        )
    elif exit_code == EXIT_NO_TESTS:
        result = "no tests collected on any backend"
    else:
        result = "no differences"
    icon = ":white_check_mark:" if exit_code == EXIT_SAME else ":x:"
    what = "migrations" if is_migrations(report) else "tests"
    partial = " (partial)" if report.get("partial") else ""
    names = ", ".join(backend["name"] for backend in report["backends"])
    scope = f"{len(report['tests'])} test(s)" if what == "tests" else "migrations"
    passing = " (no finding at or above --fail-on)" if findings and exit_code == EXIT_SAME else ""
    tool = report.get("tool", {})
    return (
        f"### {icon} Portability {what}: {result}{partial}\n\n"
        f"{scope} on {text(names)} · exit code {exit_code}{passing} · "
        f"{text(tool.get('name', 'portability'))} {text(tool.get('version', ''))} · {text(report['generated_at'])}"
    )


def partial_banner(report: dict[str, Any]) -> str:
    """Never mistaken for a clean run (as the terminal's PARTIAL banner)."""
    if not report.get("partial"):
        return ""
    stopped = [
        f"{backend['name']} {backend['status']}"
        for backend in report["backends"]
        if backend["status"] not in COMPLETE | NEVER_STARTED
    ]
    noun = "migrations" if is_migrations(report) else "tests"
    return (
        f"> :warning: **PARTIAL**: {text(', '.join(stopped) or 'interrupted')}: "
        f"these results cover only the {noun} that ran before the stop"
    )


def backends_table(report: dict[str, Any]) -> str:
    migrations = is_migrations(report)
    columns = MIGRATION_COLUMNS if migrations else tuple(name for name, _ in COUNT_COLUMNS)
    lines = [
        "| backend | server | status | " + " | ".join(columns) + " | time |",
        "|---|---|---|" + "---:|" * (len(columns) + 1),
    ]
    for backend in report["backends"]:
        counts = backend["counts"]
        if migrations:
            values = [counts.get(column, 0) for column in columns]
        else:
            values = [sum(counts.get(outcome, 0) for outcome in outcomes) for _, outcomes in COUNT_COLUMNS]
        server = f"{backend['product']} {backend['version'] or ''}" if backend.get("product") else "-"
        status = text(backend["status"]) if backend["status"] == RAN else f"**{text(backend['status'])}**"
        duration = backend.get("duration")
        cells = [
            text(backend["name"]),
            text(server.strip()),
            status,
            *(str(value) if counts else "-" for value in values),
            f"{duration:.1f}s" if duration is not None else "-",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    reasons = [
        f"- **{text(backend['name'])}**: {text(backend['status'])} at {text(backend.get('url', ''))}: "
        f"{text(backend['reason'])}"
        for backend in report["backends"]
        if backend.get("reason")
    ]
    return "\n".join(lines) + ("\n\n" + "\n".join(reasons) if reasons else "")


def harness_warnings(report: dict[str, Any]) -> str:
    """Problems of the harness itself (the query recorder's errors), not of the code under test."""
    warnings = report.get("warnings") or []
    lines = [f"- {text(warning.get('backend', ''))}: {text(warning.get('message', ''))}" for warning in warnings[:5]]
    if len(warnings) > 5:
        lines.append(f"- … and {len(warnings) - 5} more")
    return "#### Harness warnings\n\n" + "\n".join(lines) if lines else ""


def codes_table(findings: list[dict[str, Any]]) -> str:
    counts = Counter(
        (finding["code"], finding["level"], finding["kind"], finding["details"].get("rule", "")) for finding in findings
    )
    lines = ["| code | level | kind | findings |", "|---|---|---|---:|"]
    for (code, level, kind, rule), count in sorted(counts.items(), key=lambda item: (-LEVELS.index(item[0][1]), item)):
        label = f"{kind}: {rule}" if rule else kind
        lines.append(f"| {text(code)} | {text(level)} | {text(label)} | {count} |")
    return "\n".join(lines)


def finding_block(number: int, finding: dict[str, Any]) -> str:
    """The finding in a line or two; its evidence per backend, SQL and hint folded in <details>."""
    location = finding.get("location") or {}
    where = location.get("path") or ""
    if where and location.get("line"):
        where += f":{location['line']}"
    head = f"**{number}. {text(finding['code'])} {text(finding['level'])}** {text(finding['kind'])}"
    head += f" at {code(where)}" if where else ""
    lines = [f"{head}: {text(finding['message'])}"]
    if finding.get("test"):
        lines += ["", f"test {code(finding['test'])}"]
    names = ", ".join(sorted(finding["backends"]))
    lines += ["", f"<details><summary>evidence per backend: {html.escape(names)}</summary>", ""]
    lines += evidence(finding["backends"])
    query = finding["details"].get("query")
    if query:
        lines += ["", f"first differing query, at {code(query.get('site') or '?')}: {text(query.get('message', ''))}"]
        lines += ["", *evidence(query.get("backends") or {})]
        if query.get("cause"):
            lines += ["", f"likely cause: {text(query['cause'])}"]
        if query.get("hint"):
            lines += ["", f"query hint: {text(query['hint'])}"]
    lines += ["", f"hint: {text(finding['hint'])}", "", "</details>"]
    return "\n".join(lines)


def evidence(backends: dict[str, dict[str, Any]]) -> list[str]:
    """One line per backend (outcome and message), then each distinct SQL once, with the backends that ran it."""
    lines = []
    for name, item in sorted(backends.items()):
        outcome = f" {text(item['outcome'])}" if item.get("outcome") else ""
        lines.append(f"- **{text(name)}**{outcome}: {text(item.get('message') or '-')}")
        missing = item.get("missing") or []
        lines += [f"  - not collected here: {code(nodeid)}" for nodeid in missing[:MISSING_SHOWN]]
        if len(missing) > MISSING_SHOWN:
            lines.append(f"  - … and {len(missing) - MISSING_SHOWN} more")
    by_sql: dict[str, list[str]] = {}
    for name, item in sorted(backends.items()):
        if item.get("sql"):
            by_sql.setdefault(item["sql"], []).append(name)
    for sql, names in by_sql.items():
        lines += ["", f"SQL on {text(', '.join(names))}:", "", fence(sql)]
    return lines


def text(value: object, limit: int = TEXT_CHARS) -> str:
    """Plain text for Markdown outside code (tables included): nothing in it is markup, a link or a mention."""
    value = str(value)
    if len(value) > limit:
        value = value[:limit] + "…"

    def escape(match: re.Match[str]) -> str:
        token = match.group()
        if token.startswith("@") and len(token) > 1:
            return code(token)
        if token in "<>&":
            return html.escape(token)
        return "<br>" if token in ("\r\n", "\n", "\r") else "\\" + token

    return SPECIAL.sub(escape, value)


def code(value: object, limit: int = TEXT_CHARS) -> str:
    """An inline code span that holds any text (backticks in it get a longer delimiter); on one line."""
    value = " ".join(str(value).splitlines())
    if len(value) > limit:
        value = value[:limit] + "…"
    ticks = "`" * (max(map(len, re.findall("`+", value)), default=0) + 1)
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    return f"{ticks}{pad}{value}{pad}{ticks}"


def fence(sql: str, language: str = "sql") -> str:
    """A fenced code block, closed whatever the SQL holds; long SQL cut inside it, saying how much."""
    if len(sql) > SQL_CHARS:
        sql = f"{sql[:SQL_CHARS]}\n-- … {len(sql) - SQL_CHARS} more characters"
    ticks = "`" * max(3, max(map(len, re.findall("`+", sql)), default=0) + 1)
    return f"{ticks}{language}\n{sql.rstrip()}\n{ticks}"
