"""Configuration: ``[tool.portability]`` in pyproject.toml, then environment, then CLI flags.

Database URLs are parsed, and passwords hidden, in :mod:`harness.urls`.
"""

from __future__ import annotations

import configparser
import difflib
import math
import os
import random
import re
import tempfile
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, MalformedUrlError, SettingsError, UnknownTargetError
from harness.findings import DEFAULT_FAIL_ON, LEVELS
from harness.settings_discovery import MANAGE_PY, settings_from_manage_py
from harness.urls import mask_url, parse_target_url
from harness.vendors import Vendor, known_targets, vendor_for_target

ENV_URL_TEMPLATE = "PORTABILITY_{target}_URL"
ENV_SETTINGS = "DJANGO_SETTINGS_MODULE"
ENV_HASH_SEED = "PYTHONHASHSEED"
HASH_SEED_MAX = 4294967295  # the largest PYTHONHASHSEED Python accepts
RANDOM_HASH_SEED = "random"
PYPROJECT_TABLE = "pyproject.toml [tool.portability]"


def env_url_name(target: str) -> str:
    return ENV_URL_TEMPLATE.format(target=target.upper())


@dataclass(frozen=True)
class Target:
    """A named backend and the connection settings the harness uses for it."""

    name: str
    url: str
    url_source: str
    database: dict[str, Any] = field(compare=False)

    @property
    def vendor(self) -> type[Vendor]:
        return vendor_for_target(self.name)

    @property
    def masked_url(self) -> str:
        return mask_url(self.url)

    @property
    def secrets(self) -> tuple[str, ...]:
        """What must never be shown: the password, as given and as parsed."""
        password = str(self.database.get("PASSWORD") or "")
        return (password,) if password else ()


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


TARGETS_TEXT = ", ".join(known_targets())
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
    "migrations_ignore": Setting(
        "ignores",
        "a lint rule to ignore",
        "give a rule code (e.g. PM301) or rule name, APP.MIGRATION, or APP.MIGRATION:CODE",
        option="--ignore",
    ),
}


