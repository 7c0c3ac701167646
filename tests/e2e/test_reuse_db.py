"""End to end: `portability run --reuse-db` keeps each server's test database between runs.

On a throwaway server of each kind (`portability clean` must not touch the shared ones): an
unchanged project reuses its kept database (same PostgreSQL OID, same marker, the log says
so); a run that finds it locked by another run uses a fresh one; editing a migration
builds a new one and drops the old; outcomes are the same with and without --reuse-db (key
counters too: a test that expects the first key passes on a reused database);
`portability clean` drops kept databases.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.cleanup import READY, Marker
from harness.urls import parse_target_url
from harness.vendors import vendor_for_target
from tests.e2e.test_run import OVERFLOW_PROJECT
from tests.helpers import initial_migration, run_portability, write_project
from tests.servers import throwaway_mariadb, throwaway_postgresql

pytestmark = pytest.mark.e2e

KEPT = re.compile(r"test_portability_keep_[0-9a-f]{12}")
# Runs first; passes on a database as just built only (its rolled-back inserts still advance the key).
FIRST_KEY_TEST = """
    from django.test import TestCase
    from shop.models import Item

    class FirstKeyTests(TestCase):
        def test_first_item_gets_key_1(self):
            self.assertEqual(Item.objects.create(code="k").pk, 1)
"""


def project_with_migration(root: Path, max_length: int) -> Path:
    models = OVERFLOW_PROJECT["shop/models.py"].replace("max_length=5", f"max_length={max_length}")
    return write_project(
        root,
        {
            **OVERFLOW_PROJECT,
            "shop/test_keys.py": FIRST_KEY_TEST,
            "shop/models.py": models,
            "shop/migrations/__init__.py": "",
            "shop/migrations/0001_initial.py": initial_migration(code=f"models.CharField(max_length={max_length})"),
        },
    )


class Server:
    """The throwaway server of one target, seen through the harness's own vendor code."""

    def __init__(self, target: str, server) -> None:
        self.target, self.server, self.url = target, server, server.url
        self.vendor = vendor_for_target(target)

    def connect(self):
        return self.vendor.connect(parse_target_url(self.target, self.url), timeout=5)

    def kept(self) -> dict[str, Marker | None]:
        """The kept test databases on the server, with their markers."""
        connection = self.connect()
        try:
            cursor = connection.cursor()
            cursor.execute(self.vendor.list_databases_query, ["test\\_%"])
            names = [row[0] for row in cursor.fetchall() if KEPT.fullmatch(row[0])]
            marked = self.vendor.marked_test_databases(cursor)
            return {name: Marker.parse(marked.get(name)) for name in names}
        finally:
            connection.close()

    def identity(self, name: str) -> str:
        """What changes when the database is dropped and created again (PostgreSQL: its OID)."""
        if self.target == "postgresql":
            return self.server.psql(f"SELECT oid FROM pg_database WHERE datname = '{name}'").strip()
        return self.server.sql(f"SELECT marker FROM portability_registry.test_databases WHERE name = '{name}'")


def run(project: Path, server: Server, results: Path, *extra: str) -> tuple[str, dict[str, str]]:
    """A run on the server: its worker log and the test outcomes."""
    result = run_portability(
        "run",
        "--settings",
        "settings",
        "--backends",
        server.target,
        "--url",
        f"{server.target}={server.url}",
        "--results-dir",
        str(results),
        *extra,
        cwd=project,
        timeout=120,
    )
    assert result.returncode in (0, 1), result.output
    records = [json.loads(line) for line in (results / f"{server.target}.jsonl").read_text().splitlines()]
    outcomes = {record["nodeid"]: record["outcome"] for record in records if record["type"] == "test"}
    return (results / f"{server.target}.log").read_text(), outcomes


@pytest.mark.parametrize("target", ["postgresql", "mariadb"])
def test_reuse_db_keeps_reuses_rebuilds_and_clean_drops(tmp_path, target):
    with throwaway_postgresql() if target == "postgresql" else throwaway_mariadb() as throwaway:
        server = Server(target, throwaway)
        project = project_with_migration(tmp_path / "proj", max_length=5)

        log, first = run(project, server, tmp_path / "r1", "--reuse-db")
        assert "building kept test database" in log, log
        kept = server.kept()
        assert len(kept) == 1, kept
        (name, marker), identity = next(iter(kept.items())), server.identity(next(iter(kept)))
        assert marker is not None and marker.kept and marker.kept.startswith(name[-12:]) and marker.state == READY

        # Unchanged project: the same database, not rebuilt.
        log, second = run(project, server, tmp_path / "r2", "--reuse-db")
        assert f"reusing kept test database {name}" in log, log
        assert server.identity(name) == identity and list(server.kept()) == [name]
        # Without --reuse-db: the same outcomes, the kept database left alone.
        log, plain = run(project, server, tmp_path / "r3")
        assert first == second == plain and plain["shop/tests.py::ItemTests::test_short_code"] == "passed"
        assert second["shop/test_keys.py::FirstKeyTests::test_first_item_gets_key_1"] == "passed"
        assert server.identity(name) == identity

        # Another run holds the kept database: this one uses a fresh one.
        holder = server.connect()
        try:
            assert server.vendor.try_lock(holder.cursor(), name)
            log, locked = run(project, server, tmp_path / "r4", "--reuse-db")
        finally:
            holder.close()
        assert "is in use by another run: using a fresh test database" in log, log
        assert locked == plain and server.identity(name) == identity

        # A changed migration is another signature: a new kept database, the old one dropped.
        project_with_migration(project, max_length=10)
        log, changed = run(project, server, tmp_path / "r5", "--reuse-db")
        assert "building kept test database" in log and f"dropped kept test database {name}" in log, log
        (new_name,) = server.kept()
        assert new_name != name
        assert changed["shop/tests.py::ItemTests::test_code_longer_than_max_length"] == "passed"

        # `portability clean` drops kept databases (none is in use).
        cleaned = run_portability("clean", "--backends", target, "--url", f"{target}={server.url}", cwd=tmp_path)
        assert cleaned.returncode == 0, cleaned.output
        assert f"dropped {new_name} (kept, signature" in cleaned.stdout, cleaned.stdout
        assert server.kept() == {}
