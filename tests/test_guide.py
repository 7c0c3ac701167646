"""The user guide (docs/guide/) stays true to the code.

- findings.md has an entry for every finding code (harness.findings.KINDS, but the PM300 placeholder) and
  every migration lint rule (harness.migrations.lint.RULES), each naming its kind or rule name and its level,
  and showing the finding line as the tool prints it; no entry names a code that does not exist; every
  printed finding line anywhere in the guide has the kind and a level its code can have.
- Every `portability ...` and `pytest --portability-...` command line in the guide's code blocks (shell, ini,
  YAML) and inline code names a real command and only that command's options (harness.cli.main, parsed by
  click, as tests/test_pipelines.py does for the ready pipelines); every `--portability-*` option anywhere is
  one the pytest plugin registers.
- Every [tool.portability] table in a toml block holds only keys of harness.config_schema.SETTINGS, with
  values the harness accepts; the key table of getting-started.md lists exactly those keys.
- Every `@pytest.mark.portability(...)` in a python block is a marker the plugin accepts.
- Every relative link between the docs resolves to a file, and its #fragment to a heading there.
"""

from __future__ import annotations

import ast
import re
import shlex
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
import yaml

from harness.cli import main
from harness.config_schema import SETTINGS, check_table
from harness.declarations import MARKER, check_marker
from harness.errors import ConfigError
from harness.findings import KINDS, NOTE
from harness.migrations.lint import RULES
from tests.helpers import REPO
from tests.test_pipelines import CommandLine, harness_commands, option_names, plugin_options, problems_of

GUIDE = REPO / "docs" / "guide"
PAGES = sorted(GUIDE.glob("*.md"))
FINDINGS = GUIDE / "findings.md"
GETTING_STARTED = GUIDE / "getting-started.md"
EXPECTED_PAGES = {"README.md", "getting-started.md", "ci.md", "findings.md"}

# KINDS entries that stand for a family of codes rather than one code (every lint rule is reported as its own).
PLACEHOLDER_CODES = {"PM300"}
LINT_KIND = "migration_lint"

SHELL_LANGUAGES = {"", "sh", "bash", "shell", "console"}
INI_LANGUAGES = {"ini", "cfg"}
YAML_LANGUAGES = {"yaml", "yml"}
OUTPUT_LANGUAGES = {"text"}

CODE = re.compile(r"\bP[TM]\d{3}\b")
HEADING = re.compile(r"^(?P<marks>#{1,6})\s+(?P<title>.+?)\s*#*\s*$")
LEVEL_LINE = re.compile(r"^Level: (?P<rest>.+)$", re.MULTILINE)
LEVEL_WORD = re.compile(r"`(error|warning|note)`")
# A finding's first line as the terminal prints it: CODE level kind [path[:line]].
PRINTED_FINDING = re.compile(r"^(?P<code>P[TM]\d{3}) (?P<level>\w+) (?P<kind>\w+)\b")
# What makes a printed finding a note whatever its code: a declaration or the baseline.
SETTLED = ("expected (", "known (in the baseline)")
LINK = re.compile(r"(?<!!)\[(?:[^\[\]]|\[[^\]]*\])*\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")
INLINE_CODE = re.compile(r"(?<!`)`(?P<code>[^`\n]+)`(?!`)")
PLUGIN_OPTION = re.compile(r"--portability-[a-z][a-z-]*")


# ---------------------------------------------------------------- reading Markdown


@dataclass(frozen=True)
class Block:
    """A fenced code block: where it starts, its language and its text (dedented to the fence)."""

    page: str
    line: int
    language: str
    text: str

    @property
    def source(self) -> str:
        return f"{self.page}:{self.line}"


@dataclass
class Page:
    name: str
    blocks: list[Block]
    prose: list[tuple[int, str]]  # (line number, line) outside code blocks


FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")


