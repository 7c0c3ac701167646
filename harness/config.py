"""Configuration: ``[tool.portability]`` in pyproject.toml, then environment, then CLI flags.

Database URLs are parsed, and passwords hidden, in :mod:`harness.urls`.
"""

from __future__ import annotations

import configparser
import os
import random
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, SettingsError
from harness.findings import DEFAULT_FAIL_ON, LEVELS
from harness.urls import mask_url, parse_target_url
from harness.vendors import Vendor, known_targets, vendor_for_target

ENV_URL_TEMPLATE = "PORTABILITY_{target}_URL"
ENV_SETTINGS = "DJANGO_SETTINGS_MODULE"
ENV_HASH_SEED = "PYTHONHASHSEED"
HASH_SEED_MAX = 4294967295  # the largest PYTHONHASHSEED Python accepts
RANDOM_HASH_SEED = "random"

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


def read_pyproject(project_dir: Path) -> dict[str, Any]:
    """Return the ``[tool.portability]`` table of the project's pyproject.toml (or {})."""
    path = project_dir / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(detail=f"{path} is not valid TOML: {error}") from None
    table = data.get("tool", {}).get("portability", {})
    if not isinstance(table, dict):
        raise ConfigError(detail=f"{path}: [tool.portability] must be a table")
    return table


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


def resolve_settings(project_dir: Path, cli_value: str | None, table: dict[str, Any]) -> tuple[str, str]:
    """Pick the settings module: --settings, [tool.portability], env, then the pytest config."""
    if cli_value:
        return cli_value, "--settings"
    if table.get("settings"):
        return str(table["settings"]), "pyproject.toml [tool.portability]"
    if os.environ.get(ENV_SETTINGS):
        return os.environ[ENV_SETTINGS], ENV_SETTINGS
    ini = read_pytest_ini(project_dir) or {}
    if ini.get("DJANGO_SETTINGS_MODULE"):
        return ini["DJANGO_SETTINGS_MODULE"].strip(), "pytest configuration"
    raise SettingsError(
        detail="no Django settings module found: pass --settings MODULE, set "
        "[tool.portability] settings or DJANGO_SETTINGS_MODULE"
    )


def resolve_fail_on(cli_value: str | None, table: dict[str, Any]) -> str:
    """The --fail-on level: the CLI's, else [tool.portability] fail_on, else warning."""
    if cli_value:
        value, source = cli_value, "--fail-on"
    else:
        value, source = table.get("fail_on", DEFAULT_FAIL_ON), "pyproject.toml [tool.portability] fail_on"
    if value not in LEVELS:
        raise ConfigError(detail=f"{source} {value!r} is not a level: choose error, warning or note")
    return value


def resolve_hash_seed(cli_value: str | None, table: dict[str, Any]) -> tuple[int, str]:
    """The run's PYTHONHASHSEED and where it came from: --hash-seed, pyproject, environment, else random."""
    env_value = os.environ.get(ENV_HASH_SEED)
    candidates = (
        (cli_value, "--hash-seed"),
        (table.get("hash_seed"), "pyproject.toml [tool.portability] hash_seed"),
        # PYTHONHASHSEED=random is Python's own way of saying "not fixed".
        (None if env_value in ("", RANDOM_HASH_SEED) else env_value, ENV_HASH_SEED),
    )
    for value, source in candidates:
        if value is not None:
            return _parse_hash_seed(value, source), source
    return random.randint(0, HASH_SEED_MAX), RANDOM_HASH_SEED


def _parse_hash_seed(value: object, source: str) -> int:
    text = str(value).strip()
    if not isinstance(value, bool) and text.isascii() and text.isdigit() and int(text) <= HASH_SEED_MAX:
        return int(text)
    raise ConfigError(detail=f"{source} {value!r} is not a hash seed: give an integer from 0 to {HASH_SEED_MAX}")


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
    """Build every target to consider, each with its URL and where that URL came from."""
    for name in requested:
        vendor_for_target(name)
    urls: dict[str, tuple[str, str]] = {}
    pyproject_urls = table.get("urls", {})
    if not isinstance(pyproject_urls, dict):
        raise ConfigError(detail="[tool.portability.urls] must be a table of TARGET = URL")
    for name, url in pyproject_urls.items():
        vendor_for_target(name)
        urls[name] = (str(url), "pyproject.toml")
    for name in known_targets():
        env_value = os.environ.get(env_url_name(name))
        if env_value:
            urls[name] = (env_value, env_url_name(name))
    for item in cli_urls:
        name, sep, url = item.partition("=")
        if not sep or not url:
            raise ConfigError(detail=f"--url expects TARGET=URL, got {mask_url(item)!r}")
        vendor_for_target(name.strip())
        urls[name.strip()] = (url.strip(), "--url")
    names = requested or split_names(table.get("backends")) or known_targets()
    targets = []
    for name in names:
        vendor = vendor_for_target(name)
        url, source = urls.get(name, (vendor.default_url, "default"))
        targets.append(Target(name=name, url=url, url_source=source, database=parse_target_url(name, url)))
    return targets


def load_run_config(
    *,
    project_dir: str,
    settings: str | None,
    backends: str | None,
    urls: list[str],
    jobs: int | None,
    json_path: str | None,
    pytest_args: list[str],
    timeout: float | None = None,
    record_queries: bool | None = None,
    float_tolerance: float | None = None,
    stability_runs: int | None = None,
    fail_on: str | None = None,
    hash_seed: str | None = None,
) -> RunConfig:
    """Merge pyproject, environment and CLI into a RunConfig (later sources win)."""
    root = Path(project_dir).resolve()
    if not root.is_dir():
        raise ConfigError(detail=f"--project-dir {project_dir!r} is not a directory")
    table = read_pyproject(root)
    settings_module, settings_source = resolve_settings(root, settings, table)
    requested = split_names(backends)
    targets = resolve_targets(table, urls, requested)
    test_paths = [] if _selects_tests(root, pytest_args) else split_names(table.get("tests"))
    seed, seed_source = resolve_hash_seed(hash_seed, table)
    return RunConfig(
        project_dir=root,
        settings=settings_module,
        settings_source=settings_source,
        targets=targets,
        requested=requested,
        test_paths=test_paths,
        pytest_args=list(pytest_args),
        jobs=max(1, jobs or int(table.get("jobs", 0)) or len(targets)),
        timeout=float(timeout or table.get("timeout", 3600)),
        probe_timeout=float(table.get("probe_timeout", 3)),
        json_path=Path(json_path) if json_path else None,
        has_pytest_config=read_pytest_ini(root) is not None,
        record_queries=record_queries if record_queries is not None else bool(table.get("queries", True)),
        float_tolerance=float(float_tolerance if float_tolerance is not None else table.get("float_tolerance", 1e-9)),
        stability_runs=int(stability_runs if stability_runs is not None else table.get("stability_runs", 0)),
        fail_on=resolve_fail_on(fail_on, table),
        hash_seed=seed,
        hash_seed_source=seed_source,
    )


def _selects_tests(root: Path, pytest_args: list[str]) -> bool:
    """Does the user's pytest argument list name test paths (so the configured ones are dropped)?"""
    return any(not arg.startswith("-") and (root / arg.split("::")[0]).exists() for arg in pytest_args)
