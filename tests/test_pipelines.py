"""The ready-made pipelines (docs/ci/) and the pre-commit hook (.pre-commit-hooks.yaml) stay runnable.

Every `portability ...` command line in them must name a real command and only that command's options
(harness.cli.main, parsed by click itself), every `pytest --portability-...` option must be one the
pytest plugin registers, and the pipelines must keep their shape: one job per backend with that
backend's server, a final report job that runs after failures and publishes SARIF, JUnit and Markdown.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import click
import pytest
import yaml

from harness import pytest_plugin
from harness.cli import main
from harness.urls import parse_target_url
from tests.helpers import REPO

GITHUB = REPO / "docs" / "ci" / "github-actions.yml"
GITLAB = REPO / "docs" / "ci" / "gitlab-ci.yml"
HOOKS = REPO / ".pre-commit-hooks.yaml"
COMPOSE = REPO / "docker-compose.yml"

BACKENDS = {"sqlite", "postgresql", "mysql", "mariadb"}
# The official image of each server target.
IMAGE_OF = {"postgresql": "postgres", "mysql": "mysql", "mariadb": "mariadb"}
# The keys pre-commit documents for a hook of .pre-commit-hooks.yaml (https://pre-commit.com/#new-hooks).
PRE_COMMIT_HOOK_KEYS = {
    "id",
    "name",
    "entry",
    "language",
    "files",
    "exclude",
    "types",
    "types_or",
    "exclude_types",
    "always_run",
    "fail_fast",
    "verbose",
    "pass_filenames",
    "require_serial",
    "description",
    "language_version",
    "minimum_pre_commit_version",
    "args",
    "stages",
}


def load(path: Path) -> dict | list:
    return yaml.safe_load(path.read_text())


# ---------------------------------------------------------------- command lines in shell scripts

# A GitHub Actions expression: one opaque word once substituted.
EXPRESSION = re.compile(r"\$\{\{.*?\}\}", re.DOTALL)
SEPARATORS = {";", "&&", "||", "|", "&", "(", ")", "!"}
REDIRECTIONS = {">", ">>", "<", ">&", "<&", ">|"}
KEYWORDS = {"if", "then", "else", "elif", "fi", "do", "done", "while", "until", "time", "exec"}
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


@dataclass(frozen=True)
class CommandLine:
    source: str  # where it was found, for the failure message
    program: str  # "portability" or "pytest"
    args: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.source}: {self.program} {shlex.join(self.args)}"


def simple_commands(script: str) -> Iterator[list[str]]:
    """The words of each simple command of a shell script (continuation lines joined, comments dropped,
    split at ; && || | and newlines, redirections left out); a ${{ ... }} expression is the word EXPR."""
    script = EXPRESSION.sub("EXPR", script).replace("\\\n", " ")
    for line in script.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|<>()!")
        lexer.whitespace_split = True
        words: list[str] = []
        skip_next = False
        for token in lexer:
            if skip_next:
                skip_next = False
            elif token in SEPARATORS:
                yield words
                words = []
            elif token in REDIRECTIONS:
                skip_next = True  # the redirection's target
                if words and words[-1].isdigit():
                    words.pop()  # 2>/dev/null
            elif not words and (token in KEYWORDS or ASSIGNMENT.match(token)):
                continue
            else:
                words.append(token)
        yield words


def harness_commands(script: str, source: str) -> list[CommandLine]:
    """The `portability ...` and `pytest ...` command lines of a script."""
    found = []
    for words in simple_commands(script):
        if not words:
            continue
        program, rest = Path(words[0]).name, words[1:]
        if program.startswith("python") and rest[:2] in (["-m", "pytest"], ["-m", "harness.cli"]):
            program, rest = ("pytest" if rest[1] == "pytest" else "portability"), rest[2:]
        if program in ("py.test", "pytest"):
            found.append(CommandLine(source, "pytest", tuple(rest)))
        elif program == "portability":
            found.append(CommandLine(source, "portability", tuple(rest)))
    return found


# ---------------------------------------------------------------- what the commands accept


class RecordingParser:
    """Stands in for pytest's Parser (and its option groups): records what pytest_addoption adds."""

    def __init__(self) -> None:
        self.options: dict[str, dict] = {}

    def getgroup(self, *args: object, **kwargs: object) -> RecordingParser:
        return self

    def addoption(self, *names: str, **kwargs: object) -> None:
        for name in names:
            self.options[name] = kwargs

    def addini(self, *args: object, **kwargs: object) -> None:
        pass


