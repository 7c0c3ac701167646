"""Baselines: what is written, and what a command lists as gone."""

from __future__ import annotations

import json
from pathlib import Path

from harness.baseline import Entry, apply, read_baseline, write_baseline
from harness.findings import Finding


def finding(code: str, kind: str, message: str, **details: object) -> dict:
    return {"code": code, "kind": kind, "message": message, "test": None, "location": None, "details": details}


def test_declared_and_run_health_findings_are_not_baselined(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    report.write_text(
        json.dumps(
            {
                "findings": [
                    finding("PT202", "result_divergence", "rows differ"),
                    finding("PT202", "result_divergence", "expected (case): rows differ", declared="marker"),
                    finding("PT105", "unexpected_success", "declared to fail on mariadb"),
                    finding("PT106", "unused_declaration", "matches nothing"),
                    finding("PT102", "setup_failure", "crashed"),
                    finding("PM101", "migration_failure", "known (in the baseline): shop.0002 fails to apply"),
                ]
            }
        )
    )
    assert write_baseline([report], tmp_path / "base.json", tmp_path) == 2
    entries = read_baseline(tmp_path / "base.json")
    # A finding reported as known by an earlier baseline keeps its own words.
    assert sorted((entry.code, entry.site) for entry in entries) == [
        ("PM101", "shop.0002 fails to apply"),
        ("PT202", "rows differ"),
    ]


def test_each_command_lists_as_gone_only_the_entries_it_could_have_found() -> None:
    entries = [Entry("PT202", "t.py::test", "t.py", "x = 1"), Entry("PM101", "", "", "shop.0002 fails to apply")]
    [gone] = apply([], entries, Path(), family="PT")
    assert "PT202" in gone.message and "PM101" not in gone.message
    [gone] = apply([], entries, Path(), family="PM")
    assert "PM101" in gone.message and "PT202" not in gone.message
    known = Finding(kind="migration_failure", message="shop.0002 fails to apply", backends={})
    assert apply([known], entries, Path(), family="PM") == []
    assert known.level == "note" and known.message.startswith("known (in the baseline): ")
