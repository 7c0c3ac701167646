"""End to end: exit codes that cannot lie, and partial results that are never clean.

A suite that does not import, a run that collected nothing, results of an interrupted or
crashed worker: each must fail the CI job, through `run`, `report` and `migrations` alike.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import initial_migration, read_json, run_portability, run_with_report, server_urls, write_project

pytestmark = pytest.mark.e2e

MODELS = """
    from django.db import models


    class Item(models.Model):
        code = models.CharField(max_length=20)
"""

TESTS = """
    from django.test import TestCase

    from shop.models import Item


    class ItemTests(TestCase):
        def test_create(self):
            Item.objects.create(code="a")
            self.assertEqual(Item.objects.count(), 1)
"""


def codes(report: dict) -> list[str]:
    return sorted(finding["code"] for finding in report["findings"])


def test_a_test_module_with_a_syntax_error_is_a_collection_error_everywhere(tmp_path: Path) -> None:
    broken = TESTS + "\n\n    def broken(:\n        pass\n"
    project = write_project(tmp_path / "syntax", {"shop/models.py": MODELS, "shop/tests.py": broken})
    result, report = run_with_report(project)
    assert result.returncode == 1, result.output
    [finding] = report["findings"]
    assert (finding["code"], finding["level"], finding["test"]) == ("PT103", "error", "shop/tests.py")
    assert finding["location"] == {"path": "shop/tests.py", "line": 13}
    assert set(finding["backends"]) == {"sqlite", "postgresql", "mariadb"}
    for evidence in finding["backends"].values():
        assert evidence["message"] == "SyntaxError: invalid syntax (shop/tests.py:13)"
    assert "PT103" in result.stdout and "could not be collected on every backend" in result.stdout
    assert {backend["status"] for backend in report["backends"]} == {"collection failed"}
    assert "No findings" not in result.output


MYSQL_ONLY_IMPORT = """
    from django.db import connection

    if connection.vendor == "mysql":
        import no_such_mysql_helper  # noqa: F401
