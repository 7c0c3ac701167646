"""One target's migration check, run in its own process: apply, reverse, re-apply, introspect.

Run as ``python -m harness.migrations.worker --target NAME --results PATH [--check APP.NAME ...]``
with the project's settings in DJANGO_SETTINGS_MODULE and the target's URL in
PORTABILITY_<TARGET>_URL. It creates an empty, run-unique test database, applies every
migration one at a time, and streams one JSON line per step.
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import os
import platform
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from harness import __version__, lifeline
from harness.cleanup import install_markers
from harness.config import Target, env_url_name, hash_seed_from_env
from harness.databases import ENV_RUN_TOKEN, databases_for_target, new_run_token
from harness.migrations import RUN_SYNCDB
from harness.paths import is_library_path
from harness.probe import probe
from harness.recorder import describe_database_error
from harness.results import SCHEMA_VERSION, ResultsWriter
from harness.urls import parse_target_url
from harness.vendors import vendor_for_target

MigrationKey = tuple[str, str]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True)
    parser.add_argument("--results", required=True, type=Path)
    parser.add_argument("--check-app", help="check only this app's migrations")
    parser.add_argument(
        "--check-paths", type=json.loads, default=None, help="check only the migrations in these files (JSON list)"
    )
    args = parser.parse_args()
    # Stop (and drop the test database) when `portability` dies or is interrupted.
    lifeline.install()
    vendor = vendor_for_target(args.target)
    url = os.environ.get(env_url_name(args.target)) or vendor.default_url
    target = Target(name=args.target, url=url, url_source="worker", database=parse_target_url(args.target, url))
    writer = ResultsWriter(args.results, target.secrets)
    started = time.monotonic()
    # The finish record is written only when the check ran to its end: a worker that raised,
    # crashed or was stopped leaves its results without one, and is reported as partial.
    token = os.environ.get(ENV_RUN_TOKEN) or new_run_token()
    MigrationCheck(target, token, writer, args.check_app, args.check_paths).run()
    writer.write("finish", exitstatus=0, duration=round(time.monotonic() - started, 3))
    writer.close()


class MigrationCheck:
    """Apply, reverse and re-apply the project's migrations on one target."""

    def __init__(
        self, target: Target, token: str, writer: ResultsWriter, app: str | None, paths: list[str] | None
    ) -> None:
        self.target, self.token, self.writer = target, token, writer
        self.app = app
        self.paths = None if paths is None else {os.path.normpath(path) for path in paths}

    def run(self) -> None:
        import django
        from django.conf import settings

        settings.DATABASES = databases_for_target(settings.DATABASES, self.target, self.token)
        django.setup()
        # The test database carries a marker, so `portability clean` can tell it from anything else.
        install_markers(self.target, self.token)
        server = probe(self.target)
        self.writer.write(
            "header",
            schema_version=SCHEMA_VERSION,
            harness_version=__version__,
            target=self.target.name,
            vendor=server.vendor,
            product=server.product,
            server_version=server.version,
            url=self.target.masked_url,
            django_version=django.get_version(),
            python_version=platform.python_version(),
            hash_seed=hash_seed_from_env(),
            started_at=time.time(),
        )
        from django.db import connections

        connection = connections["default"]
        test_name = self._create_empty_database(connection)
        try:
            self._check(connection)
        finally:
            lifeline.entering_cleanup()
            connection.close()
            if self.target.vendor.is_server:
                connection.creation._destroy_test_db(test_name, verbosity=0)

    def _create_empty_database(self, connection: Any) -> str:
        """An empty test database (Django's own creation code), not migrated."""
        if not self.target.vendor.is_server:
            return ":memory:"
        name = connection.creation._create_test_db(verbosity=0, autoclobber=True, keepdb=False)
        connection.close()
        connection.settings_dict["NAME"] = name
        return name

    # ------------------------------------------------------------ the check

    def _check(self, connection: Any) -> None:
        from django.db.migrations.executor import MigrationExecutor

        executor = MigrationExecutor(connection)
        loader = executor.loader
        plan = [migration for migration, _ in executor.migration_plan(loader.graph.leaf_nodes(), clean_start=True)]
        self.writer.write("migration_plan", migrations=[_key_name(m) for m in plan])
        # Apps without migrations get their tables first, as `migrate --run-syncdb` (Django's test runner) does.
        self._sync_unmigrated_apps(connection, sorted(loader.unmigrated_apps))
        failed: dict[MigrationKey, MigrationKey] = {}  # a migration not applied → the failure it stems from
        applied: list[Any] = []
        for migration in plan:
            key = (migration.app_label, migration.name)
            cause = self._blocked_by(loader, key, failed)
            if cause is not None:
                failed[key] = cause
                self._write_step(
                    "apply",
                    migration,
                    "skipped",
                    detail="depends on a migration that failed here",
                    blocked_by=f"{cause[0]}.{cause[1]}",
                )
                continue
            if self._apply(executor, loader, migration):
                applied.append(migration)
            else:
                failed[key] = key
        if failed:
            # What the migrations not applied here would have changed: left out of every schema comparison.
            self.writer.write(
                "not_applied", tables=sorted({table for key in failed for table in _tables_touched(loader, key)})
            )
        self._write_schema(connection)
        self._reverse_and_reapply(connection, [(m.app_label, m.name) for m in applied])

    def _sync_unmigrated_apps(self, connection: Any, labels: list[str]) -> None:
        from django.core.management.commands.migrate import Command as MigrateCommand

        if not labels:
            return
        step = {
            "phase": "apply",
            "migration": RUN_SYNCDB,
            "checked": self.app is None or self.app in labels,
            "path": None,
            "apps": labels,
        }
        command = MigrateCommand(stdout=io.StringIO(), stderr=io.StringIO())
        command.verbosity = 0
        started = time.perf_counter()
        try:
            command.sync_apps(connection, labels)
        except Exception as error:  # noqa: BLE001 - a table Django cannot create here is a result
            status, extra = "failed", {"error": _error_of(error)}
        else:
            status, extra = "applied", {}
        self.writer.write("migration", **step, status=status, duration=round(time.perf_counter() - started, 4), **extra)

    def _is_checked(self, migration: Any) -> bool:
        """Earlier migrations are applied unchecked, only to reach the starting state."""
        if self.app is not None and migration.app_label != self.app:
            return False
        return self.paths is None or os.path.normpath(_relative_path(migration) or "") in self.paths

    @staticmethod
    def _blocked_by(loader: Any, key: MigrationKey, failed: dict[MigrationKey, MigrationKey]) -> MigrationKey | None:
        """The failed migration (at the root of the chain) that an ancestor of ``key`` stems from, if any."""
        return next((failed[ancestor] for ancestor in loader.graph.forwards_plan(key)[:-1] if ancestor in failed), None)

    def _apply(self, executor: Any, loader: Any, migration: Any) -> bool:
        from harness.migrations.schema import introspect

        key = (migration.app_label, migration.name)
        connection = executor.connection
        sql = _collect_sql(loader, migration) if self._is_checked(migration) else []
        # What a failed migration leaves behind matters only where DDL cannot be rolled back (Django's fact,
        # from the server this connection reached).
        before = introspect(connection) if not connection.features.can_rollback_ddl else None
        state = loader.project_state(key, at_end=False)
        started = time.perf_counter()
        try:
            executor.apply_migration(state, migration)
        except Exception as error:  # noqa: BLE001 - any failure of a migration is a result
            left = _left_applied(before, introspect(connection)) if before is not None else []
            self._write_step(
                "apply",
                migration,
                "failed",
                error=_error_of(error),
                sql=sql,
                duration=time.perf_counter() - started,
                left_applied=left,
            )
            return False
        self._write_step("apply", migration, "applied", sql=sql, duration=time.perf_counter() - started)
        return True

    def _reverse_and_reapply(self, connection: Any, applied: list[MigrationKey]) -> None:
        """Unapply back to the start, then apply again: every checked migration must survive both.

        Each phase loads the migrations afresh, as a separate `manage.py migrate` would: a migration
        that changes itself while applying (say, adds operations for one vendor in its apply()) must
        not carry that into its reverse.
        """
        from django.db.migrations.exceptions import IrreversibleError
        from django.db.migrations.executor import MigrationExecutor

        executor = MigrationExecutor(connection)
        loader = executor.loader
        reversed_ok: list[MigrationKey] = []
        for key in reversed(applied):
            migration = loader.graph.nodes[key]
            # Migration.unapply() replays the operations from the state before the migration.
            state = loader.project_state(key, at_end=False)
            try:
                executor.unapply_migration(state, migration)
            except IrreversibleError as error:
                operation = str(error).split(" in ", 1)[0].removeprefix("Operation ")
                self._write_step(
                    "reverse", migration, "irreversible", error={"message": str(error), "operation": operation}
                )
                break
            except Exception as error:  # noqa: BLE001
                self._write_step("reverse", migration, "failed", error=_error_of(error))
                break
            self._write_step("reverse", migration, "reversed")
            reversed_ok.append(key)
        executor = MigrationExecutor(connection)
        loader = executor.loader
        for key in reversed(reversed_ok):
            migration = loader.graph.nodes[key]
            state = loader.project_state(key, at_end=False)
            try:
                executor.apply_migration(state, migration)
            except Exception as error:  # noqa: BLE001
                self._write_step("reapply", migration, "failed", error=_error_of(error))
                break
            self._write_step("reapply", migration, "applied")

    def _write_step(self, phase: str, migration: Any, status: str, **fields: Any) -> None:
        if "duration" in fields:
            fields["duration"] = round(fields["duration"], 4)
        self.writer.write(
            "migration",
            phase=phase,
            migration=_key_name(migration),
            status=status,
            checked=self._is_checked(migration),
            path=_relative_path(migration),
            **fields,
        )

    def _write_schema(self, connection: Any) -> None:
        import django.apps
        from django.db.migrations.autodetector import MigrationAutodetector
        from django.db.migrations.loader import MigrationLoader
        from django.db.migrations.state import ProjectState

        from harness.migrations.schema import expected_schema, introspect

        # The migrations as declared (a fresh load: applying may have changed the instances, see _collect_sql).
        loader = MigrationLoader(connection)
        state_apps = loader.project_state().apps
        # The migration state holds apps without migrations without their relations: those come from the models.
        unmigrated = loader.unmigrated_apps
        expected = expected_schema(state_apps, connection, lambda label: label not in unmigrated)
        expected |= expected_schema(django.apps.apps, connection, lambda label: label in unmigrated)
        self.writer.write("schema", tables=_tables(introspect(connection)), expected=_tables(expected))
        changes = MigrationAutodetector(loader.project_state(), ProjectState.from_apps(django.apps.apps)).changes(
            graph=loader.graph
        )
        for app_label, migrations in sorted(changes.items()):
            operations = [operation.describe() for migration in migrations for operation in migration.operations]
            owned = _is_project_app(django.apps.apps.get_app_config(app_label).path)
            self.writer.write("missing_migration", app=app_label, operations=operations, owned=owned)


