"""End to end: output paths that cannot be written, and results files that cannot be read, are one line, exit 2.

An output path is checked before any test runs: a report lost after an hour-long run is the
failure this guards against. Tests run as root here, where chmod does not stop a write, so the
unwritable paths are under /proc, below a regular file, or a folder given as a file.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from harness.results import SCHEMA_VERSION, ResultsWriter
from tests.helpers import run_portability, server_urls, write_project

pytestmark = pytest.mark.e2e

# A bad output path must be refused before anything slow (probes, workers) starts.
QUICK_SECONDS = 20
MARKER = "RAN"
MARKER_TEST = """\
    from pathlib import Path


    def test_ran():
        Path("RAN").touch()
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project whose one test leaves a marker file when it runs; a regular file ``somefile`` beside it."""
    root = write_project(tmp_path / "proj", {"shop/tests.py": MARKER_TEST})
    (tmp_path / "somefile").write_text("not a folder\n")
    return root


def assert_refused(result, started: float, *words: str) -> str:
    """Exit 2 quickly with exactly one `portability: error:` line holding the words, and no traceback."""
    assert time.monotonic() - started < QUICK_SECONDS
    assert "Traceback" not in result.output, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("portability: error: "), lines[0]
    for word in words:
        assert word in lines[0], f"{word!r} not in {lines[0]!r}"
    assert result.returncode == 2, result.output
    return lines[0]


def unwritable(tmp_path: Path, kind: str) -> str:
    return {
        "proc": "/proc/portability-no-such-dir/out",
        "below-a-file": str(tmp_path / "somefile" / "out"),
    }[kind]


@pytest.mark.parametrize("kind", ["proc", "below-a-file", "a-folder"])
@pytest.mark.parametrize("command", ["run", "migrations"])
def test_an_unwritable_json_path_is_refused_before_anything_runs(project, tmp_path, command, kind):
    path = str(tmp_path) if kind == "a-folder" else unwritable(tmp_path, kind) + "/report.json"
    started = time.monotonic()
    result = run_portability(
        command, "--settings", "settings", "--backends", "sqlite", "--json", path, cwd=project, timeout=60
    )
    assert_refused(result, started, "--json", path, "pass a writable file path")
    assert not (project / MARKER).exists()


@pytest.mark.parametrize("kind", ["proc", "below-a-file"])
@pytest.mark.parametrize("command", ["run", "migrations"])
def test_an_unwritable_results_dir_is_refused_before_anything_runs(project, tmp_path, command, kind):
    path = unwritable(tmp_path, kind)
    started = time.monotonic()
    result = run_portability(
        command,
        "--settings",
        "settings",
        "--backends",
        "sqlite,postgresql",
        *server_urls("postgresql"),
        "--results-dir",
        path,
        cwd=project,
        timeout=60,
    )
    assert_refused(result, started, "--results-dir", path, "pass a writable folder")
    assert not (project / MARKER).exists()


def test_a_results_dir_that_is_a_file_is_refused(project, tmp_path):
    started = time.monotonic()
    result = run_portability(
        "run", "--settings", "settings", "--results-dir", str(tmp_path / "somefile"), cwd=project, timeout=60
    )
    assert_refused(result, started, "--results-dir", "it is a file, not a folder")


def test_an_existing_report_is_left_as_it_is_when_the_run_is_refused(project, tmp_path):
    existing = tmp_path / "report.json"
    existing.write_text('{"old": true}\n')
    result = run_portability(
        "run", "--settings", "settings", "--json", str(existing), "--jobs", "0", cwd=project, timeout=60
    )
    assert_refused(result, time.monotonic(), "--jobs")
    assert existing.read_text() == '{"old": true}\n'


def test_a_missing_results_dir_is_created(project, tmp_path):
    results_dir = tmp_path / "new" / "results"
    result = run_portability(
        "run", "--settings", "settings", "--backends", "sqlite", "--results-dir", str(results_dir), cwd=project
    )
    assert result.returncode == 0, result.output
    assert (results_dir / "sqlite.jsonl").is_file()


# ---------------------------------------------------------------- report


def results_file(path: Path) -> Path:
    writer = ResultsWriter(path)
    writer.write("header", schema_version=SCHEMA_VERSION, target="sqlite", vendor="sqlite")
    writer.write("collection", count=1, nodeids=["t.py::a"])
    writer.write("test", nodeid="t.py::a", outcome="passed", duration=0.0)
    writer.write("finish", exitstatus=0, duration=0.1)
    writer.close()
    return path


@pytest.mark.parametrize("kind", ["proc", "below-a-file", "a-folder"])
def test_report_refuses_an_unwritable_json_path(tmp_path, kind):
    (tmp_path / "somefile").write_text("x\n")
    path = str(tmp_path) if kind == "a-folder" else unwritable(tmp_path, kind) + "/report.json"
    started = time.monotonic()
    result = run_portability("report", str(results_file(tmp_path / "sqlite.jsonl")), "--json", path, cwd=tmp_path)
    assert_refused(result, started, "--json", path)


def test_report_on_random_bytes_is_one_line(tmp_path):
    path = tmp_path / "sqlite.jsonl"
    path.write_bytes(os.urandom(2000) + b"\n")
    started = time.monotonic()
    result = run_portability("report", str(path), cwd=tmp_path, timeout=60)
    assert_refused(result, started, "cannot read results file", str(path), "line ")


def test_report_on_a_record_of_the_wrong_shape_is_one_line(tmp_path):
    path = results_file(tmp_path / "sqlite.jsonl")
    with path.open("a") as handle:
        handle.write(json.dumps({"type": "test", "outcome": "passed"}) + "\n")
    result = run_portability("report", str(path), cwd=tmp_path, timeout=60)
    assert_refused(result, time.monotonic(), str(path), "line 5", "'test' record without 'nodeid'")


# ---------------------------------------------------------------- migrations --app


MIGRATED_PROJECT = {
    "shop/models.py": """\
        from django.db import models


        class Item(models.Model):
            name = models.CharField(max_length=20)
    """,
    "shop/migrations/__init__.py": "",
    "shop/migrations/0001_initial.py": """\
        from django.db import migrations, models


        class Migration(migrations.Migration):
            initial = True
            dependencies = []
            operations = [
                migrations.CreateModel(
                    name="Item",
                    fields=[
                        ("id", models.AutoField(primary_key=True, serialize=False)),
                        ("name", models.CharField(max_length=20)),
                    ],
                ),
            ]
    """,
}


def test_preflight_knows_the_apps_with_migrations(tmp_path):
    from harness.config import load_run_config
    from harness.errors import ConfigError
    from harness.execute import preflight

    root = write_project(tmp_path / "proj", MIGRATED_PROJECT, apps=("django.contrib.contenttypes", "shop"))
    config = load_run_config(
        project_dir=str(root),
        settings="settings",
        backends="sqlite",
        urls=[],
        jobs=None,
        json_path=None,
        pytest_args=[],
    )
    assert preflight(config, app="shop") == ["default"]
    with pytest.raises(ConfigError) as caught:
        preflight(config, app="nosuchapp")
    assert str(caught.value) == (
        "--app 'nosuchapp' is not an installed app with migrations: choose one of contenttypes, shop"
    )


def test_migrations_app_that_is_not_installed_is_one_line(tmp_path):
    root = write_project(tmp_path / "proj", MIGRATED_PROJECT)
    started = time.monotonic()
    result = run_portability(
        "migrations", "--settings", "settings", "--backends", "sqlite", "--app", "nosuchapp", cwd=root, timeout=60
    )
    assert_refused(result, started, "--app 'nosuchapp'", "choose one of shop")
