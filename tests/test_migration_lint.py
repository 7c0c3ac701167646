"""Static migration lint: each rule fires on a migration written to trigger it, and on nothing else.

Django sets up once per process, so every project is linted in a subprocess through the real CLI
(``python -m harness.migrations.lint``) or a small script calling the Python API.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.migrations.lint import RULES, _collation_targets, sql_problems
from harness.vendors import facts_for
from tests.helpers import REPO, write_project

# One server of each product, at versions current in 2026.
SERVERS_OF_TODAY = {
    "sqlite": facts_for("SQLite"),
    "postgresql": facts_for("PostgreSQL", "16.4"),
    "mysql": facts_for("MySQL", "8.4.3"),
    "mariadb": facts_for("MariaDB", "10.11.9"),
}

HEADER = """\
from django.db import migrations, models
from django.db.models import Func


def forwards(apps, schema_editor):
    pass


class Migration(migrations.Migration):
"""


def migration(name: str, previous: str | None, operations: str, extra: str = "") -> tuple[str, str]:
    """A migration file of app ``shop``: its path and source."""
    dependencies = f"[('shop', '{previous}')]" if previous else "[]"
    body = (
        f"    dependencies = {dependencies}\n{extra}    operations = [\n{textwrap.indent(operations, ' ' * 8)}    ]\n"
    )
    return f"shop/migrations/{name}.py", HEADER + body


# Each migration, the operations it holds, and exactly the codes the lint must report for it.
LONG = "x" * 70
CHAIN: list[tuple[str, str, set[str]]] = [
    (
        "0001_initial",
        """\
migrations.CreateModel("Product", fields=[
    ("id", models.AutoField(primary_key=True)),
    ("name", models.CharField(max_length=100)),
    ("body", models.TextField()),
    ("price", models.IntegerField()),
    ("code", models.CharField(max_length=20)),
]),
migrations.CreateModel("Category", fields=[
    ("id", models.AutoField(primary_key=True)),
    ("name", models.CharField(max_length=50)),
]),
""",
        set(),
    ),
    ("0002_runpython_no_reverse", "migrations.RunPython(forwards),\n", {"PM302"}),
    (
        "0003_runsql",
        """\
migrations.RunSQL('CREATE INDEX "shop_name_idx" ON shop_product (name)', migrations.RunSQL.noop),
migrations.RunSQL("UPDATE shop_product SET price = 0"),
""",
        {"PM301", "PM303"},
    ),
    (
        "0004_long_names",
        f"""\
migrations.AddIndex("product", models.Index(fields=["name"], name="{LONG}")),
migrations.CreateModel("Box", fields=[("id", models.AutoField(primary_key=True))], options={{"db_table": "{LONG}"}}),
""",
        {"PM304"},
    ),
    (
        "0005_text_index",
        'migrations.AddIndex("product", models.Index(fields=["body"], name="product_body_idx")),\n',
        {"PM305"},
    ),
    (
        "0006_key_too_long",
        'migrations.AddField("product", "slug", models.CharField(max_length=1000, null=True, db_index=True)),\n',
        {"PM306"},
    ),
    (
        "0007_collation",
        'migrations.AddField("product", "label", models.CharField(max_length=50, null=True, '
        'db_collation="utf8mb4_bin")),\n',
        {"PM307"},
    ),
    (
        "0008_db_default",
        'migrations.AddField("product", "token", models.CharField(max_length=36, '
        'db_default=Func(function="gen_random_uuid"))),\n',
        {"PM309"},
    ),
    (
        "0009_mixed",
        """\
migrations.AddField("category", "slug", models.CharField(max_length=50, null=True)),
migrations.RunPython(forwards, migrations.RunPython.noop),
""",
        {"PM308"},
    ),
    ("0010_not_null", 'migrations.AddField("product", "weight", models.IntegerField()),\n', {"PM311"}),
    ("0011_remove_field", 'migrations.RemoveField("product", "code"),\n', {"PM312"}),
    (
        "0012_alter_type",
        'migrations.AlterField("product", "price", models.DecimalField(max_digits=10, decimal_places=2)),\n',
        {"PM313"},
    ),
    (
        "0013_unique",
        'migrations.AddConstraint("product", models.UniqueConstraint(fields=["name"], name="uniq_product_name")),\n',
        {"PM314"},
    ),
    (
        # Everything here is the safe way to do what the migrations above do unsafely.
        "0014_clean",
        """\