def plugin_options() -> dict[str, dict]:
    """The options harness/pytest_plugin.py registers: name → addoption keyword arguments."""
    parser = RecordingParser()
    pytest_plugin.pytest_addoption(parser)
    return parser.options


def takes_value(option: dict) -> bool:
    return option.get("action") not in ("store_true", "store_false", "count")


def option_names(command: click.Command) -> set[str]:
    return {
        name
        for param in command.params
        if isinstance(param, click.Option)
        for name in (*param.opts, *param.secondary_opts)
    }


def problems_of(line: CommandLine) -> list[str]:
    """What is wrong with a command line: an unknown command, an unknown option, a missing value."""
    if line.program == "pytest":
        return pytest_problems(line)
    return portability_problems(line)


def portability_problems(line: CommandLine) -> list[str]:
    command: click.Command = main
    args = list(line.args)
    path = ["portability"]
    while isinstance(command, click.Group):
        if not args or args[0].startswith("-"):
            return [f"{line}: no command after {' '.join(path)} (one of {sorted(command.commands)})"]
        name = args.pop(0)
        if name not in command.commands:
            return [f"{line}: {' '.join(path)} has no command {name!r} (only {sorted(command.commands)})"]
        command, path = command.commands[name], [*path, name]
    problems = []
    known = option_names(command)
    for arg in args:
        if arg == "--":
            break  # pytest's arguments (run)
        if arg.startswith("-") and arg != "-":
            name = arg.split("=", 1)[0]
            if name not in known:
                problems.append(f"{line}: {' '.join(path)} has no option {name} (only {sorted(known)})")
    if not problems:
        # click parses the whole line as `portability` would: a value missing, a flag given a value.
        try:
            command.make_context(" ".join(path), list(args))
        except click.ClickException as error:
            problems.append(f"{line}: {error.format_message()}")
    return problems


def pytest_problems(line: CommandLine) -> list[str]:
    options = plugin_options()
    problems = []
    args = list(line.args)
    for index, arg in enumerate(args):
        if arg == "--":
            break
        if not arg.startswith("--portability"):
            continue
        name, has_inline_value = arg.split("=", 1)[0], "=" in arg
        if name not in options:
            problems.append(f"{line}: the pytest plugin has no option {name} (only {sorted(options)})")
        elif takes_value(options[name]) and not has_inline_value:
            following = args[index + 1] if index + 1 < len(args) else None
            if following is None or following.startswith("-"):
                problems.append(f"{line}: {name} needs a value")
        elif not takes_value(options[name]) and has_inline_value:
            problems.append(f"{line}: {name} is a flag and takes no value")
    return problems


def option_value(line: CommandLine, name: str) -> str | None:
    """The value given to an option (the last one), or None."""
    value = None
    args = list(line.args)
    for index, arg in enumerate(args):
        if arg == "--":
            break
        if arg == name and index + 1 < len(args):
            value = args[index + 1]
        elif arg.startswith(name + "="):
            value = arg.split("=", 1)[1]
    return value


def option_values(line: CommandLine, name: str) -> list[str]:
    args = list(line.args)
    return [args[index + 1] for index, arg in enumerate(args[:-1]) if arg == name]


# ---------------------------------------------------------------- the files' command lines


def github_commands(workflow: dict) -> list[CommandLine]:
    return [
        line
        for job_name, job in workflow["jobs"].items()
        for number, step in enumerate(job.get("steps", []))
        if "run" in step
        for line in harness_commands(step["run"], f"{GITHUB.name} jobs.{job_name}.steps[{number}]")
    ]