def parse_markdown(text: str, name: str) -> Page:
    lines = text.splitlines()
    page = Page(name, [], [])
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            page.prose.append((index + 1, lines[index]))
            index += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        language = opening["info"].strip().split(" ")[0].lower()
        body: list[str] = []
        end = index + 1
        while end < len(lines) and not re.fullmatch(rf"\s*{re.escape(fence[0])}{{{len(fence)},}}\s*", lines[end]):
            body.append(lines[end][indent:] if lines[end][:indent].strip() == "" else lines[end])
            end += 1
        assert end < len(lines), f"{name}:{index + 1}: a code block is never closed"
        page.blocks.append(Block(name, index + 1, language, "\n".join(body) + "\n"))
        index = end + 1
    return page


def load_page(path: Path) -> Page:
    name = path.relative_to(REPO).as_posix() if path.is_relative_to(REPO) else str(path)
    return parse_markdown(path.read_text(), name)


def all_pages() -> list[Page]:
    return [load_page(path) for path in PAGES]


def headings(page: Page) -> list[tuple[int, int, str]]:
    """(line, depth, title) of every heading outside code blocks."""
    found = []
    for number, line in page.prose:
        match = HEADING.match(line)
        if match:
            found.append((number, len(match["marks"]), match["title"]))
    return found


def sections(page: Page, text: str) -> dict[str, tuple[str, str]]:
    """code → (heading title, section text) for every heading that starts with a finding code."""
    lines = text.splitlines()
    marks = headings(page)
    found: dict[str, tuple[str, str]] = {}
    for position, (number, depth, title) in enumerate(marks):
        match = re.match(r"(P[TM]\d{3})\b", title)
        if not match:
            continue
        end = next((later for later, later_depth, _ in marks[position + 1 :] if later_depth <= depth), len(lines) + 1)
        assert match[1] not in found, f"{page.name}:{number}: a second entry for {match[1]}"
        found[match[1]] = (title, "\n".join(lines[number : end - 1]))
    return found


# ---------------------------------------------------------------- what the code says


def documented_facts() -> dict[str, tuple[str, str]]:
    """code → (kind or rule name, level) of every code the findings reference must document."""
    facts = {kind.code: (kind.kind, kind.level) for kind in KINDS.values() if kind.code not in PLACEHOLDER_CODES}
    facts.update({rule.code: (rule.name, rule.severity) for rule in RULES})
    return facts


def printed_kind(code: str) -> str | None:
    """The kind the terminal prints for a code: its KINDS entry's, or migration_lint for a lint rule."""
    if any(rule.code == code for rule in RULES):
        return LINT_KIND
    return next((kind.kind for kind in KINDS.values() if kind.code == code), None)


def documented_levels(section: str) -> list[str]:
    """The levels a section's `Level:` line names, the code's own level first."""
    match = LEVEL_LINE.search(section)
    return LEVEL_WORD.findall(match["rest"]) if match else []


# ---------------------------------------------------------------- the findings reference


@pytest.fixture(scope="module")
def findings_sections() -> dict[str, tuple[str, str]]:
    return sections(load_page(FINDINGS), FINDINGS.read_text())


def test_the_guide_has_its_pages():
    assert {path.name for path in PAGES} >= EXPECTED_PAGES


def test_every_code_and_lint_rule_has_an_entry(findings_sections):
    missing = sorted(set(documented_facts()) - set(findings_sections))
    assert not missing, f"docs/guide/findings.md has no entry for {missing}"


def test_no_entry_names_a_code_that_does_not_exist(findings_sections):
    unknown = sorted(set(findings_sections) - set(documented_facts()))
    assert not unknown, f"docs/guide/findings.md documents codes the harness does not have: {unknown}"


@pytest.mark.parametrize("code", sorted(documented_facts()))
def test_each_entry_names_its_kind_and_its_level(code, findings_sections):
    if code not in findings_sections:
        pytest.fail(f"no entry for {code}")
    name, level = documented_facts()[code]
    title, section = findings_sections[code]
    assert f"`{name}`" in title, f"the heading of {code} must name `{name}`: {title!r}"
    levels = documented_levels(section)
    assert levels, f"the entry of {code} has no 'Level: `...`' line"
    assert levels[0] == level, f"{code} is level {level}, the guide says {levels[0]}"


