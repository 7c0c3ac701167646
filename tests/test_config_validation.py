"""Bad configuration is one line, exit 2, before anything runs: command line, environment and [tool.portability].

Each case names what must be in the line: the option or key, and what is allowed instead.
Command-line and environment cases run the real `portability` command in a subprocess (they
stop before any test runs, so they are fast); [tool.portability] cases call the validation.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from harness.config import load_run_config, read_pyproject
from harness.config_schema import check_table
from harness.errors import PortabilityError
from tests.helpers import PORTABILITY, CliResult, run_portability, write_project

TARGETS = "sqlite, postgresql, mysql, mariadb"


# ---------------------------------------------------------------- command line and environment

# (id, arguments after the command, environment, words the one line must hold)
CLI_CASES = [
    ("jobs-zero", ["run", "--jobs", "0"], {}, ["--jobs '0'", "at least 1"]),
    ("jobs-text", ["run", "--jobs", "x"], {}, ["--jobs 'x'", "whole number"]),
    ("jobs-negative", ["migrations", "--jobs", "-2"], {}, ["--jobs '-2'", "at least 1"]),
    ("timeout-nan", ["run", "--timeout", "nan"], {}, ["--timeout 'nan'", "seconds of at least 1"]),
    ("timeout-inf", ["run", "--timeout", "inf"], {}, ["--timeout 'inf'", "seconds of at least 1"]),
    ("timeout-negative", ["run", "--timeout", "-5"], {}, ["--timeout '-5'", "seconds of at least 1"]),
    ("timeout-text", ["run", "--timeout", "soon"], {}, ["--timeout 'soon'", "seconds"]),
    (
        "float-tolerance-nan",
        ["run", "--float-tolerance", "nan"],
        {},
        ["--float-tolerance 'nan'", "from 0 (exact) to 1"],
    ),
    ("float-tolerance-big", ["run", "--float-tolerance", "2"], {}, ["--float-tolerance '2'", "from 0 (exact) to 1"]),
    ("stability-runs-negative", ["run", "--stability-runs", "-1"], {}, ["--stability-runs '-1'", "at least 0"]),
    ("backends-empty", ["run", "--backends", ","], {}, ["--backends ','", "names no target", TARGETS]),
    ("backends-blank", ["migrations", "--backends", " "], {}, ["--backends", "names no target"]),
    ("backends-twice", ["run", "--backends", "postgresql,postgresql"], {}, ["--backends", "'postgresql' twice"]),
    ("backends-unknown", ["run", "--backends", "sqlite,oracle"], {}, ["--backends", "'oracle'", TARGETS]),
    ("url-twice", ["run", "--url", "postgresql=postgres://h/a", "--url", "postgresql=postgres://h/b"], {}, ["--url"]),
    ("url-unknown-target", ["run", "--url", "oracle=oracle://h/x"], {}, ["--url", "'oracle'", TARGETS]),
    ("url-no-equals", ["run", "--url", "postgres://h/x"], {}, ["--url expects TARGET=URL"]),
    ("url-malformed", ["run", "--url", "postgresql=notaurl"], {}, ["malformed URL", "postgresql", "--url"]),
    ("settings-path", ["run", "--settings", "mysite/settings.py"], {}, ["--settings 'mysite/settings.py'", "dotted"]),
    ("settings-empty", ["run", "--settings", ""], {}, ["--settings ''", "dotted module name"]),
    ("hash-seed-negative", ["run", "--hash-seed", "-1"], {}, ["--hash-seed '-1'", "0 to 4294967295"]),
    ("fail-on-unknown", ["report", "--fail-on", "fatal"], {}, ["--fail-on 'fatal'", "error, warning or note"]),
    ("ignore-bogus", ["migrations", "--ignore", "BOGUS"], {}, ["--ignore", "'BOGUS'", "PM301", "APP.MIGRATION"]),
    ("ignore-bad-code", ["migrations", "--ignore", "shop.0001_initial:PM999"], {}, ["--ignore", "PM999", "PM301"]),
    ("app-not-a-label", ["migrations", "--app", "shop/models"], {}, ["--app 'shop/models'", "app label"]),
    ("report-results-dir-missing", ["report", "--results-dir", "nowhere"], {}, ["--results-dir 'nowhere'", "folder"]),
    ("report-nothing", ["report"], {}, ["no results files", "--results-dir"]),
    (
        "env-url-malformed",
        ["run"],
        {"PORTABILITY_POSTGRESQL_URL": "notaurl"},
        ["malformed URL", "postgresql", "PORTABILITY_POSTGRESQL_URL"],
    ),
    (
        "env-url-wrong-scheme",
        ["run", "--backends", "sqlite"],
        {"PORTABILITY_MARIADB_URL": "postgres://h/x"},
        ["malformed URL", "mariadb", "PORTABILITY_MARIADB_URL", "does not fit this target"],
    ),
    ("env-settings-path", ["run"], {"DJANGO_SETTINGS_MODULE": "a/b.py"}, ["DJANGO_SETTINGS_MODULE 'a/b.py'", "dotted"]),
]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project whose only test would leave a marker file if it ever ran."""
    root = write_project(
        tmp_path_factory.mktemp("validation") / "proj",
        {"shop/tests.py": "from pathlib import Path\n\n\ndef test_ran():\n    Path('RAN').touch()\n"},
    )
    return root


