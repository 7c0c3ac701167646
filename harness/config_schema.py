"""What each ``[tool.portability]`` setting (and its command-line option) accepts, checked before anything runs.

Every problem is one line naming the key or option, what was given (never a whole table: it may
hold passwords) and what is allowed; unknown keys get the nearest valid key. Output paths
(``--json``, ``--results-dir``) are checked writable here too, before any test runs.
"""

from __future__ import annotations

import difflib
import math
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.embedded import EMBEDDED_SCHEME
from harness.errors import ConfigError
from harness.findings import LEVELS
from harness.urls import mask_url, parse_configured_url
from harness.vendors import is_target_name, known_targets

HASH_SEED_MAX = 4294967295  # the largest PYTHONHASHSEED Python accepts
PYPROJECT_TABLE = "pyproject.toml [tool.portability]"

# ---------------------------------------------------------------- what each setting accepts


class _Rejected(Exception):
    """A value does not fit its setting. ``said`` (what is wrong with it, e.g. the one bad item of a list,
    never the whole value: a table of URLs holds passwords) and ``fix`` replace the setting's generic words."""

    def __init__(self, said: str | None = None, fix: str | None = None) -> None:
        super().__init__(said)
        self.said, self.fix = said, fix


@dataclass(frozen=True)
class Setting:
    """What one [tool.portability] key accepts (and its CLI option, when it has one).

    A rejected value is said as "<where> <value> is not <what>: <allowed>".
    """

    kind: str  # the check that applies: a key of _CHECKS
    what: str
    allowed: str
    low: float | None = None
    high: float | None = None
    option: str | None = None


TARGETS_TEXT = ", ".join(known_targets()) + " (or VENDOR@LABEL for one of several servers, e.g. postgresql@15)"
LEVELS_TEXT = f"{', '.join(reversed(LEVELS[1:]))} or {LEVELS[0]}"
MODULE_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
APP_LABEL = re.compile(r"[A-Za-z_]\w*")
MIGRATION_NAME = re.compile(r"[A-Za-z_]\w*\.\w+")

# Every key [tool.portability] may hold. The table is checked against this before anything runs.
SETTINGS: dict[str, Setting] = {
    "settings": Setting(
        "module", "a module name", "give a dotted module name such as mysite.settings", option="--settings"
    ),
    "tests": Setting("paths", "a list of test paths", "give a path or a list of paths inside the project folder"),
    "backends": Setting(
        "targets", "a list of targets", f"name targets from {TARGETS_TEXT}, each once", option="--backends"
    ),
    "urls": Setting("urls", "a table of URLs", 'write a [tool.portability.urls] table of TARGET = "URL" lines'),
    "jobs": Setting("int", "a job count", "give a whole number of at least 1", low=1, option="--jobs"),
    "timeout": Setting("number", "a timeout", "give a number of seconds of at least 1", low=1, option="--timeout"),
    "probe_timeout": Setting("number", "a timeout", "give a number of seconds of at least 0.1", low=0.1),
    "queries": Setting("bool", "a boolean", "write true or false"),
    "float_tolerance": Setting(
        "number", "a tolerance", "give a number from 0 (exact) to 1", low=0, high=1, option="--float-tolerance"
    ),
    "stability_runs": Setting(
        "int", "a run count", "give a whole number of at least 0", low=0, option="--stability-runs"
    ),
    "fail_on": Setting("level", "a level", f"choose {LEVELS_TEXT}", option="--fail-on"),
    "hash_seed": Setting(
        "seed",
        "a hash seed",
        f"give an integer from 0 to {HASH_SEED_MAX}",
        low=0,
        high=HASH_SEED_MAX,
        option="--hash-seed",
    ),
    "numprocesses": Setting(
        "processes",
        "a process count",
        'give a whole number of at least 0 (0: no xdist), or "auto" (one per CPU)',
        low=0,
        option="-n",
    ),
    "reuse_db": Setting("bool", "a boolean", "write true or false", option="--reuse-db"),
    "embedded": Setting("bool", "a boolean", "write true or false", option="--no-embedded"),
    "baseline": Setting(
        "file",
        "a file path",
        "give the path of a baseline file (written by `portability baseline`)",
        option="--baseline",
    ),
    "expected": Setting(
        "expected",
        "a table of declared differences",
        'write [tool.portability.expected] lines such as "app/tests.py::Case::test_x" = { mariadb = "fails", '
        'reason = "..." } or "PT202 at app/views.py:42" = { reason = "..." }',
    ),
    "migrations_ignore": Setting(
        "ignores",
        "a lint rule to ignore",
        "give a rule code (e.g. PM301) or rule name, APP.MIGRATION, or APP.MIGRATION:CODE",
        option="--ignore",
    ),
}


