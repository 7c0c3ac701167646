"""End to end: a project made by `django-admin startproject` + `startapp` runs with no flags.

Its settings module is only named in manage.py (``os.environ.setdefault(...)``); the harness
reads it from there by parsing the file, never by running it.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.settings_discovery import settings_from_manage_py
from tests.helpers import MARIADB_URL, POSTGRESQL_URL, read_json, run_portability

BIN = Path(sys.executable).parent

MODELS = """\
    from django.db import models


    class Item(models.Model):
        name = models.CharField(max_length=20)
"""

TESTS = """\
    from django.test import TestCase

    from shop.models import Item


    class ItemTests(TestCase):
        def test_create_and_count(self):
            Item.objects.create(name="a")
            self.assertEqual(Item.objects.count(), 1)
"""


def startproject(root: Path) -> Path:
    """`django-admin startproject mysite`, `startapp shop`, a model, its migration and a test."""
    subprocess.run([str(BIN / "django-admin"), "startproject", "mysite"], cwd=root, check=True)
    project = root / "mysite"
    subprocess.run([sys.executable, "-m", "django", "startapp", "shop"], cwd=project, check=True)
    (project / "shop" / "models.py").write_text(textwrap.dedent(MODELS))
    (project / "shop" / "tests.py").write_text(textwrap.dedent(TESTS))
    with (project / "mysite" / "settings.py").open("a") as settings:
        settings.write('\nINSTALLED_APPS += ["shop"]\n')
    subprocess.run([sys.executable, "manage.py", "makemigrations", "shop"], cwd=project, check=True)
    return project


@pytest.mark.e2e
def test_a_startproject_project_runs_with_no_flags(tmp_path: Path) -> None:
    project = startproject(tmp_path)
    report_path = tmp_path / "report.json"
    result = run_portability(
        "run",
        "--json",
        str(report_path),
        cwd=project,
        env={
            "PORTABILITY_POSTGRESQL_URL": POSTGRESQL_URL,
            "PORTABILITY_MARIADB_URL": MARIADB_URL,
            "PORTABILITY_MYSQL_URL": "",  # its default URL: not running here, listed as not reachable
        },
        timeout=300,
    )
    assert result.returncode == 0, result.output
    assert "settings: mysite.settings (from manage.py)" in result.stdout, result.stdout
    report = read_json(report_path)
    statuses = {backend["name"]: backend["status"] for backend in report["backends"]}
    assert {name: statuses[name] for name in ("sqlite", "postgresql", "mariadb")} == dict.fromkeys(
        ("sqlite", "postgresql", "mariadb"), "ran"
    ), report["backends"]
    passed = {backend["name"]: backend["counts"]["passed"] for backend in report["backends"]}
    assert {name: passed[name] for name in ("sqlite", "postgresql", "mariadb")} == dict.fromkeys(
        ("sqlite", "postgresql", "mariadb"), 1
    ), report["backends"]
    assert report["findings"] == []


# ---------------------------------------------------------------- the manage.py parser


STARTPROJECT_MANAGE_PY = '''\
#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""
import os
import sys


def main():
    """Run administrative tasks."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
'''


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (STARTPROJECT_MANAGE_PY, "mysite.settings"),
        (
            "import os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings.local')\n",
            "config.settings.local",
        ),
        ("from os import environ\nenviron.setdefault('DJANGO_SETTINGS_MODULE', 'a.settings')\n", "a.settings"),
        ("import os\nos.environ['DJANGO_SETTINGS_MODULE'] = 'b.settings'\n", "b.settings"),
        # Computed values are not read: that would need manage.py to run.
        ("import os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', os.getenv('X', 'c.settings'))\n", None),
        ("import os\nNAME = 'd.settings'\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', NAME)\n", None),
        ("import os\nos.environ.setdefault('OTHER', 'e.settings')\n", None),
        ("import os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', '')\n", None),
        ("def main(:\n    os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'f.settings')\n", None),
        ("\x00\xff not python", None),
    ],
    ids=[
        "startproject",
        "dotted",
        "from-os-import-environ",
        "assignment",
        "computed",
        "variable",
        "other-variable",
        "empty",
        "syntax-error",
        "binary",
    ],
)
def test_settings_are_read_from_manage_py(tmp_path: Path, source: str, expected: str | None) -> None:
    (tmp_path / "manage.py").write_text(source)
    assert settings_from_manage_py(tmp_path) == expected


def test_no_manage_py_no_settings(tmp_path: Path) -> None:
    assert settings_from_manage_py(tmp_path) is None


def test_a_manage_py_that_names_no_settings_is_the_usual_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "manage.py").write_text("def main(:\n")
    result = run_portability("run", cwd=tmp_path, timeout=60)
    assert result.returncode == 2, result.output
    assert "Traceback" not in result.output
    assert result.stderr.strip().splitlines() == [
        "portability: error: no Django settings module found: pass --settings MODULE, set [tool.portability] "
        "settings or DJANGO_SETTINGS_MODULE, or run from the folder of manage.py"
    ]


def test_settings_from_manage_py_come_last(tmp_path: Path) -> None:
    from harness.config import resolve_settings

    (tmp_path / "manage.py").write_text(STARTPROJECT_MANAGE_PY)
    assert resolve_settings(tmp_path, None, {}) == ("mysite.settings", "manage.py")
    (tmp_path / "pytest.ini").write_text("[pytest]\nDJANGO_SETTINGS_MODULE = from_pytest\n")
    assert resolve_settings(tmp_path, None, {}) == ("from_pytest", "pytest configuration")
