"""End to end: embedded PostgreSQL on a machine with no database server (issue 10, deliverable 1).

"No server at all" is real here: the command runs in a network namespace of its own (``unshare -n``,
loopback up), where nothing listens on 127.0.0.1, while the machine's own servers keep running for
the other tests. Each test keeps its embedded servers in a folder of its own
(PORTABILITY_EMBEDDED_DIR) and stops them at the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.embedded_servers import embedded_folder, run_clean
from tests.helpers import read_json

pytestmark = pytest.mark.e2e


@pytest.fixture
def embedded_dir() -> Iterator[Path]:
    with embedded_folder() as folder:
        yield folder


portability = run_clean


def servers(report: dict) -> dict[str, str]:
    return {backend["name"]: f"{backend['product']} {backend['version']}" for backend in report["backends"]}


def test_with_no_server_at_all_the_main_command_runs_sqlite_and_an_embedded_postgresql(embedded_dir, tmp_path):
    report_path = tmp_path / "report.json"
    first = portability("run", "--json", str(report_path), embedded=embedded_dir, isolated=True)
    assert first.returncode == 0, first.output
    found = servers(read_json(report_path))
    # MariaDB, which nobody configured and nothing serves, is left out quietly.
    assert list(found) == ["sqlite", "postgresql"], found
    assert found["sqlite"].startswith("SQLite ")
    assert found["postgresql"].startswith("PostgreSQL 18.") and found["postgresql"].endswith("(embedded)"), found
    assert "(embedded)" in first.stdout and "started in" in first.stdout, first.output

    listed = portability("servers", "list", embedded=embedded_dir)
    assert f"running: {embedded_dir / 'postgresql-18'}" in listed.stdout, listed.output

    # The next run finds it running instead of starting another.
    second = portability("run", "--backends", "postgresql", embedded=embedded_dir, isolated=True)
    assert second.returncode == 0, second.output
    assert "already running in" in second.stdout, second.output

    # `clean` visits the running embedded server too, where a killed run may have left databases.
    cleaned = portability("clean", embedded=embedded_dir, isolated=True)
    assert cleaned.returncode == 0, cleaned.output
    assert "postgresql@embedded-18: no test database left by a portability run" in cleaned.stdout, cleaned.output

    stopped = portability("servers", "stop", embedded=embedded_dir)
    assert stopped.returncode == 0 and f"stopped: {embedded_dir / 'postgresql-18'}" in stopped.stdout, stopped.output
    assert "running: none" in portability("servers", "list", embedded=embedded_dir).stdout


def test_embedded_url_asks_for_a_major_version_through_the_environment_and_the_command_line(embedded_dir, tmp_path):
    from_env = portability(
        "run",
        "--backends",
        "postgresql",
        "--json",
        str(tmp_path / "env.json"),
        embedded=embedded_dir,
        env={"PORTABILITY_POSTGRESQL_URL": "embedded://16"},
    )
    assert from_env.returncode == 0, from_env.output
    assert servers(read_json(tmp_path / "env.json"))["postgresql"].startswith("PostgreSQL 16.")

    from_cli = portability(
        "run",
        "--backends",
        "postgresql",
        "--url",
        "postgresql=embedded://18",
        "--json",
        str(tmp_path / "cli.json"),
        embedded=embedded_dir,
    )
    assert from_cli.returncode == 0, from_cli.output
    assert servers(read_json(tmp_path / "cli.json"))["postgresql"].startswith("PostgreSQL 18.")


def test_a_server_that_answers_is_never_replaced_by_an_embedded_one(embedded_dir, tmp_path):
    result = portability("run", "--backends", "postgresql", "--json", str(tmp_path / "r.json"), embedded=embedded_dir)
    assert result.returncode == 0, result.output
    assert "(embedded)" not in servers(read_json(tmp_path / "r.json"))["postgresql"]
    assert not list(embedded_dir.iterdir())  # nothing was even created


def test_no_embedded_leaves_an_unconfigured_postgresql_out(embedded_dir, tmp_path):
    result = portability(
        "run", "--no-embedded", "--json", str(tmp_path / "r.json"), embedded=embedded_dir, isolated=True
    )
    assert result.returncode == 0, result.output
    assert list(servers(read_json(tmp_path / "r.json"))) == ["sqlite"]
    assert not list(embedded_dir.iterdir())


@pytest.mark.parametrize(
    ("url_item", "message"),
    [
        ("postgresql=embedded://sixteen", "write embedded:// or embedded://MAJOR"),
        ("mariadb=embedded://", "embedded:// serves PostgreSQL only, not target 'mariadb'"),
        ("postgresql=embedded://14", "no installed package provides an embedded PostgreSQL 14 (installed: 18"),
    ],
)
def test_a_bad_embedded_url_is_one_line_and_exit_2(embedded_dir, url_item, message):
    backend = url_item.split("=")[0]
    result = portability("run", "--backends", backend, "--url", url_item, embedded=embedded_dir)
    assert result.returncode == 2, result.output
    assert message in result.stderr, result.output
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.output