def assert_one_line(stderr: str, output: str, *words: str) -> str:
    assert "Traceback" not in output, output
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    line = lines[0]
    assert line.startswith("portability: error: "), line
    for word in words:
        assert word in line, f"{word!r} not in {line!r}"
    return line


def run_with_env(project: Path, args: list[str], env: dict[str, str]) -> CliResult:
    """The real command; --settings added unless the case is about the settings (or is `report`)."""
    about_settings = args[0] == "report" or "--settings" in args or "DJANGO_SETTINGS_MODULE" in env
    full_args = args if about_settings else [args[0], "--settings", "settings", *args[1:]]
    if "DJANGO_SETTINGS_MODULE" not in env:
        return run_portability(*full_args, cwd=project, env=env, timeout=60)
    # run_portability drops DJANGO_SETTINGS_MODULE from the environment: this case needs it.
    completed = subprocess.run(
        [*PORTABILITY, *full_args], cwd=project, env={**os.environ, **env}, capture_output=True, text=True, timeout=60
    )
    return CliResult(completed.returncode, completed.stdout, completed.stderr)


@pytest.mark.parametrize(("args", "env", "words"), [case[1:] for case in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_bad_command_line_or_environment(project: Path, args: list[str], env: dict, words: list[str]) -> None:
    result = run_with_env(project, args, env)
    assert_one_line(result.stderr, result.output, *words)
    assert result.returncode == 2, result.output
    assert not (project / "RAN").exists()


# ---------------------------------------------------------------- [tool.portability]

# (id, the lines of [tool.portability], words the one line must hold)
PYPROJECT_CASES = [
    ("jobs-text", 'jobs = "x"', ["jobs 'x'", "whole number of at least 1"]),
    ("jobs-zero", "jobs = 0", ["jobs 0", "at least 1"]),
    ("jobs-bool", "jobs = true", ["jobs True", "whole number"]),
    ("float-tolerance-text", 'float_tolerance = "big"', ["float_tolerance 'big'", "from 0 (exact) to 1"]),
    ("float-tolerance-nan", "float_tolerance = nan", ["float_tolerance nan", "from 0 (exact) to 1"]),
    ("migrations-ignore-int", "migrations_ignore = 5", ["migrations_ignore 5", "APP.MIGRATION:CODE"]),
    ("migrations-ignore-bogus", 'migrations_ignore = ["BOGUS"]', ["migrations_ignore", "'BOGUS'", "PM301"]),
    ("unknown-key", 'setings = "settings"', ["unknown key 'setings'", "did you mean 'settings'?"]),
    ("unknown-key-far", "colour = 1", ["unknown key 'colour'", "the keys are backends"]),
    ("queries-text", 'queries = "no"', ["queries 'no'", "true or false"]),
    ("timeout-negative", "timeout = -5", ["timeout -5", "seconds of at least 1"]),
    ("timeout-inf", "timeout = inf", ["timeout inf", "seconds of at least 1"]),
    ("probe-timeout-zero", "probe_timeout = 0", ["probe_timeout 0", "at least 0.1"]),
    ("stability-runs-float", "stability_runs = 1.5", ["stability_runs 1.5", "whole number of at least 0"]),
    ("backends-empty", "backends = []", ["backends [] names no target", TARGETS]),
    ("backends-twice", 'backends = ["sqlite", "sqlite"]', ["backends names 'sqlite' twice"]),
    ("backends-unknown", 'backends = ["oracle"]', ["backends names an unknown target 'oracle'", TARGETS]),
    ("backends-int", "backends = 3", ["backends 3", "name targets from"]),
    ("tests-missing", 'tests = ["nosuch"]', ["tests names 'nosuch'", "does not exist"]),
    ("tests-int", "tests = 1", ["tests 1", "path or a list of paths"]),
    ("settings-int", "settings = 5", ["settings 5", "dotted module name"]),
    ("settings-empty", 'settings = ""', ["settings ''", "dotted module name"]),
    ("fail-on-int", "fail_on = 1", ["fail_on 1", "error, warning or note"]),
    ("hash-seed-text", 'hash_seed = "abc"', ["hash_seed 'abc'", "0 to 4294967295"]),
    ("hash-seed-big", "hash_seed = 4294967296", ["hash_seed 4294967296", "0 to 4294967295"]),
    ("urls-not-table", "urls = 5", ["urls 5", "[tool.portability.urls]"]),
    ("urls-unknown-target", "urls = {oracle = 'oracle://h/x'}", ["urls names an unknown target 'oracle'", TARGETS]),
    ("urls-not-string", "urls = {postgresql = 5}", ["urls gives postgresql the URL 5", "URL string"]),
    ("urls-malformed", "urls = {postgresql = 'notaurl'}", ["malformed URL", "[tool.portability.urls]"]),
]


def pyproject_error(root: Path, lines: str) -> str:
    root.mkdir(exist_ok=True)
    (root / "pyproject.toml").write_text(f"[tool.portability]\n{lines}\n")
    with pytest.raises(PortabilityError) as caught:
        read_pyproject(root)
    assert caught.value.exit_code == 2
    return str(caught.value)


@pytest.mark.parametrize(
    ("lines", "words"), [case[1:] for case in PYPROJECT_CASES], ids=[c[0] for c in PYPROJECT_CASES]
)
def test_bad_pyproject_value(tmp_path: Path, lines: str, words: list[str]) -> None:
    message = pyproject_error(tmp_path, lines)
    assert "\n" not in message
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


@pytest.mark.parametrize("lines", ['jobs = "x"', "migrations_ignore = 5", 'setings = "settings"'])
def test_bad_pyproject_through_the_command(project: Path, tmp_path: Path, lines: str) -> None:
    root = write_project(tmp_path / "proj", {})
    (root / "pyproject.toml").write_text(f'[tool.portability]\nsettings = "settings"\n{lines}\n')
    result = run_portability("run", cwd=root, timeout=60)
    assert_one_line(result.stderr, result.output, lines.split()[0])
    assert result.returncode == 2


def test_a_url_in_a_bad_table_is_never_shown(tmp_path: Path) -> None:
    message = pyproject_error(tmp_path, "urls = 'postgres://u:hunter2@h/x'")
    assert "hunter2" not in message


def test_every_key_the_code_reads_is_in_the_schema(tmp_path: Path) -> None:
    table = {
        "settings": "s",
        "tests": [],
        "backends": ["sqlite"],
        "urls": {"sqlite": "sqlite://:memory:"},
        "jobs": 1,
        "timeout": 60,
        "probe_timeout": 1.5,
        "queries": False,
        "float_tolerance": 0,
        "stability_runs": 0,
        "fail_on": "note",
        "hash_seed": 7,
        "migrations_ignore": ["PM301", "runsql-not-portable", "shop.0001_initial", "shop.0001_initial:PM312"],
    }
    assert check_table(table, tmp_path)["timeout"] == 60.0


# ---------------------------------------------------------------- environment read in this process


def test_a_bad_pythonhashseed_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Python itself refuses to start with a bad PYTHONHASHSEED, so this case cannot go through a subprocess.
    monkeypatch.setenv("PYTHONHASHSEED", "abc")
    with pytest.raises(PortabilityError, match="PYTHONHASHSEED 'abc' is not a hash seed: give an integer from 0"):
        load_run_config(
            project_dir=str(tmp_path), settings="s", backends=None, urls=[], jobs=None, json_path=None, pytest_args=[]
        )


def test_an_empty_target_url_variable_means_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTABILITY_MYSQL_URL", "")
    monkeypatch.setenv("PORTABILITY_POSTGRESQL_URL", "  ")
    config = load_run_config(
        project_dir=str(tmp_path), settings="s", backends=None, urls=[], jobs=None, json_path=None, pytest_args=[]
    )
    sources = {target.name: target.url_source for target in config.targets}
    assert sources["mysql"] == sources["postgresql"] == "default"
