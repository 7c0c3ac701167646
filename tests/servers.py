"""Throwaway database servers for fault tests: started on a free port, broken on purpose, removed.

The shared servers (PostgreSQL on 5432, MariaDB on 3306) are never stopped or reconfigured
by a test; a test that needs a server to die, or one that asks for a password, starts its
own here:

    with throwaway_postgresql(password="p@ss") as server:
        server.url          # postgres://postgres:p%40ss@127.0.0.1:PORT/portability
        server.stop()       # a fast shutdown: every connection is closed

    with throwaway_mariadb() as server:
        server.kill()       # SIGKILL, as a crashed or OOM-killed server

Both need root (as in CI) and the Debian packages the machine has (pg_createcluster,
mariadb-install-db); a test that uses them is skipped with the reason when they are missing.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

START_TIMEOUT = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _wait(predicate, what: str, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not come up within {timeout} s")


def _require(*commands: str) -> None:
    missing = [command for command in commands if shutil.which(command) is None]
    if missing:
        pytest.skip(f"throwaway servers need {', '.join(missing)} (Debian's postgresql / mariadb-server packages)")
    if os.geteuid() != 0:
        pytest.skip("throwaway servers are started as root (as in CI)")


def _userinfo(user: str, password: str | None) -> str:
    return f"{quote(user, safe='')}:{quote(password, safe='')}@" if password else f"{user}@"


# ---------------------------------------------------------------- PostgreSQL


@dataclass
class ThrowawayPostgreSQL:
    version: str
    cluster: str
    port: int
    password: str | None

    @property
    def url(self) -> str:
        return f"postgres://{_userinfo('postgres', self.password)}127.0.0.1:{self.port}/portability"

    def _ctl(self, *arguments: str) -> None:
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", self.version, self.cluster, *arguments],
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        self._ctl("start")
        _wait(lambda: _answers(self.port), f"PostgreSQL cluster {self.cluster}")

    def stop(self) -> None:
        """A fast shutdown: the server closes every connection, as an administrator's restart does."""
        self._ctl("stop", "-m", "fast")

    def psql(self, sql: str) -> str:
        """Run SQL over the local socket (trusted), as the postgres superuser."""
        completed = subprocess.run(
            ["psql", "-h", "/var/run/postgresql", "-p", str(self.port), "-U", "postgres", "-Atc", sql],
            check=True,
            capture_output=True,
            text=True,
        )
        return completed.stdout

    def databases(self) -> set[str]:
        return set(self.psql("SELECT datname FROM pg_database").split())


def _postgresql_version() -> str:
    versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
    if not versions:
        pytest.skip("no PostgreSQL installation under /etc/postgresql")
    return versions[-1]


@contextmanager
def throwaway_postgresql(password: str | None = None) -> Iterator[ThrowawayPostgreSQL]:
    """A new PostgreSQL cluster on a free port; TCP logins need ``password`` when one is given."""
    _require("pg_createcluster", "pg_ctlcluster", "pg_dropcluster", "psql")
    version = _postgresql_version()
    server = ThrowawayPostgreSQL(version, f"fault_{secrets.token_hex(4)}", free_port(), password)
    host_auth = "scram-sha-256" if password else "trust"
    subprocess.run(
        [
            "pg_createcluster",
            version,
            server.cluster,
            "-p",
            str(server.port),
            "--",
            "--auth-local=trust",
            f"--auth-host={host_auth}",
        ],
        check=True,
        capture_output=True,
    )
    try:
        server.start()
        if password:
            escaped = password.replace("'", "''")
            server.psql(f"ALTER USER postgres PASSWORD '{escaped}'")
        yield server
    finally:
        subprocess.run(["pg_dropcluster", "--stop", version, server.cluster], capture_output=True)


# ---------------------------------------------------------------- MariaDB


@dataclass
class ThrowawayMariaDB:
    datadir: Path
    port: int
    password: str | None
    process: subprocess.Popen | None = None

    @property
    def socket_path(self) -> Path:
        return self.datadir.parent / "mariadb.sock"

    @property
    def url(self) -> str:
        return f"mysql://{_userinfo('root', self.password)}127.0.0.1:{self.port}/portability"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "mariadbd",
                "--no-defaults",
                f"--datadir={self.datadir}",
                f"--port={self.port}",
                f"--socket={self.socket_path}",
                "--bind-address=127.0.0.1",
                "--user=mysql",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=32M",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(self.datadir.parent / "mariadbd.err").open("w"),
            start_new_session=True,
        )
        _wait(lambda: _answers(self.port) or self.process.poll() is not None, "MariaDB")
        if self.process.poll() is not None:
            raise RuntimeError((self.datadir.parent / "mariadbd.err").read_text()[-2000:])

    def kill(self) -> None:
        """SIGKILL: every connection drops at once, as when the server crashes."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(30)

    def sql(self, statement: str) -> str:
        login = [f"--password={self.password}"] if self.password else []
        completed = subprocess.run(
            ["mariadb", f"--socket={self.socket_path}", "-uroot", *login, "-N", "-B", "-e", statement],
            check=True,
            capture_output=True,
            text=True,
        )
        return completed.stdout

    def databases(self) -> set[str]:
        return set(self.sql("SHOW DATABASES").split())


@contextmanager
def throwaway_mariadb(password: str | None = None) -> Iterator[ThrowawayMariaDB]:
    """A new MariaDB server in a temporary folder on a free port; root logs in with ``password`` (or none)."""
    _require("mariadb-install-db", "mariadbd", "mariadb")
    folder = Path(tempfile.mkdtemp(prefix="portability-mariadb-"))
    server = ThrowawayMariaDB(folder / "data", free_port(), None)
    try:
        shutil.chown(folder, "mysql", "mysql")
        subprocess.run(
            [
                "mariadb-install-db",
                "--no-defaults",
                f"--datadir={server.datadir}",
                "--user=mysql",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            check=True,
            capture_output=True,
        )
        server.start()
        if password:
            escaped = password.replace("\\", "\\\\").replace("'", "\\'")
            for host in ("127.0.0.1", "localhost"):
                server.sql(
                    f"CREATE USER IF NOT EXISTS 'root'@'{host}'; ALTER USER 'root'@'{host}' "
                    f"IDENTIFIED BY '{escaped}'; GRANT ALL ON *.* TO 'root'@'{host}' WITH GRANT OPTION"
                )
            server.password = password
        yield server
    finally:
        server.kill()
        shutil.rmtree(folder, ignore_errors=True)