def read_pyproject(project_dir: Path) -> dict[str, Any]:
    """Return the ``[tool.portability]`` table of the project's pyproject.toml (or {}), every key checked."""
    path = project_dir / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(detail=f"{path} is not valid TOML: {error}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(detail=f"cannot read {path}: {error}") from None
    tool = data.get("tool", {})
    table = tool.get("portability", {}) if isinstance(tool, dict) else {}
    if not isinstance(table, dict):
        raise ConfigError(detail=f"{path}: [tool.portability] must be a table")
    return check_table(table, project_dir)


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
        raise ConfigError(detail=mask_url(f"{source} {said}: {rejected.fix or setting.allowed}")) from None


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
        if name not in known_targets():
            raise _Rejected(f"names an unknown target {name!r}", f"choose from {TARGETS_TEXT}")
        if names.count(name) > 1:
            raise _Rejected(f"names {name!r} twice", "name each target once")
    return names


def _check_urls(setting: Setting, value: object, as_text: bool, project_dir: Path | None) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _Rejected()
    for name, url in value.items():
        if name not in known_targets():
            raise _Rejected(f"names an unknown target {name!r}", f"choose from {TARGETS_TEXT}")
        if not isinstance(url, str) or not url.strip():
            raise _Rejected(
                f"gives {name} the URL {url!r}", "give each target a URL string such as postgres://HOST/NAME"
            )
        _parse_url(name, url.strip(), "pyproject.toml [tool.portability.urls]")
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
    "level": _check_level,
    "seed": _check_seed,
    "ignores": _check_ignores,
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


# Where a pytest configuration can live, and the section that holds it.
PYTEST_CONFIG_FILES = (
    ("pytest.ini", "pytest"),
    (".pytest.ini", "pytest"),
    ("pyproject.toml", "tool.pytest.ini_options"),
    ("tox.ini", "pytest"),
    ("setup.cfg", "tool:pytest"),
)


def read_pytest_ini(project_dir: Path) -> dict[str, str] | None:
    """Return the project's pytest ini options, or None when it has no pytest config."""
    for filename, section in PYTEST_CONFIG_FILES:
        path = project_dir / filename
        if not path.is_file():
            continue
        if filename == "pyproject.toml":
            try:
                data = tomllib.loads(path.read_text())
            except tomllib.TOMLDecodeError:
                continue
            tool = data.get("tool", {}).get("pytest", {})
            options = tool.get("ini_options")
            if options is not None:
                return {key: str(value) for key, value in options.items()}
            continue
        parser = configparser.ConfigParser(interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]  # keep DJANGO_SETTINGS_MODULE as written
        try:
            parser.read(path)
        except configparser.Error:
            continue
        if parser.has_section(section):
            return dict(parser.items(section))
        if filename in ("pytest.ini", ".pytest.ini"):
            return {}
    return None


@dataclass
class RunConfig:
    """Everything a run needs, with where each setting came from."""

    project_dir: Path
    settings: str
    settings_source: str
    targets: list[Target]
    requested: list[str]
    test_paths: list[str]
    pytest_args: list[str]
    jobs: int
    timeout: float
    probe_timeout: float
    json_path: Path | None
    has_pytest_config: bool
    record_queries: bool = True
    float_tolerance: float = 1e-9
    stability_runs: int = 0
    fail_on: str = DEFAULT_FAIL_ON
    # Every worker of the run gets this PYTHONHASHSEED (None: they inherit the environment's).
    hash_seed: int | None = None
    hash_seed_source: str = RANDOM_HASH_SEED
    # Where each backend's results file and log are kept (None: a temporary folder).
    results_dir: Path | None = None


def resolve_settings(project_dir: Path, cli_value: str | None, table: dict[str, Any]) -> tuple[str, str]:
    """Pick the settings module: --settings, [tool.portability], env, the pytest config, then manage.py."""
    if cli_value is not None:
        return check_setting("settings", cli_value, "--settings"), "--settings"
    ini = read_pytest_ini(project_dir) or {}
    candidates = (
        (table.get("settings"), PYPROJECT_TABLE),
        (os.environ.get(ENV_SETTINGS, "").strip(), ENV_SETTINGS),
        (ini.get("DJANGO_SETTINGS_MODULE", "").strip(), "pytest configuration"),
    )
    for value, source in candidates:
        if value:
            return check_setting("settings", value, source), source
    from_manage_py = settings_from_manage_py(project_dir)
    if from_manage_py:
        return check_setting("settings", from_manage_py, MANAGE_PY), MANAGE_PY
    raise SettingsError(
        detail="no Django settings module found: pass --settings MODULE, set "
        f"[tool.portability] settings or DJANGO_SETTINGS_MODULE, or run from the folder of {MANAGE_PY}"
    )


def resolve_fail_on(cli_value: str | None, table: dict[str, Any]) -> str:
    """The --fail-on level: the CLI's, else [tool.portability] fail_on, else warning."""
    if cli_value is not None:
        return check_setting("fail_on", cli_value, "--fail-on")
    return check_setting("fail_on", table.get("fail_on", DEFAULT_FAIL_ON), f"{PYPROJECT_TABLE} fail_on")


def resolve_hash_seed(cli_value: str | None, table: dict[str, Any]) -> tuple[int, str]:
    """The run's PYTHONHASHSEED and where it came from: --hash-seed, pyproject, environment, else random."""
    env_value = os.environ.get(ENV_HASH_SEED)
    candidates = (
        (cli_value, "--hash-seed"),
        (table.get("hash_seed"), f"{PYPROJECT_TABLE} hash_seed"),
        # PYTHONHASHSEED=random is Python's own way of saying "not fixed".
        (None if env_value in ("", RANDOM_HASH_SEED) else env_value, ENV_HASH_SEED),
    )
    for value, source in candidates:
        if value is not None:
            return check_setting("hash_seed", value, source), source
    return random.randint(0, HASH_SEED_MAX), RANDOM_HASH_SEED


def hash_seed_from_env() -> int | None:
    """This process's hash seed as PYTHONHASHSEED fixed it (None: random per process)."""
    value = os.environ.get(ENV_HASH_SEED, "")
    return int(value) if value.isascii() and value.isdigit() else None


def split_names(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else value
    return [item.strip() for item in items if item.strip()]


def resolve_targets(table: dict[str, Any], cli_urls: list[str], requested: list[str]) -> list[Target]:
    """Build every target to consider, each with its URL and where that URL came from.

    Every URL given is parsed, also those of targets not selected: a typo should not wait for the
    day its target is run.
    """
    urls: dict[str, tuple[str, str]] = {}
    pyproject_urls = table.get("urls", {})
    if not isinstance(pyproject_urls, dict):
        raise ConfigError(detail="[tool.portability.urls] must be a table of TARGET = URL")
    for name, url in pyproject_urls.items():
        vendor_for_target(name)
        urls[name] = (str(url), "pyproject.toml")
    for name in known_targets():
        # Set but empty is the same as unset: the target's default URL.
        env_value = os.environ.get(env_url_name(name), "").strip()
        if env_value:
            urls[name] = (env_value, env_url_name(name))
    on_cli: set[str] = set()
    for item in cli_urls:
        name, sep, url = (part.strip() for part in item.partition("="))
        # A URL given without TARGET= splits at a '=' of its own (a query string, a password):
        # what comes before it is no target name, and may hold the password.
        if not sep or not url or not name.isidentifier():
            raise ConfigError(detail=f"--url expects TARGET=URL, got {mask_url(item)!r}")
        if name not in known_targets():
            raise ConfigError(
                detail=f"--url {mask_url(item)!r} names an unknown target {name!r}: choose from {TARGETS_TEXT}"
            )
        if name in on_cli:
            raise ConfigError(detail=f"--url gives target {name!r} two URLs: give each target one --url")
        on_cli.add(name)
        urls[name] = (url, "--url")
    databases = {name: _parse_url(name, url, source) for name, (url, source) in urls.items()}
    names = requested or split_names(table.get("backends")) or known_targets()
    targets = []
    for name in names:
        vendor = vendor_for_target(name)
        url, source = urls.get(name, (vendor.default_url, "default"))
        database = databases[name] if name in databases else parse_target_url(name, url)
        targets.append(Target(name=name, url=url, url_source=source, database=database))
    return targets


def _parse_url(target: str, url: str, source: str) -> dict[str, Any]:
    """parse_target_url, its error saying where the URL came from."""
    try:
        return parse_target_url(target, url)
    except MalformedUrlError as error:
        raise MalformedUrlError(**{**error.fields, "reason": f"{error.fields['reason']} (URL from {source})"}) from None
    except UnknownTargetError as error:
        raise ConfigError(detail=f"{source}: {error}") from None


def load_run_config(
    *,
    project_dir: str,
    settings: str | None,
    backends: str | None,
    urls: list[str],
    jobs: int | str | None,
    json_path: str | None,
    pytest_args: list[str],
    timeout: float | str | None = None,
    record_queries: bool | None = None,
    float_tolerance: float | str | None = None,
    stability_runs: int | str | None = None,
    fail_on: str | None = None,
    hash_seed: str | None = None,
    results_dir: str | None = None,
) -> RunConfig:
    """Merge pyproject, environment and CLI into a RunConfig (later sources win).

    Everything is checked here, before any test runs: each problem is a one-line ConfigError.
    Output paths come last, so that a bad option never leaves a folder behind.
    """
    root = Path(project_dir).resolve()
    if not root.is_dir():
        raise ConfigError(detail=f"--project-dir {project_dir!r} is not a directory")
    table = read_pyproject(root)

    def option(key: str, value: object, default: Any) -> Any:
        """The CLI value when given, else the (checked) pyproject one, else the default."""
        if value is not None:
            return check_setting(key, value, SETTINGS[key].option or key, root)
        return table.get(key, default)

    requested = check_setting("backends", backends, "--backends") if backends is not None else []
    chosen = {
        "jobs": option("jobs", jobs, None),
        "timeout": option("timeout", timeout, 3600.0),
        "float_tolerance": option("float_tolerance", float_tolerance, 1e-9),
        "stability_runs": option("stability_runs", stability_runs, 0),
    }
    settings_module, settings_source = resolve_settings(root, settings, table)
    targets = resolve_targets(table, urls, requested)
    test_paths = [] if _selects_tests(root, pytest_args) else table.get("tests", [])
    seed, seed_source = resolve_hash_seed(hash_seed, table)
    threshold = resolve_fail_on(fail_on, table)
    return RunConfig(
        project_dir=root,
        settings=settings_module,
        settings_source=settings_source,
        targets=targets,
        requested=requested,
        test_paths=test_paths,
        pytest_args=list(pytest_args),
        jobs=chosen["jobs"] or len(targets),
        timeout=chosen["timeout"],
        probe_timeout=table.get("probe_timeout", 3.0),
        json_path=check_output_file("--json", json_path),
        results_dir=check_output_dir("--results-dir", results_dir),
        has_pytest_config=read_pytest_ini(root) is not None,
        record_queries=record_queries if record_queries is not None else table.get("queries", True),
        float_tolerance=chosen["float_tolerance"],
        stability_runs=chosen["stability_runs"],
        fail_on=threshold,
        hash_seed=seed,
        hash_seed_source=seed_source,
    )


def _selects_tests(root: Path, pytest_args: list[str]) -> bool:
    """Does the user's pytest argument list name test paths (so the configured ones are dropped)?"""
    return any(not arg.startswith("-") and (root / arg.split("::")[0]).exists() for arg in pytest_args)
