"""Shared helpers for the harness's own tests: write small Django projects, run the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PORTABILITY = [sys.executable, "-m", "harness.cli"]
# The local servers the end-to-end tests use (MariaDB stands in for MySQL here).
POSTGRESQL_URL = os.environ.get("PORTABILITY_POSTGRESQL_URL", "postgres://postgres@127.0.0.1:5432/portability")
MARIADB_URL = os.environ.get("PORTABILITY_MARIADB_URL", "mysql://root@127.0.0.1:3306/portability")

SETTINGS_TEMPLATE = """\
SECRET_KEY = "test-only"
INSTALLED_APPS = {apps!r}
DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}}}
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
"""


def write_project(root: Path, files: dict[str, str], apps: tuple[str, ...] = ("shop",)) -> Path:
    """Write a Django project: settings.py plus the given files (dedented); return its folder.

    Every app in ``apps`` goes into INSTALLED_APPS and gets a package folder, except Django's
    own (``django.contrib.auth`` and the like), which are only listed.
    """
    root.mkdir(parents=True, exist_ok=True)
    (root / "settings.py").write_text(SETTINGS_TEMPLATE.format(apps=list(apps)))
    for app in apps:
        if app.startswith("django."):
            continue
        (root / app).mkdir(exist_ok=True)
        (root / app / "__init__.py").touch()
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(content))
    return root


def initial_migration(**fields: str) -> str:
    """A ``0001_initial`` migration creating ``Item`` with an auto id and the given fields
    (name -> field expression, e.g. ``code="models.CharField(max_length=20)"``)."""
    auto_id = 'models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")'
    indent = "\n" + " " * 20
    columns = "".join(f"{indent}({name!r}, {field})," for name, field in {"id": auto_id, **fields}.items())
    return f"""
    from django.db import migrations, models


    class Migration(migrations.Migration):
        initial = True
        operations = [
            migrations.CreateModel(
                "Item",
                [{columns}
                ],
            ),
        ]
"""


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_portability(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600) -> CliResult:
    """Run the real `portability` command in a subprocess."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("DJANGO_SETTINGS_MODULE", None)
    completed = subprocess.run(
        [*PORTABILITY, *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return CliResult(completed.returncode, completed.stdout, completed.stderr)


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


ALL_THREE = ("sqlite", "postgresql", "mariadb")


def run_with_report(
    project: Path, *extra: str, backends: tuple[str, ...] = ALL_THREE, name: str = "report"
) -> tuple[CliResult, dict]:
    """`portability run` of a project written by write_project on the local servers: the result and
    its JSON report ({} when none was written)."""
    report_path = project / f"{name}.json"
    result = run_portability(
        "run",
        "--settings",
        "settings",
        "--backends",
        ",".join(backends),
        *server_urls(*backends),
        "--json",
        str(report_path),
        *extra,
        cwd=project,
    )
    return result, read_json(report_path) if report_path.exists() else {}


def server_urls(*targets: str) -> list[str]:
    """--url arguments pointing the named targets at the local servers."""
    urls = {"postgresql": POSTGRESQL_URL, "mariadb": MARIADB_URL, "mysql": MARIADB_URL}
    args: list[str] = []
    for target in targets:
        if target in urls:
            args += ["--url", f"{target}={urls[target]}"]
    return args


def server_databases(target: str, like: str = "%") -> set[str]:
    """Names of the databases matching a LIKE pattern on the local server behind ``target``."""
    from harness.urls import parse_target_url
    from harness.vendors import vendor_for_target

    url = POSTGRESQL_URL if target == "postgresql" else MARIADB_URL
    vendor = vendor_for_target(target)
    connection = vendor.connect(parse_target_url(target, url), timeout=5)
    try:
        cursor = connection.cursor()
        cursor.execute(vendor.list_databases_query, [like])
        return {row[0] for row in cursor.fetchall()}
    finally:
        connection.close()


def server_test_databases(target: str) -> set[str]:
    """Names of every ``test_%`` database on the local server behind ``target``."""
    return server_databases(target, "test\\_%")


def pytest_job(project: Path, target: str, results: Path, hash_seed: str | None = None) -> str:
    """One CI job: plain pytest on one backend of a write_project project (tests in tests.py), with the
    harness's plugin writing its results file; its output."""
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "--ds",
        "settings",
        "-o",
        "python_files=tests.py",
    ]
    command += ["--portability-target", target, "--portability-results", str(results)]
    urls = dict(argument.split("=", 1) for argument in server_urls(target)[1::2])
    if target in urls:
        command += ["--portability-url", urls[target]]
    environment = {**os.environ, "PYTHONPATH": str(project), **({"PYTHONHASHSEED": hash_seed} if hash_seed else {})}
    environment.pop("DJANGO_SETTINGS_MODULE", None)
    completed = subprocess.run(command, cwd=project, capture_output=True, text=True, timeout=600, env=environment)
    assert completed.returncode in (0, 1), completed.stdout + completed.stderr
    return completed.stdout
