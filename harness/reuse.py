"""``--reuse-db``: keep each server backend's test database between runs while what shapes it is unchanged.

The kept database is named by a *signature* of everything that decides its schema and contents
(:func:`database_signature`): ``test_<name>[_gw0]_keep_<signature[:12]>``. A changed signature is
simply another name: the old kept database is dropped when the new one is built.

Two runs must never share one: a run takes a server-wide lock on the kept database's name (a
PostgreSQL advisory lock, a MySQL/MariaDB GET_LOCK), held by a connection of its own for as long as
the run lives. A run that cannot take it (another run uses the kept database) builds a fresh,
run-unique test database instead, as without --reuse-db.

A kept database is marked like any test database (see :class:`harness.cleanup.Marker`), plus its
signature and state: ``busy`` while a run builds or uses it, ``ready`` once that run ended cleanly
and left it as if just built. A run that finds it ``busy`` (and gets its lock) rebuilds it.

"As if just built": tests roll back their rows, but not the key counters their inserts advanced
(a test asserting ``pk == 1`` passes on a fresh database only). So once the database is set up,
its tables' contents and key counters are read; at the run's end, if the contents are the same
(a TransactionTestCase's flush changes them), the counters are set back and the database is ready;
else it is rebuilt by the next run. SQLite in memory is always fresh.

The query recorder names the rows made while a test database is built (content types,
permissions: harness.identity) by watching their inserts; a reused database is not built, so
the recorder's labels of a build are saved (a file in the user's cache folder, per server and
kept database) and loaded when the database is reused; without that file it is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import Any

from harness.cleanup import BUSY, READY, Marker, drop_statement, like_literal
from harness.config import Target
from harness.databases import SIGNATURE_LENGTH, kept_test_database_name
from harness.results import SCHEMA_VERSION

# Connection timeout of the lock connection.
LOCK_CONNECT_TIMEOUT = 5.0
# The per-alias settings that shape a test database (NAME, credentials and host do not).
SHAPING_KEYS = ("ENGINE", "OPTIONS", "TIME_ZONE")
# Where the query recorder's labels of each kept database's build are saved.
LABELS_FOLDER = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "portability" / "kept"


def database_signature(product: str, server_version: str, databases: dict[str, dict[str, Any]]) -> str:
    """A hash of what shapes the test databases: Django's version, the server's product and version,
    the results schema version, the DATABASES settings that reach the test database (TEST but its
    NAME, ENGINE, OPTIONS, TIME_ZONE), every migration file of every installed app (its content),
    and every model's state as the migration autodetector sees it (for apps without migrations, or
    TEST MIGRATE False). Django must be set up."""
    import django
    from django.apps import apps

    digest = hashlib.sha256()

    def add(*parts: str | bytes) -> None:
        for part in parts:
            data = part if isinstance(part, bytes) else part.encode()
            digest.update(len(data).to_bytes(8, "big") + data)

    add("django", django.get_version(), "server", product, server_version, "schema", str(SCHEMA_VERSION))
    shaping = {
        alias: {
            **{key: settings.get(key) for key in SHAPING_KEYS},
            "TEST": {key: value for key, value in settings.get("TEST", {}).items() if key != "NAME"},
        }
        for alias, settings in databases.items()
    }
    add("databases", json.dumps(shaping, sort_keys=True, default=str))
    for app_config in sorted(apps.get_app_configs(), key=lambda config: config.label):
        for relative, content in migration_files(app_config.label):
            add("migration", app_config.label, relative, content)
    for model in sorted(apps.get_models(include_auto_created=True), key=lambda model: model._meta.label_lower):
        add("model", model_state_text(model))
    return digest.hexdigest()


def migration_files(app_label: str) -> list[tuple[str, bytes]]:
    """Every ``.py`` file of the app's migrations package (MIGRATION_MODULES honoured), by relative path."""
    from django.db.migrations.loader import MigrationLoader

    module_name, _ = MigrationLoader.migrations_module(app_label)
    if module_name is None:
        return []
    try:
        module = import_module(module_name)
    except ImportError:
        return []
    files = []
    for folder in map(Path, getattr(module, "__path__", [])):
        for path in sorted(folder.rglob("*.py")):
            files.append((str(path.relative_to(folder)), path.read_bytes()))
    return files


