"""Drop the test databases a run created, and only those.

Every test database name the harness makes ends with the run's unique token
(see :func:`harness.databases.unique_test_database_name`), so a run's own sweep drops a
database only when its name starts with ``test_`` and ends with that token.

A run that cannot clean up (its worker was killed, its server went away) leaves its test
databases behind; ``portability clean`` drops them later. A name pattern is no proof that
the harness made a database, so every test database is *marked* when it is created (see
:class:`Marker`; where the marker lives is the vendor's business: PostgreSQL's database
comment, a registry table on MySQL/MariaDB), and ``clean`` drops only marked databases
whose run is gone.

Kept test databases (``--reuse-db``, see :mod:`harness.reuse`) carry no run token, so no sweep
drops them; their marker says ``kept=<signature>`` and ``clean`` drops them when no run uses them.
"""

from __future__ import annotations

import os
import re
import socket
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from harness.config import Target
from harness.databases import run_suffix

# The LIKE pattern of the test databases one run created on one target.
TEST_DATABASE_PATTERN = "test\\_%\\_{token}"
# Every marker's text starts with this.
MARKER_PREFIX = "portability test database"
# What a user runs to drop test databases left by runs that could not clean up.
CLEAN_COMMAND = "portability clean"


def like_literal(text: str) -> str:
    """``text`` matched literally by LIKE (its ``_`` and ``%`` escaped)."""
    return text.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")


def leftover_test_databases(
    target: Target, token: str, timeout: float = 5.0, xdist_worker: str | None = None
) -> list[str]:
    """List the test databases with this run's token still on the target's server (with ``xdist_worker``:
    only that xdist worker's, ``test_%_gw0_<token>``; without: every process of the run's)."""
    vendor = target.vendor
    if not vendor.is_server:
        return []
    suffix = run_suffix(token, xdist_worker)
    connection = vendor.connect(target.database, timeout)
    try:
        cursor = connection.cursor()
        cursor.execute(vendor.list_databases_query, [TEST_DATABASE_PATTERN.format(token=like_literal(suffix))])
        names = [row[0] for row in cursor.fetchall()]
        cursor.close()
    finally:
        connection.close()
    return [name for name in names if name.startswith("test_") and name.endswith(f"_{suffix}")]


def drop_leftover_test_databases(
    target: Target, token: str, timeout: float = 5.0, xdist_worker: str | None = None
) -> list[str]:
    """Drop what :func:`leftover_test_databases` finds; return the names dropped."""
    names = leftover_test_databases(target, token, timeout, xdist_worker)
    if not names:
        return []
    vendor = target.vendor
    connection = vendor.connect(target.database, timeout)
    try:
        cursor = connection.cursor()
        for name in names:
            cursor.execute(drop_statement(vendor, name))
            vendor.unmark_test_database(cursor, name)
        cursor.close()
    finally:
        connection.close()
    return names


def drop_statement(vendor: Any, name: str) -> str:
    return f"DROP DATABASE IF EXISTS {vendor.quote_template.format(name)}"


def leftover_hint(names: list[str] | tuple[str, ...], vendor: Any) -> str:
    """How to drop test databases left on a server, for a reason or a message."""
    listed = ", ".join(names)
    statements = " ".join(f"{drop_statement(vendor, name)};" for name in names)
    return (
        f"test database(s) left on the server: {listed}; once the server is back, drop them with "
        f"`{CLEAN_COMMAND}` (or: {statements})"
    )


# ---------------------------------------------------------------- markers


# The states of a kept test database: READY once a run ended cleanly with it (the next run may reuse
# it); BUSY while a run builds or uses it (found so by a later run: that run died, so it is rebuilt).
READY, BUSY = "ready", "busy"


@dataclass(frozen=True)
class Marker:
    """Who created a test database: the run's token, the worker's pid and host, and when.

    A kept test database (--reuse-db) also carries its signature (``kept``) and ``state``.
    """

    token: str
    pid: int
    host: str
    created: str
    kept: str | None = None
    state: str | None = None

    @classmethod
    def for_this_process(cls, token: str, kept: str | None = None, state: str | None = None) -> Marker:
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return cls(token=token, pid=os.getpid(), host=socket.gethostname(), created=created, kept=kept, state=state)

    def with_state(self, state: str) -> Marker:
        return replace(self, state=state)

    @property
    def text(self) -> str:
        text = f"{MARKER_PREFIX} run={self.token} pid={self.pid} host={self.host} created={self.created}"
        return text + (f" kept={self.kept} state={self.state}" if self.kept else "")

    @classmethod
    def parse(cls, text: str | None) -> Marker | None:
        match = re.fullmatch(
            re.escape(MARKER_PREFIX) + r" run=(\w+) pid=(\d+) host=(\S+) created=(\S+)(?: kept=(\w+) state=(\w+))?",
            (text or "").strip(),
        )
        if not match:
            return None
        token, pid, host, created, kept, state = match.groups()
        return cls(token=token, pid=int(pid), host=host, created=created, kept=kept, state=state)

    def describe(self) -> str:
        if self.kept:
            built = f"built by run {self.token} on {self.host}, {self.created}"
            return f"kept, signature {self.kept[:12]}, {self.state}; {built}"
        return f"run {self.token}, pid {self.pid} on {self.host}, created {self.created}"