def gitlab_scripts(job: dict) -> Iterator[tuple[str, str]]:
    for key in ("before_script", "script", "after_script"):
        entries = job.get(key, [])
        stack = [entries] if isinstance(entries, str) else list(entries)
        while stack:
            entry = stack.pop(0)
            if isinstance(entry, list):
                stack[:0] = entry  # nested lists (YAML anchors) are flattened, as GitLab does
            else:
                yield key, entry


def gitlab_commands(pipeline: dict) -> list[CommandLine]:
    return [
        line
        for job_name, job in pipeline.items()
        if isinstance(job, dict)
        for key, script in gitlab_scripts(job)
        for line in harness_commands(script, f"{GITLAB.name} {job_name}.{key}")
    ]


def hook_commands(hooks: list) -> list[CommandLine]:
    return [
        line
        for hook in hooks
        for line in harness_commands(shlex.join([*shlex.split(hook["entry"]), *hook.get("args", [])]), hook["id"])
    ]


ALL_COMMANDS = {
    "github": lambda: github_commands(load(GITHUB)),
    "gitlab": lambda: gitlab_commands(load(GITLAB)),
    "pre-commit": lambda: hook_commands(load(HOOKS)),
}


@pytest.mark.parametrize("name", sorted(ALL_COMMANDS))
def test_every_command_line_uses_real_commands_and_options(name):
    lines = ALL_COMMANDS[name]()
    assert lines, f"no portability or pytest command line found in the {name} file"
    problems = [problem for line in lines for problem in problems_of(line)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("portability report results/*.jsonl --sariff out.sarif", "has no option --sariff"),
        ("portability reprot results/*.jsonl", "has no command 'reprot'"),
        (".venv/bin/portability migrations --since", "requires an argument"),
        ("portability run --no-queries=yes", "does not take a value"),
        ("portability servers", "no command after portability servers"),
        ("pytest --portability-taget sqlite", "has no option --portability-taget"),
        ("mkdir -p r && python -m pytest --portability-results", "--portability-results needs a value"),
        ("X=1 pytest --portability-no-queries=1", "is a flag and takes no value"),
        ('portability report r/a.jsonl \\\n  --markdown "${{ env.OUT }}" --htm x.html', "has no option --htm"),
    ],
)
def test_the_check_catches_what_would_break_a_pipeline(script, expected):
    [line] = harness_commands(script, "example")
    problems = problems_of(line)
    assert any(expected in problem for problem in problems), problems


def test_the_check_reads_commands_out_of_shell_scripts():
    script = (
        "mkdir -p results\n"
        'if [ -n "$X" ]; then timeout 5 true; fi\n'
        "# portability nothing: a comment\n"
        "PYTHONHASHSEED=1 pytest -x --portability-target ${{ matrix.backend }} \\\n"
        "  --portability-results results/${{ matrix.backend }}.jsonl 2>/dev/null\n"
        "cat x.md >> $GITHUB_STEP_SUMMARY; portability clean --dry-run | tee out"
    )
    lines = harness_commands(script, "example")
    assert [(line.program, line.args) for line in lines] == [
        ("pytest", ("-x", "--portability-target", "EXPR", "--portability-results", "results/EXPR.jsonl")),
        ("portability", ("clean", "--dry-run")),
    ]
    assert all(not problems_of(line) for line in lines)


# ---------------------------------------------------------------- shared facts


def compose_images() -> dict[str, str]:
    """The image of each default server service of docker-compose.yml."""
    services = load(COMPOSE)["services"]
    return {name: services[name]["image"] for name in IMAGE_OF}


def host_port_of(mapping: str | int) -> int:
    """The host port of a port mapping ("5432:5432", "127.0.0.1:3307:3306")."""
    parts = str(mapping).split(":")
    return int(parts[-2] if len(parts) > 1 else parts[0])


def image_vendor(image: str) -> str:
    return image.rsplit("/", 1)[-1].split(":", 1)[0]


def check_url(target: str, url: str) -> None:
    """The harness accepts the URL for that target (scheme, form)."""
    parse_target_url(target, url)


def the_one(lines: list[CommandLine], subcommand: str) -> CommandLine:
    found = [line for line in lines if line.program == "portability" and line.args[:1] == (subcommand,)]
    assert len(found) == 1, f"expected one `portability {subcommand}`, found {[str(line) for line in found]}"
    return found[0]