def check_table(table: dict[str, Any], project_dir: Path) -> dict[str, Any]:
    """The [tool.portability] table with every value checked (and numbers, lists made uniform)."""
    for key in table:
        if key not in SETTINGS:
            raise ConfigError(detail=_unknown_key(key))
    return {key: check_setting(key, value, f"{PYPROJECT_TABLE} {key}", project_dir) for key, value in table.items()}


def _unknown_key(key: str) -> str:
    close = difflib.get_close_matches(key, SETTINGS, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"the keys are {', '.join(sorted(SETTINGS))}"
    return f"unknown key {key!r} in [tool.portability]: {hint}"


def check_setting(key: str, value: object, source: str, project_dir: Path | None = None) -> Any:
    """The value of one setting from ``source`` (a CLI option, a pyproject key, an environment variable),
    checked; a one-line ConfigError saying what is allowed when it does not fit.

    Values from the command line and the environment are text; from pyproject they must have the right type.
    """
    setting = SETTINGS[key]
    as_text = not source.startswith("pyproject.toml")
    try:
        return _CHECKS[setting.kind](setting, value, as_text, project_dir)
    except _Rejected as rejected:
        said = rejected.said or f"{value!r} is not {setting.what}"
        detail = f"{source} {said}: {rejected.fix or setting.allowed}"
        # A value with a password in it (user:password@host) is masked; a target name such as
        # postgresql@15 has none, and neither has the text that says what is allowed.
        userinfo = str(value).rpartition("@")[0]
        raise ConfigError(detail=mask_url(detail) if ":" in userinfo else detail) from None


def _check_module(setting: Setting, value: object, as_text: bool, project_dir: Path | None) -> str:
    if not isinstance(value, str) or not MODULE_NAME.fullmatch(value.strip()):
        raise _Rejected()
    return value.strip()


def _check_paths(setting: Setting, value: object, as_text: bool, project_dir: Path | None) -> list[str]:
    paths = _names(value)
    for path in paths:
        if project_dir is not None and not (project_dir / path.split("::")[0]).exists():
            raise _Rejected(f"names {path!r}, which does not exist in {project_dir}")
    return paths


def _check_targets(setting: Setting, value: object, as_text: bool, project_dir: Path | None) -> list[str]:
    names = _names(value)
    if not names:
        raise _Rejected(f"{value!r} names no target")
    for name in names:
        if not is_target_name(name):
            raise _Rejected(f"names an unknown target {name!r}", f"choose from {TARGETS_TEXT}")
        if names.count(name) > 1:
            raise _Rejected(f"names {name!r} twice", "name each target once")
    return names


def _check_urls(setting: Setting, value: object, as_text: bool, project_dir: Path | None) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _Rejected()
    for name, url in value.items():
        if not is_target_name(name):
            raise _Rejected(f"names an unknown target {name!r}", f"choose from {TARGETS_TEXT}")
        if not isinstance(url, str) or not url.strip():
            raise _Rejected(
                f"gives {name} the URL {url!r}", "give each target a URL string such as postgres://HOST/NAME"
            )
        if not url.strip().startswith(EMBEDDED_SCHEME):  # checked with the targets (harness.config)
            parse_configured_url(name, url.strip(), "pyproject.toml [tool.portability.urls]")
    return {name: url.strip() for name, url in value.items()}


def _names(value: object) -> list[str]:
    """A comma-separated string or a list of strings, as a list of the non-empty names."""
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return split_names(value)
    if isinstance(value, str):
        return split_names(value)
    raise _Rejected()


def _check_number(setting: Setting, value: object, as_text: bool, project_dir: Path | None) -> float | int:
    whole = setting.kind == "int"
    if as_text and isinstance(value, str):
        try:
            value = int(value.strip()) if whole else float(value.strip())
        except ValueError:
            raise _Rejected() from None
    if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)):
        raise _Rejected()
    # float("nan") passes every range check; infinity is no timeout or tolerance either.
    if not math.isfinite(value):
        raise _Rejected()
    if (setting.low is not None and value < setting.low) or (setting.high is not None and value > setting.high):
        raise _Rejected()
    return value if whole else float(value)


# pytest-xdist's -n words for "as many as the machine has".
PROCESS_WORDS = ("auto", "logical")


def _check_processes(setting: Setting, value: object, as_text: bool, project_dir: Path | None) -> int | str:
    """pytest-xdist's -n: a whole number, or auto/logical."""
    if isinstance(value, str) and value.strip() in PROCESS_WORDS:
        return value.strip()
    return _check_number(Setting("int", setting.what, setting.allowed, low=setting.low), value, as_text, project_dir)


def _check_bool(setting: Setting, value: object, as_text: bool, project_dir: Path | None) -> bool:
    if not isinstance(value, bool):
        raise _Rejected()
    return value


def _check_level(setting: Setting, value: object, as_text: bool, project_dir: Path | None) -> str:
    if value not in LEVELS:
        raise _Rejected()
    return str(value)


