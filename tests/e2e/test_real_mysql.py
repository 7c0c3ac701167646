"""End to end on a real MySQL server (issue 10, deliverable 4): skipped, saying why, where none runs.

No MySQL server can run on this repository's CI machine (MariaDB stands in for the `mysql` target
everywhere else, and is reported as MariaDB). Point PORTABILITY_TESTS_MYSQL_URL at a MySQL server
(docs/ci-mysql.md: the compose `mysql` service, port 3307) and these tests run.
"""

from __future__ import annotations

import os

import pytest

from harness.urls import parse_target_url
from tests.helpers import REPO, read_json, run_portability

pytestmark = pytest.mark.e2e

MYSQL_URL = os.environ.get("PORTABILITY_TESTS_MYSQL_URL", "mysql://root@127.0.0.1:3307/portability")


def mysql_server_version() -> str:
    """The MySQL server's version; skips (with the reason) when none answers or it is MariaDB."""
    import MySQLdb

    settings = parse_target_url("mysql", MYSQL_URL)
    try:
        connection = MySQLdb.connect(
            host=settings["HOST"],
            port=int(settings["PORT"] or 3306),
            user=settings["USER"],
            password=settings["PASSWORD"] or "",
            connect_timeout=3,
        )
    except MySQLdb.OperationalError as error:
        pytest.skip(
            f"no MySQL server at {MYSQL_URL} ({error.args[-1]}): set PORTABILITY_TESTS_MYSQL_URL, see docs/ci-mysql.md"
        )
    with connection.cursor() as cursor:
        cursor.execute("SELECT VERSION()")
        [version] = cursor.fetchone()
    connection.close()
    if "mariadb" in version.lower():
        pytest.skip(f"{MYSQL_URL} is MariaDB {version}, not MySQL: point PORTABILITY_TESTS_MYSQL_URL at a MySQL server")
    return version


def test_models_app_runs_on_real_mysql_and_the_report_says_mysql(tmp_path):
    version = mysql_server_version()
    result = run_portability(
        "run", "--backends", "sqlite,mysql", "--url", f"mysql={MYSQL_URL}", "--json", str(tmp_path / "r.json"), cwd=REPO
    )
    assert result.returncode in (0, 1), result.output
    [mysql] = [backend for backend in read_json(tmp_path / "r.json")["backends"] if backend["name"] == "mysql"]
    assert (mysql["product"], mysql["status"]) == ("MySQL", "ran"), mysql
    assert version.startswith(mysql["version"].split()[0]), (version, mysql)