def backends_option(line: CommandLine) -> set[str]:
    return set((option_value(line, "--backends") or "").split(","))


def urls_option(line: CommandLine) -> dict[str, str]:
    return dict(item.split("=", 1) for item in option_values(line, "--url"))


# ---------------------------------------------------------------- GitHub Actions


def github_workflow() -> dict:
    return load(GITHUB)


def jobs_running(workflow: dict, program: str, subcommand: str | None = None) -> dict[str, dict]:
    """The jobs with a step that runs `portability SUBCOMMAND` (or pytest)."""
    return {
        name: job
        for name, job in workflow["jobs"].items()
        if any(
            line.program == program and (subcommand is None or line.args[:1] == (subcommand,))
            for line in github_commands({"jobs": {name: job}})
        )
    }


def github_job_steps_using(job: dict, action: str) -> list[dict]:
    return [step for step in job.get("steps", []) if step.get("uses", "").split("@")[0] == action]


def service_selected_by(image: str) -> str | None:
    """The backend a conditional service image selects: ${{ matrix.backend == 'mysql' && 'mysql:8.4' || '' }}."""
    match = re.fullmatch(r"\$\{\{\s*matrix\.backend\s*==\s*'([\w@.-]+)'\s*&&\s*'([^']+)'\s*\|\|\s*''\s*\}\}", image)
    return match.group(1) if match else None


def service_image(image: str) -> str:
    match = re.search(r"&&\s*'([^']+)'", image)
    return match.group(1) if match else image


def test_github_runs_on_pushes_and_pull_requests():
    workflow = github_workflow()
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert {"push", "pull_request"} <= set(triggers)
    assert workflow["env"]["DJANGO_SETTINGS_MODULE"], "the settings module to adapt"
    assert "PYTHONHASHSEED" in workflow["env"], "every job of a run needs the same hash seed"


def test_github_has_one_job_per_backend_each_with_its_own_server():
    workflow = github_workflow()
    [(name, job)] = jobs_running(workflow, "pytest").items()
    assert job["strategy"]["fail-fast"] is False, "every backend must run to the end"
    entries = job["strategy"]["matrix"]["include"]
    assert sorted(entry["backend"] for entry in entries) == sorted(BACKENDS)
    services = job["services"]
    images = compose_images()
    for entry in entries:
        backend, url = entry["backend"], entry["url"]
        check_url(backend, url)
        selected = [service for service in services.values() if service_selected_by(service["image"]) == backend]
        if backend == "sqlite":
            assert not selected, "the sqlite job needs no server"
            continue
        assert len(selected) == 1, f"{backend}: expected one service started for it, found {selected}"
        [service] = selected
        image = service_image(service["image"])
        assert image_vendor(image) == IMAGE_OF[backend], (backend, image)
        assert image == images[backend], f"{backend}: {image} is not docker-compose.yml's {images[backend]}"
        assert "--health-cmd" in service["options"], f"{backend}: the job must wait for a healthy server"
        assert urlsplit(url).port in {host_port_of(port) for port in service["ports"]}, (backend, url)
    # Every service belongs to one backend of the matrix: none runs in every job.
    assert {service_selected_by(service["image"]) for service in services.values()} == BACKENDS - {"sqlite"}


def test_github_backend_jobs_write_and_keep_one_results_file_each():
    workflow = github_workflow()
    [job] = jobs_running(workflow, "pytest").values()
    [step] = [step for step in job["steps"] if "--portability-target" in step.get("run", "")]
    run = " ".join(step["run"].replace("\\\n", " ").split())
    assert "--portability-target ${{ matrix.backend }}" in run
    assert re.search(r"--portability-url \"?\$\{\{ matrix\.url \}\}", run)
    assert "--portability-results results/${{ matrix.backend }}.jsonl" in run
    [upload] = github_job_steps_using(job, "actions/upload-artifact")
    assert upload["if"] == "always()", "the results of a backend whose tests failed are what the report compares"
    assert upload["with"]["path"] == "results/${{ matrix.backend }}.jsonl"
    assert "${{ matrix.backend }}" in upload["with"]["name"], "artifact names must differ per backend"
    installs = " ".join(step.get("run", "") for step in job["steps"])
    assert "pkg-config" in installs and re.search(r"libmariadb-dev|default-libmysqlclient-dev", installs)