@pytest.mark.parametrize("code", sorted(documented_facts()))
def test_each_entry_shows_the_finding_as_the_tool_prints_it(code, findings_sections):
    if code not in findings_sections:
        pytest.fail(f"no entry for {code}")
    _, section = findings_sections[code]
    page = parse_markdown(section, f"findings.md {code}")
    printed = [
        line
        for block in page.blocks
        if block.language in OUTPUT_LANGUAGES
        for line in block.text.splitlines()
        if line.startswith(f"{code} ")
    ]
    assert printed, f"the entry of {code} shows no finding line (a ```text block with a line '{code} level kind ...')"


def printed_finding_problems(page: Page, allowed_levels: dict[str, list[str]]) -> list[str]:
    """What is wrong with the finding lines a page shows: an unknown code, another kind, a level the code
    cannot have (a declared or baselined finding, whose message says so, may be a note)."""
    problems = []
    for block in page.blocks:
        if block.language not in OUTPUT_LANGUAGES:
            continue
        lines = block.text.splitlines()
        for offset, line in enumerate(lines):
            match = PRINTED_FINDING.match(line)
            if not match:
                continue
            where = f"{block.source}+{offset + 1}"
            code, level, kind = match["code"], match["level"], match["kind"]
            expected_kind = printed_kind(code)
            if expected_kind is None:
                problems.append(f"{where}: {code} is not a finding code")
                continue
            if kind != expected_kind:
                problems.append(f"{where}: {code} is printed as {expected_kind}, the guide shows {kind}")
            following = "\n".join(lines[offset + 1 : offset + 4])
            levels = set(allowed_levels.get(code, []))
            if any(mark in following for mark in SETTLED):
                levels.add(NOTE)
            if level not in levels:
                problems.append(f"{where}: {code} cannot be printed at level {level} (documented: {sorted(levels)})")
    return problems


def test_every_printed_finding_line_has_its_codes_kind_and_a_documented_level(findings_sections):
    allowed = {code: documented_levels(section) for code, (_, section) in findings_sections.items()}
    problems = [problem for page in all_pages() for problem in printed_finding_problems(page, allowed)]
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- command lines


def ini_script(text: str) -> str:
    """The commands of an ini block (tox.ini, pytest.ini): each `key = value` line's value, other lines as they
    are (the continuation lines of `commands =`)."""
    lines = []
    for line in text.splitlines():
        if line.strip().startswith(("[", "#", ";")):
            continue
        assignment = re.match(r"^\s*[\w.-]+\s*=\s*(.*)$", line)
        lines.append(assignment[1] if assignment else line.strip())
    return "\n".join(lines)


# The YAML keys whose values are shell scripts or command lines (GitHub Actions, GitLab CI, pre-commit).
SCRIPT_KEYS = {"run", "script", "before_script", "after_script", "entry"}


def yaml_scripts(value: object, in_script: bool = False) -> Iterator[str]:
    """The scripts of a YAML document: every string under a key of SCRIPT_KEYS (nested lists too)."""
    if isinstance(value, str):
        if in_script:
            yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from yaml_scripts(item, key in SCRIPT_KEYS)
    elif isinstance(value, list):
        for item in value:
            yield from yaml_scripts(item, in_script)


def block_commands(block: Block) -> list[CommandLine]:
    """The `portability ...` and `pytest ...` command lines of a code block."""
    if block.language in SHELL_LANGUAGES:
        script = "\n".join(line.removeprefix("$ ") for line in block.text.splitlines())
        return harness_commands(script, block.source)
    if block.language in INI_LANGUAGES:
        return harness_commands(ini_script(block.text), block.source)
    if block.language in YAML_LANGUAGES:
        document = yaml.safe_load(block.text)
        return [line for text in yaml_scripts(document) for line in harness_commands(text, block.source)]
    return []


