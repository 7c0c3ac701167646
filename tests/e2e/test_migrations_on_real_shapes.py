"""End to end: what `portability migrations` met on real projects' test apps, each on a throwaway
project on SQLite, PostgreSQL and MariaDB (issue 12): apps without migrations, a failure and what it
leaves unapplied, a migration that changes itself while applying, multi-table inheritance and the
DEFAULT_AUTO_FIELD change on SQLite, and model changes made at run time to apps the project does
not own. Each test fails on the harness before issue 12.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.test_migrations import check
from tests.helpers import initial_migration, write_project

pytestmark = pytest.mark.e2e


# The shop app with one model and its initial migration.
ITEM_APP = {
    "shop/models.py": """
        from django.db import models

        class Item(models.Model):
            code = models.CharField(max_length=20)
    """,
    "shop/migrations/__init__.py": "",
    "shop/migrations/0001_initial.py": initial_migration(code="models.CharField(max_length=20)"),
}


def codes(report: dict) -> list[str]:
    return sorted(finding["code"] for finding in report["findings"])


def test_apps_without_migrations_get_their_tables_as_the_test_runner_makes_them(tmp_path: Path) -> None:
    project = write_project(
        tmp_path / "proj",
        {
            **ITEM_APP,
            # No migrations package: Django's test runner creates these with run_syncdb.
            "legacy/models.py": """
                from django.db import models

                class Ledger(models.Model):
                    name = models.CharField(max_length=40, unique=True)

                class Entry(models.Model):
                    ledger = models.ForeignKey(Ledger, on_delete=models.CASCADE)
                    amount = models.DecimalField(max_digits=8, decimal_places=2)
            """,
        },
        apps=("shop", "legacy"),
    )
    result, report = check(project)
    assert report["findings"] == [], result.output
    assert result.returncode == 0, result.output


CASCADE_MODELS = """
    from django.db import models

    class Item(models.Model):
        code = models.CharField(max_length=20)

    class Note(models.Model):
        body = models.TextField(primary_key=True)
        item = models.ForeignKey(Item, null=True, on_delete=models.CASCADE)
        weight = models.IntegerField(default=0)

    class Label(models.Model):
        note = models.ForeignKey(Note, on_delete=models.CASCADE)
"""


def _migration(name: str, previous: str, operations: str) -> str:
    return f"""
        from django.db import migrations, models

        class Migration(migrations.Migration):
            dependencies = [("shop", "{previous}")]
            operations = [
                {operations}
            ]
    """


def test_a_failure_is_reported_once_with_what_it_left_unapplied(tmp_path: Path) -> None:
    """A TEXT primary key fails on MariaDB (1170); the two migrations after it cannot apply there. One PM101
    says so; the tables they would have made or changed are not compared (no PM103 for each)."""
    project = write_project(
        tmp_path / "proj",
        {
            "shop/models.py": CASCADE_MODELS,
            "shop/migrations/__init__.py": "",
            "shop/migrations/0001_initial.py": initial_migration(code="models.CharField(max_length=20)"),
            "shop/migrations/0002_note.py": _migration(
                "0002_note",
                "0001_initial",
                'migrations.CreateModel("Note", [("body", models.TextField(primary_key=True, serialize=False)), '
                '("item", models.ForeignKey(null=True, on_delete=models.CASCADE, to="shop.item"))]),',
            ),
            "shop/migrations/0003_note_weight.py": _migration(
                "0003_note_weight",
                "0002_note",
                'migrations.AddField("note", "weight", models.IntegerField(default=0)),',
            ),
            "shop/migrations/0004_label.py": _migration(
                "0004_label",
                "0003_note_weight",
                'migrations.CreateModel("Label", [("id", models.AutoField(auto_created=True, primary_key=True, '
                'serialize=False, verbose_name="ID")), ("note", models.ForeignKey(on_delete=models.CASCADE, '
                'to="shop.note"))]),',
            ),
        },
    )
    result, report = check(project, "--ignore", "PM305")
    assert codes(report) == ["PM101"], result.output
    [failure] = report["findings"]
    assert failure["details"]["migration"] == "shop.0002_note" and failure["details"]["phase"] == "apply"
    assert failure["details"]["not_applied"] == {"mariadb": ["shop.0003_note_weight", "shop.0004_label"]}
    assert failure["message"].startswith("shop.0002_note (Create model Note) fails to apply on mariadb")
    assert "2 later migration(s) not applied on mariadb: shop.0003_note_weight, shop.0004_label" in failure["message"]
    assert result.returncode == 1


SELF_CHANGING = """
    from django.db import migrations, models

    class Migration(migrations.Migration):
        dependencies = [("shop", "0001_initial")]
        operations = []

        pg_only_operations = [
            migrations.CreateModel("Chapters", [("id", models.AutoField(primary_key=True, serialize=False))]),
        ]

        # As django-import-export's core.0004_bookwithchapters: a model only PostgreSQL gets.
        def apply(self, project_state, schema_editor, collect_sql=False):
            if schema_editor.connection.vendor == "postgresql":
                self.operations = self.operations + self.pg_only_operations
            return super().apply(project_state, schema_editor, collect_sql)