def publishes(step: dict, path: str) -> bool:
    """The step hands this file (or a folder holding it) to an action."""
    values = [str(value) for value in step.get("with", {}).values()]
    return any(value == path or (value.endswith("/") and path.startswith(value)) for value in values)


def test_github_report_job_merges_after_every_backend_even_failed_ones():
    workflow = github_workflow()
    [(name, job)] = jobs_running(workflow, "portability", "report").items()
    [(backend_job_name, backend_job)] = jobs_running(workflow, "pytest").items()
    needs = [job["needs"]] if isinstance(job["needs"], str) else job["needs"]
    assert backend_job_name in needs
    assert job["if"] == "always()", "the report must run after a failed backend job"
    # It downloads what each backend job uploaded.
    [upload] = github_job_steps_using(backend_job, "actions/upload-artifact")
    [download] = github_job_steps_using(job, "actions/download-artifact")
    assert download["with"]["pattern"] == upload["with"]["name"].split("${{")[0] + "*"
    assert download["with"]["merge-multiple"] is True
    # It merges them into Markdown, SARIF and JUnit.
    [report_index] = [
        index
        for index, step in enumerate(job["steps"])
        if any(line.args[:1] == ("report",) for line in harness_commands(step.get("run", ""), name))
    ]
    report = the_one(github_commands({"jobs": {name: job}}), "report")
    assert f"{download['with']['path'].rstrip('/')}/*.jsonl" in report.args
    markdown, sarif, junit = (option_value(report, option) for option in ("--markdown", "--sarif", "--junit"))
    assert markdown and sarif and junit, report
    # And publishes them, also when findings made the report step fail.
    published = job["steps"][report_index + 1 :]
    for step in published:
        assert "always()" in str(step.get("if", "")), f"{step.get('name')}: must publish when findings fail the job"
    summary = [step for step in published if "GITHUB_STEP_SUMMARY" in step.get("run", "")]
    assert summary and markdown in summary[0]["run"] and ">>" in summary[0]["run"], "Markdown to the summary page"
    [upload_sarif] = github_job_steps_using(job, "github/codeql-action/upload-sarif")
    assert upload_sarif in published and upload_sarif["with"]["sarif_file"] == sarif
    permissions = {**workflow.get("permissions", {}), **job.get("permissions", {})}
    assert permissions.get("security-events") == "write"
    assert any(publishes(step, junit) for step in published), "the JUnit file must be published"


def test_github_migrations_job_checks_every_backend_against_its_service():
    workflow = github_workflow()
    [(name, job)] = jobs_running(workflow, "portability", "migrations").items()
    migrations = the_one(github_commands({"jobs": {name: job}}), "migrations")
    assert backends_option(migrations) == BACKENDS
    services = {host_port_of(port): service for service in job["services"].values() for port in service["ports"]}
    images = compose_images()
    for target, url in urls_option(migrations).items():
        check_url(target, url)
        service = services[urlsplit(url).port]
        assert service["image"] == images[target], (target, url, service["image"])
        assert "--health-cmd" in service["options"]
    assert set(urls_option(migrations)) == BACKENDS - {"sqlite"}


# ---------------------------------------------------------------- GitLab CI


def gitlab_pipeline() -> dict:
    return load(GITLAB)


def gitlab_job(pipeline: dict, name: str) -> dict:
    """A job with its `extends` templates merged under it (top-level keys, as GitLab does)."""
    job = pipeline[name]
    parents = job.get("extends", [])
    merged: dict = {}
    for parent in [parents] if isinstance(parents, str) else parents:
        merged.update(gitlab_job(pipeline, parent))
    merged.update(job)
    return merged


def gitlab_jobs_running(pipeline: dict, program: str, subcommand: str | None = None) -> dict[str, dict]:
    return {
        name: gitlab_job(pipeline, name)
        for name, job in pipeline.items()
        if isinstance(job, dict) and not name.startswith(".")
        if any(
            line.program == program and (subcommand is None or line.args[:1] == (subcommand,))
            for line in gitlab_commands({name: job})
        )
    }


