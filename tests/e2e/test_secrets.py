"""End to end: a password with every awkward character never shows, on any output channel.

Throwaway PostgreSQL and MariaDB servers (tests/servers.py) whose superuser logs in with
``p@ss:w/rd%23 #ö?x``; the real `portability run`, `migrations` and `report` get URLs holding
it (percent-encoded, as a URL must carry it; and raw, in malformed variants), through --url and
PORTABILITY_<TARGET>_URL. stdout, stderr, every file in --results-dir and the JSON report are
searched for the password and for each distinctive piece of it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.helpers import CliResult, initial_migration, read_json, run_portability, write_project
from tests.servers import ThrowawayMariaDB, ThrowawayPostgreSQL, throwaway_mariadb, throwaway_postgresql

pytestmark = pytest.mark.e2e

PASSWORD = "p@ss:w/rd%23 #ö?x"
WRONG = "wr0ng@p:a/ss%25 #ü?y"
CLI_TIMEOUT = 120


def pieces(password: str) -> set[str]:
    """The password as written, percent-encoded and JSON-escaped, and each distinctive piece of those."""
    encoded = quote(password, safe="")
    escaped = json.dumps(password)[1:-1]
    whole = {password, encoded, escaped, quote(password)}
    # Every run of 4 characters of each spelling, e.g. 'p@ss', 'w/rd', 'd%23', '%40s', '\\u00f6'.
    return whole | {form[i : i + 4] for form in whole for i in range(len(form) - 3)} | {"%23", "%2523"}


SECRET_PIECES = pieces(PASSWORD) | pieces(WRONG)


def assert_no_secret(result: CliResult, *folders_and_files: Path) -> None:
    channels = {"stdout": result.stdout, "stderr": result.stderr}
    for path in folders_and_files:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path] if path.exists() else []
        for file in files:
            channels[str(file)] = file.read_text(errors="replace")
    for name, text in channels.items():
        shown = sorted(piece for piece in SECRET_PIECES if piece in text)
        assert not shown, f"{shown} shown in {name}:\n{text[:3000]}"


MODELS = """\
    from django.db import models


    class Item(models.Model):
        name = models.CharField(max_length=20)
"""

INITIAL = initial_migration(name="models.CharField(max_length=20)")

DB_TEST = """\
    import pytest

    from shop.models import Item


    @pytest.mark.django_db
    def test_create():
        Item.objects.create(name="a")
        assert Item.objects.count() == 1
