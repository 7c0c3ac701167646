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
"""

from __future__ import annotations

import os
import re
import socket
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.config import Target

# The LIKE pattern of the test databases one run created on one target.
TEST_DATABASE_PATTERN = "test\\_%\\_{token}"
# Every marker's text starts with this.
MARKER_PREFIX = "portability test database"
# What a user runs to drop test databases left by runs that could not clean up.
CLEAN_COMMAND = "portability clean"


def leftover_test_databases(target: Target, token: str, timeout: float = 5.0) -> list[str]:
    """List the test databases with this run's token still on the target's server."""
    vendor = target.vendor
    if not vendor.is_server:
        return []
    connection = vendor.connect(target.database, timeout)
    try:
        cursor = connection.cursor()
        cursor.execute(vendor.list_databases_query, [TEST_DATABASE_PATTERN.format(token=token)])
        names = [row[0] for row in cursor.fetchall()]
        cursor.close()
    finally:
        connection.close()
    return [name for name in names if name.startswith("test_") and name.endswith(f"_{token}")]


def drop_leftover_test_databases(target: Target, token: str, timeout: float = 5.0) -> list[str]:
    """Drop what :func:`leftover_test_databases` finds; return the names dropped."""
    names = leftover_test_databases(target, token, timeout)
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


@dataclass(frozen=True)
class Marker:
    """Who created a test database: the run's token, the worker's pid and host, and when."""

    token: str
    pid: int
    host: str
    created: str

    @classmethod
    def for_this_process(cls, token: str) -> Marker:
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return cls(token=token, pid=os.getpid(), host=socket.gethostname(), created=created)

    @property
    def text(self) -> str:
        return f"{MARKER_PREFIX} run={self.token} pid={self.pid} host={self.host} created={self.created}"

    @classmethod
    def parse(cls, text: str | None) -> Marker | None:
        match = re.fullmatch(
            re.escape(MARKER_PREFIX) + r" run=(\w+) pid=(\d+) host=(\S+) created=(\S+)", (text or "").strip()
        )
        if not match:
            return None
        token, pid, host, created = match.groups()
        return cls(token=token, pid=int(pid), host=host, created=created)

    def describe(self) -> str:
        return f"run {self.token}, pid {self.pid} on {self.host}, created {self.created}"


def install_markers(
    target: Target,
    token: str,
    on_created: Callable[[str], None] = lambda name: None,
    on_dropped: Callable[[str], None] = lambda name: None,
    skip_drop: Callable[[], bool] = lambda: False,
) -> Callable[[], None]:
    """Mark every test database Django creates in this process; return the function that undoes it.

    ``on_created``/``on_dropped`` follow the test databases that exist; when ``skip_drop()`` is
    true (the server is gone), Django's drop is not attempted: it would only wait and fail.
    """
    from django.db.backends.base.creation import BaseDatabaseCreation

    vendor = target.vendor
    original_create = BaseDatabaseCreation._create_test_db
    original_destroy = BaseDatabaseCreation._destroy_test_db

    def _create_test_db(creation: Any, verbosity: int, autoclobber: bool, keepdb: bool = False) -> str:
        name = original_create(creation, verbosity, autoclobber, keepdb)
        if keepdb or creation.connection.vendor != vendor.django_vendor or not vendor.is_server:
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