def test_gitlab_has_one_job_per_backend_through_a_matrix_each_with_its_server():
    pipeline = gitlab_pipeline()
    [(name, job)] = gitlab_jobs_running(pipeline, "pytest").items()
    entries = job["parallel"]["matrix"]
    assert sorted(entry["BACKEND"] for entry in entries) == sorted(BACKENDS)
    [service] = job["services"]
    assert service["name"] == "$DB_IMAGE"
    images = compose_images()
    for entry in entries:
        backend = entry["BACKEND"]
        check_url(backend, entry["DB_URL"])
        if backend == "sqlite":
            assert "DB_IMAGE" not in entry, "an unset service name starts no service"
            continue
        assert entry["DB_IMAGE"] == images[backend], (backend, entry["DB_IMAGE"])
        url = urlsplit(entry["DB_URL"])
        assert (url.hostname, url.port) == (service["alias"], int(entry["DB_PORT"])), (backend, entry)
    [line] = [line for line in gitlab_commands({name: pipeline[name]}) if line.program == "pytest"]
    assert option_value(line, "--portability-target") == "$BACKEND"
    assert option_value(line, "--portability-url") == "$DB_URL"
    results = option_value(line, "--portability-results")
    assert results == "results/$BACKEND.jsonl"
    assert job["artifacts"]["when"] == "always" and "results/" in job["artifacts"]["paths"]


def test_gitlab_report_stage_merges_with_a_junit_report_and_the_markdown_as_an_artifact():
    pipeline = gitlab_pipeline()
    [(name, job)] = gitlab_jobs_running(pipeline, "portability", "report").items()
    [backend_job] = gitlab_jobs_running(pipeline, "pytest")
    assert job["stage"] == "report" and pipeline["stages"].index("report") > pipeline["stages"].index("test")
    assert backend_job in [need["job"] if isinstance(need, dict) else need for need in job["needs"]]
    assert job["when"] == "always", "the report must run after a failed backend job"
    report = the_one(gitlab_commands({name: pipeline[name]}), "report")
    assert "results/*.jsonl" in report.args
    junit, markdown = option_value(report, "--junit"), option_value(report, "--markdown")
    assert junit and markdown
    assert job["artifacts"]["reports"]["junit"] == junit
    assert markdown in job["artifacts"]["paths"]
    assert job["artifacts"]["when"] == "always"


def test_gitlab_migrations_job_checks_every_backend_against_its_service():
    pipeline = gitlab_pipeline()
    [(name, job)] = gitlab_jobs_running(pipeline, "portability", "migrations").items()
    migrations = the_one(gitlab_commands({name: pipeline[name]}), "migrations")
    assert backends_option(migrations) == BACKENDS
    services = {service["alias"]: service["name"] for service in job["services"]}
    images = compose_images()
    for target, url in urls_option(migrations).items():
        check_url(target, url)
        assert services[urlsplit(url).hostname] == images[target], (target, url)
    assert set(urls_option(migrations)) == BACKENDS - {"sqlite"}


# ---------------------------------------------------------------- pre-commit


def test_the_pre_commit_hook_checks_changed_migrations():
    hooks = load(HOOKS)
    [hook] = [hook for hook in hooks if hook["id"] == "portability-migrations"]
    assert set(hook) <= PRE_COMMIT_HOOK_KEYS, set(hook) - PRE_COMMIT_HOOK_KEYS
    assert {"id", "name", "entry", "language"} <= set(hook)
    assert hook["entry"] == "portability migrations --since HEAD"
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is False and hook["always_run"] is False
    files = re.compile(hook["files"])
    for path in ("shop/migrations/0002_price.py", "migrations/0001_initial.py", "src/a/b/migrations/0003_x.py"):
        assert files.search(path), path
    for path in ("shop/models.py", "docs/migrations.md", "shop/migrations.py"):
        assert not files.search(path), path
    # pre-commit installs this repository and runs the entry's program from its console scripts.
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert shlex.split(hook["entry"])[0] in scripts