migrations.AddField("product", "note", models.TextField(blank=True)),
migrations.AddField("category", "legacy", models.CharField(max_length=10, null=True, db_column="legacy_col")),
migrations.RenameField("category", "legacy", "old_legacy"),
migrations.AddField("category", "code", models.CharField(max_length=20, null=True, unique=True)),
migrations.AddField("category", "weight", models.IntegerField(db_default=0)),
migrations.AlterField("product", "label", models.CharField(max_length=80, null=True, db_collation="utf8mb4_bin")),
migrations.CreateModel("Tag", fields=[
    ("id", models.AutoField(primary_key=True)),
    ("name", models.CharField(max_length=50, unique=True)),
    ("created", models.DateTimeField(db_default=models.functions.Now())),
]),
migrations.AddField("tag", "label", models.CharField(max_length=50)),
migrations.RemoveField("tag", "label"),
migrations.AlterModelOptions("tag", {"ordering": ["name"]}),
""",
        set(),
    ),
    (
        "0015_data_only",
        "migrations.RunPython(forwards, migrations.RunPython.noop),\n"
        "migrations.RunSQL(migrations.RunSQL.noop, migrations.RunSQL.noop),\n",
        set(),
    ),
    (
        # A RunSQL subclass that runs only on PostgreSQL: the vendor check in the module guards it.
        "0016_guarded",
        'PostgresOnly("CREATE EXTENSION IF NOT EXISTS pg_trgm", migrations.RunSQL.noop),\n',
        set(),
    ),
    (
        # The same SQL through a RunSQL subclass in a module that never checks the vendor: not guarded.
        "0017_unguarded_subclass",
        'Logged("CREATE EXTENSION IF NOT EXISTS pg_trgm", migrations.RunSQL.noop),\n',
        {"PM301"},
    ),
    (
        # 100 + 1000 characters of utf8mb4 in one key: 4400 bytes; and a unique key on an existing table.
        "0018_composite_key",
        'migrations.AddConstraint("product", models.UniqueConstraint(fields=["name", "slug"], name="uniq_ns")),\n',
        {"PM306", "PM314"},
    ),
    (
        "0019_non_atomic_mixed",
        'migrations.AddField("tag", "slug", models.SlugField(null=True)),\n'
        "migrations.RunPython(forwards, migrations.RunPython.noop),\n",
        set(),
    ),
]

GUARD = """

