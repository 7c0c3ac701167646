"""The SARIF 2.1.0 report (``--sarif``), shaped for GitHub code scanning: one run, every code as a rule.

Code scanning needs a file for every result. A finding without a path of its own (a schema difference, a
setup failure, an unmodelled table) is placed, in this order: at the file of its migration (``details.migration``)
when another finding of the report names that migration's path; at the module of its test (the node id's file);
else at ``pyproject.toml``, where the project configures the harness (and silences lint rules); all without a line.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from harness.findings import KINDS
from harness.migrations.lint import RULES

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
INFORMATION_URI = "https://github.com/django-portability/django-portability"
FALLBACK_PATH = "pyproject.toml"
EVIDENCE_CHARS = 200  # each backend's evidence in a result's message is cut to this


def _sentence(text: str) -> str:
    return f"{text[:1].upper()}{text[1:].rstrip('.')}."


def _rule(code: str, name: str, short: str, full: str, hint: str, level: str) -> dict[str, Any]:
    return {
        "id": code,
        "name": name,
        "shortDescription": {"text": short},
        "fullDescription": {"text": full},
        "help": {"text": _sentence(hint), "markdown": f"**{code} `{name}`**: {full}\n\n{_sentence(hint)}"},
        "defaultConfiguration": {"level": level},
    }


def rules() -> list[dict[str, Any]]:
    """Every code the harness reports: the finding kinds (not PM300, which stands for the lint rules), then the
    lint rules."""
    lint = KINDS["migration_lint"]
    kinds = [
        _rule(k.code, k.kind, k.kind.replace("_", " ").capitalize(), _sentence(k.summary), k.hint, k.level)
        for k in KINDS.values()
        if k is not lint
    ]
    lints = [
        _rule(
            r.code,
            r.name,
            f"Migration lint: {r.name}",
            f"Static migration lint rule {r.name}: what will not run alike on every database or breaks a rolling "
            f"deploy ({r.severity} by default).",
            f"{r.hint}; {lint.hint}",
            r.severity,
        )
        for r in RULES
    ]
    return sorted(kinds, key=lambda rule: rule["id"]) + sorted(lints, key=lambda rule: rule["id"])


def _migration_paths(findings: list[dict]) -> dict[str, str]:
    """Migration label → its file, from the findings that carry both."""
    return {
        f["details"]["migration"]: f["location"]["path"]
        for f in findings
        if (f.get("details") or {}).get("migration") and (f.get("location") or {}).get("path")
    }


def _place(finding: dict, migration_paths: dict[str, str]) -> tuple[str, int | None]:
    location = finding.get("location") or {}
    if location.get("path"):
        line = location.get("line")
        return location["path"], line if isinstance(line, int) and line > 0 else None
    migration = (finding.get("details") or {}).get("migration")
    if migration in migration_paths:
        return migration_paths[migration], None
    if finding.get("test"):
        return finding["test"].split("::")[0], None
    return FALLBACK_PATH, None


def fingerprint(finding: dict, path: str) -> str:
    """Stable across runs: code, test, path and message, with every ``:LINE`` taken out of the message."""
    message = re.sub(r"(?<=\S):\d+\b", "", finding["message"])
    key = "\0".join((finding["code"], finding.get("test") or "", path, message))
    return hashlib.sha256(key.encode()).hexdigest()


def _message(finding: dict, default_hint: str) -> str:
    lines = [finding["message"]]
    for backend, evidence in sorted(finding.get("backends", {}).items()):
        text = " ".join(str(evidence.get("message") or "").split())
        text = text if len(text) <= EVIDENCE_CHARS else text[: EVIDENCE_CHARS - 1] + "…"
        outcome = evidence.get("outcome") or ""
        lines.append(f"- {backend}" + (f" ({outcome})" if outcome else "") + (f": {text}" if text else ""))
    if finding.get("hint") and finding["hint"].lower().rstrip(".") not in default_hint.lower():
        lines.append(f"Hint: {finding['hint']}")
    return "\n".join(lines)


def build_sarif(report: dict) -> dict[str, Any]:
    driver_rules = rules()
    index = {rule["id"]: i for i, rule in enumerate(driver_rules)}
    migration_paths = _migration_paths(report["findings"])
    results = []
    for finding in report["findings"]:
        if finding["code"] not in index:  # a code this version does not know (a newer report): a rule of its own
            kind, code = KINDS[finding["kind"]], finding["code"]
            index[code] = len(driver_rules)
            driver_rules.append(
                _rule(code, kind.kind, code, _sentence(kind.summary), finding["hint"], finding["level"])
            )
        rule_index = index[finding["code"]]
        path, line = _place(finding, migration_paths)
        physical: dict[str, Any] = {"artifactLocation": {"uri": quote(path), "uriBaseId": "%SRCROOT%"}}
        if line:
            physical["region"] = {"startLine": line}
        results.append(
            {
                "ruleId": finding["code"],
                "ruleIndex": rule_index,
                "level": finding["level"],
                "message": {"text": _message(finding, driver_rules[rule_index]["help"]["text"])},
                "locations": [{"physicalLocation": physical}],
                "partialFingerprints": {"portability/v1": fingerprint(finding, path)},
                "properties": {
                    "kind": finding["kind"],
                    "test": finding.get("test"),
                    "backends": sorted(finding.get("backends", {})),
                },
            }
        )
    exit_code = report["exit_code"]
    invocation = {
        # Exit code 1 only says findings reached --fail-on: the run itself completed.
        "executionSuccessful": exit_code in (0, 1) and not report.get("partial"),
        "exitCode": exit_code,
        "endTimeUtc": report["generated_at"],
        "toolExecutionNotifications": [
            {"level": "warning", "message": {"text": warning["message"]}} for warning in report.get("warnings", [])
        ],
    }
    tool = report["tool"]
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": tool["name"],
                        "version": tool["version"],
                        "informationUri": INFORMATION_URI,
                        "rules": driver_rules,
                    }
                },
                "originalUriBaseIds": {"%SRCROOT%": {"description": {"text": "the project directory"}}},
                "invocations": [invocation],
                "results": results,
            }
        ],
    }


def write(path: Path, report: dict) -> None:
    with path.open("w") as handle:
        json.dump(build_sarif(report), handle, indent=2)
        handle.write("\n")