def _check_seed(setting: Setting, value: object, as_text: bool, project_dir: Path | None) -> int:
    text = str(value).strip()
    if isinstance(value, bool) or not (isinstance(value, int | str) and text.isascii() and text.isdigit()):
        raise _Rejected()
    if setting.high is not None and int(text) > setting.high:
        raise _Rejected()
    return int(text)


def _check_ignores(setting: Setting, value: object, as_text: bool, project_dir: Path | None) -> list[str]:
    items = [value] if as_text and isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise _Rejected()
    rules = _lint_rules()
    for item in items:
        migration, colon, rule = item.strip().rpartition(":")
        if colon:
            fits = MIGRATION_NAME.fullmatch(migration) is not None and rule in rules
        else:
            fits = rule in rules or MIGRATION_NAME.fullmatch(rule) is not None
        if not fits:
            codes = ", ".join(sorted(code for code in rules if code[:2].isupper() and code[2:].isdigit()))
            raise _Rejected(
                f"names {item!r}, which is not a lint rule or migration", f"{setting.allowed}; the codes are {codes}"
            )
    return [item.strip() for item in items]


def _check_file(setting: Setting, value: object, as_text: bool, project_dir: Path | None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Rejected()
    return value.strip()


def _check_expected(setting: Setting, value: object, as_text: bool, project_dir: Path | None) -> dict[str, Any]:
    from harness.declarations import check_config_entry

    if not isinstance(value, dict):
        raise _Rejected()
    for key, entry in value.items():
        if not isinstance(entry, dict):
            raise _Rejected(f"gives {key!r} a {type(entry).__name__}, not a table", setting.allowed)
        problem = check_config_entry(key, entry)
        if problem:
            raise _Rejected(f"entry {key!r} {problem}", setting.allowed)
    return value


def _lint_rules() -> set[str]:
    """The codes and names of the migration lint rules (imported only when an ignore is given)."""
    from harness.migrations.lint import RULES

    return {rule.code for rule in RULES} | {rule.name for rule in RULES}


_CHECKS: dict[str, Callable[[Setting, object, bool, Path | None], Any]] = {
    "module": _check_module,
    "paths": _check_paths,
    "targets": _check_targets,
    "urls": _check_urls,
    "int": _check_number,
    "number": _check_number,
    "bool": _check_bool,
    "processes": _check_processes,
    "level": _check_level,
    "seed": _check_seed,
    "ignores": _check_ignores,
    "expected": _check_expected,
    "file": _check_file,
}


def check_app_label(app: str | None) -> str | None:
    """--app of `migrations`: an app label (whether the project has it is checked once Django is set up)."""
    if app is None:
        return None
    if not APP_LABEL.fullmatch(app.strip()):
        raise ConfigError(detail=f"--app {app!r} is not an app label: give the label of an installed app, e.g. shop")
    return app.strip()


def check_migration_app(app: str, migration_apps: list[str]) -> None:
    """--app must name an installed app that has migrations (``migration_apps``, from the preflight)."""
    if app not in migration_apps:
        listed = ", ".join(sorted(migration_apps)) or "none"
        raise ConfigError(detail=f"--app {app!r} is not an installed app with migrations: choose one of {listed}")


# ---------------------------------------------------------------- output paths


def check_output_file(option: str, value: str | Path | None) -> Path | None:
    """The path a report will be written to, checked now (an existing file is left as it is)."""
    if value is None:
        return None
    path = Path(value)
    problem = _output_problem(path, is_dir=False)
    if problem:
        raise ConfigError(detail=f"{option} {str(value)!r}: cannot write there ({problem}); pass a writable file path")
    return path


def check_output_dir(option: str, value: str | Path | None) -> Path | None:
    """The folder results files will be kept in, created now if need be and checked writable."""
    if value is None:
        return None
    path = Path(value).resolve()
    problem = _output_problem(path, is_dir=True)
    if problem:
        raise ConfigError(detail=f"{option} {str(value)!r}: cannot write there ({problem}); pass a writable folder")
    return path


def _output_problem(path: Path, *, is_dir: bool) -> str | None:
    """Why the harness could not write ``path`` (None: it can), found without harming what is there."""
    folder = path if is_dir else path.parent
    try:
        if is_dir and path.exists() and not path.is_dir():
            return "it is a file, not a folder"
        if not is_dir and path.is_dir():
            return "it is a folder"
        existing = next((parent for parent in (folder, *folder.parents) if parent.exists()), None)
        if existing is not None and not existing.is_dir():
            return f"{existing} is a file, not a folder"
        folder.mkdir(parents=True, exist_ok=True)
        if not is_dir and path.exists():
            with path.open("a"):  # append mode: the file is not truncated
                pass
        else:
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".portability-check-"):
                pass
    except (OSError, ValueError) as error:
        return getattr(error, "strerror", None) or str(error)
    return None


def split_names(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else value
    return [item.strip() for item in items if item.strip()]