"""


def test_a_migration_that_reverses_but_cannot_be_applied_again_names_both_steps(tmp_path: Path) -> None:
    """Its operations exist only while it applies, so unapplying it (a new `migrate` process) undoes nothing
    and applying it again fails on PostgreSQL: PM102 with the reverse and the re-apply shown, not a PM101."""
    project = write_project(
        tmp_path / "proj",
        {
            **ITEM_APP,
            "shop/migrations/0002_chapters.py": SELF_CHANGING,
        },
    )
    result, report = check(project)
    assert codes(report) == ["PM102", "PM105"], result.output
    [irreversible] = [f for f in report["findings"] if f["code"] == "PM102"]
    assert irreversible["details"]["phase"] == "reapply"
    assert irreversible["message"] == (
        "shop.0002_chapters: it reverses on postgresql but applying it again then fails (Create model Chapters)"
    )
    postgresql = irreversible["backends"]["postgresql"]
    assert postgresql["outcome"] == "failed"
    assert postgresql["message"].startswith("reverse: reversed; apply again: ")
    assert 'relation "shop_chapters" already exists' in postgresql["message"]
    assert irreversible["backends"]["sqlite"]["outcome"] == "reversed"
    [unmodelled] = [f for f in report["findings"] if f["code"] == "PM105"]
    assert unmodelled["level"] == "note" and unmodelled["details"]["tables"] == {"shop_chapters": ["postgresql"]}
    assert result.returncode == 1


def test_inheritance_chains_and_the_default_auto_field_change_read_alike_everywhere(tmp_path: Path) -> None:
    """A grandchild's parent link is a key to a key (a one-to-one to a one-to-one); SQLite calls an integer
    primary key its rowid, and after the DEFAULT_AUTO_FIELD change its foreign-key columns keep whatever
    integer width was declared (SQLite has no widths). None of it is a difference."""
    models = """
        from django.db import models

        class Place(models.Model):
            id = models.AutoField(primary_key=True)
            name = models.CharField(max_length=40)

        class Shop(Place):
            kind = models.CharField(max_length=10)

        class Kiosk(Shop):
            open_late = models.BooleanField(default=False)

        class Tag(models.Model):
            places = models.ManyToManyField(Place)
            shop = models.ForeignKey(Shop, null=True, on_delete=models.CASCADE)
    """
    auto = 'models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")'
    big = 'models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")'
    ptr = (
        "models.OneToOneField(auto_created=True, on_delete=models.CASCADE, parent_link=True, primary_key=True, "
        'serialize=False, to="shop.{parent}")'
    )
    initial = f"""
        from django.db import migrations, models

        class Migration(migrations.Migration):
            initial = True
            operations = [
                migrations.CreateModel("Place", [("id", models.AutoField(primary_key=True, serialize=False)),
                    ("name", models.CharField(max_length=40))]),
                migrations.CreateModel("Shop", [("place_ptr", {ptr.format(parent="place")}),
                    ("kind", models.CharField(max_length=10))], bases=("shop.place",)),
                migrations.CreateModel("Kiosk", [("shop_ptr", {ptr.format(parent="shop")}),
                    ("open_late", models.BooleanField(default=False))], bases=("shop.shop",)),
                migrations.CreateModel("Tag", [("id", {auto}), ("places", models.ManyToManyField(to="shop.place")),
                    ("shop", models.ForeignKey(null=True, on_delete=models.CASCADE, to="shop.shop"))]),
            ]
    """
    big_ids = _migration(
        "0002_big_ids",
        "0001_initial",
        f'migrations.AlterField("tag", "id", {big}),',
    )
    project = write_project(
        tmp_path / "proj",
        {
            "shop/models.py": models,
            "shop/migrations/__init__.py": "",
            "shop/migrations/0001_initial.py": initial,
            "shop/migrations/0002_big_ids.py": big_ids,
        },
    )
    (project / "settings.py").write_text(
        (project / "settings.py").read_text().replace("models.AutoField", "models.BigAutoField")
    )
    result, report = check(project, "--fail-on", "error")
    assert [f for f in report["findings"] if f["code"].startswith("PM1")] == [], result.output
    assert codes(report) == ["PM313"], result.output  # the DEFAULT_AUTO_FIELD change (a warning)
    assert result.returncode == 0, result.output


def test_model_changes_in_apps_the_project_does_not_own_are_one_note(tmp_path: Path) -> None:
    """The project's app adds a field to auth.Group at run time (as django-modeltranslation does): auth cannot
    get a migration from this project, so that is a note; a change to the project's own models is PM104."""
    project = write_project(
        tmp_path / "proj",
        {
            "shop/__init__.py": "",
            "shop/apps.py": """
                from django.apps import AppConfig
                from django.db import models

                class ShopConfig(AppConfig):
                    name = "shop"

                    def ready(self):
                        from django.contrib.auth.models import Group

                        models.CharField(max_length=40, null=True).contribute_to_class(Group, "nickname")
            """,
            "shop/models.py": """
                from django.db import models

                class Item(models.Model):
                    code = models.CharField(max_length=20)
                    colour = models.CharField(max_length=20, default="")
            """,
            "shop/migrations/__init__.py": "",
            "shop/migrations/0001_initial.py": initial_migration(code="models.CharField(max_length=20)"),
        },
        # shop/apps.py's one AppConfig is used by default.
        apps=("django.contrib.contenttypes", "django.contrib.auth", "shop"),
    )
    result, report = check(project)
    missing = {
        tuple(f["details"].get("apps") or [f["details"]["app"]]): f for f in report["findings"] if f["code"] == "PM104"
    }
    assert set(missing) == {("shop",), ("auth",)}, result.output
    assert missing[("shop",)]["level"] == "warning" and "Add field colour to item" in missing[("shop",)]["message"]
    assert missing[("auth",)]["level"] == "note" and "Add field nickname to group" in missing[("auth",)]["message"]
    assert "apps the project does not own" in missing[("auth",)]["message"]