def inline_commands(page: Page) -> list[CommandLine]:
    """Inline code in the prose that is a command line: `portability run --fail-on error`."""
    found = []
    for number, line in page.prose:
        for match in INLINE_CODE.finditer(line):
            text = match["code"].strip()
            words = text.split()
            # A program named alone (`portability`, `pytest`) is no command line.
            if len(words) > 1 and words[0] in ("portability", "pytest"):
                try:
                    found.append(CommandLine(f"{page.name}:{number}", words[0], tuple(shlex.split(text)[1:])))
                except ValueError:
                    found.append(CommandLine(f"{page.name}:{number}", words[0], ("<unparsable>",)))
    return found


HELP_OPTIONS = ("-h", "--help")


def command_problems(line: CommandLine) -> list[str]:
    """problems_of (test_pipelines), except that naming a command or group alone (`portability servers`) and
    asking for help (`portability run --help`) are fine in prose."""
    if line.program == "portability":
        command: click.Command = main
        rest = list(line.args)
        while rest and isinstance(command, click.Group) and rest[0] in command.commands:
            command = command.commands[rest.pop(0)]
        if rest in ([], *([option] for option in HELP_OPTIONS)) and (line.args or rest):
            return []
    return problems_of(line)


def test_the_guide_shows_commands():
    lines = [line for page in all_pages() for block in page.blocks for line in block_commands(block)]
    subcommands = {line.args[0] for line in lines if line.program == "portability" and line.args}
    assert {"run", "migrations", "report", "baseline", "clean", "servers"} <= subcommands, subcommands
    assert any(line.program == "pytest" for line in lines), "no pytest --portability-... command found"


@pytest.mark.parametrize("path", PAGES, ids=lambda path: path.name)
def test_every_command_line_uses_real_commands_and_options(path):
    page = load_page(path)
    lines = [line for block in page.blocks for line in block_commands(block)] + inline_commands(page)
    problems = [problem for line in lines for problem in command_problems(line)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", PAGES, ids=lambda path: path.name)
def test_every_plugin_option_named_anywhere_is_registered(path):
    registered = set(plugin_options())
    named = set(PLUGIN_OPTION.findall(path.read_text()))
    assert named <= registered, f"{path.name} names {sorted(named - registered)}; the plugin has {sorted(registered)}"


# ---------------------------------------------------------------- [tool.portability]


def toml_problems(block: Block) -> list[str]:
    """What the harness would refuse in a toml block's [tool.portability] table."""
    try:
        document = tomllib.loads(block.text)
    except tomllib.TOMLDecodeError as error:
        return [f"{block.source}: not valid TOML: {error}"]
    table = document.get("tool", {}).get("portability")
    if table is None:
        return []
    unknown = sorted(set(table) - set(SETTINGS))
    if unknown:
        return [f"{block.source}: [tool.portability] has no key {unknown} (keys: {sorted(SETTINGS)})"]
    try:
        check_table(table, None)  # type: ignore[arg-type]  # no project: test paths are not looked up
    except ConfigError as error:
        return [f"{block.source}: {error}"]
    return []


@pytest.mark.parametrize("path", PAGES, ids=lambda path: path.name)
def test_every_tool_portability_table_holds_real_keys_and_accepted_values(path):
    blocks = [block for block in load_page(path).blocks if block.language == "toml"]
    problems = [problem for block in blocks for problem in toml_problems(block)]
    assert not problems, "\n".join(problems)


def test_the_guide_has_tool_portability_examples():
    blocks = [block for page in all_pages() for block in page.blocks if block.language == "toml"]
    tables = [tomllib.loads(block.text).get("tool", {}).get("portability") for block in blocks]
    assert any(table and {"expected", "migrations_ignore"} & set(table) for table in tables)
    assert any(table and "urls" in table for table in tables)


def test_the_key_table_of_getting_started_lists_every_key_with_its_option():
    rows = re.findall(r"^\| `(?P<key>\w+)` \|[^|\n]*\|(?P<option>[^|\n]*)\|\s*$", GETTING_STARTED.read_text(), re.M)
    listed = {key: option.strip().strip("`") or None for key, option in rows}
    assert set(listed) == set(SETTINGS), (
        f"missing: {sorted(set(SETTINGS) - set(listed))}, not a key: {sorted(set(listed) - set(SETTINGS))}"
    )
    # The schema names the option of most keys; the others' options (--url, --no-queries) must be `run`'s.
    run_options = option_names(main.commands["run"])
    wrong = {
        key: (option, SETTINGS[key].option)
        for key, option in listed.items()
        if ((option != SETTINGS[key].option) if SETTINGS[key].option else (option and option not in run_options))
    }
    assert not wrong, f"key: (the guide's option, the schema's): {wrong}"


# ---------------------------------------------------------------- python examples


def marker_problems(block: Block) -> list[str]:
    """A python block must parse, and each @pytest.mark.portability(...) in it must be one the plugin accepts."""
    try:
        tree = ast.parse(block.text)
    except SyntaxError as error:
        return [f"{block.source}: not valid Python: {error}"]
    problems = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and ast.unparse(node.func) == f"pytest.mark.{MARKER}"):
            continue
        try:
            keywords = {keyword.arg: ast.literal_eval(keyword.value) for keyword in node.keywords}
        except ValueError:
            problems.append(f"{block.source}: the marker's arguments must be literals")
            continue
        problem = check_marker(keywords.get("expected"), keywords.get("reason"))
        if node.args or set(keywords) - {"expected", "reason"}:
            problem = problem or "give only expected= and reason="
        if problem:
            problems.append(f"{block.source}: {problem}")
    return problems