class PostgresOnly(migrations.RunSQL):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
"""


def write_shop(root: Path) -> Path:
    files = {"shop/migrations/__init__.py": ""}
    previous = None
    for name, operations, _codes in CHAIN:
        extra = "    atomic = False\n" if "non_atomic" in name else ""
        path, source = migration(name, previous, operations, extra)
        if name == "0016_guarded":
            source = source.replace("\n\nclass Migration", GUARD + "\n\nclass Migration", 1)
        if name == "0017_unguarded_subclass":
            source = source.replace(
                "\n\nclass Migration", "\n\nclass Logged(migrations.RunSQL):\n    pass\n\n\nclass Migration", 1
            )
        files[path] = source
        previous = name
    return write_project(root, files)


def run_lint(project: Path, *args: str, settings: str = "settings") -> list[dict]:
    return lint_output(project, *args, settings=settings)["findings"]


def lint_output(project: Path, *args: str, settings: str = "settings") -> dict:
    command = [sys.executable, "-m", "harness.migrations.lint", "--settings", settings, "--project-dir", str(project)]
    result = subprocess.run([*command, *args], capture_output=True, text=True, cwd=project, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_shop(tmp_path_factory.mktemp("lint") / "project")


@pytest.fixture(scope="module")
def findings(shop: Path) -> list[dict]:
    return run_lint(shop)


@pytest.mark.parametrize(("name", "codes"), [(name, codes) for name, _ops, codes in CHAIN], ids=[c[0] for c in CHAIN])
def test_each_migration_reports_exactly_its_rules(findings: list[dict], name: str, codes: set[str]) -> None:
    assert {f["code"] for f in findings if f["migration"] == f"shop.{name}"} == codes


def test_every_registered_rule_is_exercised(findings: list[dict]) -> None:
    assert {rule.code for rule in RULES} <= {f["code"] for f in findings}


def test_codes_and_rule_names_are_one_to_one() -> None:
    assert len({r.code for r in RULES}) == len({r.name for r in RULES}) == len({(r.code, r.name) for r in RULES})


def test_findings_carry_file_line_targets_and_severity(findings: list[dict], shop: Path) -> None:
    (runsql,) = [f for f in findings if f["code"] == "PM303"]
    assert runsql["path"] == "shop/migrations/0003_runsql.py"
    assert runsql["operation"] == 1
    lines = (shop / runsql["path"]).read_text().splitlines()
    assert "UPDATE shop_product" in lines[runsql["line"] - 1]
    assert runsql["severity"] == "warning" and runsql["hint"]

    (quoted,) = [f for f in findings if f["code"] == "PM301" and f["migration"] == "shop.0003_runsql"]
    assert quoted["targets"] == ["mysql", "mariadb"] and quoted["severity"] == "error"
    assert "double-quoted" in quoted["message"] and "\n" not in quoted["message"]

    # Two long names in one migration: one finding (at the first) that lists both.
    (long_names,) = [f for f in findings if f["code"] == "PM304"]
    assert long_names["operation"] == 0 and long_names["hits"] == 2
    assert long_names["message"].startswith("2 operations: index name") and "table name" in long_names["message"]
    assert long_names["targets"] == ["postgresql", "mysql", "mariadb"] and long_names["severity"] == "error"

    by_code: dict[str, dict] = {}
    for finding in findings:  # the first finding of each code
        by_code.setdefault(finding["code"], finding)
    assert by_code["PM305"]["targets"] == ["mysql", "mariadb"]
    assert by_code["PM306"]["targets"] == ["mysql", "mariadb"] and "4000-byte" in by_code["PM306"]["message"]
    (composite,) = [f for f in findings if f["migration"] == "shop.0018_composite_key" and f["code"] == "PM306"]
    assert "4400-byte" in composite["message"]
    assert by_code["PM307"]["targets"] == ["sqlite", "postgresql"]
    assert by_code["PM309"]["targets"] == ["sqlite", "mysql", "mariadb"]
    assert by_code["PM308"]["operation"] == 1 and by_code["PM308"]["targets"] == ["postgresql", "mysql", "mariadb"]
    assert "nullable" in by_code["PM311"]["hint"] and "backfill" in by_code["PM311"]["hint"]
    assert "IntegerField to DecimalField" in by_code["PM313"]["message"]


def test_ignore_by_code_rule_migration_and_migration_code(shop: Path, findings: list[dict]) -> None:
    ignored = run_lint(
        shop,
        *("--ignore", "PM302"),
        *("--ignore", "drops-or-renames-in-use"),
        *("--ignore", "shop.0003_runsql"),
        *("--ignore", "shop.0004_long_names:PM304"),
    )

    def kept(f: dict) -> bool:
        return not (
            f["code"] == "PM302"
            or f["rule"] == "drops-or-renames-in-use"
            or f["migration"] == "shop.0003_runsql"
            or (f["migration"], f["code"]) == ("shop.0004_long_names", "PM304")
        )

    def keys(fs: list[dict]) -> list[tuple]:
        return [(f["migration"], f["operation"], f["code"]) for f in fs]

    assert len(keys(ignored)) < len(keys(findings))
    assert keys(ignored) == keys([f for f in findings if kept(f)])
    assert {f["code"] for f in ignored} >= {"PM301", "PM305", "PM311"}


def test_ignore_entries_that_silence_nothing_are_named(shop: Path) -> None:
    output = lint_output(shop, "--ignore", "PM302", "--ignore", "shop.0099_gone", "--ignore", "shop.0003_runsql:PM304")
    assert output["unused_ignores"] == ["shop.0099_gone", "shop.0003_runsql:PM304"]
    assert not [f for f in output["findings"] if f["code"] == "PM302"]


def test_populated_table_makes_not_null_addfield_an_error(shop: Path) -> None:
    script = textwrap.dedent(
        """
        import json, os, sys
        from pathlib import Path
        sys.path.insert(0, sys.argv[1])
        os.environ["DJANGO_SETTINGS_MODULE"] = "settings"
        import django
        django.setup()
        from django.db.migrations.loader import MigrationLoader
        from harness.migrations.lint import lint_migration
        loader = MigrationLoader(None, ignore_no_migrations=True)
        key = ("shop", "0010_not_null")
        state = loader.project_state(key, at_end=False)
        result = {}
        for populated in ([], ["shop_product"]):
            findings = lint_migration(loader.disk_migrations[key], Path(sys.argv[1]), from_state=state,
                                      populated_tables=frozenset(populated))
            result[str(bool(populated))] = [(f.code, f.severity) for f in findings]
        print(json.dumps(result))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(shop)], capture_output=True, text=True, cwd=shop, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"False": [["PM311", "warning"]], "True": [["PM311", "error"]]}


