"""End to end: the facts a finding rests on are those of the server a target really reached.

A ``mysql`` target pointed at this machine's MariaDB is linted and explained as MariaDB (the
backends table says MariaDB), not as the MySQL its name suggests: ``CREATE INDEX IF NOT EXISTS``
runs on MariaDB, so it is no portability problem there, while the same migration linted for a
real MySQL 8.4 is one. (The migration is written for the MySQL family only: its reverse uses
DROP INDEX ... ON.)
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.helpers import MARIADB_URL, initial_migration, read_json, run_portability, write_project

pytestmark = pytest.mark.e2e

MIGRATION = """\
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS shop_item_code ON shop_item (code)",
            "DROP INDEX shop_item_code ON shop_item",
            state_operations=[migrations.AddIndex("item", models.Index(fields=["code"], name="shop_item_code"))],
        ),
    ]
"""


@pytest.fixture
def project(tmp_path):
    return write_project(
        tmp_path / "proj",
        {
            "shop/models.py": """\
                from django.db import models


                class Item(models.Model):
                    code = models.CharField(max_length=20)

                    class Meta:
                        indexes = [models.Index(fields=["code"], name="shop_item_code")]
            """,
            "shop/migrations/__init__.py": "",
            "shop/migrations/0001_initial.py": initial_migration(code="models.CharField(max_length=20)"),
            "shop/migrations/0002_code_index.py": MIGRATION,
        },
    )


def lint_for(project, *servers: str) -> list[dict]:
    completed = subprocess.run(
        [sys.executable, "-m", "harness.migrations.lint", "--settings", "settings", "--project-dir", str(project)]
        + [argument for server in servers for argument in ("--server", server)],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)["findings"]


def test_a_mysql_target_reaching_mariadb_is_linted_as_mariadb(project):
    report_path = project / "report.json"
    result = run_portability(
        "migrations",
        "--settings",
        "settings",
        "--backends",
        "mysql",
        "--url",
        f"mysql={MARIADB_URL}",
        "--json",
        str(report_path),
        cwd=project,
    )
    report = read_json(report_path)
    [mysql] = [backend for backend in report["backends"] if backend["name"] == "mysql"]
    assert mysql["product"] == "MariaDB", mysql
    assert "MariaDB" in result.stdout
    assert not [f for f in report["findings"] if f.get("code") == "PM301"], report["findings"]
    assert result.returncode == 0, result.output


def test_the_same_migration_linted_for_mysql_84_is_not_portable(project):
    findings = lint_for(project, "mysql=MySQL:8.4.3")
    [finding] = [f for f in findings if f["code"] == "PM301"]
    assert finding["targets"] == ["mysql"], finding
    assert "IF NOT EXISTS" in finding["message"]
    assert not [f for f in lint_for(project, "mysql=MariaDB:10.11.6") if f["code"] == "PM301"]
