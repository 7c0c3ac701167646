"""Finding levels (SARIF's error, warning, note) and the --fail-on decision, without servers."""

from __future__ import annotations

import pytest

from harness.findings import KINDS, LEVELS, Finding, findings_exit_code, reaches
from harness.report.terminal import level_summary

# The documented level of every code (docs/report-schema.md); changing one is a contract change.
EXPECTED_LEVELS = {
    "PT101": "error",
    "PT102": "error",
    "PT103": "error",
    "PT104": "note",
    "PT105": "warning",
    "PT106": "warning",
    "PT107": "note",
    "PT201": "warning",
    "PT202": "warning",
    "PT203": "warning",
    "PT204": "note",
    "PM101": "error",
    "PM102": "error",
    "PM103": "warning",
    "PM104": "warning",
    "PM105": "note",
    "PM300": "warning",
}


def finding(kind: str, **details: object) -> Finding:
    return Finding(kind=kind, message="m", backends={}, details=dict(details))


def test_every_kind_has_its_documented_level() -> None:
    assert {kind.code: kind.level for kind in KINDS.values()} == EXPECTED_LEVELS


def test_pt204_is_registered_as_a_note_with_a_hint() -> None:
    kind = KINDS["unordered_order_divergence"]
    assert (kind.code, kind.level) == ("PT204", "note")
    assert "primary key" in kind.hint


@pytest.mark.parametrize("severity", ["error", "warning"])
def test_a_lint_finding_takes_its_rules_severity_as_level(severity: str) -> None:
    lint = finding("migration_lint", code="PM301", severity=severity)
    assert lint.level == severity
    assert lint.to_dict()["level"] == severity


def test_the_json_form_carries_the_level_next_to_the_code() -> None:
    data = finding("order_divergence").to_dict()
    assert (data["code"], data["level"], data["kind"]) == ("PT203", "warning", "order_divergence")
    assert list(data)[:2] == ["code", "level"]


@pytest.mark.parametrize(
    ("level", "threshold", "expected"),
    [
        ("error", "error", True),
        ("error", "note", True),
        ("warning", "error", False),
        ("warning", "warning", True),
        ("warning", "note", True),
        ("note", "warning", False),
        ("note", "note", True),
    ],
)
def test_reaches_orders_error_above_warning_above_note(level: str, threshold: str, expected: bool) -> None:
    assert reaches(level, threshold) is expected


@pytest.mark.parametrize(
    ("kinds", "fail_on", "code"),
    [
        ([], "note", 0),
        (["unordered_order_divergence"], "warning", 0),
        (["unordered_order_divergence"], "note", 1),
        (["order_divergence"], "error", 0),
        (["order_divergence"], "warning", 1),
        (["order_divergence", "unordered_order_divergence"], "error", 0),
        (["unordered_order_divergence", "outcome_divergence"], "error", 1),
    ],
)
def test_the_exit_code_is_1_only_when_a_finding_reaches_fail_on(kinds: list[str], fail_on: str, code: int) -> None:
    assert findings_exit_code([finding(kind) for kind in kinds], fail_on) == code


def test_a_lint_warning_does_not_fail_on_error_but_a_lint_error_does() -> None:
    assert findings_exit_code([finding("migration_lint", severity="warning")], "error") == 0
    assert findings_exit_code([finding("migration_lint", severity="error")], "error") == 1


def test_the_summary_counts_each_level_highest_first() -> None:
    findings = [finding(kind) for kind in ("unordered_order_divergence", "query_error", "setup_failure")]
    assert level_summary(findings) == "3 finding(s): 1 error, 1 warning, 1 note"
    assert level_summary([finding("query_error")] * 2) == "2 finding(s): 2 warnings"


def test_levels_are_sarifs() -> None:
    assert set(LEVELS) == {"error", "warning", "note"}
