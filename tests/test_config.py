"""Config loading, URL parsing, password masking, target and settings resolution."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import (
    load_run_config,
    read_pytest_ini,
    resolve_fail_on,
    resolve_hash_seed,
    resolve_targets,
)
from harness.errors import ConfigError, MalformedUrlError, PortabilityError, SettingsError, UnknownTargetError
from harness.urls import mask_url, parse_target_url


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "DJANGO_SETTINGS_MODULE",
        "PORTABILITY_SQLITE_URL",
        "PORTABILITY_POSTGRESQL_URL",
        "PORTABILITY_MYSQL_URL",
        "PORTABILITY_MARIADB_URL",
        "PYTHONHASHSEED",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgres://app:s3cret@db:5432/x", "postgres://app:***@db:5432/x"),
        ("mysql://root:p%40ss@127.0.0.1/x", "mysql://root:***@127.0.0.1/x"),
        ("postgres://app@db/x", "postgres://app@db/x"),
        ("sqlite://:memory:", "sqlite://:memory:"),
        ("error connecting to postgres://u:hunter2@h/x: refused", "error connecting to postgres://u:***@h/x: refused"),
    ],
)
def test_mask_url_hides_passwords(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_parse_postgresql_url() -> None:
    database = parse_target_url("postgresql", "postgres://app:pw@db.example:6543/shop")
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert (database["HOST"], database["PORT"], database["USER"], database["PASSWORD"], database["NAME"]) == (
        "db.example",
        6543,
        "app",
        "pw",
        "shop",
    )


def test_parse_url_without_database_name_uses_the_default_name() -> None:
    assert parse_target_url("mariadb", "mysql://root@127.0.0.1:3306")["NAME"] == "portability"


def test_mariadb_scheme_selects_the_mysql_backend() -> None:
    assert parse_target_url("mariadb", "mariadb://root@127.0.0.1/x")["ENGINE"] == "django.db.backends.mysql"


def test_sqlite_url_is_in_memory() -> None:
    assert parse_target_url("sqlite", "sqlite://:memory:")["NAME"] == ":memory:"


@pytest.mark.parametrize(
    ("target", "url", "reason"),
    [
        ("postgresql", "notaurl", "expected SCHEME://"),
        ("postgresql", "mysql://root@h/x", "does not fit this target"),
        ("postgresql", "postgres://u:p@host:notaport/db", "port 'notaport' is not a number"),
        ("postgresql", "postgres:///db", "no host given"),
        ("mysql", "postgres://h/x", "does not fit this target"),
    ],
)
def test_malformed_urls_are_rejected_without_showing_the_password(target: str, url: str, reason: str) -> None:
    with pytest.raises(MalformedUrlError) as caught:
        parse_target_url(target, url)
    assert reason in str(caught.value)
    assert ":p@" not in str(caught.value)


def test_unknown_target_names_the_known_ones() -> None:
    with pytest.raises(UnknownTargetError, match="unknown target 'oracle': choose from mariadb, mysql"):
        resolve_targets({}, [], ["oracle"])


def test_url_precedence_pyproject_then_env_then_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    table = {"urls": {"postgresql": "postgres://from-pyproject/x", "mariadb": "mysql://from-pyproject/x"}}
    monkeypatch.setenv("PORTABILITY_POSTGRESQL_URL", "postgres://from-env/x")
    monkeypatch.setenv("PORTABILITY_MARIADB_URL", "mysql://from-env/x")
    targets = {
        target.name: target
        for target in resolve_targets(table, ["mariadb=mysql://from-cli/x"], ["postgresql", "mariadb", "sqlite"])
    }
    assert (targets["postgresql"].database["HOST"], targets["postgresql"].url_source) == (
        "from-env",
        "PORTABILITY_POSTGRESQL_URL",
    )
    assert (targets["mariadb"].database["HOST"], targets["mariadb"].url_source) == ("from-cli", "--url")
    assert targets["sqlite"].url_source == "default"


def test_without_backends_every_known_target_is_considered() -> None:
    assert [target.name for target in resolve_targets({}, [], [])] == ["sqlite", "postgresql", "mysql", "mariadb"]


def test_pyproject_backends_limit_the_default_set() -> None:
    assert [target.name for target in resolve_targets({"backends": ["sqlite", "mariadb"]}, [], [])] == [
        "sqlite",
        "mariadb",
    ]


def test_bad_url_flag_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="--url expects TARGET=URL"):
        resolve_targets({}, ["postgres://x"], [])


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def load(project: Path, **overrides: object):
    options = {
        "project_dir": str(project),
        "settings": None,
        "backends": None,
        "urls": [],
        "jobs": None,
        "json_path": None,
        "pytest_args": [],
    }
    return load_run_config(**{**options, **overrides})


def test_settings_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "pytest.ini", "[pytest]\nDJANGO_SETTINGS_MODULE = from_pytest\n")
    assert (load(tmp_path).settings, load(tmp_path).settings_source) == ("from_pytest", "pytest configuration")
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "from_env")
    assert load(tmp_path).settings == "from_env"
    write(tmp_path / "pyproject.toml", '[tool.portability]\nsettings = "from_pyproject"\n')
    assert load(tmp_path).settings == "from_pyproject"
    assert load(tmp_path, settings="from_cli").settings == "from_cli"


def test_missing_settings_is_a_settings_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="no Django settings module found"):
        load(tmp_path)


def test_invalid_pyproject_is_a_config_error(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", "[tool.portability\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(tmp_path, settings="s")


@pytest.mark.parametrize(
    ("filename", "text"),
    [
        ("setup.cfg", "[tool:pytest]\nDJANGO_SETTINGS_MODULE = tests.settings\n"),
        ("tox.ini", "[pytest]\nDJANGO_SETTINGS_MODULE = tests.settings\n"),
        ("pyproject.toml", '[tool.pytest.ini_options]\nDJANGO_SETTINGS_MODULE = "tests.settings"\n'),
    ],
)
def test_pytest_config_is_found_in_each_place_pytest_reads(tmp_path: Path, filename: str, text: str) -> None:
    write(tmp_path / filename, text)
    assert read_pytest_ini(tmp_path) == {"DJANGO_SETTINGS_MODULE": "tests.settings"}


def test_a_project_without_pytest_config_is_detected(tmp_path: Path) -> None:
    write(tmp_path / "setup.cfg", "[metadata]\nname = x\n")
    assert read_pytest_ini(tmp_path) is None
    assert load(tmp_path, settings="s").has_pytest_config is False


def test_configured_test_paths_give_way_to_paths_after_double_dash(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[tool.portability]\nsettings = "s"\ntests = ["app"]\n')
    (tmp_path / "app").mkdir()
    (tmp_path / "other").mkdir()
    assert load(tmp_path).test_paths == ["app"]
    assert load(tmp_path, pytest_args=["-k", "name"]).test_paths == ["app"]
    assert load(tmp_path, pytest_args=["other"]).test_paths == []


def test_jobs_default_to_one_per_target(tmp_path: Path) -> None:
    assert load(tmp_path, settings="s", backends="sqlite,postgresql").jobs == 2
    assert load(tmp_path, settings="s", backends="sqlite,postgresql", jobs=1).jobs == 1


def test_a_float_tolerance_of_zero_means_exact(tmp_path: Path) -> None:
    assert load(tmp_path, settings="s").float_tolerance == 1e-9
    assert load(tmp_path, settings="s", float_tolerance=0.0).float_tolerance == 0.0
    write(tmp_path / "pyproject.toml", "[tool.portability]\nfloat_tolerance = 0\n")
    assert load(tmp_path, settings="s").float_tolerance == 0.0
    assert load(tmp_path, settings="s", float_tolerance=1e-6).float_tolerance == 1e-6


def test_fail_on_precedence_cli_then_pyproject_then_warning(tmp_path: Path) -> None:
    assert load(tmp_path, settings="s").fail_on == "warning"
    write(tmp_path / "pyproject.toml", '[tool.portability]\nsettings = "s"\nfail_on = "note"\n')
    assert load(tmp_path).fail_on == "note"
    assert load(tmp_path, fail_on="error").fail_on == "error"


@pytest.mark.parametrize(
    ("cli_value", "table", "named"),
    [("fatal", {}, "--fail-on 'fatal'"), (None, {"fail_on": "warn"}, "fail_on 'warn'"), (None, {"fail_on": 1}, "1")],
)
def test_a_bad_fail_on_is_a_config_error_naming_the_levels(cli_value, table, named: str) -> None:
    with pytest.raises(ConfigError, match="is not a level: choose error, warning or note") as caught:
        resolve_fail_on(cli_value, table)
    assert named in str(caught.value)


def test_hash_seed_precedence_cli_then_pyproject_then_env_then_random(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONHASHSEED", "3")
    table = {"hash_seed": 2}
    assert resolve_hash_seed("1", table) == (1, "--hash-seed")
    assert resolve_hash_seed(None, table) == (2, "pyproject.toml [tool.portability] hash_seed")
    assert resolve_hash_seed(None, {}) == (3, "PYTHONHASHSEED")
    monkeypatch.delenv("PYTHONHASHSEED")
    seed, source = resolve_hash_seed(None, {})
    assert source == "random" and 0 <= seed <= 4294967295


def test_a_random_hash_seed_is_chosen_per_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONHASHSEED", "random")  # Python's own "not fixed"
    seeds = {resolve_hash_seed(None, {})[0] for _ in range(5)}
    assert len(seeds) > 1


@pytest.mark.parametrize(
    ("cli_value", "table", "env", "named"),
    [
        ("-1", {}, None, "--hash-seed '-1'"),
        ("4294967296", {}, None, "--hash-seed '4294967296'"),
        ("seven", {}, None, "--hash-seed 'seven'"),
        (None, {"hash_seed": True}, None, "hash_seed True"),
        (None, {"hash_seed": 1.5}, None, "hash_seed 1.5"),
        (None, {}, "abc", "PYTHONHASHSEED 'abc'"),
    ],
)
def test_a_bad_hash_seed_is_a_config_error(monkeypatch, cli_value, table, env, named: str) -> None:
    if env:
        monkeypatch.setenv("PYTHONHASHSEED", env)
    with pytest.raises(ConfigError, match="is not a hash seed: give an integer from 0 to 4294967295") as caught:
        resolve_hash_seed(cli_value, table)
    assert named in str(caught.value)


def test_every_worker_of_a_run_gets_the_runs_hash_seed(tmp_path: Path) -> None:
    from harness.execute import Worker, worker_env

    config = load(tmp_path, settings="s", backends="sqlite,postgresql", hash_seed="4294967295")
    assert (config.hash_seed, config.hash_seed_source) == (4294967295, "--hash-seed")
    envs = [worker_env(config, Worker(target, tmp_path / "r", tmp_path / "l")) for target in config.targets]
    assert [env["PYTHONHASHSEED"] for env in envs] == ["4294967295", "4294967295"]


@pytest.mark.parametrize(
    ("cpus", "backends", "jobs", "expected"),
    [
        (2, "sqlite,postgresql,mariadb", None, 1),  # three backends already keep two cores busy
        (16, "sqlite,postgresql,mariadb", None, 5),
        (16, "sqlite,postgresql,mariadb", 1, 16),  # one backend at a time gets every core
        (8, "sqlite", None, 8),
    ],
)
def test_auto_processes_share_the_cpus_among_the_backends_running_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cpus: int, backends: str, jobs: int | None, expected: int
) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(cpus)))
    config = load(tmp_path, settings="s", backends=backends, jobs=jobs, numprocesses="auto")
    assert config.processes_per_backend() == expected


def test_a_process_count_given_as_a_number_is_kept(tmp_path: Path) -> None:
    assert load(tmp_path, settings="s", numprocesses="3").processes_per_backend() == 3
    assert load(tmp_path, settings="s").processes_per_backend() is None


def test_labelled_targets_take_their_urls_from_the_command_line_the_environment_and_pyproject(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(
        tmp_path / "pyproject.toml",
        '[tool.portability]\nbackends = ["postgresql@15", "postgresql@17", "mariadb@10.11"]\n'
        '[tool.portability.urls]\n"mariadb@10.11" = "mysql://root@db-1011:3306/app"\n',
    )
    monkeypatch.setenv("PORTABILITY_POSTGRESQL_17_URL", "postgres://pg17.example:5432/app")
    config = load(tmp_path, settings="s", urls=["postgresql@15=postgres://pg15.example/app"])
    found = {
        target.name: (target.database["HOST"], target.url_source, target.vendor.target) for target in config.targets
    }
    assert found == {
        "postgresql@15": ("pg15.example", "--url", "postgresql"),
        "postgresql@17": ("pg17.example", "PORTABILITY_POSTGRESQL_17_URL", "postgresql"),
        "mariadb@10.11": ("db-1011", "pyproject.toml", "mariadb"),
    }


@pytest.mark.parametrize("name", ["postgresql@", "postgresql@-15", "oracle@19", "postgresql@1 5"])
def test_a_bad_labelled_target_name_is_a_one_line_error(tmp_path: Path, name: str) -> None:
    with pytest.raises(PortabilityError) as raised:
        load(tmp_path, settings="s", backends=name)
    assert "VENDOR@LABEL" in str(raised.value) and "\n" not in str(raised.value)


def test_an_embedded_url_needs_no_server_url_and_only_fits_postgresql(tmp_path: Path) -> None:
    config = load(tmp_path, settings="s", backends="postgresql@16", urls=["postgresql@16=embedded://16"])
    assert [(target.name, target.embedded) for target in config.targets] == [("postgresql@16", "16")]
    with pytest.raises(PortabilityError, match="embedded:// serves PostgreSQL only"):
        load(tmp_path, settings="s", backends="mariadb", urls=["mariadb=embedded://"])
