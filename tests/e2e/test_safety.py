"""End to end: `portability run` fails cleanly on bad input, hides passwords and cleans its databases up.

Every test runs the real CLI in a subprocess against the local PostgreSQL and MariaDB
servers. Projects point at a database name unique to the test (``safety_<hex>``), so
the test databases a run creates (``test_safety_<hex>_<token>``) can be told apart
from those of anyone else using the same servers at the same time.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.helpers import (
    MARIADB_URL,
    PORTABILITY,
    POSTGRESQL_URL,
    CliResult,
    read_json,
    run_portability,
    server_databases,
    server_test_databases,
    server_urls,
    write_project,
)

pytestmark = pytest.mark.e2e

SERVERS = ("postgresql", "mariadb")
PASSWORD = "S3cretPassw0rd"
CLI_TIMEOUT = 60
# Environment that makes the `mysql` target use its default URL (port 3307, where nothing listens).
DEFAULT_MYSQL_ENV = {"PORTABILITY_MYSQL_URL": ""}

MODELS = """\
    from django.db import models


    class Item(models.Model):
        name = models.CharField(max_length=20)
"""

DB_TEST = """\
    import pytest

    from shop.models import Item


    @pytest.mark.django_db
    def test_create():
        Item.objects.create(name="a")
        assert Item.objects.count() == 1
"""

SLEEPING_DB_TESTS = """\
    import time

    import pytest

    from shop.models import Item


    @pytest.mark.django_db
    @pytest.mark.parametrize("n", range({count}))
    def test_create_and_wait(n):
        Item.objects.create(name=str(n))
        time.sleep({seconds})
        assert Item.objects.count() == 1
"""


# ---------------------------------------------------------------- helpers


def db_project(root: Path, tests: str = DB_TEST) -> Path:
    return write_project(root, {"shop/models.py": MODELS, "shop/tests.py": tests})


def new_tag() -> str:
    """A database name unique to one test: its test databases start with ``test_<tag>_``."""
    return f"safety_{secrets.token_hex(4)}"


def with_database(url: str, name: str, password: str | None = None) -> str:
    """The URL with another database name (and optionally a password)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if password is not None:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.partition(":")[0] or ("postgres" if parts.scheme.startswith("postgres") else "root")
        netloc = f"{user}:{password}@{hostport}"
    return urlunsplit((parts.scheme, netloc, f"/{name}", parts.query, parts.fragment))


def tagged_urls(tag: str, *targets: str) -> list[str]:
    """--url arguments pointing the targets at the local servers, with the test's database name."""
    base = {"postgresql": POSTGRESQL_URL, "mariadb": MARIADB_URL}
    args: list[str] = []
    for target in targets:
        args += ["--url", f"{target}={with_database(base[target], tag)}"]
    return args


# The harness's own database on MySQL/MariaDB, where it marks the test databases it creates.
REGISTRY_DATABASE = "portability_registry"


def non_test_databases() -> dict[str, set[str]]:
    return {
        target: {name for name in server_databases(target) if not name.startswith("test_")} - {REGISTRY_DATABASE}
        for target in SERVERS
    }


def tagged_test_databases(tag: str) -> dict[str, set[str]]:
    """The test databases of this test's runs still on each server."""
    return {
        target: {name for name in server_test_databases(target) if name.startswith(f"test_{tag}")} for target in SERVERS
    }