def test_models_app_only_reports_the_tribble_drop() -> None:
    findings = run_lint(REPO, "--app", "models_app", settings="models_app.settings")
    # 0002 drops Tribble while old code may still use it: a justified rolling-deploy warning. 0003-0005 are the
    # safe nullable → backfill → NOT NULL sequence, so nothing else may fire.
    assert [(f["migration"], f["code"], f["operation"], f["severity"]) for f in findings] == [
        ("models_app.0002_delete_tribble_author_rating", "PM312", 0, "warning")
    ]


@pytest.mark.parametrize(
    ("sql", "breaks_on", "why"),
    [
        ('SELECT "name" FROM shop_product', {"mysql", "mariadb"}, "double-quoted"),
        ("SELECT `name` FROM shop_product", {"postgresql"}, "backtick"),
        ("CREATE EXTENSION IF NOT EXISTS pg_trgm", {"sqlite", "mysql", "mariadb"}, "CREATE EXTENSION"),
        ("SELECT price::text FROM shop_product", {"sqlite", "mysql", "mariadb"}, "::"),
        ("SELECT * FROM t WHERE name ILIKE 'a%'", {"sqlite", "mysql", "mariadb"}, "ILIKE"),
        ("CREATE TABLE t (id SERIAL PRIMARY KEY)", {"sqlite", "mysql", "mariadb"}, "SERIAL"),
        ("CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY) ENGINE=InnoDB", {"sqlite", "postgresql"}, "ENGINE"),
        ("CREATE INDEX IF NOT EXISTS t_a ON t (a)", {"mysql"}, "IF NOT EXISTS"),
        ("CREATE INDEX t_lower ON t (lower(name))", {"mysql", "mariadb"}, "functional"),
        ("DROP INDEX t_a", {"mysql", "mariadb"}, "without ON"),
        ("DROP INDEX t_a ON t", {"sqlite", "postgresql"}, "ON table"),
        ("CREATE INDEX CONCURRENTLY t_a ON t (a)", {"sqlite", "mysql", "mariadb"}, "CONCURRENTLY"),
        ("INSERT INTO t (a) VALUES (1) RETURNING id", {"mysql"}, "RETURNING"),
        ("INSERT INTO t (a) VALUES (1) ON CONFLICT DO NOTHING", {"mysql", "mariadb"}, "ON CONFLICT"),
        ("INSERT INTO t (a) VALUES (1) ON DUPLICATE KEY UPDATE a = 1", {"sqlite", "postgresql"}, "DUPLICATE"),
        ("SELECT * FROM t WHERE a REGEXP '^x'", {"postgresql"}, "REGEXP"),
        ("SELECT * FROM t WHERE a ~ '^x'", {"sqlite", "mysql", "mariadb"}, "~"),
        ("UPDATE t SET a = b || c", {"mysql", "mariadb"}, "||"),
        ("UPDATE t SET created = NOW()", {"sqlite"}, "NOW()"),
    ],
)
def test_sql_patterns(sql: str, breaks_on: set[str], why: str) -> None:
    problems = sql_problems(sql)
    assert {t for targets, _ in problems for t in targets} == breaks_on
    assert any(why in reason for _, reason in problems)


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE shop_product SET price = 0 WHERE name = 'a \"quoted\" :: ILIKE || word'",
        "CREATE INDEX shop_name ON shop_product (name)",
        'DELETE FROM shop_product WHERE price IS NULL -- "comment" `here`',
        "UPDATE shop_product SET created = CURRENT_TIMESTAMP, name = COALESCE(name, LOWER(code))",
    ],
)
def test_portable_sql_has_no_problems(sql: str) -> None:
    assert sql_problems(sql) == []


@pytest.mark.parametrize(
    ("collation", "known_on"),
    [
        ("utf8mb4_bin", ("mysql", "mariadb")),
        ("utf8mb4_0900_ai_ci", ("mysql",)),
        ("utf8mb4_uca1400_ai_ci", ("mariadb",)),
        ("C", ("postgresql",)),
        ("und-x-icu", ("postgresql",)),
        ("en_US.utf8", ("postgresql",)),
        ("NOCASE", ("sqlite",)),
        ("binary", ("sqlite", "mysql", "mariadb")),
        ("made_up", ()),
    ],
)
def test_collation_names(collation: str, known_on: tuple[str, ...]) -> None:
    assert _collation_targets(collation, SERVERS_OF_TODAY) == known_on


