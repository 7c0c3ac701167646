"""End to end: two PostgreSQL versions in one run (issue 10, deliverable 2).

``postgresql@15`` is the machine's PostgreSQL 15, ``postgresql@18`` an embedded PostgreSQL 18 (no
URL: its label names a version the local server is not, and a package provides it). The project
uses ``casefold()``, which PostgreSQL 18 added: its test passes on 18 and fails on 15, and the
report says so by target name.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.embedded_servers import embedded_folder, run_clean
from tests.helpers import POSTGRESQL_URL, initial_migration, read_json, write_project

pytestmark = pytest.mark.e2e

MODELS = """\
from django.db import models


class Item(models.Model):
    name = models.CharField(max_length=40)
"""

TESTS = """\
from django.db.models import F, Func
from django.test import TestCase

from shop.models import Item


class CaseFoldTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        Item.objects.create(name="Blue Widget")

    def test_casefold_finds_the_item_in_any_case(self):
        # PostgreSQL 18's casefold() (case folding for caseless matching): no such function before 18.
        folded = Item.objects.annotate(folded=Func(F("name"), function="CASEFOLD")).get().folded
        self.assertEqual(folded, "blue widget")

    def test_lower_is_everywhere(self):
        self.assertEqual(Item.objects.annotate(low=Func(F("name"), function="LOWER")).get().low, "blue widget")
"""


@pytest.fixture
def embedded_dir() -> Iterator[Path]:
    with embedded_folder() as folder:
        yield folder


def run_on_15_and_18(command: str, extra_files: dict[str, str], embedded: Path, tmp_path: Path) -> tuple:
    """`portability COMMAND` of the Item project (plus ``extra_files``) on the local PostgreSQL 15 and an
    embedded 18: the result and the JSON report."""
    project = write_project(
        tmp_path / "proj",
        {
            "shop/models.py": MODELS,
            "shop/migrations/__init__.py": "",
            "shop/migrations/0001_initial.py": initial_migration(name="models.CharField(max_length=40)"),
            **extra_files,
        },
    )
    report_path = tmp_path / "report.json"
    result = run_clean(
        command,
        "--settings",
        "settings",
        "--backends",
        "postgresql@15,postgresql@18",
        "--url",
        f"postgresql@15={POSTGRESQL_URL}",
        "--json",
        str(report_path),
        embedded=embedded,
        cwd=project,
    )
    return result, read_json(report_path) if report_path.exists() else {}


def test_two_postgresql_versions_in_one_run_show_a_function_only_the_newer_has(embedded_dir, tmp_path):
    result, report = run_on_15_and_18("run", {"shop/tests.py": TESTS}, embedded_dir, tmp_path)
    assert result.returncode == 1, result.output
    servers = {backend["name"]: (backend["product"], backend["version"]) for backend in report["backends"]}
    assert servers["postgresql@15"][1].startswith("15."), servers
    assert servers["postgresql@18"][1].startswith("18.") and servers["postgresql@18"][1].endswith("(embedded)")

    outcomes = {test["nodeid"].rsplit("::", 1)[1]: test["outcomes"] for test in report["tests"]}
    assert outcomes["test_casefold_finds_the_item_in_any_case"] == {
        "postgresql@15": "failed",
        "postgresql@18": "passed",
    }
    assert outcomes["test_lower_is_everywhere"] == {"postgresql@15": "passed", "postgresql@18": "passed"}
    [finding] = [f for f in report["findings"] if f["test"].endswith("test_casefold_finds_the_item_in_any_case")]
    assert "postgresql@15" in str(finding) and "postgresql@18" in str(finding), finding
    assert "casefold" in result.stdout.lower(), result.output


MIGRATION_WITH_CASEFOLD_INDEX = """\
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [
        # An index for caseless lookups: casefold() is PostgreSQL 18's.
        migrations.RunSQL(
            "CREATE INDEX shop_item_name_folded ON shop_item (casefold(name))",
            "DROP INDEX shop_item_name_folded",
        ),
    ]
"""


def test_migrations_on_two_postgresql_versions_name_the_one_a_migration_fails_on(embedded_dir, tmp_path):
    extra = {"shop/migrations/0002_folded_index.py": MIGRATION_WITH_CASEFOLD_INDEX}
    result, report = run_on_15_and_18("migrations", extra, embedded_dir, tmp_path)
    assert result.returncode == 1, result.output
    [failure] = [f for f in report["findings"] if f["kind"] == "migration_failure"]
    assert failure["details"]["migration"] == "shop.0002_folded_index"
    assert failure["backends"]["postgresql@15"]["outcome"] == "failed", failure
    assert "casefold" in failure["backends"]["postgresql@15"]["message"], failure
    assert failure["backends"]["postgresql@18"]["outcome"] == "applied", failure