def assert_one_error_line(result: CliResult, exit_code: int, *words: str) -> str:
    """Exit code as expected, exactly one ``portability: error:`` line on stderr with the words, no traceback."""
    assert "Traceback" not in result.output, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("portability: error: "), line
    for word in words:
        assert word in line, f"{word!r} not in {line!r}"
    assert result.returncode == exit_code, result.output
    return line


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def start_portability(args: list[str], cwd: Path, out: Path) -> subprocess.Popen:
    """Start `portability` like a user at a terminal would; stdout/stderr go to files in ``out``."""
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    out.mkdir(parents=True, exist_ok=True)
    with (out / "stdout").open("w") as stdout, (out / "stderr").open("w") as stderr:
        return subprocess.Popen(
            [*PORTABILITY, *args],
            cwd=cwd,
            env=env,
            stdout=stdout,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            # A process started in the background of a shell may inherit SIGINT ignored; Ctrl-C at a
            # terminal is what is simulated, so Python must install its KeyboardInterrupt handler.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )


def stop(process: subprocess.Popen) -> None:
    """Leave nothing running behind a failed test."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def assert_password_absent(result: CliResult, *paths: Path) -> None:
    assert PASSWORD not in result.stdout, result.stdout
    assert PASSWORD not in result.stderr, result.stderr
    for path in paths:
        text = path.read_text(errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            assert PASSWORD not in line, f"password in {path.name}:{number}: {line.strip()[:200]}"


def report_files(json_path: Path, results_dir: Path) -> list[Path]:
    files = sorted(results_dir.glob("*.jsonl")) + sorted(results_dir.glob("*.log"))
    return ([json_path] if json_path.exists() else []) + files


# ---------------------------------------------------------------- bad input: one line, exit 2


def test_unknown_settings_module_is_one_line_exit_2(tmp_path):
    project = db_project(tmp_path / "proj")
    result = run_portability(
        "run", "--settings", "no_such_pkg.settings", "--backends", "sqlite", cwd=project, timeout=CLI_TIMEOUT
    )
    assert_one_error_line(result, 2, "no_such_pkg.settings", "not found")


def test_settings_that_raise_on_import_is_one_line_exit_2(tmp_path):
    project = db_project(tmp_path / "proj")
    (project / "broken_settings.py").write_text('from settings import *\nraise RuntimeError("settings exploded")\n')
    result = run_portability(
        "run", "--settings", "broken_settings", "--backends", "sqlite", cwd=project, timeout=CLI_TIMEOUT
    )
    assert_one_error_line(result, 2, "broken_settings", "RuntimeError", "settings exploded")


def test_unknown_target_is_one_line_exit_2(tmp_path):
    project = db_project(tmp_path / "proj")
    result = run_portability("run", "--settings", "settings", "--backends", "oracle", cwd=project, timeout=CLI_TIMEOUT)
    line = assert_one_error_line(result, 2, "oracle", "unknown target")
    for known in ("sqlite", "postgresql", "mysql", "mariadb"):
        assert known in line


@pytest.mark.parametrize(
    "url",
    ["notaurl", "postgres://u:p@host:notaport/db"],
    ids=["no-scheme", "bad-port"],
)
def test_malformed_url_is_one_line_exit_2(tmp_path, url):
    project = db_project(tmp_path / "proj")
    result = run_portability(
        "run", "--settings", "settings", "--url", f"postgresql={url}", cwd=project, timeout=CLI_TIMEOUT
    )
    assert_one_error_line(result, 2, "malformed URL", "postgresql")


def test_missing_driver_is_one_line_exit_2(tmp_path):
    project = db_project(tmp_path / "proj")
    fake = tmp_path / "fake_site"
    (fake / "psycopg2").mkdir(parents=True)
    (fake / "psycopg2" / "__init__.py").write_text('raise ImportError("No module named psycopg2 (simulated)")\n')
    result = run_portability(
        "run",
        "--settings",
        "settings",
        "--backends",
        "postgresql",
        *server_urls("postgresql"),
        cwd=project,
        env={"PYTHONPATH": str(fake)},
        timeout=CLI_TIMEOUT,
    )
    assert_one_error_line(result, 2, "psycopg2", "not installed", "pip install psycopg2-binary")


# ---------------------------------------------------------------- unreachable backends


@pytest.mark.parametrize(
    ("target", "args", "hint"),
    [
        ("mysql", [], "docker compose up -d --wait mysql"),
        (
            "postgresql",
            ["--url", "postgresql=postgres://postgres@127.0.0.1:1/x"],
            "docker compose up -d --wait postgresql",
        ),
    ],
    ids=["mysql-default-url", "postgresql-port-1"],
)
def test_requested_unreachable_backend_exits_3(tmp_path, target, args, hint):
    project = db_project(tmp_path / "proj")
    result = run_portability(
        "run",
        "--settings",
        "settings",
        "--backends",
        target,
        *args,
        cwd=project,
        env=DEFAULT_MYSQL_ENV,
        timeout=CLI_TIMEOUT,
    )
    assert_one_error_line(result, 3, repr(target), "not reachable", "(connection refused)", hint)


@pytest.mark.parametrize(
    "mysql_url",
    ["", "mysql://root@127.0.0.1:3307/x"],
    ids=["default-left-out", "configured-listed"],
)
def test_unrequested_unreachable_backend_and_run_goes_on(tmp_path, mysql_url):
    """Nothing listens on the mysql target's port: left out when nobody configured it, listed when the
    environment names its URL."""
    project = db_project(tmp_path / "proj")
    tag = new_tag()
    before = non_test_databases()
    json_path = tmp_path / "report.json"
    result = run_portability(
        "run",
        "--settings",
        "settings",
        "--json",
        str(json_path),
        *tagged_urls(tag, *SERVERS),
        cwd=project,
        env={"PORTABILITY_MYSQL_URL": mysql_url},
        timeout=CLI_TIMEOUT,
    )
    assert result.returncode == 0, result.output
    assert "Traceback" not in result.output
    mysql_lines = [line for line in result.stdout.splitlines() if "mysql" in line and "not reachable" in line]
    statuses = {backend["name"]: backend["status"] for backend in read_json(json_path)["backends"]}
    if mysql_url:
        assert any(
            "connection refused: no server answers at 127.0.0.1:3307" in line
            and "docker compose up -d --wait mysql" in line
            and "PORTABILITY_MYSQL_URL" in line
            for line in mysql_lines
        ), result.stdout
        assert statuses == {"sqlite": "ran", "postgresql": "ran", "mysql": "not reachable", "mariadb": "ran"}
    else:
        assert not mysql_lines, result.stdout
        assert statuses == {"sqlite": "ran", "postgresql": "ran", "mariadb": "ran"}
    assert tagged_test_databases(tag) == {"postgresql": set(), "mariadb": set()}
    assert non_test_databases() == before


# ---------------------------------------------------------------- passwords


def password_url(tag: str) -> str:
    return with_database(POSTGRESQL_URL, tag, password=PASSWORD)


@pytest.mark.parametrize("source", ["--url", "environment"])
def test_password_never_shown_when_backend_runs(tmp_path, source):
    project = db_project(tmp_path / "proj")
    tag = new_tag()
    url = password_url(tag)
    json_path, results_dir = tmp_path / "report.json", tmp_path / "results"
    args = ["--url", f"postgresql={url}"] if source == "--url" else []
    env = {"PORTABILITY_POSTGRESQL_URL": url} if source == "environment" else {}
    result = run_portability(
        "run",
        "--settings",
        "settings",
        "--backends",
        "sqlite,postgresql",
        *args,
        "--json",
        str(json_path),
        "--results-dir",
        str(results_dir),
        cwd=project,
        env=env,
        timeout=CLI_TIMEOUT,
    )
    assert result.returncode == 0, result.output
    statuses = {backend["name"]: backend["status"] for backend in read_json(json_path)["backends"]}
    assert statuses == {"sqlite": "ran", "postgresql": "ran"}
    files = report_files(json_path, results_dir)
    assert {path.name for path in files} >= {"report.json", "postgresql.jsonl", "postgresql.log"}
    assert_password_absent(result, *files)
    assert "postgres:***@" in result.stdout


def test_password_never_shown_when_requested_backend_unreachable(tmp_path):
    project = db_project(tmp_path / "proj")
    json_path, results_dir = tmp_path / "report.json", tmp_path / "results"
    url = f"postgres://postgres:{PASSWORD}@127.0.0.1:1/x"
    result = run_portability(
        "run",
        "--settings",
        "settings",
        "--backends",
        "postgresql",
        "--url",
        f"postgresql={url}",
        "--json",
        str(json_path),
        "--results-dir",
        str(results_dir),
        cwd=project,
        timeout=CLI_TIMEOUT,
    )
    assert_one_error_line(result, 3, "'postgresql'", "not reachable", "postgres:***@127.0.0.1:1/x")
    assert_password_absent(result, *report_files(json_path, results_dir))


def test_password_never_shown_when_worker_cannot_connect(tmp_path):
    """The probe connects, but Django's own connection fails inside the worker (an OPTIONS problem).

    pytest's tracebacks print the arguments of every frame, psycopg2.connect's DSN among them.
    """
    project = db_project(tmp_path / "proj")
    tag = new_tag()
    json_path, results_dir = tmp_path / "report.json", tmp_path / "results"
    url = password_url(tag) + "?sslmode=bogus"
    result = run_portability(
        "run",
        "--settings",
        "settings",
        "--backends",
        "postgresql",
        "--url",
        f"postgresql={url}",
        "--json",
        str(json_path),
        "--results-dir",
        str(results_dir),
        cwd=project,
        timeout=CLI_TIMEOUT,
    )
    assert result.returncode in (1, 2), result.output
    assert "Traceback" not in result.stderr
    assert_password_absent(result, *report_files(json_path, results_dir))
    assert tagged_test_databases(tag)["postgresql"] == set()


# ---------------------------------------------------------------- test databases


def test_ctrl_c_drops_every_test_database(tmp_path):
    project = db_project(tmp_path / "proj", SLEEPING_DB_TESTS.format(count=1, seconds=60))
    tag = new_tag()
    before = non_test_databases()
    process = start_portability(
        ["run", "--settings", "settings", "--backends", "postgresql,mariadb", *tagged_urls(tag, *SERVERS)],
        project,
        tmp_path / "out",
    )
    seen: dict[str, set[str]] = {}

    def both_created() -> bool:
        seen.update(tagged_test_databases(tag))
        return all(seen[target] for target in SERVERS) or process.poll() is not None

    try:
        assert wait_until(both_created, timeout=60), "no test database appeared within 60 s"
        assert process.poll() is None, (tmp_path / "out" / "stderr").read_text()
        for target in SERVERS:
            assert all(re.fullmatch(rf"test_{tag}_\w+", name) for name in seen[target]), seen
        process.send_signal(signal.SIGINT)
        returncode = process.wait(60)
    finally:
        stop(process)
    stderr = (tmp_path / "out" / "stderr").read_text()
    assert returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "interrupted" in stderr
    assert tagged_test_databases(tag) == {"postgresql": set(), "mariadb": set()}
    assert non_test_databases() == before


def test_two_concurrent_runs_do_not_collide(tmp_path):
    project = db_project(tmp_path / "proj", SLEEPING_DB_TESTS.format(count=3, seconds=1))
    tag = new_tag()
    before = non_test_databases()
    args = ["run", "--settings", "settings", "--backends", "postgresql,mariadb", *tagged_urls(tag, *SERVERS)]
    processes = [
        start_portability([*args, "--json", str(tmp_path / f"report{n}.json")], project, tmp_path / f"out{n}")
        for n in (1, 2)
    ]
    seen: dict[str, set[str]] = {target: set() for target in SERVERS}
    most_at_once = dict.fromkeys(SERVERS, 0)
    try:
        deadline = time.monotonic() + 60
        while any(process.poll() is None for process in processes) and time.monotonic() < deadline:
            for target, names in tagged_test_databases(tag).items():
                seen[target] |= names
                most_at_once[target] = max(most_at_once[target], len(names))
            time.sleep(0.05)
        returncodes = [process.wait(5) for process in processes]
    finally:
        for process in processes:
            stop(process)
    outputs = [
        (tmp_path / f"out{n}" / "stdout").read_text() + (tmp_path / f"out{n}" / "stderr").read_text() for n in (1, 2)
    ]
    assert returncodes == [0, 0], outputs
    for n in (1, 2):
        report = read_json(tmp_path / f"report{n}.json")
        assert {backend["name"]: backend["counts"]["passed"] for backend in report["backends"]} == {
            "postgresql": 3,
            "mariadb": 3,
        }, outputs
    # Each run had its own test database on each server, and both existed at the same time.
    assert {target: len(names) for target, names in seen.items()} == {"postgresql": 2, "mariadb": 2}, seen
    assert most_at_once == {"postgresql": 2, "mariadb": 2}, (most_at_once, seen)
    assert tagged_test_databases(tag) == {"postgresql": set(), "mariadb": set()}
    assert non_test_databases() == before
