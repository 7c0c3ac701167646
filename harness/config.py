"""Configuration: ``[tool.portability]`` in pyproject.toml, then environment, then CLI flags.

Database URLs are parsed, and passwords hidden, in :mod:`harness.urls`.
"""

from __future__ import annotations

import configparser
import os
import random
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.config_schema import (
    HASH_SEED_MAX,
    PYPROJECT_TABLE,
    SETTINGS,
    TARGETS_TEXT,
    check_output_dir,
    check_output_file,
    check_setting,
    check_table,
    split_names,
)
from harness.embedded import requested_major
from harness.errors import ConfigError, SettingsError
from harness.findings import DEFAULT_FAIL_ON
from harness.settings_discovery import MANAGE_PY, settings_from_manage_py
from harness.urls import mask_url, parse_configured_url, parse_target_url
from harness.vendors import Vendor, is_target_name, known_targets, vendor_for_target

ENV_URL_TEMPLATE = "PORTABILITY_{target}_URL"
ENV_SETTINGS = "DJANGO_SETTINGS_MODULE"
ENV_HASH_SEED = "PYTHONHASHSEED"
RANDOM_HASH_SEED = "random"


def env_url_name(target: str) -> str:
    """PORTABILITY_POSTGRESQL_URL; for a labelled target PORTABILITY_POSTGRESQL_15_URL."""
    return ENV_URL_TEMPLATE.format(target=re.sub(r"[^A-Za-z0-9]", "_", target).upper())


