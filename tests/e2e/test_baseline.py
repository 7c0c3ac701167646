"""End to end: `portability baseline` and `--baseline` on the real servers.

Today's findings written to a baseline make the next run pass; they stay matched when the code above
them moves; a new difference still fails the run; a baselined one that no longer happens is listed.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.e2e.test_queries import MODELS, TESTS
from tests.helpers import run_portability, run_with_report, write_project

pytestmark = pytest.mark.e2e

BACKENDS = ("sqlite", "mariadb")

NEW_DIFFERENCE = """

    class Later(TestCase):
        def test_new_case_insensitive_match(self):
            Person.objects.create(name="Zed")
            self.assertEqual(Person.objects.filter(name="zed").count(), Person.objects.filter(name="zed").count())
"""


def test_a_baseline_keeps_known_findings_quiet_and_new_ones_loud(tmp_path: Path) -> None:
    project = write_project(tmp_path / "project", {"lab/models.py": MODELS, "lab/tests.py": TESTS}, apps=("lab",))
    first, report = run_with_report(project, backends=BACKENDS, name="first")
    assert first.returncode == 1 and len(report["findings"]) >= 3, first.output
    written = run_portability("baseline", "first.json", "-o", "portability-baseline.json", cwd=project)
    assert written.returncode == 0, written.output
    assert f"baseline: {len(report['findings'])} finding(s) written" in written.stdout

    # The code above every call site moves down three lines: the baseline still knows each finding.
    tests = project / "lab" / "tests.py"
    tests.write_text("# moved\n# down\n# three lines\n" + tests.read_text())
    known, again = run_with_report(project, "--baseline", "portability-baseline.json", backends=BACKENDS, name="known")
    assert known.returncode == 0, known.output
    assert {f["level"] for f in again["findings"]} == {"note"}
    assert all(f["message"].startswith("known (in the baseline)") for f in again["findings"])

    # A new difference fails the run, alone; a baselined test removed is listed as gone.
    source = tests.read_text()
    source = source.replace("def test_average_rounding(self):", "def _was_average_rounding(self):")
    tests.write_text(source + textwrap.dedent(NEW_DIFFERENCE))
    new, third = run_with_report(project, "--baseline", "portability-baseline.json", backends=BACKENDS, name="new")
    assert new.returncode == 1, new.output
    loud = [f for f in third["findings"] if f["level"] != "note"]
    assert [f["test"].rsplit("::", 1)[1] for f in loud] == ["test_new_case_insensitive_match"], loud
    [gone] = [f for f in third["findings"] if f["code"] == "PT107"]
    assert "test_average_rounding" in gone["message"]


def test_a_broken_baseline_is_one_line(tmp_path: Path) -> None:
    project = write_project(tmp_path / "project", {"lab/models.py": MODELS, "lab/tests.py": TESTS}, apps=("lab",))
    (project / "base.json").write_text('{"findings": []}')
    result = run_portability("run", "--settings", "settings", "--backends", "sqlite", "--baseline", "base.json",
                             cwd=project)  # fmt: skip
    assert result.returncode == 2, result.output
    [line] = result.stderr.strip().splitlines()
    assert "--baseline 'base.json': not a portability baseline" in line and "portability baseline" in line
