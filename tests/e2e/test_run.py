"""End to end: the real `portability run` in a subprocess, against the real servers."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import (
    ALL_THREE,
    REPO,
    pytest_job,
    read_json,
    run_portability,
    run_with_report,
    server_urls,
    write_project,
)

pytestmark = pytest.mark.e2e


OVERFLOW_PROJECT = {
    "shop/models.py": """
        from django.db import models

        class Item(models.Model):
            code = models.CharField(max_length=5)
    """,
    "shop/tests.py": """
        from django.test import TestCase
        from shop.models import Item

        class ItemTests(TestCase):
            def test_code_longer_than_max_length(self):
                Item.objects.create(code="abcdefghij")
                self.assertEqual(Item.objects.count(), 1)

            def test_short_code(self):
                Item.objects.create(code="abc")
                self.assertEqual(Item.objects.get().code, "abc")
    """,
}


def test_max_length_overflow_is_an_outcome_divergence(tmp_path: Path) -> None:
    project = write_project(tmp_path / "overflow", OVERFLOW_PROJECT)
    result, report = run_with_report(project)
    assert result.returncode == 1, result.output
    findings = report["findings"]
    assert [finding["kind"] for finding in findings] == ["outcome_divergence"]
    finding = findings[0]
    assert finding["code"] == "PT101"
    assert finding["test"] == "shop/tests.py::ItemTests::test_code_longer_than_max_length"
    assert finding["location"] == {"path": "shop/tests.py", "line": 6}
    assert finding["backends"]["sqlite"]["outcome"] == "passed"
    assert finding["backends"]["postgresql"]["outcome"] == "failed"
    assert "value too long" in finding["backends"]["postgresql"]["message"]
    assert finding["backends"]["mariadb"]["outcome"] == "failed"
    assert "Data too long" in finding["backends"]["mariadb"]["message"]
    # The INSERT that raised is tied to the test's finding, not reported again on its own.
    query = finding["details"]["query"]
    assert (query["kind"], query["site"]) == ("query_error", "shop/tests.py:7")
    assert query["backends"]["postgresql"]["message"].startswith("django.db.utils.DataError [22001]")
    assert query["backends"]["sqlite"]["outcome"] == "ok"
    # The terminal report names the test and each backend's failure.
    assert "test_code_longer_than_max_length" in result.stdout
    assert "passes on sqlite but fails on mariadb, postgresql" in result.stdout
    # Every backend is reported with the server it really talked to.
    servers = {backend["name"]: backend["product"] for backend in report["backends"]}
    assert servers == {"sqlite": "SQLite", "postgresql": "PostgreSQL", "mariadb": "MariaDB"}
    outcomes = {test["nodeid"]: test["outcomes"] for test in report["tests"]}
    assert outcomes["shop/tests.py::ItemTests::test_short_code"] == dict.fromkeys(ALL_THREE, "passed")


def test_models_app_behaves_the_same_everywhere(tmp_path: Path) -> None:
    report_path = tmp_path / "report.json"
    result = run_portability(
        "run",
        "--backends",
        ",".join(ALL_THREE),
        *server_urls("postgresql", "mariadb"),
        "--json",
        str(report_path),
        cwd=REPO,
    )
    assert result.returncode == 0, result.output
    report = read_json(report_path)
    assert report["findings"] == []
    for backend in report["backends"]:
        assert backend["status"] == "ran"
        assert backend["counts"]["failed"] == backend["counts"]["error"] == 0
        assert backend["counts"]["passed"] >= 50
    assert "No findings" in result.stdout


def test_a_mysql_target_served_by_mariadb_is_reported_as_mariadb(tmp_path: Path) -> None:
    project = write_project(
        tmp_path / "clean",
        {
            "shop/tests.py": OVERFLOW_PROJECT["shop/tests.py"].replace("test_code_longer_than_max_length", "skip_me"),
            "shop/models.py": OVERFLOW_PROJECT["shop/models.py"],
        },
    )
    report_path = project / "report.json"
    result = run_portability(
        "run",
        "--settings",
        "settings",
        "--backends",
        "mysql",
        *server_urls("mysql"),
        "--json",
        str(report_path),
        cwd=project,
    )
    assert result.returncode == 0, result.output
    [backend] = read_json(report_path)["backends"]
    assert (backend["name"], backend["vendor"], backend["product"]) == ("mysql", "mysql", "MariaDB")
    assert re.search(r"mysql\s+.*MariaDB \d+\.\d+", result.stdout)


MIGRATION_PROJECT = {
    "shop/models.py": OVERFLOW_PROJECT["shop/models.py"],
    "shop/migrations/__init__.py": "",
    "shop/migrations/0001_initial.py": """
        from django.db import migrations, models

        class Migration(migrations.Migration):
            initial = True
            operations = [
                migrations.CreateModel(
                    "Item",
                    [("id", models.AutoField(primary_key=True)), ("code", models.CharField(max_length=5))],
                ),
            ]
    """,
    # An expression index: PostgreSQL and SQLite accept it, MariaDB has no functional indexes.
    "shop/migrations/0002_lower_code_index.py": """
        from django.db import migrations

        class Migration(migrations.Migration):
            dependencies = [("shop", "0001_initial")]
            operations = [
                migrations.RunSQL(
                    "CREATE INDEX shop_item_code_lower ON shop_item (lower(code))",
                    "DROP INDEX shop_item_code_lower",
                ),
            ]
    """,
    "shop/tests.py": """
        from django.test import TestCase
        from shop.models import Item

        class ItemTests(TestCase):
            def test_create(self):
                Item.objects.create(code="abc")
                self.assertEqual(Item.objects.count(), 1)
    """,
}


def test_a_migration_failing_on_one_backend_is_a_setup_failure(tmp_path: Path) -> None:
    project = write_project(tmp_path / "migration", MIGRATION_PROJECT)
    result, report = run_with_report(project)
    assert result.returncode == 1, result.output
    [finding] = report["findings"]
    assert finding["kind"] == "setup_failure"
    assert finding["code"] == "PT102"
    assert list(finding["backends"]) == ["mariadb"]
    assert finding["details"]["migration"] == "shop.0002_lower_code_index"
    assert finding["location"]["path"] == "shop/migrations/0002_lower_code_index.py"
    assert "1064" in finding["backends"]["mariadb"]["message"]  # MariaDB's syntax error
    statuses = {backend["name"]: backend["status"] for backend in report["backends"]}
    assert statuses == {"sqlite": "ran", "postgresql": "ran", "mariadb": "setup failed"}
    # The other backends still ran the test.
    outcomes = {test["nodeid"]: test["outcomes"] for test in report["tests"]}
    assert outcomes["shop/tests.py::ItemTests::test_create"]["postgresql"] == "passed"
    assert "shop.0002_lower_code_index" in result.stdout


def test_a_plain_django_project_collects_what_djangos_runner_runs(tmp_path: Path) -> None:
    """No pytest config, tests in tests.py and test_*.py: the same tests as `manage.py test`."""
    files = {
        **OVERFLOW_PROJECT,
        "shop/test_more.py": """
            from django.test import SimpleTestCase

            class ArithmeticChecks(SimpleTestCase):
                def test_adds(self):
                    self.assertEqual(1 + 1, 2)
        """,
        "shop/helpers_test.py": """
            from django.test import SimpleTestCase

            class NotDiscoveredByDjango(SimpleTestCase):
                def test_never_runs(self):
                    raise AssertionError("Django's runner does not discover *_test.py")
        """,
    }
    project = write_project(tmp_path / "plain", files)
    django_run = subprocess.run(
        [sys.executable, "-m", "django", "test", "-v", "2", "--settings", "settings"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(project), "PATH": ""},
    )
    # Django prints "test_adds (shop.test_more.ArithmeticChecks.test_adds) ... ok".
    django_tests = set(re.findall(r"^test\w+ \(([\w.]+)\)", django_run.stderr, re.MULTILINE))
    assert len(django_tests) == 3, django_run.stderr
    report_path = project / "report.json"
    result = run_portability(
        "run", "--settings", "settings", "--backends", "sqlite", "--json", str(report_path), cwd=project
    )
    assert result.returncode == 0, result.output
    harness_tests = {dotted_name(test["nodeid"]) for test in read_json(report_path)["tests"]}
    assert harness_tests == django_tests


def dotted_name(nodeid: str) -> str:
    """shop/tests.py::ItemTests::test_x -> shop.tests.ItemTests.test_x"""
    path, *names = nodeid.split("::")
    return ".".join([path.removesuffix(".py").replace("/", "."), *names])


def test_pytest_arguments_after_double_dash_select_tests(tmp_path: Path) -> None:
    project = write_project(tmp_path / "select", OVERFLOW_PROJECT)
    result, report = run_with_report(project, "--", "-k", "short_code")
    assert result.returncode == 0, result.output
    assert [test["nodeid"] for test in report["tests"]] == ["shop/tests.py::ItemTests::test_short_code"]


def test_plugin_results_from_separate_pytest_runs_merge_into_one_report(tmp_path: Path) -> None:
    """The CI use: one plain pytest job per backend, then `portability report` on the files."""
    project = write_project(tmp_path / "merge", OVERFLOW_PROJECT)
    files = []
    for target in ("sqlite", "postgresql"):
        results = tmp_path / f"{target}.jsonl"
        assert f"portability: target {target}" in pytest_job(project, target, results)
        files.append(str(results))
    report_path = tmp_path / "merged.json"
    result = run_portability("report", *files, "--json", str(report_path), cwd=project)
    assert result.returncode == 1, result.output
    [finding] = read_json(report_path)["findings"]
    assert finding["test"] == "shop/tests.py::ItemTests::test_code_longer_than_max_length"
    assert set(finding["backends"]) == {"sqlite", "postgresql"}


def test_a_backend_over_the_timeout_is_stopped_and_its_databases_dropped(tmp_path: Path) -> None:
    from secrets import token_hex

    from tests.helpers import POSTGRESQL_URL, server_test_databases

    name = f"timeout_{token_hex(4)}"
    url = POSTGRESQL_URL.rsplit("/", 1)[0] + f"/{name}"
    project = write_project(
        tmp_path / "slow",
        {
            "shop/models.py": OVERFLOW_PROJECT["shop/models.py"],
            "shop/tests.py": """
                import time
                from django.test import TestCase

                class SlowTests(TestCase):
                    def test_sleeps(self):
                        time.sleep(60)
            """,
        },
    )
    report_path = project / "report.json"
    result = run_portability(
        "run",
        "--settings",
        "settings",
        "--backends",
        "postgresql",
        "--url",
        f"postgresql={url}",
        "--timeout",
        "4",
        "--json",
        str(report_path),
        cwd=project,
        timeout=90,
    )
    assert result.returncode == 1, result.output
    report = read_json(report_path)
    [backend] = report["backends"]
    assert backend["status"] == "timed out"
    assert [finding["kind"] for finding in report["findings"]] == ["setup_failure"]
    assert not {database for database in server_test_databases("postgresql") if database.startswith(f"test_{name}")}


def test_a_relative_results_dir_is_relative_to_where_the_command_runs(tmp_path: Path) -> None:
    project = write_project(tmp_path / "overflow", OVERFLOW_PROJECT)
    result = run_portability(
        "run",
        "--project-dir",
        str(project),
        "--settings",
        "settings",
        "--backends",
        "sqlite",
        "--results-dir",
        "kept",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.output
    assert sorted(path.name for path in (tmp_path / "kept").iterdir()) == ["sqlite.jsonl", "sqlite.log"]
    assert not (project / "kept").exists()