def _collect_sql(loader: Any, migration: Any) -> list[str]:
    """The SQL `sqlmigrate` shows for this migration on this backend.

    `sqlmigrate` runs in a process of its own: the SQL is collected from a copy of the migration, so an
    apply() that changes the migration (its operations) does so on the copy, not on the one applied next.
    """
    copied = copy.copy(migration)
    copied.operations = list(migration.operations)
    try:
        return loader.collect_sql([(copied, False)])
    except Exception as error:  # noqa: BLE001 - the apply step reports the real error
        return [f"-- cannot show the SQL: {type(error).__name__}: {' '.join(str(error).split())[:200]}"]


def _error_of(error: BaseException) -> dict[str, Any]:
    described = describe_database_error(error)
    operation = None
    traceback = error.__traceback__
    while traceback is not None:
        frame = traceback.tb_frame
        if frame.f_code.co_name in ("apply", "unapply") and frame.f_code.co_filename.endswith(
            os.path.join("migrations", "migration.py")
        ):
            current = frame.f_locals.get("operation")
            if current is not None:
                operation = current.describe()
        traceback = traceback.tb_next
    return {**described, "operation": operation}


def _is_project_app(path: str) -> bool:
    """Is the app the project's own: under the project folder (the worker's working directory) and not an
    installed package? Only the project can add a migration to it."""
    return not is_library_path(path) and Path(path).resolve().is_relative_to(Path.cwd().resolve())