@pytest.mark.parametrize("path", PAGES, ids=lambda path: path.name)
def test_python_examples_parse_and_their_markers_are_accepted(path):
    blocks = [block for block in load_page(path).blocks if block.language == "python"]
    problems = [problem for block in blocks for problem in marker_problems(block)]
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- links


def slug(title: str) -> str:
    """GitHub's anchor for a heading: link and code marks dropped, lower case, punctuation removed, spaces to
    hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", title).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    for _, _, title in headings(load_page(path)):
        base = slug(title)
        anchor, count = base, 0
        while anchor in found:
            count += 1
            anchor = f"{base}-{count}"
        found.add(anchor)
    return found


def link_problems(page: Page, folder: Path) -> list[str]:
    problems = []
    for number, line in page.prose:
        for match in LINK.finditer(INLINE_CODE.sub("", line)):
            target = match["target"]
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                continue  # https:, mailto:
            path_part, _, fragment = target.partition("#")
            resolved = (folder / path_part).resolve() if path_part else folder / Path(page.name).name
            if not resolved.exists():
                problems.append(f"{page.name}:{number}: {target} does not exist")
            elif fragment and resolved.suffix == ".md" and fragment not in anchors(resolved):
                problems.append(f"{page.name}:{number}: {target}: no heading with the anchor #{fragment}")
    return problems


@pytest.mark.parametrize("path", PAGES, ids=lambda path: path.name)
def test_every_relative_link_resolves(path):
    problems = link_problems(load_page(path), path.parent)
    assert not problems, "\n".join(problems)


def test_the_guide_is_linked_from_its_index():
    text = (GUIDE / "README.md").read_text()
    for name in EXPECTED_PAGES - {"README.md"}:
        assert f"]({name})" in text, f"docs/guide/README.md does not link {name}"


# ---------------------------------------------------------------- the checks themselves can fail


SHELL = "```sh\n{}\n```\n"


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        (SHELL.format("portability run --no-such-option"), "has no option --no-such-option"),
        (SHELL.format("portability nosuchcommand"), "has no command 'nosuchcommand'"),
        (SHELL.format("portability servers restart"), "has no command 'restart'"),
        (SHELL.format("cd mysite && portability report --since HEAD"), "has no option --since"),
        (SHELL.format("pytest --portability-backend sqlite"), "has no option --portability-backend"),
        ("```yaml\nsteps:\n  - run: portability migrations --plan x --htm y\n```\n", "has no option --htm"),
        ("```ini\n[testenv]\ncommands =\n    portability clean --dry\n```\n", "has no option --dry"),
        ("Run `portability baseline --input report.json` first.\n", "has no option --input"),
    ],
)
def test_the_command_check_catches_a_wrong_command_or_option(markdown, expected):
    page = parse_markdown(markdown, "example.md")
    lines = [line for block in page.blocks for line in block_commands(block)] + inline_commands(page)
    problems = [problem for line in lines for problem in command_problems(line)]
    assert any(expected in problem for problem in problems), problems


def test_the_command_check_accepts_what_the_commands_accept():
    markdown = (
        SHELL.format("cd mysite && portability run --backends sqlite -n 2 -- -k polls\nportability servers list")
        + "Then `portability servers` and `portability migrations --since HEAD`.\n"
    )
    page = parse_markdown(markdown, "example.md")
    lines = [line for block in page.blocks for line in block_commands(block)] + inline_commands(page)
    assert len(lines) == 4
    assert not [problem for line in lines for problem in command_problems(line)]


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("[tool.portability]\nfail_on = 'warn'\n", "fail_on"),
        ("[tool.portability]\nbackend = ['sqlite']\n", "has no key ['backend']"),
        ("[tool.portability]\nmigrations_ignore = ['PM310']\n", "PM310"),
        ("[tool.portability.expected]\n'PT202 at a.py:3' = { mariadb = 'fails', reason = 'x' }\n", "only a reason"),
        ("[tool.portability\n", "not valid TOML"),
    ],
)
def test_the_toml_check_catches_what_the_harness_refuses(toml, expected):
    problems = toml_problems(Block("example.md", 1, "toml", toml))
    assert any(expected in problem for problem in problems), problems


def test_the_marker_check_catches_a_marker_the_plugin_refuses():
    code = '@pytest.mark.portability(expected={"mariadb": "broken"}, reason="x")\ndef test_x():\n    pass\n'
    problems = marker_problems(Block("example.md", 1, "python", code))
    assert any('"fails" or "passes"' in problem for problem in problems), problems
    missing_reason = '@pytest.mark.portability(expected={"mariadb": "fails"})\ndef test_x():\n    pass\n'
    assert marker_problems(Block("example.md", 1, "python", missing_reason))


def test_the_findings_checks_catch_a_wrong_level_kind_or_code():
    markdown = (
        "## Group\n\n### PT101 `outcome_divergence`\n\nLevel: `warning`.\n\n"
        "```text\nPT101 warning outcome_divergence shop/tests.py:9\nPT202 error query_error x.py:1\n"
        "PM399 error migration_lint x.py:1\nPT202 note result_divergence x.py:2\n  expected (ok): ...\n```\n"
    )
    page = parse_markdown(markdown, "example.md")
    found = sections(page, markdown)
    assert documented_levels(found["PT101"][1]) == ["warning"] != [KINDS["outcome_divergence"].level]
    problems = printed_finding_problems(page, {"PT101": ["warning"], "PT202": ["warning"]})
    assert any("PT202 is printed as result_divergence, the guide shows query_error" in p for p in problems)
    assert any("PT202 cannot be printed at level error" in p for p in problems)
    assert any("PM399 is not a finding code" in p for p in problems)
    assert not any("+4" in p for p in problems), "a declared finding may be a note"


def test_the_link_check_catches_a_missing_file_or_anchor(tmp_path):
    (tmp_path / "other.md").write_text("# Title\n\n## Levels, exit codes and `--fail-on`\n")
    markdown = (
        "[ok](other.md#levels-exit-codes-and---fail-on) [gone](missing.md) [bad](other.md#nowhere) "
        "[web](https://example.com) `[not a link](nowhere.md)`\n"
    )
    problems = link_problems(parse_markdown(markdown, "page.md"), tmp_path)
    assert len(problems) == 2, problems
    assert "missing.md does not exist" in problems[0] and "#nowhere" in problems[1]