"""


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[ThrowawayPostgreSQL, ThrowawayMariaDB]]:
    with throwaway_postgresql(password=PASSWORD) as postgresql, throwaway_mariadb(password=PASSWORD) as mariadb:
        yield postgresql, mariadb


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(
        tmp_path / "proj",
        {
            "shop/models.py": MODELS,
            "shop/migrations/__init__.py": "",
            "shop/migrations/0001_initial.py": INITIAL,
            "shop/tests.py": DB_TEST,
        },
    )


def statuses(report_path: Path) -> dict[str, str]:
    return {backend["name"]: backend["status"] for backend in read_json(report_path)["backends"]}


@pytest.mark.parametrize("postgresql_via", ["--url", "environment"])
def test_password_never_shown_by_run_and_report(servers, project, tmp_path, postgresql_via):
    """Both servers run the suite: PostgreSQL's URL on the command line and MariaDB's in the environment,
    then the other way round; `portability report` then merges the results files."""
    postgresql, mariadb = servers
    urls = {"postgresql": postgresql.url, "mariadb": mariadb.url}
    assert quote(PASSWORD, safe="") in postgresql.url and quote(PASSWORD, safe="") in mariadb.url
    on_command_line = "postgresql" if postgresql_via == "--url" else "mariadb"
    in_environment = "mariadb" if on_command_line == "postgresql" else "postgresql"
    json_path, results_dir = tmp_path / "run.json", tmp_path / "results"
    result = run_portability(
        "run",
        "--settings",
        "settings",
        "--backends",
        "sqlite,postgresql,mariadb",
        "--url",
        f"{on_command_line}={urls[on_command_line]}",
        "--json",
        str(json_path),
        "--results-dir",
        str(results_dir),
        cwd=project,
        env={f"PORTABILITY_{in_environment.upper()}_URL": urls[in_environment]},
        timeout=CLI_TIMEOUT,
    )
    assert result.returncode == 0, result.output
    assert statuses(json_path) == {"sqlite": "ran", "postgresql": "ran", "mariadb": "ran"}
    assert {path.name for path in results_dir.iterdir()} >= {"postgresql.jsonl", "postgresql.log", "mariadb.jsonl"}
    # The rest of the URL still helps.
    assert f"postgres://postgres:***@127.0.0.1:{postgresql.port}/portability" in result.stdout
    assert f"mysql://root:***@127.0.0.1:{mariadb.port}/portability" in result.stdout
    assert_no_secret(result, json_path, results_dir)

    merged = tmp_path / "merged.json"
    report = run_portability("report", "--results-dir", str(results_dir), "--json", str(merged), cwd=project)
    assert report.returncode == 0, report.output
    assert set(statuses(merged)) == {"sqlite", "postgresql", "mariadb"}
    assert_no_secret(report, merged)


def test_password_never_shown_by_migrations(servers, project, tmp_path):
    postgresql, mariadb = servers
    json_path, results_dir = tmp_path / "migrations.json", tmp_path / "results"
    result = run_portability(
        "migrations",
        "--settings",
        "settings",
        "--backends",
        "postgresql,mariadb",
        "--url",
        f"postgresql={postgresql.url}",
        "--json",
        str(json_path),
        "--results-dir",
        str(results_dir),
        cwd=project,
        env={"PORTABILITY_MARIADB_URL": mariadb.url},
        timeout=CLI_TIMEOUT,
    )
    assert result.returncode == 0, result.output
    assert statuses(json_path) == {"postgresql": "ran", "mariadb": "ran"}
    assert_no_secret(result, json_path, results_dir)


def wrong_password(url: str) -> str:
    return url.replace(quote(PASSWORD, safe=""), quote(WRONG, safe=""))


# (id, how the URL is given, --backends, expected exit code, a word of the one error line or output)
FAILURES = [
    ("wrong-password-requested", lambda pg: ["--url", f"postgresql={wrong_password(pg.url)}"], "postgresql", 3),
    # Named in [tool.portability] backends, not in --backends: listed, and the run goes on.
    ("wrong-password-listed", lambda pg: ["--url", f"postgresql={wrong_password(pg.url)}"], None, None),
    (
        "no-colon-after-scheme-raw",
        lambda pg: ["--url", f"postgresql=postgres//postgres:{PASSWORD}@127.0.0.1:{pg.port}/x"],
        "postgresql",
        2,
    ),
    (
        "raw-password",
        lambda pg: ["--url", f"postgresql=postgres://postgres:{PASSWORD}@127.0.0.1:{pg.port}/x"],
        "postgresql",
        2,
    ),
    ("no-target-name", lambda pg: ["--url", f"postgres://postgres:{PASSWORD}@127.0.0.1:{pg.port}/x"], "postgresql", 2),
]


@pytest.mark.parametrize(
    ("make_args", "backends", "exit_code"), [f[1:] for f in FAILURES], ids=[f[0] for f in FAILURES]
)
def test_password_never_shown_when_it_fails(servers, project, tmp_path, make_args, backends, exit_code):
    postgresql, _ = servers
    json_path, results_dir = tmp_path / "run.json", tmp_path / "results"
    if backends is None:
        (project / "pyproject.toml").write_text('[tool.portability]\nbackends = ["sqlite", "postgresql"]\n')
    result = run_portability(
        "run",
        "--settings",
        "settings",
        *(["--backends", backends] if backends else []),
        *make_args(postgresql),
        "--json",
        str(json_path),
        "--results-dir",
        str(results_dir),
        cwd=project,
        timeout=CLI_TIMEOUT,
    )
    assert "Traceback" not in result.output
    if exit_code is None:
        # Not requested alone: listed with the auth hint, and the run goes on.
        assert result.returncode == 0, result.output
        assert statuses(json_path) == {"sqlite": "ran", "postgresql": "not reachable"}
        assert "authentication failed: check the user and password in the URL" in result.stdout
    else:
        assert result.returncode == exit_code, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("portability: error: "), result.stderr
        assert str(postgresql.port) in lines[0] or "--url expects TARGET=URL" in lines[0], lines[0]
    assert_no_secret(result, json_path, results_dir)
