"""Schema introspection and comparison (harness.migrations.schema) against the real servers.

Django can be configured only once per process, so each scenario writes a tiny project (settings,
one app with models and migrations) and runs a driver in a subprocess that migrates a fresh
``test_schema_<hex>`` database per target, introspects it, drops it and prints JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import dj_database_url

from harness.migrations.schema import (
    ColumnInfo,
    ConstraintInfo,
    SchemaDifference,
    TableInfo,
    schema_differences,
)
from tests.helpers import MARIADB_URL, POSTGRESQL_URL, REPO

TARGETS = ("sqlite", "postgresql", "mariadb")

SETTINGS = """\
SECRET_KEY = "test-only"
INSTALLED_APPS = ["shop"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
"""

# Runs in the scenario's project folder: argv[1] is a JSON config {"targets": {name: DATABASES
# entry without NAME}, "probe": SQL that must violate a CHECK constraint, or null}.
DRIVER = """\
import json, os, sys, uuid
os.environ["DJANGO_SETTINGS_MODULE"] = "settings"
sys.path.insert(0, os.getcwd())
import django
from django.conf import settings

config = json.loads(sys.argv[1])
names = {}
for target, database in config["targets"].items():
    names[target] = ":memory:" if target == "sqlite" else "test_schema_" + uuid.uuid4().hex[:12]
    settings.DATABASES[target] = {**database, "NAME": names[target]}
django.setup()

from django.core.management import call_command
from django.db import DatabaseError, connections, transaction
from django.db.migrations.loader import MigrationLoader
from harness.migrations.schema import expected_schema, introspect


def as_json(schema):
    return {
        table: {
            "columns": [vars(c) for c in info.columns],
            "constraints": [vars(c) for c in info.constraints],
        }
        for table, info in schema.items()
    }


def ddl(connection, statement, name):
    with connection._nodb_cursor() as cursor:
        cursor.execute(statement % connection.ops.quote_name(name))


result = {"schemas": {}, "check_enforced": {}}
for target in config["targets"]:
    connection = connections[target]
    server = connection.vendor != "sqlite"
    if server:
        ddl(connection, "CREATE DATABASE %s", names[target])
    try:
        call_command("migrate", database=target, verbosity=0)
        result["schemas"][target] = as_json(introspect(connection))
        if config["probe"]:
            try:
                with transaction.atomic(using=target), connection.cursor() as cursor:
                    cursor.execute(config["probe"])
                result["check_enforced"][target] = False
            except DatabaseError:
                result["check_enforced"][target] = True
    finally:
        if server:
            connection.close()
            ddl(connection, "DROP DATABASE %s", names[target])
state_apps = MigrationLoader(None, ignore_no_migrations=True).project_state().apps
result["expected"] = as_json(expected_schema(state_apps, connections["default"]))
print(json.dumps(result))
"""


def _database(url: str) -> dict:
    settings = dj_database_url.parse(url)
    settings.pop("NAME", None)
    return settings


DATABASES = {
    "sqlite": {"ENGINE": "django.db.backends.sqlite3"},
    "postgresql": _database(POSTGRESQL_URL),
    "mariadb": _database(MARIADB_URL),
}


def _run(args: list[str], cwd: Path) -> str:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "settings", "PYTHONPATH": f"{cwd}{os.pathsep}{REPO}"}
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _table(name: str, data: dict) -> TableInfo:
    columns = tuple(ColumnInfo(**c) for c in data["columns"])
    constraints = frozenset(
        ConstraintInfo(
            kind=c["kind"],
            columns=tuple(c["columns"]),
            name=c["name"],
            condition=c["condition"],
            references=tuple(c["references"]) if c["references"] else None,
        )
        for c in data["constraints"]
    )
    return TableInfo(name, columns, constraints)


def _schema(data: dict) -> dict[str, TableInfo]:
    return {table: _table(table, info) for table, info in data.items()}


def run_scenario(tmp_path: Path, models: str, migrations: dict[str, str] | None = None, probe: str | None = None):
    """Write the project, make its initial migration, migrate every target; return the parsed result."""
    app = tmp_path / "shop"
    (app / "migrations").mkdir(parents=True)
    (tmp_path / "settings.py").write_text(SETTINGS)
    (app / "__init__.py").touch()
    (app / "migrations" / "__init__.py").touch()
    (app / "models.py").write_text(textwrap.dedent(models))
    _run([sys.executable, "-m", "django", "makemigrations", "shop", "-v0"], tmp_path)
    for name, source in (migrations or {}).items():
        (app / "migrations" / name).write_text(textwrap.dedent(source))
    (tmp_path / "driver.py").write_text(DRIVER)
    config = {"targets": {t: DATABASES[t] for t in TARGETS}, "probe": probe}
    result = json.loads(_run([sys.executable, "driver.py", json.dumps(config)], tmp_path))
    schemas = {target: _schema(data) for target, data in result["schemas"].items()}
    return schemas, _schema(result["expected"]), result


PLAIN_MODELS = """\
import uuid

from django.db import models


class Category(models.Model):
    name = models.CharField(max_length=50, unique=True)
    slug = models.SlugField()


class Product(models.Model):
    code = models.CharField(max_length=5)
    description = models.TextField()
    quantity = models.IntegerField(default=0)
    small = models.SmallIntegerField(null=True)
    big = models.BigIntegerField(null=True)
    positive = models.PositiveIntegerField(null=True)
    active = models.BooleanField(default=True)
    created = models.DateTimeField()
    price = models.DecimalField(max_digits=8, decimal_places=2)
    ratio = models.FloatField(null=True)
    uid = models.UUIDField(default=uuid.uuid4)
    data = models.JSONField(null=True)
    blob = models.BinaryField(null=True)
    category = models.ForeignKey(Category, on_delete=models.CASCADE)
    owner = models.ForeignKey(Category, on_delete=models.CASCADE, db_index=False, related_name="+")
    tags = models.ManyToManyField(Category, related_name="tagged")

    class Meta:
        unique_together = [("code", "category")]
        indexes = [models.Index(fields=["created"]), models.Index(fields=["code", "quantity"], name="code_qty_idx")]
        constraints = [models.CheckConstraint(condition=models.Q(quantity__gte=0), name="quantity_not_negative")]


class Stock(models.Model):
    level = models.IntegerField(db_default=3)
    label = models.CharField(max_length=10, null=True, db_default="x")
    on = models.BooleanField(db_default=True)
"""


def test_plain_models_have_the_same_schema_everywhere(tmp_path):
    schemas, expected, _ = run_scenario(tmp_path, PLAIN_MODELS)
    assert set(schemas) == set(TARGETS)
    tables = {"shop_category", "shop_product", "shop_product_tags", "shop_stock"}
    assert set(expected) == tables
    for target, schema in schemas.items():
        assert set(schema) == tables, target
        product = {c.name: c for c in schema["shop_product"].columns}
        assert product["code"].portable_type == "varchar(5)", target
        assert product["uid"].portable_type == "uuid", target
        assert product["data"].portable_type == "json", target
        assert product["active"].portable_type == "boolean", target
        assert product["blob"].portable_type == "binary", target
        assert product["price"].portable_type in {"decimal(8,2)", "decimal"}, target  # SQLite: no precision
        constraints = schema["shop_product"].constraints
        assert ConstraintInfo("unique", ("code", "category_id"), None, False) in constraints, target
        assert ConstraintInfo("index", ("created",), None, False) in constraints, target
        assert ConstraintInfo("check", (), "quantity_not_negative", False) in constraints, target
        assert ConstraintInfo("foreign_key", ("owner_id",), None, False, ("shop_category", "id")) in constraints
        stock = {c.name: c for c in schema["shop_stock"].columns}
        assert (stock["level"].default, stock["label"].default, stock["on"].default) == ("3", "'x'", "1"), target

    assert schema_differences(schemas) == []
    assert schema_differences(schemas, expected) == []


def test_check_constraints_are_enforced_where_introspected(tmp_path):
    models = """\
    from django.db import models


    class Counter(models.Model):
        value = models.IntegerField()

        class Meta:
            constraints = [models.CheckConstraint(condition=models.Q(value__gte=0), name="value_not_negative")]
    """
    schemas, expected, result = run_scenario(tmp_path, models, probe="INSERT INTO shop_counter (value) VALUES (-1)")
    # MariaDB 10.11 introspects the check and really rejects the row, like the others.
    assert result["check_enforced"] == dict.fromkeys(TARGETS, True)
    for schema in [*schemas.values(), expected]:
        assert ConstraintInfo("check", (), "value_not_negative", False) in schema["shop_counter"].constraints
    assert schema_differences(schemas, expected) == []


def test_unsupported_unique_constraints_are_missing_on_mariadb(tmp_path):
    models = """\
    from django.db import models
    from django.db.models.functions import Lower


    class Member(models.Model):
        name = models.CharField(max_length=30)
        email = models.CharField(max_length=60)
        active = models.BooleanField(default=True)

        class Meta:
            constraints = [
                models.UniqueConstraint(fields=["email"], condition=models.Q(active=True), name="one_active_email"),
                models.UniqueConstraint(Lower("name"), name="unique_lower_name"),
                models.UniqueConstraint(fields=["name", "email"], name="unique_name_email"),
            ]
    """
    schemas, expected, _ = run_scenario(tmp_path, models)
    differences = schema_differences(schemas, expected)
    by_subject = {d.subject: d for d in differences}
    assert set(by_subject) == {
        "unique one_active_email (email) conditional",
        "unique unique_lower_name (expression)",
    }, [d.message for d in differences]
    for difference in differences:
        assert difference.table == "shop_member"
        assert difference.per_target == {
            "sqlite": "present",
            "postgresql": "present",
            "mariadb": "missing",
            "models": "present",
        }
        assert difference.message.startswith("shop_member: unique ")
    assert "(email)" in by_subject["unique one_active_email (email) conditional"].message
    # The plain composite unique constraint is created everywhere and is no difference.
    assert all(
        ConstraintInfo("unique", ("name", "email"), None, False) in s["shop_member"].constraints
        for s in schemas.values()
    )
    # Across targets only (no models), the same two are reported.
    assert {d.subject for d in schema_differences(schemas)} == set(by_subject)


def test_nulls_distinct_unique_constraint_exists_only_on_postgresql(tmp_path):
    models = """\
    from django.db import models


    class Slot(models.Model):
        room = models.IntegerField(null=True)

        class Meta:
            constraints = [models.UniqueConstraint(fields=["room"], nulls_distinct=False, name="one_null_room")]
    """
    schemas, expected, _ = run_scenario(tmp_path, models)
    assert schema_differences(schemas, expected) == [
        SchemaDifference(
            table="shop_slot",
            subject="unique one_null_room (room) conditional",
            per_target={"sqlite": "missing", "postgresql": "present", "mariadb": "missing", "models": "present"},
            message="shop_slot: unique one_null_room (room) conditional differs "
            "(sqlite: missing; postgresql: present; mariadb: missing; models: present)",
        )
    ]


def test_column_altered_by_raw_sql_on_one_vendor(tmp_path):
    models = """\
    from django.db import models


    class Item(models.Model):
        code = models.CharField(max_length=5)
    """
    widen = """\
    from django.db import migrations


    def widen_on_postgresql(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute("ALTER TABLE shop_item ALTER COLUMN code TYPE varchar(20)")


    class Migration(migrations.Migration):
        dependencies = [("shop", "0001_initial")]
        operations = [migrations.RunPython(widen_on_postgresql, migrations.RunPython.noop)]
    """
    schemas, expected, _ = run_scenario(tmp_path, models, {"0002_widen.py": widen})
    differences = schema_differences(schemas, expected)
    assert [(d.table, d.subject, d.per_target) for d in differences] == [
        (
            "shop_item",
            "column code",
            {
                "sqlite": "varchar(5) not null",
                "postgresql": "varchar(20) not null",
                "mariadb": "varchar(5) not null",
                "models": "varchar(5) not null",
            },
        )
    ]
    assert "postgresql: varchar(20) not null" in differences[0].message


def test_comparison_rules_without_a_database():
    def table(*columns: ColumnInfo, constraints=()) -> dict[str, TableInfo]:
        return {"t": TableInfo("t", columns, frozenset(constraints))}

    price = ColumnInfo("price", "decimal(8,2)", False, None)
    # SQLite's bare "decimal" (and rowid "auto") cannot say more: compatible, not a difference.
    assert (
        schema_differences(
            {
                "sqlite": table(ColumnInfo("id", "auto", False, None), ColumnInfo("price", "decimal", False, None)),
                "postgresql": table(ColumnInfo("id", "auto(bigint)", False, None), price),
            }
        )
        == []
    )
    # ...but a real precision difference, nullability or a missing table is one.
    differences = schema_differences(
        {"a": table(price), "b": table(ColumnInfo("price", "decimal(10,2)", True, None))},
        {"t": TableInfo("t", (price,), frozenset()), "u": TableInfo("u", (), frozenset())},
    )
    assert [(d.table, d.subject, d.per_target) for d in differences] == [
        (
            "t",
            "column price",
            {"a": "decimal(8,2) not null", "b": "decimal(10,2) null", "models": "decimal(8,2) not null"},
        ),
        ("u", "table", {"a": "missing", "b": "missing", "models": "present"}),
    ]
