"""End to end: a backend that cannot be used is one line, exit 3, with the hint that fits its failure.

Wrong password, nothing listening, a server that accepts and never answers, a missing database:
each on a throwaway server or socket, through the real `portability run`; never a docker hint
for an authentication failure, never a password.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from harness.config import Target
from harness.probe import classify_failure, failure_hint
from harness.urls import parse_target_url
from harness.vendors import AUTH_FAILED, UNKNOWN_DATABASE, vendor_for_target
from tests.helpers import CliResult, run_portability, write_project
from tests.servers import free_port, throwaway_mariadb, throwaway_postgresql

pytestmark = pytest.mark.e2e

PASSWORD = "Hint@pw:1/2 #ä"
WRONG = "Wrong@pw:3/4 #ü"
CLI_TIMEOUT = 60
SCHEMES = {"postgresql": "postgres", "mariadb": "mysql"}
USERS = {"postgresql": "postgres", "mariadb": "root"}
ENV = {"postgresql": "PORTABILITY_POSTGRESQL_URL", "mariadb": "PORTABILITY_MARIADB_URL"}


def url(target: str, port: int, password: str = PASSWORD, database: str = "portability") -> str:
    return f"{SCHEMES[target]}://{USERS[target]}:{quote(password, safe='')}@127.0.0.1:{port}/{database}"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(
        tmp_path / "proj",
        {
            # A probe that cannot answer gives up after one second.
            "pyproject.toml": "[tool.portability]\nprobe_timeout = 1\n",
            "shop/tests.py": "def test_nothing():\n    pass\n",
        },
    )


def run_requested(project: Path, target: str, target_url: str) -> CliResult:
    return run_portability(
        "run",
        "--settings",
        "settings",
        "--backends",
        target,
        "--url",
        f"{target}={target_url}",
        cwd=project,
        timeout=CLI_TIMEOUT,
    )


def error_line(result: CliResult, *words: str) -> str:
    """Exit 3, one `portability: error:` line holding the words, no traceback, no password."""
    assert "Traceback" not in result.output, result.output
    assert result.returncode == 3, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("portability: error: requested backend "), line
    for word in words:
        assert word in line, f"{word!r} not in {line!r}"
    for secret in (PASSWORD, WRONG):
        for form in (secret, quote(secret, safe=""), secret[:6], secret[-5:]):
            assert form not in result.output, f"{form!r} shown: {result.output}"
    return line


@pytest.mark.parametrize("target", ["postgresql", "mariadb"])
def test_wrong_password_says_check_the_password_not_docker(project, target):
    server_context = throwaway_postgresql if target == "postgresql" else throwaway_mariadb
    with server_context(password=PASSWORD) as server:
        result = run_requested(project, target, url(target, server.port, WRONG))
    line = error_line(
        result,
        f"'{target}' cannot log in at {SCHEMES[target]}://{USERS[target]}:***@127.0.0.1:{server.port}/portability",
        "(authentication failed)",
        f"check the user and password in the URL ({ENV[target]} or --url)",
    )
    assert "docker" not in line


@pytest.mark.parametrize("target", ["postgresql", "mariadb"])
def test_nothing_listening_says_start_a_server(project, target):
    port = free_port()
    line = error_line(
        run_requested(project, target, url(target, port)),
        f"'{target}' is not reachable at",
        "(connection refused)",
        f"no server answers at 127.0.0.1:{port}: start one (e.g. `docker compose up -d --wait {target}`",
        f"or point --url ({ENV[target]}) at it",
    )
    assert "password" not in line


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never says a word (a firewall that drops, a frozen VM)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        for connection in held:
            connection.close()
        listener.close()


@pytest.mark.parametrize("target", ["postgresql", "mariadb"])
def test_silent_server_times_out_within_seconds(project, silent_port, target):
    started = time.monotonic()
    result = run_requested(project, target, url(target, silent_port))
    elapsed = time.monotonic() - started
    error_line(
        result,
        f"'{target}' is not reachable at",
        "(timed out)",
        f"127.0.0.1:{silent_port} did not answer within 1 s: a firewall or a stopped VM?",
    )
    # The settings check and the probe; the probe alone waits one second.
    assert elapsed < 15, elapsed


def test_unknown_database(project):
    """PostgreSQL: the probe (as Django's test runner) connects to the maintenance database `postgres`;
    a server without it is a real unknown-database failure. MariaDB's probe names no database, so its
    classification is checked on the driver's real error for a missing one."""
    with throwaway_postgresql(password=PASSWORD) as server:
        subprocess.run(
            ["psql", "-h", "/var/run/postgresql", "-p", str(server.port), "-U", "postgres", "-d", "template1"]
            + ["-c", "DROP DATABASE postgres"],
            check=True,
            capture_output=True,
        )
        result = run_requested(project, "postgresql", url("postgresql", server.port))
    error_line(
        result,
        "'postgresql' cannot be used at",
        "(unknown database)",
        f"127.0.0.1:{server.port} has no maintenance database `postgres`",
        f"create it (`createdb -h 127.0.0.1 -p {server.port} postgres`)",
        'database "postgres" does not exist',
    )

    with throwaway_mariadb(password=PASSWORD) as server:
        target_url = url("mariadb", server.port, database="no_such_database")
        target = Target("mariadb", target_url, "--url", parse_target_url("mariadb", target_url))
        import MySQLdb

        with pytest.raises(MySQLdb.OperationalError) as raised:
            MySQLdb.connect(host="127.0.0.1", port=server.port, user="root", password=PASSWORD, db="no_such_database")
        with pytest.raises(MySQLdb.OperationalError) as denied:
            MySQLdb.connect(host="127.0.0.1", port=server.port, user="root", password=WRONG)
    vendor = vendor_for_target("mariadb")
    assert classify_failure(vendor, raised.value) == UNKNOWN_DATABASE
    assert classify_failure(vendor, denied.value) == AUTH_FAILED
    hint = failure_hint(target, UNKNOWN_DATABASE, 1)
    assert hint == (
        f"the database does not exist on 127.0.0.1:{server.port}: create it or fix its name in the URL "
        "(PORTABILITY_MARIADB_URL or --url)"
    )
