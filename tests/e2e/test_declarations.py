"""End to end: declared differences (marker and [tool.portability.expected]) on the real servers.

A declared difference that happens is a note (the run passes); one that no longer happens is an
unexpected success (PT105, a warning); a declaration that matches nothing is PT106. The marker never
changes a test's outcome.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import run_with_report, write_project

pytestmark = pytest.mark.e2e

MODELS = """
    from django.db import models

    class Person(models.Model):
        name = models.CharField(max_length=50)
"""

TESTS = """
    import pytest
    from django.test import TestCase

    from lab.models import Person


    class Collation(TestCase):
        @pytest.mark.portability(expected={"mariadb": "fails"}, reason="MariaDB's collation ignores case")
        def test_declared_and_failing(self):
            Person.objects.create(name="Ann")
            self.assertFalse(Person.objects.filter(name="ann").exists())

        def test_declared_in_pyproject(self):
            Person.objects.create(name="Bob")
            self.assertFalse(Person.objects.filter(name="BOB").exists())

        @pytest.mark.portability(expected={"mariadb": "fails"}, reason="was different once")
        def test_declared_but_portable(self):
            Person.objects.create(name="Cy")
            self.assertTrue(Person.objects.filter(name="Cy").exists())

        def test_unordered_list(self):
            for name in ("b", "a", "c"):
                Person.objects.create(name=name)
            names = [person.name for person in Person.objects.filter(name__in=["a", "b", "c"])]
            self.assertEqual(sorted(names), ["a", "b", "c"])
"""

PYPROJECT = """
    [tool.portability]
    settings = "settings"

    [tool.portability.expected]
    "lab/tests.py::Collation::test_declared_in_pyproject" = { mariadb = "fails", reason = "case-insensitive collation" }
    "lab/tests.py::Collation::test_that_was_removed" = { postgresql = "fails", reason = "gone" }
    "PT203 at lab/views.py:12" = { reason = "no such call site" }
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    project = write_project(
        tmp_path_factory.mktemp("declared") / "project",
        {"lab/models.py": MODELS, "lab/tests.py": TESTS, "pytest.ini": "[pytest]\npython_files = tests.py\n",
         "pyproject.toml": PYPROJECT},
        apps=("lab",),
    )  # fmt: skip
    result, report = run_with_report(project)
    report["stdout"] = result.output
    report["exit"] = result.returncode
    return report


def by_test(report: dict, name: str) -> list[dict]:
    return [finding for finding in report["findings"] if (finding["test"] or "").endswith(f"::{name}")]


def test_a_declared_difference_that_happens_is_a_note(report: dict) -> None:
    for name in ("test_declared_and_failing", "test_declared_in_pyproject"):
        [finding] = by_test(report, name)
        assert (finding["code"], finding["level"]) == ("PT101", "note"), finding
        assert finding["message"].startswith("expected (")
    outcomes = {test["nodeid"].rsplit("::", 1)[1]: test["outcomes"] for test in report["tests"]}
    # The marker changes nothing in the run: the test still fails on MariaDB.
    assert outcomes["test_declared_and_failing"] == {"sqlite": "passed", "postgresql": "passed", "mariadb": "failed"}


def test_a_declared_difference_that_no_longer_happens_is_an_unexpected_success(report: dict) -> None:
    [finding] = by_test(report, "test_declared_but_portable")
    assert (finding["code"], finding["level"], finding["kind"]) == ("PT105", "warning", "unexpected_success")
    assert "declared to fail on mariadb (was different once)" in finding["message"]
    assert finding["backends"]["mariadb"]["outcome"] == "passed"


def test_declarations_that_match_nothing_are_reported(report: dict) -> None:
    unused = sorted(f["message"] for f in report["findings"] if f["code"] == "PT106")
    assert len(unused) == 2, unused
    assert "'PT203 at lab/views.py:12' matches nothing" in unused[0]
    assert "test_that_was_removed' matches nothing: no test" in unused[1]
    assert report["exit"] == 1  # the warnings fail the run (--fail-on warning)


def test_a_malformed_marker_is_one_line(tmp_path: Path) -> None:
    bad = TESTS.replace('expected={"mariadb": "fails"}, reason="was different once"', 'expected={"mariadb": "broken"}')
    project = write_project(
        tmp_path / "project", {"lab/models.py": MODELS, "lab/tests.py": bad, "pytest.ini": "[pytest]\n"}, apps=("lab",)
    )
    result, _ = run_with_report(project, "--", "-o", "python_files=tests.py")
    assert result.returncode == 2, result.output
    [line] = result.stderr.strip().splitlines()
    assert "test_declared_but_portable" in line and "'broken'" in line and '"fails" or "passes"' in line


def test_declared_migration_findings_are_notes_and_a_stale_ignore_is_reported(tmp_path: Path) -> None:
    from tests.e2e.test_migrations import check
    from tests.e2e.test_migrations_on_real_shapes import _migration

    note = 'migrations.CreateModel("Note", [("body", models.TextField(primary_key=True, serialize=False))]),'
    project = write_project(
        tmp_path / "project",
        {
            "shop/models.py": """
                from django.db import models

                class Note(models.Model):
                    body = models.TextField(primary_key=True)
            """,
            "shop/migrations/__init__.py": "",
            "shop/migrations/0001_initial.py": _migration("0001_initial", "0000", note).replace(
                'dependencies = [("shop", "0000")]', "initial = True"
            ),
            "pyproject.toml": """
                [tool.portability.expected]
                "PM101 at shop/migrations/0001_initial.py" = { reason = "MariaDB is not a production target" }
                "PM305 at shop/migrations/0001_initial.py" = { reason = "MariaDB is not a production target" }
            """,
        },
    )
    result, report = check(project, "--ignore", "PM301")
    levels = sorted((finding["code"], finding["level"]) for finding in report["findings"])
    assert levels == [("PM101", "note"), ("PM305", "note"), ("PT106", "warning")], result.output
    [stale] = [finding for finding in report["findings"] if finding["code"] == "PT106"]
    assert "'PM301'" in stale["message"] and "matches nothing" in stale["message"]
    assert result.returncode == 1
