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


def run_suffix(token: str, xdist_worker: str | None = None) -> str:
    """What ends the name of every test database of one run (of one xdist worker of it: ``gw0_<token>``)."""
    return f"{xdist_worker}_{token}" if xdist_worker else token


def unique_test_database_name(name: str, token: str, max_length: int, xdist_worker: str | None = None) -> str:
    """``test_<name>_<token>`` (``test_<name>_gw0_<token>`` in xdist worker gw0), shortened to fit the
    server's limit; the suffix always survives, so the run's sweep (``test_%_<token>``) finds it."""
    suffix = f"_{run_suffix(token, xdist_worker)}"
    return f"test_{name}"[: max_length - len(suffix)] + suffix


# Kept test databases (--reuse-db): ``test_<name>[_gw0]_keep_<signature[:12]>``. They never end with
# a run token, so no run's sweep drops them; a changed signature is simply another name.
KEEP_INFIX = "_keep_"
SIGNATURE_LENGTH = 12


def kept_name_prefix(name: str, max_length: int, xdist_worker: str | None = None) -> str:
    """What every kept test database of this name (and xdist worker) starts with, whatever its signature."""
    tail = (f"_{xdist_worker}" if xdist_worker else "") + KEEP_INFIX
    return f"test_{name}"[: max_length - len(tail) - SIGNATURE_LENGTH] + tail


def kept_test_database_name(name: str, signature: str, max_length: int, xdist_worker: str | None = None) -> str:
    return kept_name_prefix(name, max_length, xdist_worker) + signature[:SIGNATURE_LENGTH]


def databases_for_target(
    project_databases: dict[str, dict[str, Any]], target: Target, token: str, xdist_worker: str | None = None
) -> dict:
    """Return a DATABASES dict with every alias pointed at ``target`` (test databases named for the run,
    and for the xdist worker when there is one)."""
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
            test["NAME"] = unique_test_database_name(base, token, vendor.max_database_name_length, xdist_worker)
        else:
            settings["NAME"] = ":memory:"
        settings["TEST"] = test
        databases[alias] = settings
    return databases