"""


def test_a_module_that_imports_a_backend_only_package_fails_to_collect_there_only(tmp_path: Path) -> None:
    tests = MYSQL_ONLY_IMPORT + TESTS
    project = write_project(tmp_path / "oneonly", {"shop/models.py": MODELS, "shop/tests.py": tests})
    result, report = run_with_report(project)
    assert result.returncode == 1, result.output
    [finding] = report["findings"]
    assert finding["code"] == "PT103"
    assert list(finding["backends"]) == ["mariadb"]
    assert finding["backends"]["mariadb"]["message"].startswith(
        "ModuleNotFoundError: No module named 'no_such_mysql_helper' (shop/tests.py:5)"
    )
    assert "could not be collected on mariadb" in finding["message"]


@pytest.mark.parametrize(
    ("files", "pytest_args"),
    [({"shop/models.py": MODELS}, ()), ({"shop/models.py": MODELS, "shop/tests.py": TESTS}, ("--", "-k", "nomatch"))],
    ids=["no-test-files", "all-deselected"],
)
def test_nothing_collected_on_any_backend_exits_5(tmp_path: Path, files: dict, pytest_args: tuple) -> None:
    project = write_project(tmp_path / "empty", files)
    result, report = run_with_report(project, *pytest_args)
    assert result.returncode == 5, result.output
    assert report["exit_code"] == 5
    assert report["findings"] == []
    lines = [line for line in result.stdout.splitlines() if "No tests collected" in line]
    assert len(lines) == 1, result.stdout
    assert "nothing was tested" in lines[0]


def test_tests_defined_for_one_backend_only_are_named_as_a_note(tmp_path: Path) -> None:
    tests = (
        TESTS
        + """

    from django.db import connection

    if connection.vendor == "postgresql":

        class PostgreSQLOnlyTests(TestCase):
            def test_only_here(self):
                self.assertEqual(Item.objects.count(), 0)
    """
    )
    project = write_project(tmp_path / "pgonly", {"shop/models.py": MODELS, "shop/tests.py": tests})
    result, report = run_with_report(project)
    assert result.returncode == 0, result.output
    [finding] = report["findings"]
    assert (finding["code"], finding["level"], finding["test"]) == ("PT104", "note", "shop/tests.py")
    assert finding["message"] == "shop/tests.py: 1 test(s) collected on postgresql but not on mariadb, sqlite"
    assert set(finding["backends"]) == {"sqlite", "mariadb"}
    assert finding["backends"]["sqlite"]["missing"] == ["shop/tests.py::PostgreSQLOnlyTests::test_only_here"]
    assert "not collected here: shop/tests.py::PostgreSQLOnlyTests::test_only_here" in result.stdout


# ---------------------------------------------------------------- partial results through `report`


def plugin_results(tmp_path: Path) -> Path:
    """A real results file, written by a `portability run` of a two-test project on SQLite."""
    project = write_project(tmp_path / "proj", {"shop/models.py": MODELS, "shop/tests.py": TESTS})
    results_dir = tmp_path / "results"
    result = run_portability(
        "run", "--settings", "settings", "--backends", "sqlite", "--results-dir", str(results_dir), cwd=project
    )
    assert result.returncode == 0, result.output
    return results_dir / "sqlite.jsonl"


def rewrite(path: Path, keep) -> Path:
    records = [json.loads(line) for line in path.read_text().splitlines()]
    path.write_text("".join(json.dumps(record) + "\n" for record in keep(records)))
    return path


@pytest.mark.parametrize(
    ("damage", "status"),
    [
        (lambda records: [r if r["type"] != "finish" else {**r, "exitstatus": 2} for r in records], "interrupted"),
        (lambda records: [r for r in records if r["type"] != "finish"], "crashed"),
        (lambda records: [r if r["type"] != "finish" else {**r, "exitstatus": 3} for r in records], "crashed"),
    ],
    ids=["interrupted", "no-finish-record", "internal-error"],
)
def test_report_of_partial_results_is_never_clean(tmp_path: Path, damage, status: str) -> None:
    path = rewrite(plugin_results(tmp_path), damage)
    report_path = tmp_path / "merged.json"
    result = run_portability("report", str(path), "--json", str(report_path), cwd=tmp_path)
    assert result.returncode == 1, result.output
    report = read_json(report_path)
    assert [backend["status"] for backend in report["backends"]] == [status]
    [finding] = report["findings"]
    assert (finding["code"], finding["details"]["status"]) == ("PT102", status)
    assert "migration" not in finding["hint"]
    assert "No findings" not in result.output
    assert f"PARTIAL: sqlite {status}" in result.stdout
    assert report["partial"] is True


def test_report_of_a_truncated_file_is_partial(tmp_path: Path) -> None:
    path = plugin_results(tmp_path)
    text = path.read_text()
    path.write_text(text[: text.index('"type": "finish"') - 5])
    result = run_portability("report", str(path), cwd=tmp_path)
    assert result.returncode == 1, result.output
    assert "crashed" in result.stdout and "PT102" in result.stdout


# ---------------------------------------------------------------- partial results through `migrations`

CRASHING_MIGRATION = """
    import os
    import signal

    from django.db import migrations


    def crash_on_mariadb(apps, schema_editor):
        if schema_editor.connection.vendor == "mysql":
            os.kill(os.getpid(), signal.SIGKILL)


    class Migration(migrations.Migration):
        dependencies = [("shop", "0001_initial")]
        operations = [migrations.RunPython(crash_on_mariadb, migrations.RunPython.noop)]
"""

INITIAL = initial_migration(code="models.CharField(max_length=20)")


def test_a_migrations_worker_that_crashes_is_reported_not_clean(tmp_path: Path) -> None:
    project = write_project(
        tmp_path / "crash",
        {
            "shop/models.py": MODELS,
            "shop/migrations/__init__.py": "",
            "shop/migrations/0001_initial.py": INITIAL,
            "shop/migrations/0002_crash.py": CRASHING_MIGRATION,
        },
    )
    report_path = tmp_path / "migrations.json"
    result = run_portability(
        "migrations",
        "--settings",
        "settings",
        "--backends",
        "sqlite,mariadb",
        *server_urls("mariadb"),
        "--json",
        str(report_path),
        cwd=project,
    )
    assert result.returncode == 1, result.output
    report = read_json(report_path)
    statuses = {backend["name"]: backend["status"] for backend in report["backends"]}
    assert statuses == {"sqlite": "ran", "mariadb": "crashed"}
    partial = [finding for finding in report["findings"] if finding["code"] == "PT102"]
    assert [finding["details"]["status"] for finding in partial] == ["crashed"]
    assert "killed by signal 9" in partial[0]["backends"]["mariadb"]["message"]