@dataclass(frozen=True)
class Target:
    """A named backend and the connection settings the harness uses for it."""

    name: str
    url: str
    url_source: str
    database: dict[str, Any] = field(compare=False)
    # embedded://[MAJOR] asked for an embedded PostgreSQL ("" the newest installed); harness.embedded.
    embedded: str | None = None
    # The embedded server's PostgreSQL version once one serves the target.
    embedded_version: str | None = None

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
    # Targets the user named: --backends, else [tool.portability] backends (empty: all, by default).
    named: list[str]
    test_paths: list[str]
    pytest_args: list[str]
    jobs: int
    timeout: float
    probe_timeout: float
    json_path: Path | None
    has_pytest_config: bool
    # The other report files asked for (harness.report.formats): format name → path.
    report_paths: dict[str, Path] = field(default_factory=dict)
    # [tool.portability.expected]: declared differences (harness.declarations), checked.
    expected: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The baseline's entries (harness.baseline; None: no baseline).
    baseline: list[Any] | None = None
    record_queries: bool = True
    float_tolerance: float = 1e-9
    stability_runs: int = 0
    fail_on: str = DEFAULT_FAIL_ON
    # Every worker of the run gets this PYTHONHASHSEED (None: they inherit the environment's).
    hash_seed: int | None = None
    hash_seed_source: str = RANDOM_HASH_SEED
    # Where each backend's results file and log are kept (None: a temporary folder).
    results_dir: Path | None = None
    # pytest-xdist processes per backend (-n: a number or "auto"; None: no xdist unless the pytest args ask).
    numprocesses: int | str | None = None
    # Keep each server backend's test database between runs, reused while its signature holds (harness.reuse).
    reuse_db: bool = False
    # Start an embedded PostgreSQL for a postgresql target nobody configured when no server answers.
    embedded: bool = True

    def processes_per_backend(self) -> int | None:
        """-n as a count. "auto" (usable CPUs) and "logical" (every CPU) are shared among the backends that
        run at once: three backends on two cores already keep both busy, and six xdist workers would
        only compete for them (1: no xdist)."""
        if self.numprocesses is None or isinstance(self.numprocesses, int):
            return self.numprocesses
        cpus = (os.cpu_count() if self.numprocesses == "logical" else len(os.sched_getaffinity(0))) or 1
        at_once = max(1, min(self.jobs, len(self.targets) * (1 + self.stability_runs)))
        return max(1, cpus // at_once)


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
    names = requested or split_names(table.get("backends")) or known_targets()
    for name in dict.fromkeys([*known_targets(), *names]):
        # Set but empty is the same as unset: the target's default URL.
        env_value = os.environ.get(env_url_name(name), "").strip()
        if env_value:
            urls[name] = (env_value, env_url_name(name))
    on_cli: set[str] = set()
    for item in cli_urls:
        name, sep, url = (part.strip() for part in item.partition("="))
        # A URL given without TARGET= splits at a '=' of its own (a query string, a password):
        # what comes before it is no target name, and may hold the password.
        if not sep or not url or not re.fullmatch(r"[\w@.-]+", name):
            raise ConfigError(detail=f"--url expects TARGET=URL, got {mask_url(item)!r}")
        if not is_target_name(name):
            raise ConfigError(
                detail=f"--url {mask_url(item)!r} names an unknown target {name!r}: choose from {TARGETS_TEXT}"
            )
        if name in on_cli:
            raise ConfigError(detail=f"--url gives target {name!r} two URLs: give each target one --url")
        on_cli.add(name)
        urls[name] = (url, "--url")
    embedded = {name: _embedded_request(name, url, source) for name, (url, source) in urls.items()}
    databases = {
        name: parse_configured_url(name, url, source) for name, (url, source) in urls.items() if embedded[name] is None
    }
    targets = []
    for name in names:
        vendor = vendor_for_target(name)
        url, source = urls.get(name, (vendor.default_url, "default"))
        if embedded.get(name) is not None:
            targets.append(Target(name=name, url=url, url_source=source, database={}, embedded=embedded[name]))
            continue
        database = databases[name] if name in databases else parse_target_url(name, url)
        targets.append(Target(name=name, url=url, url_source=source, database=database))
    return targets


def _embedded_request(name: str, url: str, source: str) -> str | None:
    """The major version an embedded:// URL asks for ("" the newest), None for a server's URL."""
    major = requested_major(url.strip())
    if major is not None and vendor_for_target(name).target != "postgresql":
        raise ConfigError(detail=f"{source}: embedded:// serves PostgreSQL only, not target {name!r}: give it a URL")
    return major


def load_run_config(
    *,
    project_dir: str,
    settings: str | None,
    backends: str | None,
    urls: list[str],
    jobs: int | str | None,
    json_path: str | None,
    pytest_args: list[str],
    report_paths: dict[str, str | None] | None = None,
    timeout: float | str | None = None,
    record_queries: bool | None = None,
    float_tolerance: float | str | None = None,
    stability_runs: int | str | None = None,
    fail_on: str | None = None,
    hash_seed: str | None = None,
    results_dir: str | None = None,
    numprocesses: str | None = None,
    reuse_db: bool | None = None,
    embedded: bool | None = None,
    baseline: str | None = None,
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
        "numprocesses": option("numprocesses", numprocesses, None),
        "reuse_db": option("reuse_db", reuse_db, False),
        "embedded": option("embedded", embedded, True),
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
        named=requested or table.get("backends", []),
        test_paths=test_paths,
        pytest_args=list(pytest_args),
        jobs=chosen["jobs"] or len(targets),
        timeout=chosen["timeout"],
        probe_timeout=table.get("probe_timeout", 3.0),
        json_path=check_output_file("--json", json_path),
        report_paths=check_report_paths(report_paths or {}),
        expected=table.get("expected", {}),
        baseline=resolve_baseline(baseline, table, root),
        results_dir=check_output_dir("--results-dir", results_dir),
        has_pytest_config=read_pytest_ini(root) is not None,
        record_queries=record_queries if record_queries is not None else table.get("queries", True),
        float_tolerance=chosen["float_tolerance"],
        stability_runs=chosen["stability_runs"],
        fail_on=threshold,
        hash_seed=seed,
        hash_seed_source=seed_source,
        numprocesses=chosen["numprocesses"],
        reuse_db=chosen["reuse_db"],
        embedded=chosen["embedded"],
    )


def resolve_baseline(option: str | None, table: dict[str, Any], project_dir: Path) -> list[Any] | None:
    """The entries of --baseline FILE (relative to the working directory), else of [tool.portability] baseline
    (relative to the project), else None."""
    from harness.baseline import read_baseline

    if option is not None:
        return read_baseline(Path(option), "--baseline")
    if "baseline" in table:
        return read_baseline(project_dir / table["baseline"], f"{PYPROJECT_TABLE} baseline")
    return None


def check_report_paths(paths: dict[str, str | None]) -> dict[str, Path]:
    """The report files (other than --json) a command was asked for, each checked writable."""
    return {name: check_output_file(f"--{name}", path) for name, path in paths.items() if path is not None}


def _selects_tests(root: Path, pytest_args: list[str]) -> bool:
    """Does the user's pytest argument list name test paths (so the configured ones are dropped)?"""
    return any(not arg.startswith("-") and (root / arg.split("::")[0]).exists() for arg in pytest_args)