@pytest.mark.parametrize(
    ("collation", "product", "known_from", "unknown_before"),
    [
        ("utf8mb4_uca1400_ai_ci", "MariaDB", "10.10", "10.6.21"),
        ("utf8mb4_0900_ai_ci", "MariaDB", "11.4.5", "11.4.4"),
        ("unicode", "PostgreSQL", "16.0", "15.8"),
        ("pg_c_utf8", "PostgreSQL", "17.2", "16.6"),
    ],
)
def test_collation_names_follow_the_server_version(
    collation: str, product: str, known_from: str, unknown_before: str
) -> None:
    """A collation added in a release is known to the servers of that release on, not before."""
    assert _collation_targets(collation, {"new": facts_for(product, known_from)}) == ("new",)
    assert _collation_targets(collation, {"old": facts_for(product, unknown_before)}) == ()


def test_a_default_auto_field_change_is_one_finding_with_its_own_advice(tmp_path: Path) -> None:
    """Three models switched from AutoField to BigAutoField by one migration (what changing DEFAULT_AUTO_FIELD
    generates) are one PM313 naming all three, with the advice for that change."""
    models = ("author", "book", "shelf")
    create = "".join(
        f'migrations.CreateModel("{name.title()}", fields=[("id", models.AutoField(primary_key=True))]),\n'
        for name in models
    )
    switch = "".join(
        f'migrations.AlterField("{name}", "id", models.BigAutoField(primary_key=True, serialize=False)),\n'
        for name in models
    )
    files = dict([migration("0001_initial", None, create), migration("0002_big_ids", "0001_initial", switch)])
    project = write_project(tmp_path / "project", {"shop/migrations/__init__.py": "", **files})
    (finding,) = [f for f in run_lint(project) if f["code"] == "PM313"]
    assert finding["hits"] == 3 and finding["operation"] == 0
    assert finding["message"] == (
        "AlterField changes the primary key of 3 model(s) from AutoField to BigAutoField (the DEFAULT_AUTO_FIELD "
        "change): author, book, shelf"
    )
    assert "default_auto_field" in finding["hint"] and finding["severity"] == "warning"


def test_mariadb_hashes_long_unique_keys_but_not_primary_keys_or_plain_indexes(tmp_path: Path) -> None:
    """MariaDB 10.4+ enforces a UNIQUE constraint of any length through a hidden hash (MDEV-371): TEXT and
    over-long unique keys are fine there, as tried on this machine's MariaDB 10.11 (a TEXT primary key still
    fails with 1170, a plain index over 3072 bytes with 1071); MySQL refuses all of them."""
    operations = """\
migrations.CreateModel("Doc", fields=[
    ("id", models.AutoField(primary_key=True)),
    ("body", models.TextField(unique=True)),
    ("a", models.CharField(max_length=900)),
    ("b", models.CharField(max_length=100)),
], options={"unique_together": {("a", "b")}, "indexes": [models.Index(fields=["a", "b"], name="doc_a_b")]}),
migrations.CreateModel("Page", fields=[("text", models.TextField(primary_key=True))]),
"""
    path, source = migration("0001_initial", None, operations)
    project = write_project(tmp_path / "project", {"shop/migrations/__init__.py": "", path: source})
    findings = run_lint(project, "--server", "mysql=MySQL:8.4.3", "--server", "mariadb=MariaDB:10.11.9")
    hits = {
        hit.split(": ", 1)[-1] if i == 0 else hit for f in findings for i, hit in enumerate(f["message"].split("; "))
    }
    assert (
        "unique=True on Doc.body keys the TextField column(s) body: mysql cannot index TEXT/BLOB without a prefix "
        "length (error 1170)" in hits
    )
    assert (
        "primary_key=True on Page.text keys the TextField column(s) text: mysql, mariadb cannot index TEXT/BLOB "
        "without a prefix length (error 1170)" in hits
    )
    assert "unique_together ('a', 'b') is a 4000-byte key under utf8mb4, over mysql's 3072 (error 1071)" in hits
    assert "index doc_a_b is a 4000-byte key under utf8mb4, over mysql, mariadb's 3072 (error 1071)" in hits
    # Before 10.4 MariaDB refuses them like MySQL.
    older = " ".join(f["message"] for f in run_lint(project, "--server", "mariadb=MariaDB:10.3.39"))
    assert "Doc.body keys the TextField column(s) body: mariadb cannot" in older
