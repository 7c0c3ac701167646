"""End to end: the real `portability run`, `migrations` and `report` write every report format at once,
each valid against its published schema (SARIF 2.1.0, JUnit) and all from the same findings."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
import xmlschema

from tests.e2e.test_migrations import check
from tests.e2e.test_migrations_on_real_shapes import ITEM_APP
from tests.e2e.test_queries import MODELS, TESTS
from tests.helpers import read_json, run_portability, run_with_report, write_project

pytestmark = pytest.mark.e2e

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
FORMATS = ("junit", "sarif", "markdown", "html")


def report_options(folder: Path) -> list[str]:
    suffix = {"junit": "xml", "sarif": "sarif", "markdown": "md", "html": "html"}
    return [argument for name in FORMATS for argument in (f"--{name}", str(folder / f"report.{suffix[name]}"))]


def assert_formats_agree(folder: Path, report: dict) -> None:
    """Every format written, valid, and telling the same findings as the JSON report."""
    xmlschema.XMLSchema(SCHEMAS / "junit-10.xsd").validate(folder / "report.xml")
    failing = ET.parse(folder / "report.xml").getroot().findall(".//testsuite[@name='portability findings']/testcase")
    loud = [finding for finding in report["findings"] if finding["level"] in ("error", "warning")]
    assert len([case for case in failing if case.find("failure") is not None]) == len(loud)

    sarif = json.loads((folder / "report.sarif").read_text())
    jsonschema.Draft4Validator(json.loads((SCHEMAS / "sarif-schema-2.1.0.json").read_text())).validate(sarif)
    results = sarif["runs"][0]["results"]
    assert sorted(result["ruleId"] for result in results) == sorted(finding["code"] for finding in report["findings"])

    markdown = (folder / "report.md").read_text()
    assert "| backend |" in markdown and markdown.count("<details>") == min(len(report["findings"]), 20)
    html = (folder / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "http://" not in html.split("<script", 1)[0]


def test_run_writes_every_format(tmp_path: Path) -> None:
    project = write_project(tmp_path / "project", {"lab/models.py": MODELS, "lab/tests.py": TESTS}, apps=("lab",))
    result, report = run_with_report(project, *report_options(tmp_path))
    assert result.returncode == 1 and report["findings"], result.output
    assert_formats_agree(tmp_path, report)
    for label in ("JUnit report:", "SARIF report:", "Markdown report:", "HTML report:"):
        assert label in result.stdout


def test_migrations_and_report_write_every_format(tmp_path: Path) -> None:
    project = write_project(
        tmp_path / "project",
        {**ITEM_APP, "shop/migrations/0002_raw.py": """
            from django.db import migrations

            class Migration(migrations.Migration):
                dependencies = [("shop", "0001_initial")]
                operations = [migrations.RunSQL("UPDATE shop_item SET code = code || 'x'")]
        """},
    )  # fmt: skip
    result, report = check(project, *report_options(tmp_path))
    assert result.returncode == 1 and {f["code"] for f in report["findings"]} >= {"PM301", "PM303"}, result.output
    assert_formats_agree(tmp_path, report)

    merged = tmp_path / "merged"
    run, _ = run_with_report(project, "--results-dir", str(project / "kept"), backends=("sqlite",))
    assert run.returncode in (0, 5), run.output
    [results] = list((project / "kept").glob("*.jsonl"))
    again = run_portability("report", str(results), "--json", str(merged / "report.json"), *report_options(merged),
                            cwd=project)  # fmt: skip
    assert again.returncode in (0, 5), again.output
    assert_formats_agree(merged, read_json(merged / "report.json"))