class KeptDatabases(Protocol):
    """What install_markers asks of --reuse-db (harness.reuse.KeptDatabases)."""

    def owns(self, name: str) -> bool: ...

    def before_create(self, name: str) -> None: ...

    def after_create(self, name: str) -> None: ...


def install_markers(
    target: Target,
    token: str,
    on_created: Callable[[str], None] = lambda name: None,
    on_dropped: Callable[[str], None] = lambda name: None,
    skip_drop: Callable[[], bool] = lambda: False,
    kept: KeptDatabases | None = None,
) -> Callable[[], None]:
    """Mark every test database Django creates in this process; return the function that undoes it.

    ``on_created``/``on_dropped`` follow the test databases that exist; when ``skip_drop()`` is
    true (the server is gone), Django's drop is not attempted: it would only wait and fail.
    A test database ``kept`` owns (--reuse-db) is reused or rebuilt, and marked, by ``kept``.
    """
    from django.db.backends.base.creation import BaseDatabaseCreation

    vendor = target.vendor
    original_create = BaseDatabaseCreation._create_test_db
    original_destroy = BaseDatabaseCreation._destroy_test_db

    def _create_test_db(creation: Any, verbosity: int, autoclobber: bool, keepdb: bool = False) -> str:
        ours = creation.connection.vendor == vendor.django_vendor and vendor.is_server
        if ours and kept is not None and kept.owns(creation._get_test_db_name()):
            kept.before_create(creation._get_test_db_name())
            name = original_create(creation, verbosity, autoclobber, True)
            kept.after_create(name)
            return name
        name = original_create(creation, verbosity, autoclobber, keepdb)
        if keepdb or not ours:
            return name
        on_created(name)
        try:
            with creation._nodb_cursor() as cursor:
                vendor.mark_test_database(cursor, name, Marker.for_this_process(token).text)
        except Exception as error:  # noqa: BLE001 - a missing marker only means `clean` cannot see it
            warnings.warn(f"portability: could not mark test database {name}: {error}", stacklevel=1)
        return name

    def _destroy_test_db(creation: Any, test_database_name: str, verbosity: int) -> None:
        if creation.connection.vendor != vendor.django_vendor or not vendor.is_server:
            original_destroy(creation, test_database_name, verbosity)
            return
        if skip_drop():
            return
        original_destroy(creation, test_database_name, verbosity)
        on_dropped(test_database_name)
        try:
            with creation._nodb_cursor() as cursor:
                vendor.unmark_test_database(cursor, test_database_name)
        except Exception as error:  # noqa: BLE001 - a stale registry row is ignored by `clean`
            warnings.warn(f"portability: could not unmark test database {test_database_name}: {error}", stacklevel=1)

    BaseDatabaseCreation._create_test_db = _create_test_db
    BaseDatabaseCreation._destroy_test_db = _destroy_test_db

    def uninstall() -> None:
        BaseDatabaseCreation._create_test_db = original_create
        BaseDatabaseCreation._destroy_test_db = original_destroy

    return uninstall


# ---------------------------------------------------------------- portability clean

DROPPED, WOULD_DROP, SKIPPED, FAILED = "dropped", "would drop", "skipped", "failed"


@dataclass
class CleanAction:
    """What `clean` did (or would do) with one marked test database."""

    target: str
    name: str
    marker: Marker | None
    action: str
    reason: str = ""


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def why_alive(vendor: Any, cursor: Any, name: str, marker: Marker | None, host: str) -> str:
    """Why the run that made a test database may still be alive ("" when it is certainly gone)."""
    cursor.execute(vendor.sessions_query, [name])
    sessions = cursor.fetchone()[0]
    if sessions:
        return f"{sessions} session(s) are connected to it: its run is still alive"
    if marker is None:
        return "its marker cannot be read"
    if marker.kept:
        # Kept for later runs: in use only while a run holds its lock (its builder is long gone).
        return "a run is using it (it holds its lock)" if vendor.lock_in_use(cursor, name) else ""
    if marker.host != host:
        return f"it was created on another host ({marker.host}): its run may still be alive there"
    if process_alive(marker.pid):
        return f"its worker (pid {marker.pid}) is still running"
    return ""