def _tables_touched(loader: Any, key: MigrationKey) -> set[str]:
    """The tables a migration's operations change, by the project state before and after it (with each
    changed model's auto-created many-to-many tables). RunSQL/RunPython change no model state: unknown."""
    before, after = loader.project_state(key, at_end=False), loader.project_state(key, at_end=True)
    tables = set()
    for model_key in set(before.models) | set(after.models):
        states = [state.models.get(model_key) for state in (before, after)]
        if states[0] is not None and states[1] is not None and states[0] == states[1]:
            continue
        for model in filter(None, states):
            table = model.options.get("db_table") or f"{model.app_label}_{model.name_lower}"
            tables.add(table)
            for name, field in model.fields.items():
                if getattr(field, "many_to_many", False) and not getattr(field.remote_field, "through", None):
                    tables.add(f"{table}_{name}")
    return tables


def _left_applied(before: dict, after: dict) -> list[str]:
    """What a failed, non-transactional migration left behind: tables, columns, constraints."""
    left = [f"table {name} created" for name in sorted(set(after) - set(before))]
    left += [f"table {name} dropped" for name in sorted(set(before) - set(after))]
    for name in sorted(set(before) & set(after)):
        old_columns = {column.name for column in before[name].columns}
        new_columns = {column.name for column in after[name].columns}
        left += [f"column {name}.{column} added" for column in sorted(new_columns - old_columns)]
        left += [f"column {name}.{column} dropped" for column in sorted(old_columns - new_columns)]
        added = after[name].constraints - before[name].constraints
        left += [f"{c.kind} on {name} ({', '.join(c.columns)}) added" for c in sorted(added, key=str)]
    return left


def _tables(schema: dict) -> dict[str, Any]:
    """A schema as JSON: columns in order, constraints sorted."""
    return {
        name: {
            "columns": [asdict(column) for column in table.columns],
            "constraints": sorted((asdict(constraint) for constraint in table.constraints), key=repr),
        }
        for name, table in sorted(schema.items())
    }


def _key_name(migration: Any) -> str:
    return f"{migration.app_label}.{migration.name}"


def _relative_path(migration: Any) -> str | None:
    import sys

    module_file = getattr(sys.modules.get(type(migration).__module__), "__file__", None)
    return os.path.relpath(module_file) if module_file else None


if __name__ == "__main__":
    main()
