"""End to end: every worker of one run gets the same PYTHONHASHSEED, random per run unless given."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.results import SCHEMA_VERSION, ResultsWriter
from tests.helpers import read_json, run_portability, server_urls, write_project

pytestmark = pytest.mark.e2e

ALL_THREE = "sqlite,postgresql,mariadb"

# Each worker appends what its process sees: the seed, and the hash of a string (which
# differs between processes unless they share a seed).
SEED_PROJECT = {
    "shop/models.py": """
        from django.db import models

        class Item(models.Model):
            code = models.CharField(max_length=5)
    """,
    "shop/tests.py": """
        import json
        import os

        from django.db import connection
        from django.test import TestCase

        class SeedTests(TestCase):
            def test_records_the_hash_seed(self):
                with open(os.environ["SEED_LOG"], "a") as log:
                    seen = {
                        "vendor": connection.vendor,
                        "pid": os.getpid(),
                        "seed": os.environ.get("PYTHONHASHSEED"),
                        "hash": hash("x"),
                    }
                    log.write(json.dumps(seen) + "\\n")
    """,
}


def run_seed_project(tmp_path: Path, *extra: str, env: dict[str, str]) -> tuple[object, list[dict], Path]:
    project = write_project(tmp_path / "seed", SEED_PROJECT)
    log = tmp_path / "seeds.jsonl"
    results_dir = tmp_path / "results"
    result = run_portability(
        "run",
        "--settings",
        "settings",
        "--backends",
        ALL_THREE,
        *server_urls("postgresql", "mariadb"),
        "--stability-runs",
        "1",
        "--results-dir",
        str(results_dir),
        "--json",
        str(tmp_path / "report.json"),
        *extra,
        cwd=project,
        env={"SEED_LOG": str(log), **env},
    )
    assert result.returncode == 0, result.output
    seen = [json.loads(line) for line in log.read_text().splitlines()]
    return result, seen, results_dir


def header_seeds(results_dir: Path) -> dict[str, int | None]:
    return {
        path.name: json.loads(path.read_text().splitlines()[0]).get("hash_seed")
        for path in sorted(results_dir.glob("*.jsonl"))
    }


def hash_under(seed: int) -> int:
    completed = subprocess.run(
        [sys.executable, "-c", "print(hash('x'))"],
        env={**os.environ, "PYTHONHASHSEED": str(seed)},
        capture_output=True,
        text=True,
        check=True,
    )
    return int(completed.stdout)


def test_every_worker_of_a_run_gets_one_random_hash_seed(tmp_path: Path) -> None:
    # PYTHONHASHSEED=random is Python's "not fixed": the run picks its own seed.
    result, seen, results_dir = run_seed_project(tmp_path, env={"PYTHONHASHSEED": "random"})
    # Three backends, each run twice (--stability-runs 1): six worker processes.
    assert sorted(entry["vendor"] for entry in seen) == [
        "mysql",
        "mysql",
        "postgresql",
        "postgresql",
        "sqlite",
        "sqlite",
    ]
    assert len({entry["pid"] for entry in seen}) == 6
    [seed] = {entry["seed"] for entry in seen}
    assert seed is not None and seed.isdigit()
    assert {entry["hash"] for entry in seen} == {hash_under(int(seed))}
    # The header line tells the user the seed and how to repeat it.
    match = re.search(r"hash seed: (\d+) \(random; --hash-seed (\d+) repeats it\)", result.stdout)
    assert match and match.group(1) == match.group(2) == seed, result.stdout
    assert set(header_seeds(results_dir).values()) == {int(seed)}
    assert len(header_seeds(results_dir)) == 6
    assert read_json(tmp_path / "report.json")["hash_seed"] == int(seed)


def test_hash_seed_7_makes_every_worker_run_with_7(tmp_path: Path) -> None:
    result, seen, results_dir = run_seed_project(tmp_path, "--hash-seed", "7", env={"PYTHONHASHSEED": "99"})
    assert len(seen) == 6
    assert {entry["seed"] for entry in seen} == {"7"}
    assert {entry["hash"] for entry in seen} == {hash_under(7)}
    assert "hash seed: 7 (from --hash-seed)" in result.stdout
    assert set(header_seeds(results_dir).values()) == {7}
    assert read_json(tmp_path / "report.json")["hash_seed"] == 7


def test_an_environment_hash_seed_is_used_when_none_is_configured(tmp_path: Path) -> None:
    result, seen, _ = run_seed_project(tmp_path, env={"PYTHONHASHSEED": "12345"})
    assert {entry["seed"] for entry in seen} == {"12345"}
    assert "hash seed: 12345 (from PYTHONHASHSEED)" in result.stdout


def test_migration_workers_record_the_runs_hash_seed(tmp_path: Path) -> None:
    project = write_project(
        tmp_path / "migrations",
        {
            "shop/models.py": SEED_PROJECT["shop/models.py"],
            "shop/migrations/__init__.py": "",
            "shop/migrations/0001_initial.py": """
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
                                ("code", models.CharField(max_length=5)),
                            ],
                        ),
                    ]
            """,
        },
    )
    (project / "pyproject.toml").write_text("[tool.portability]\nhash_seed = 4294967295\n")
    results_dir = tmp_path / "results"
    result = run_portability(
        "migrations",
        "--settings",
        "settings",
        "--backends",
        ALL_THREE,
        *server_urls("postgresql", "mariadb"),
        "--results-dir",
        str(results_dir),
        cwd=project,
    )
    assert result.returncode == 0, result.output
    assert "hash seed: 4294967295 (from pyproject.toml [tool.portability] hash_seed)" in result.stdout
    assert header_seeds(results_dir) == dict.fromkeys(["mariadb.jsonl", "postgresql.jsonl", "sqlite.jsonl"], 4294967295)


def write_results(path: Path, target: str, hash_seed: int | None) -> str:
    writer = ResultsWriter(path)
    writer.write("header", schema_version=SCHEMA_VERSION, target=target, vendor=target, hash_seed=hash_seed)
    writer.write("test", nodeid="t.py::a", outcome="passed")
    writer.write("finish", exitstatus=0, duration=1.0)
    writer.close()
    return str(path)


def test_report_warns_once_when_merged_files_ran_with_different_hash_seeds(tmp_path: Path) -> None:
    same = [write_results(tmp_path / f"{target}.jsonl", target, 5) for target in ("sqlite", "postgresql")]
    result = run_portability("report", *same, "--json", str(tmp_path / "same.json"), cwd=tmp_path)
    assert result.returncode == 0, result.output
    assert "hash seed" not in result.stderr
    assert read_json(tmp_path / "same.json")["hash_seed"] == 5

    other = write_results(tmp_path / "mariadb.jsonl", "mariadb", 6)
    result = run_portability("report", *same, other, "--json", str(tmp_path / "mixed.json"), cwd=tmp_path)
    assert result.returncode == 0, result.output
    [warning] = result.stderr.strip().splitlines()
    assert warning.startswith("portability: warning: the results files were run with different hash seeds")
    assert "sqlite 5, postgresql 5, mariadb 6" in warning
    assert read_json(tmp_path / "mixed.json")["hash_seed"] is None