def clean_target(target: Target, *, dry_run: bool, force: bool, timeout: float = 5.0) -> list[CleanAction]:
    """Drop the marked test databases on the target's server whose run is gone."""
    vendor = target.vendor
    host = socket.gethostname()
    actions = []
    connection = vendor.connect(target.database, timeout)
    try:
        cursor = connection.cursor()
        for name, text in sorted(vendor.marked_test_databases(cursor).items()):
            marker = Marker.parse(text)
            alive = why_alive(vendor, cursor, name, marker, host)
            if alive and not force:
                actions.append(CleanAction(target.name, name, marker, SKIPPED, f"{alive} (--force drops it anyway)"))
                continue
            if dry_run:
                actions.append(CleanAction(target.name, name, marker, WOULD_DROP, alive))
                continue
            try:
                cursor.execute(drop_statement(vendor, name))
                vendor.unmark_test_database(cursor, name)
            except Exception as error:  # noqa: BLE001 - reported per database
                actions.append(CleanAction(target.name, name, marker, FAILED, " ".join(str(error).split())[:300]))
                continue
            actions.append(CleanAction(target.name, name, marker, DROPPED, alive))
        cursor.close()
    finally:
        connection.close()
    return actions


def with_embedded_servers(targets: list[Target], requested: list[str]) -> list[Target]:
    """The targets `clean` visits: an embedded:// one on its server if it runs (else left out, nothing of
    it can be cleaned), plus every other running embedded server (as ``postgresql@embedded-<major>``),
    where a run that used one may have left databases; never starts a server."""
    from dataclasses import replace

    from harness import embedded
    from harness.urls import parse_target_url
    from harness.vendors import vendor_for_target

    visited, seen = [], set()
    for target in targets:
        if target.embedded is not None:
            server = embedded.find_running(target.embedded)
            if server is None:
                continue
            target = replace(target, url=server.url, database=parse_target_url(target.name, server.url))
            seen.add(server.data_dir)
        visited.append(target)
    if requested and not any(vendor_for_target(name).target == "postgresql" for name in requested):
        return visited
    for data_dir, _pid in embedded.running_servers():
        major = data_dir.name.rpartition("-")[2]
        server = embedded.find_running(major)
        if server is None or data_dir in seen:
            continue
        name = f"postgresql@embedded-{major}"
        visited.append(Target(name, server.url, "embedded", parse_target_url(name, server.url)))
    return visited


def clean_servers(
    targets: list[Target], requested: list[str], *, dry_run: bool, force: bool, say: Callable[[str], None]
) -> int:
    """`portability clean`: each configured server once; return the exit code.

    0: no marked test database is left (with --dry-run: none would be dropped); 1: some are left
    (skipped, failed, or listed by --dry-run); 3: a server named in --backends did not answer.
    """
    from harness.errors import EXIT_BACKEND_UNAVAILABLE, EXIT_FINDINGS, EXIT_SAME
    from harness.probe import probe

    servers: dict[tuple, list[Target]] = {}
    for target in targets:
        if target.vendor.is_server:
            key = (target.vendor.list_databases_query, target.database.get("HOST"), target.database.get("PORT"))
            servers.setdefault(key, []).append(target)
    code, counts = EXIT_SAME, dict.fromkeys((DROPPED, WOULD_DROP, SKIPPED, FAILED), 0)
    for same_server in servers.values():
        target = same_server[0]
        names = "/".join(other.name for other in same_server)
        answer = probe(target, timeout=3.0)
        if not answer.reachable:
            quiet = all(other.url_source == "default" and other.name not in requested for other in same_server)
            if not quiet:  # a target nobody configured (its default URL) where no server runs
                say(f"{names}: not reachable at {target.masked_url} ({answer.reason}): not cleaned")
            if any(other.name in requested for other in same_server):
                code = EXIT_BACKEND_UNAVAILABLE
            continue
        actions = clean_target(target, dry_run=dry_run, force=force)
        if not actions:
            say(f"{names}: no test database left by a portability run at {target.masked_url}")
        for action in actions:
            counts[action.action] += 1
            made = f" ({action.marker.describe()})" if action.marker else ""
            why = f": {action.reason}" if action.reason else ""
            say(f"{names}: {action.action} {action.name}{made}{why}")
    summary = ", ".join(f"{count} {action}" for action, count in counts.items() if count)
    say(f"clean: {summary or 'nothing to do'}" + (" (dry run: nothing was dropped)" if dry_run else ""))
    if code == EXIT_SAME and (counts[WOULD_DROP] or counts[SKIPPED] or counts[FAILED]):
        code = EXIT_FINDINGS
    return code
