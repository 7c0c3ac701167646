"""End to end: `portability migrations` on real servers, on models_app and on throwaway projects."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.helpers import REPO, initial_migration, read_json, run_portability, server_urls, write_project

pytestmark = pytest.mark.e2e

ALL_THREE = "sqlite,postgresql,mariadb"

INITIAL = initial_migration(code="models.CharField(max_length=20)")

MODELS = """
    from django.db import models

    class Item(models.Model):
        code = models.CharField(max_length=20)
"""


def check(project: Path, *extra: str) -> tuple[object, dict]:
    report_path = project / "migrations-report.json"
    result = run_portability(
        "migrations",
        "--settings",
        "settings",
        "--backends",
        ALL_THREE,
        *server_urls("postgresql", "mariadb"),
        "--json",
        str(report_path),
        *extra,
        cwd=project,
    )
    return result, read_json(report_path) if report_path.exists() else {}


def kinds(report: dict) -> list[tuple[str, str]]:
    return sorted((finding["kind"], finding["code"]) for finding in report["findings"])


def test_models_app_migrations_are_clean_on_every_backend(tmp_path: Path) -> None:
    report_path = tmp_path / "report.json"
    result = run_portability(
        "migrations",
        "--backends",
        ALL_THREE,
        *server_urls("postgresql", "mariadb"),
        "--json",
        str(report_path),
        cwd=REPO,
    )
    assert result.returncode == 0, result.output
    report = read_json(report_path)
    assert report["findings"] == []
    for backend in report["backends"]:
        assert backend["counts"]["applied"] >= 5 and backend["counts"]["failed"] == 0, backend


def test_a_migration_failing_part_way_on_mariadb_reports_what_it_left_behind(tmp_path: Path) -> None:
    project = write_project(
        tmp_path / "partial",
        {
            "shop/models.py": MODELS
            + """
    class Tag(models.Model):
        label = models.CharField(max_length=20)
