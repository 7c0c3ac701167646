"""Point a project's DATABASES at one target, with run-unique test database names."""

from __future__ import annotations

import secrets
from typing import Any

from harness.config import Target

# Per-alias settings kept from the project: they describe behaviour, not the server.
KEPT_ALIAS_KEYS = ("ATOMIC_REQUESTS", "AUTOCOMMIT", "CONN_MAX_AGE", "CONN_HEALTH_CHECKS", "TIME_ZONE")
KEPT_TEST_KEYS = ("MIGRATE", "MIRROR", "DEPENDENCIES", "SERIALIZE")


# How a parent process hands a worker the run token its test database names carry.
ENV_RUN_TOKEN = "PORTABILITY_RUN_TOKEN"


def new_run_token() -> str:
    """A short random token that makes this run's test database names unique."""
    return secrets.token_hex(4)


def unique_test_database_name(name: str, token: str, max_length: int) -> str:
    """``test_<name>_<token>``, shortened to fit the server's limit; the token always survives."""
    suffix = f"_{token}"
    return f"test_{name}"[: max_length - len(suffix)] + suffix


def databases_for_target(project_databases: dict[str, dict[str, Any]], target: Target, token: str) -> dict:
    """Return a DATABASES dict with every alias pointed at ``target``."""
    vendor = target.vendor
    databases: dict[str, dict[str, Any]] = {}
    for alias, original in (project_databases or {"default": {}}).items():
        settings = {key: value for key, value in target.database.items()}
        settings.update({key: original[key] for key in KEPT_ALIAS_KEYS if key in original})
        settings["OPTIONS"] = {**vendor.default_options, **target.database.get("OPTIONS", {})}
        test = {key: value for key, value in original.get("TEST", {}).items() if key in KEPT_TEST_KEYS}
        if vendor.is_server:
            base = target.database["NAME"] if alias == "default" else f"{target.database['NAME']}_{alias}"
            settings["NAME"] = base
            test.update(vendor.test_settings)
            test["NAME"] = unique_test_database_name(base, token, vendor.max_database_name_length)
        else:
            settings["NAME"] = ":memory:"
        settings["TEST"] = test
        databases[alias] = settings
    return databases
