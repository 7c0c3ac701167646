"""Pointing a project's DATABASES at a target with run-unique test database names."""

from __future__ import annotations

from harness.config import Target
from harness.databases import databases_for_target, new_run_token, unique_test_database_name
from harness.urls import parse_target_url


def target(name: str, url: str) -> Target:
    return Target(name=name, url=url, url_source="test", database=parse_target_url(name, url))


def test_test_database_name_keeps_the_token_within_the_limit() -> None:
    assert unique_test_database_name("shop", "abcd1234", 63) == "test_shop_abcd1234"
    long_name = unique_test_database_name("x" * 100, "abcd1234", 64)
    assert len(long_name) == 64
    assert long_name.startswith("test_x") and long_name.endswith("_abcd1234")


def test_run_tokens_differ() -> None:
    assert len({new_run_token() for _ in range(50)}) == 50


def test_every_alias_points_at_the_target_with_its_own_test_database() -> None:
    project = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": "db.sqlite3",
            "ATOMIC_REQUESTS": True,
            "TEST": {"CHARSET": "latin1", "MIGRATE": False},
        },
        "replica": {"ENGINE": "django.db.backends.sqlite3", "NAME": "r.sqlite3", "TEST": {"MIRROR": "default"}},
        "other": {"ENGINE": "django.db.backends.sqlite3", "NAME": "o.sqlite3"},
    }
    databases = databases_for_target(project, target("postgresql", "postgres://u:pw@db:5432/shop"), "tok12345")
    assert {alias: settings["ENGINE"] for alias, settings in databases.items()} == dict.fromkeys(
        project, "django.db.backends.postgresql"
    )
    assert databases["default"]["NAME"] == "shop"
    assert databases["default"]["TEST"] == {"MIGRATE": False, "NAME": "test_shop_tok12345"}
    assert databases["default"]["ATOMIC_REQUESTS"] is True
    assert databases["replica"]["TEST"]["MIRROR"] == "default"
    assert databases["other"]["TEST"]["NAME"] == "test_shop_other_tok12345"
    assert databases["other"]["PASSWORD"] == "pw"


def test_mysql_family_targets_use_utf8mb4() -> None:
    databases = databases_for_target({"default": {}}, target("mariadb", "mysql://root@h:3306/shop"), "t0k3n000")
    assert databases["default"]["OPTIONS"] == {"charset": "utf8mb4"}
    assert databases["default"]["TEST"]["CHARSET"] == "utf8mb4"


def test_sqlite_target_is_in_memory() -> None:
    databases = databases_for_target(
        {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "prod", "HOST": "prod-db"}},
        target("sqlite", "sqlite://:memory:"),
        "t0k3n000",
    )
    assert databases["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert databases["default"]["NAME"] == ":memory:"
    assert databases["default"].get("HOST", "") == ""