""",
            "shop/migrations/__init__.py": "",
            "shop/migrations/0001_initial.py": INITIAL,
            "shop/migrations/0002_tag_and_index.py": """
            from django.db import migrations, models

            class Migration(migrations.Migration):
                dependencies = [("shop", "0001_initial")]
                operations = [
                    migrations.CreateModel(
                        "Tag",
                        [
                            ("id", models.AutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            )),
                            ("label", models.CharField(max_length=20))],
                    ),
                    # A functional index: PostgreSQL and SQLite accept it, MariaDB has none.
                    migrations.RunSQL(
                        "CREATE INDEX shop_tag_label_lower ON shop_tag (lower(label))",
                        "DROP INDEX shop_tag_label_lower",
                    ),
                ]
        """,
        },
    )
    result, report = check(project)
    assert result.returncode == 1, result.output
    [failure] = [finding for finding in report["findings"] if finding["kind"] == "migration_failure"]
    assert failure["code"] == "PM101"
    assert failure["details"]["migration"] == "shop.0002_tag_and_index"
    assert set(failure["backends"]) == {"sqlite", "postgresql", "mariadb"}
    assert failure["backends"]["mariadb"]["outcome"] == "failed"
    assert failure["backends"]["postgresql"]["outcome"] == "applied"
    assert "1064" in failure["backends"]["mariadb"]["message"]
    assert failure["details"]["left_applied"] == {"mariadb": ["table shop_tag created"]}
    assert "not transactional" in failure["hint"]
    assert failure["location"]["path"] == "shop/migrations/0002_tag_and_index.py"


def test_runpython_without_reverse_is_irreversible_and_linted(tmp_path: Path) -> None:
    project = write_project(
        tmp_path / "irreversible",
        {
            "shop/models.py": MODELS,
            "shop/migrations/__init__.py": "",
            "shop/migrations/0001_initial.py": INITIAL,
            "shop/migrations/0002_fill.py": """
            from django.db import migrations

            def fill(apps, schema_editor):
                apps.get_model("shop", "Item").objects.create(code="seed")

            class Migration(migrations.Migration):
                dependencies = [("shop", "0001_initial")]
                operations = [migrations.RunPython(fill)]
        """,
        },
    )
    result, report = check(project)
    assert result.returncode == 1, result.output
    [irreversible] = [finding for finding in report["findings"] if finding["kind"] == "migration_irreversible"]
    assert irreversible["code"] == "PM102"
    assert irreversible["details"]["migration"] == "shop.0002_fill"
    assert set(irreversible["backends"]) == {"sqlite", "postgresql", "mariadb"}
    lint = [finding for finding in report["findings"] if finding["kind"] == "migration_lint"]
    assert [finding["code"] for finding in lint] == ["PM302"]
    assert lint[0]["location"] == {"path": "shop/migrations/0002_fill.py", "line": 9}


def test_a_conditional_unique_constraint_missing_on_mariadb_is_a_schema_divergence(tmp_path: Path) -> None:
    constraint = 'models.UniqueConstraint(fields=["code"], condition=models.Q(active=True), name="uniq_active_code")'
    project = write_project(
        tmp_path / "schema",
        {
            "shop/models.py": f"""
            from django.db import models

            class Item(models.Model):
                code = models.CharField(max_length=20)
                active = models.BooleanField(default=True)

                class Meta:
                    constraints = [{constraint}]
        """,
            "shop/migrations/__init__.py": "",
            "shop/migrations/0001_initial.py": f"""
            from django.db import migrations, models

            class Migration(migrations.Migration):
                initial = True
                operations = [
                    migrations.CreateModel(
                        "Item",
                        [

                                ("id", models.AutoField(
                                    auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                                )),
                            ("code", models.CharField(max_length=20)),
                            ("active", models.BooleanField(default=True)),
                        ],
                        options={{"constraints": [{constraint}]}},
                    ),
                ]
        """,
        },
    )
    result, report = check(project)
    assert result.returncode == 1, result.output
    divergences = [finding for finding in report["findings"] if finding["kind"] == "schema_divergence"]
    assert divergences, report["findings"]
    [divergence] = divergences
    assert divergence["code"] == "PM103"
    assert divergence["details"]["table"] == "shop_item"
    assert "missing" in divergence["backends"]["mariadb"]["message"]


def test_a_model_changed_without_a_migration_is_reported(tmp_path: Path) -> None:
    project = write_project(
        tmp_path / "missing",
        {
            "shop/models.py": MODELS + "        label = models.CharField(max_length=10, default='')\n",
            "shop/migrations/__init__.py": "",
            "shop/migrations/0001_initial.py": INITIAL,
        },
    )
    result, report = check(project)
    assert result.returncode == 1, result.output
    [missing] = [finding for finding in report["findings"] if finding["kind"] == "missing_migration"]
    assert missing["code"] == "PM104"
    assert "label" in missing["message"]


def test_plan_shows_each_backends_sql_and_since_limits_the_check(tmp_path: Path) -> None:
    project = write_project(
        tmp_path / "plan",
        {
            "shop/models.py": MODELS,
            "shop/migrations/__init__.py": "",
            "shop/migrations/0001_initial.py": INITIAL,
        },
    )
    git = ["git", "-C", str(project), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "initial"], check=True)
    (project / "shop/models.py").write_text(
        (project / "shop/models.py").read_text() + "    size = models.IntegerField(null=True)\n"
    )
    (project / "shop/migrations/0002_item_size.py").write_text(
        "from django.db import migrations, models\n\n\nclass Migration(migrations.Migration):\n"
        "    dependencies = [('shop', '0001_initial')]\n"
        "    operations = [migrations.AddField('item', 'size', models.IntegerField(null=True))]\n"
    )
    result, report = check(project, "--plan", "--since", "HEAD")
    assert result.returncode == 0, result.output
    assert "checking 1 migration file(s) changed since HEAD: shop/migrations/0002_item_size.py" in result.stdout
    assert 'ALTER TABLE "shop_item" ADD COLUMN "size" integer NULL' in result.stdout  # postgresql
    assert "ALTER TABLE `shop_item` ADD COLUMN `size` integer NULL" in result.stdout  # mariadb
    assert "shop.0002_item_size" in result.stdout
    assert "shop.0001_initial" not in result.stdout  # applied to reach the start, not checked

    # Once committed, nothing changed since HEAD: nothing is checked (a module of a package named migrations
    # that is not Django's does not count), but the models are still compared with the migrations.
    (project / "tools/migrations").mkdir(parents=True)
    (project / "tools/migrations/steps.py").write_text("STEPS = ['size']\n")
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "size"], check=True)
    (project / "tools/migrations/steps.py").write_text("STEPS = ['size', 'colour']\n")
    (project / "shop/models.py").write_text(
        (project / "shop/models.py").read_text() + "    colour = models.CharField(max_length=9, default='')\n"
    )
    result, report = check(project, "--plan", "--since", "HEAD")
    assert "checking 0 migration file(s) changed since HEAD: -" in result.stdout, result.output
    assert "shop.0002_item_size" not in result.stdout
    assert [finding["code"] for finding in report["findings"]] == ["PM104"], result.output


def test_a_bad_since_revision_is_one_line_and_exit_2(tmp_path: Path) -> None:
    project = write_project(
        tmp_path / "nogit",
        {"shop/models.py": MODELS, "shop/migrations/__init__.py": "", "shop/migrations/0001_initial.py": INITIAL},
    )
    result = run_portability(
        "migrations", "--settings", "settings", "--backends", "sqlite", "--since", "v9", cwd=project
    )
    assert result.returncode == 2
    assert result.stderr.startswith("portability: error: --since 'v9': ")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
