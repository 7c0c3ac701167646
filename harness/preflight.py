"""Check, in a child process, that the project's settings import and Django sets up.

Run as ``python -m harness.preflight SETTINGS`` with the project on sys.path; prints
one JSON object. Running it apart keeps the user's settings out of the parent process.
"""

from __future__ import annotations

import importlib
import json
import sys
import traceback


def check_settings(module_name: str) -> dict:
    """Import the settings module and set Django up; describe what went wrong in one line."""
    try:
        importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and (module_name == error.name or module_name.startswith(error.name + ".")):
            return {
                "ok": False,
                "error": f"settings module {module_name!r} not found: check --settings and --project-dir",
            }
        return {"ok": False, "error": f"settings module {module_name!r} failed to import: {_describe(error)}"}
    except BaseException as error:  # noqa: BLE001 - any failure in user code is reported, not raised
        return {"ok": False, "error": f"settings module {module_name!r} raised on import: {_describe(error)}"}
    import os

    os.environ["DJANGO_SETTINGS_MODULE"] = module_name
    try:
        import django
        from django.conf import settings

        django.setup()
        aliases = sorted(settings.DATABASES)
    except BaseException as error:  # noqa: BLE001
        return {"ok": False, "error": f"Django could not set up with settings {module_name!r}: {_describe(error)}"}
    return {"ok": True, "aliases": aliases, "migration_apps": migration_apps()}


def migration_apps() -> list[str]:
    """Labels of the installed apps that have a migrations package (found, not imported)."""
    import importlib.util

    from django.apps import apps
    from django.db.migrations.loader import MigrationLoader

    labels = []
    for app_config in apps.get_app_configs():
        module_name, _ = MigrationLoader.migrations_module(app_config.label)
        try:
            found = module_name is not None and importlib.util.find_spec(module_name) is not None
        except (ImportError, ValueError):
            found = False
        if found:
            labels.append(app_config.label)
    return sorted(labels)


def _describe(error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    where = f" ({frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}{where}"[:500]


if __name__ == "__main__":
    print(json.dumps(check_settings(sys.argv[1])))