def model_state_text(model: type) -> str:
    """A model as the migration autodetector sees it (fields, options, bases, managers), stable across runs."""
    from django.db.migrations.state import ModelState

    state = ModelState.from_model(model)
    fields = [(name, _stable(value)) for name, value in state.fields.items()]
    managers = [(name, _stable(manager)) for name, manager in state.managers]
    bases = [_stable(base) for base in state.bases]
    return repr((state.app_label, state.name, fields, _stable(state.options), bases, managers))


@contextmanager
def _closing(connection: Any) -> Iterator[Any]:
    try:
        yield connection
    finally:
        connection.close()


def _stable(value: Any) -> str:
    """How a migration file would write ``value``; its repr without addresses when it cannot."""
    from django.db.migrations.writer import MigrationWriter

    try:
        return MigrationWriter.serialize(value)[0]
    except Exception:  # noqa: BLE001 - makemigrations would refuse it too; its repr still tells changes apart
        return re.sub(r" at 0x[0-9a-fA-F]+", "", repr(value))


@dataclass
class KeptDatabases:
    """The kept test databases of one worker process (one per alias), locked for as long as it runs."""

    target: Target
    token: str
    signature: str
    # alias -> kept test database name.
    names: dict[str, str]
    connection: Any
    say: Callable[[str], None]
    markers: dict[str, Marker] = field(default_factory=dict)
    # name -> (table digests, key counters) once the database is set up (see the module's docstring).
    built_state: dict[str, tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=dict)
    # Queries are recorded: a database is reused only with the recorder's labels of its build.
    recording: bool = False
    reused: set[str] = field(default_factory=set)

    @classmethod
    def acquire(
        cls,
        target: Target,
        token: str,
        signature: str,
        databases: dict[str, dict[str, Any]],
        say: Callable[[str], None],
        xdist_worker: str | None = None,
        recording: bool = False,
    ) -> KeptDatabases | None:
        """Lock the kept test databases of these DATABASES; None when another run holds one of them."""
        vendor = target.vendor
        names = {
            alias: kept_test_database_name(settings["NAME"], signature, vendor.max_database_name_length, xdist_worker)
            for alias, settings in databases.items()
            if not settings.get("TEST", {}).get("MIRROR")
        }
        connection = vendor.connect(target.database, LOCK_CONNECT_TIMEOUT)
        cursor = connection.cursor()
        for name in names.values():
            if not vendor.try_lock(cursor, name):
                say(f"portability: kept test database {name} is in use by another run: using a fresh test database")
                connection.close()  # releases the locks taken so far
                return None
        return cls(target, token, signature, names, connection, say, recording=recording)

    def owns(self, name: str) -> bool:
        return name in self.names.values()

    def before_create(self, name: str) -> None:
        """Keep ``name`` when a run ended cleanly with it under this signature; else drop it (to be built)."""
        vendor = self.target.vendor
        cursor = self.connection.cursor()
        marker = Marker.parse(vendor.marked_test_databases(cursor).get(name))
        exists = bool(self._databases_like(cursor, like_literal(name)))
        ready = exists and marker is not None and marker.kept == self.signature and marker.state == READY
        labelled = not self.recording or (marker is not None and self._saved_labels(name, marker) is not None)
        if ready and labelled:
            self.say(f"portability: reusing kept test database {name} (signature {self.signature[:12]})")
            self.markers[name] = marker
            self.reused.add(name)
            return
        if exists:
            why = "its last run did not finish" if marker and marker.kept else "it carries no kept marker"
            why = "no saved query labels of its build" if ready else why
            self.say(f"portability: rebuilding kept test database {name} ({why})")
            self._drop(cursor, name)
        else:
            self.say(f"portability: building kept test database {name} (signature {self.signature[:12]})")
        self._drop_older(cursor, name)
        self.markers[name] = Marker.for_this_process(self.token, kept=self.signature, state=BUSY)

    def after_create(self, name: str) -> None:
        self._mark(name, BUSY)

    def set_up(self) -> None:
        """The test databases are set up (migrated): read what the run must leave as it is."""
        vendor = self.target.vendor
        for name in self.markers:
            try:
                with _closing(vendor.connect(self.target.database, LOCK_CONNECT_TIMEOUT, database=name)) as connection:
                    cursor = connection.cursor()
                    self.built_state[name] = (vendor.table_digests(cursor), vendor.read_counters(cursor))
            except Exception as error:  # noqa: BLE001 - then it is only not kept for the next run
                self.say(f"portability: cannot read kept test database {name} ({error}): the next run rebuilds it")

    def save_labels(self, identities: Any) -> None:
        """Keep the query recorder's labels of this build for the runs that reuse these databases."""
        built = {name: marker.created + marker.token for name, marker in self.markers.items()}
        LABELS_FOLDER.mkdir(parents=True, exist_ok=True)
        path = self._labels_path()
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_bytes(pickle.dumps({"built": built, "identities": identities}))
        temporary.replace(path)

    def load_labels(self) -> Any:
        """The labels saved by the run that built these databases (None when they do not fit every one)."""
        saved = self._read_labels()
        if saved is None or not all(self._fits(saved, name, marker) for name, marker in self.markers.items()):
            return None
        return saved["identities"]

    def _saved_labels(self, name: str, marker: Marker) -> Any:
        saved = self._read_labels()
        return saved["identities"] if saved is not None and self._fits(saved, name, marker) else None

    @staticmethod
    def _fits(saved: dict[str, Any], name: str, marker: Marker) -> bool:
        """Were the saved labels made by the build of this very database (not an older one of its name)?"""
        return saved["built"].get(name) == marker.created + marker.token

    def _read_labels(self) -> dict[str, Any] | None:
        try:
            return pickle.loads(self._labels_path().read_bytes())  # noqa: S301 - the user's own cache file
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
            return None

    def _labels_path(self) -> Path:
        server = f"{self.target.vendor.target}:{self.target.database.get('HOST')}:{self.target.database.get('PORT')}"
        key = hashlib.sha256("|".join([server, *sorted(self.names.values())]).encode()).hexdigest()[:32]
        return LABELS_FOLDER / f"{key}.labels"

    def finish(self, clean: bool) -> None:
        """When the run ended cleanly, put each kept database back as built and mark it ready; release the locks."""
        try:
            for name in self.markers if clean else ():
                if self._restore(name):
                    self._mark(name, READY)
        finally:
            self.connection.close()

    def _restore(self, name: str) -> bool:
        if name not in self.built_state:
            return False
        vendor = self.target.vendor
        digests, counters = self.built_state[name]
        with _closing(vendor.connect(self.target.database, LOCK_CONNECT_TIMEOUT, database=name)) as connection:
            cursor = connection.cursor()
            if vendor.table_digests(cursor) != digests:
                self.say(
                    f"portability: the tests changed the rows of kept test database {name}: the next run rebuilds it"
                )
                return False
            vendor.reset_counters(cursor, counters)
        return True

    def _mark(self, name: str, state: str) -> None:
        self.markers[name] = self.markers[name].with_state(state)
        self.target.vendor.mark_test_database(self.connection.cursor(), name, self.markers[name].text)

    def _databases_like(self, cursor: Any, pattern: str) -> list[str]:
        cursor.execute(self.target.vendor.list_databases_query, [pattern])
        return [row[0] for row in cursor.fetchall()]

    def _drop(self, cursor: Any, name: str) -> None:
        cursor.execute(drop_statement(self.target.vendor, name))
        self.target.vendor.unmark_test_database(cursor, name)

    def _drop_older(self, cursor: Any, name: str) -> None:
        """Drop the kept databases of the same name under another signature that no run uses now."""
        vendor = self.target.vendor
        prefix = name[:-SIGNATURE_LENGTH]
        marked = vendor.marked_test_databases(cursor)
        for other in self._databases_like(cursor, like_literal(prefix) + "%"):
            marker = Marker.parse(marked.get(other))
            if other == name or marker is None or not marker.kept:
                continue
            if not vendor.try_lock(cursor, other):
                continue  # another run uses it: its own rebuild or `portability clean` drops it later
            try:
                self._drop(cursor, other)
                self.say(f"portability: dropped kept test database {other} (signature {marker.kept[:12]}, outdated)")
            finally:
                vendor.unlock(cursor, other)
