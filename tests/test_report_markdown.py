"""The Markdown summary (--markdown): real reports and hand-built edge cases, read back as GitHub would."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from harness.report.formats import BY_NAME
from harness.report.markdown import FIRST_FINDINGS, render

FIXTURES = Path(__file__).parent / "fixtures"
GITHUB_LIMIT = 65_536


def sample(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"reports_{name}.json").read_text())


def backend(name: str, status: str = "ran", **counts: int) -> dict[str, Any]:
    return {
        "name": name,
        "vendor": name,
        "product": name.capitalize(),
        "version": "1.0",
        "status": status,
        "url": f"{name}://host/db",
        "reason": "",
        "duration": 1.25,
        "counts": counts or {"passed": 3, "failed": 0, "error": 0, "skipped": 1, "xfailed": 1, "xpassed": 1},
    }


def finding(code: str = "PT202", level: str = "warning", kind: str = "result_divergence", **fields: Any) -> dict:
    return {
        "code": code,
        "level": level,
        "kind": kind,
        "message": "the query returns different rows",
        "backends": {
            "sqlite": {"outcome": "ok", "message": "1 row(s)", "sql": "SELECT 1"},
            "postgresql": {"outcome": "ok", "message": "2 row(s)", "sql": "SELECT 1"},
        },
        "test": "shop/tests.py::ItemTests::test_code",
        "location": {"path": "shop/models.py", "line": 12},
        "details": {},
        "hint": "compare the rows side by side",
        **fields,
    }


def report(findings: list[dict] | None = None, **fields: Any) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "tool": {"name": "portability", "version": "0.1.0"},
        "generated_at": "2026-11-28T10:41:00Z",
        "exit_code": 1 if findings else 0,
        "partial": False,
        "hash_seed": 1,
        "backends": [backend("sqlite"), backend("postgresql")],
        "tests": [{"nodeid": "shop/tests.py::ItemTests::test_code", "outcomes": {"sqlite": "passed"}}],
        "findings": findings or [],
        "warnings": [],
        **fields,
    }


def html_of(markdown: str) -> str:
    """Render as CommonMark with GitHub's tables and raw HTML allowed (markdown-it-py comes with rich)."""
    markdown_it = pytest.importorskip("markdown_it")
    return markdown_it.MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"]).render(markdown)


def assert_well_formed(markdown: str) -> None:
    """Every code fence and <details> closed, and under GitHub's comment limit."""
    assert len(markdown) < GITHUB_LIMIT
    assert markdown.count("<details>") == markdown.count("</details>")
    fences = [line for line in markdown.splitlines() if line.startswith("```")]
    assert len(fences) % 2 == 0
    for opening, closing in zip(fences[::2], fences[1::2], strict=True):
        assert closing == re.match("`+", opening).group()


def table_rows(html: str) -> list[list[str]]:
    return [re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row) for row in re.findall(r"<tr>(.*?)</tr>", html, re.S)]


# --- real reports ---


def test_a_run_report_has_the_backends_the_counts_by_code_and_each_finding_folded() -> None:
    markdown = render(sample("run_queries"))
    assert markdown.startswith("### :x: Portability tests: 8 warnings\n")
    assert "14 test(s) on sqlite, postgresql, mariadb · exit code 1" in markdown
    assert "| backend | server | status | passed | failed | errors | skipped | xfail | time |" in markdown
    assert "| sqlite | SQLite 3.40.1 | ran | 14 | 0 | 0 | 0 | 0 | 0.4s |" in markdown
    assert "| mariadb | MariaDB 10.11.19 | ran | 14 | 0 | 0 | 0 | 0 | 0.7s |" in markdown
    assert "| PT202 | warning | result\\_divergence | 6 |" in markdown
    assert "| PT201 | warning | query\\_error | 1 |" in markdown
    assert "| PT203 | warning | order\\_divergence | 1 |" in markdown
    assert markdown.count("<details><summary>evidence per backend: mariadb, postgresql, sqlite</summary>") == 8
    assert "**3. PT201 warning** query\\_error at `lab/tests.py:38`" in markdown
    assert "test `lab/tests.py::Divergent::test_distinct_on_field`" in markdown
    # The SQL each backend ran, once per distinct statement, verbatim in a fence.
    assert 'SQL on postgresql, sqlite:\n\n```sql\nSELECT AVG("lab_person"."score") AS "avg"' in markdown
    assert "SQL on mariadb:\n\n```sql\nSELECT AVG(`lab_person`.`score`) AS `avg` FROM `lab_person`\n```" in markdown
    assert "- **mariadb** error: django.db.utils.NotSupportedError: DISTINCT ON fields" in markdown
    assert "more finding" not in markdown
    assert_well_formed(markdown)


def test_the_run_report_reads_back_as_two_tables_and_eight_folded_findings() -> None:
    html = html_of(render(sample("run_queries")))
    rows = table_rows(html)
    assert rows[1] == ["sqlite", "SQLite 3.40.1", "ran", "14", "0", "0", "0", "0", "0.4s"]
    assert ["PT202", "warning", "result_divergence", "6"] in rows
    assert all(len(row) == 9 for row in rows[:4]) and all(len(row) == 4 for row in rows[4:])
    assert html.count("<details>") == 8 and html.count('<code class="language-sql">') == 16
    assert "&lt;float&gt;" in html and "<float>" not in html


def test_a_migrations_report_counts_applied_failed_skipped_and_lists_errors_first() -> None:
    markdown = render(sample("migrations_import_export"))
    assert markdown.startswith("### :x: Portability migrations: 1 error, 3 warnings, 1 note\n")
    assert "migrations on mariadb, postgresql, sqlite · exit code 1" in markdown
    assert "| backend | server | status | applied | failed | skipped | time |" in markdown
    assert "passed" not in markdown.split("#### Findings")[0]
    assert "| mariadb | MariaDB 10.11.19 | ran | 38 | 0 | 0 | 15.9s |" in markdown
    assert "| PM314 | warning | migration\\_lint: unique-on-existing-table | 1 |" in markdown
    assert "| PM105 | note | unmodelled\\_table | 1 |" in markdown
    numbered = re.findall(r"^\*\*(\d+)\. (PM\d+) (\w+)\*\*", markdown, re.M)
    assert [code for _, code, _ in numbered][0] == "PM102" and numbered[-1][1:] == ("PM105", "note")
    assert [int(number) for number, _, _ in numbered] == [1, 2, 3, 4, 5]
    assert "- **postgresql** failed: reverse: reversed; apply again: django.db.utils.ProgrammingError" in markdown
    assert markdown.count("<details>") == 5
    assert_well_formed(markdown)


def test_a_failed_migration_shows_each_backends_sql() -> None:
    markdown = render(sample("migrations_guardian"))
    assert "| mariadb | MariaDB 10.11.19 | ran | 33 | 1 | 0 | 13.4s |" in markdown
    assert "| PM305 | error | migration\\_lint: index-on-textfield | 1 |" in markdown
    assert (
        "SQL on mariadb:\n\n```sql\n--\n-- Create model TextPKModel\n--\nCREATE TABLE `testapp_textpkmodel`" in markdown
    )
    assert 'CREATE INDEX "testapp_textpkmodel_text_pk_45245dc5_like"' in markdown
    rows = table_rows(html_of(markdown))
    assert rows[0] == ["backend", "server", "status", "applied", "failed", "skipped", "time"]


# --- edge cases ---


HOSTILE = "a|b `tick` <script>alert(1)</script> *bold* [link](http://x) ~del~ $x$ & @octocat\nsecond line"


def test_text_from_the_run_is_never_markup_and_table_cells_keep_their_columns() -> None:
    hostile = finding(message=HOSTILE, test="t.py::test[`x`|<b>]", hint=HOSTILE)
    hostile["backends"]["sqlite"] = {"outcome": "error", "message": HOSTILE, "sql": "SELECT '<script>' || '```'"}
    data = report([hostile], backends=[backend("sqlite"), backend("postgresql", status="crashed")])
    data["backends"][0]["version"] = "3.4|beta\nnext"
    data["backends"][1]["reason"] = HOSTILE
    data["partial"] = True
    markdown = render(data)
    assert "<script>" not in markdown.split("````sql")[0]
    assert "\\|" in markdown and "&lt;script&gt;" in markdown and "`@octocat`" in markdown
    html = html_of(markdown)
    assert "<script" not in html and "<b>" not in html and "<em>" not in html and "<strong>bold" not in html
    assert "<a href" not in html and "<del>" not in html
    assert "<code>@octocat</code>" in html  # a code span: GitHub does not ping
    rows = table_rows(html)
    assert rows[1] == ["sqlite", "Sqlite 3.4|beta<br>next", "ran", "3", "0", "0", "1", "2", "1.2s"]
    assert all(len(row) == len(rows[0]) for row in rows[:3])
    # The test id, backticks and all, is one code span; the SQL is kept verbatim in a longer fence.
    assert "<code>t.py::test[`x`|&lt;b&gt;]</code>" in html
    assert "````sql\nSELECT '<script>' || '```'\n````" in markdown
    assert "<td><strong>crashed</strong></td>" in html
    assert_well_formed(markdown)


def test_five_thousand_findings_stay_under_the_comment_limit_and_say_how_many_are_left_out() -> None:
    findings = [finding(message=f"difference {number}") for number in range(5_000)]
    markdown = render(report(findings))
    assert len(markdown) < GITHUB_LIMIT
    assert markdown.startswith("### :x: Portability tests: 5000 warnings\n")
    assert "| PT202 | warning | result\\_divergence | 5000 |" in markdown
    assert markdown.count("<details>") == FIRST_FINDINGS == 20
    assert "difference 19" in markdown and "difference 20" not in markdown
    assert "… and 4980 more finding(s) not shown here: the JSON report (`--json`) has every one." in markdown
    assert_well_formed(markdown)


def test_big_findings_are_left_out_whole_never_inside_a_code_block() -> None:
    backends = {
        f"b{number}": {"outcome": "ok", "message": "x" * 5_000, "sql": f"-- {number}\n" + "S" * 9_000}
        for number in range(12)
    }
    findings = [finding(message=f"big {number}", backends=copy.deepcopy(backends)) for number in range(30)]
    markdown = render(report(findings))
    shown = markdown.count("<details>")
    assert 1 <= shown < FIRST_FINDINGS
    assert f"… and {30 - shown} more finding(s) not shown here (cut to stay under GitHub's comment limit)" in markdown
    assert "-- … 7005 more characters" in markdown  # each SQL cut inside its own fence, which still closes
    assert markdown.rstrip().endswith("has every one.")
    assert_well_formed(markdown)
    assert html_of(markdown).count("<details>") == shown


def test_a_report_without_findings_says_no_differences() -> None:
    markdown = render(report())
    assert markdown.startswith("### :white_check_mark: Portability tests: no differences\n")
    assert "1 test(s) on sqlite, postgresql · exit code 0" in markdown
    assert "| sqlite | Sqlite 1.0 | ran | 3 | 0 | 0 | 1 | 2 | 1.2s |" in markdown
    assert "Findings" not in markdown and "<details>" not in markdown and "PARTIAL" not in markdown


def test_no_test_collected_is_not_a_success() -> None:
    markdown = render(report(exit_code=5, tests=[]))
    assert markdown.startswith("### :x: Portability tests: no tests collected on any backend\n")


def test_notes_alone_pass_and_say_so() -> None:
    markdown = render(report([finding("PT204", "note", "unordered_order_divergence")], exit_code=0))
    assert markdown.startswith("### :white_check_mark: Portability tests: 1 note\n")
    assert "exit code 0 (no finding at or above --fail-on)" in markdown


def test_a_partial_report_says_so_in_the_headline_a_banner_and_the_table() -> None:
    crashed = backend("postgresql", status="timed out")
    crashed["reason"] = "the worker ran past its timeout"
    lost = backend("mariadb", status="not reachable")
    lost.update(counts={}, duration=None, product=None, version=None, reason="start it with docker compose up")
    setup = finding("PT102", "error", "setup_failure", message="postgresql's results are partial", test=None)
    markdown = render(report([setup], partial=True, backends=[backend("sqlite"), crashed, lost]))
    assert markdown.startswith("### :x: Portability tests: 1 error (partial)\n")
    assert "> :warning: **PARTIAL**: postgresql timed out: these results cover only the tests that ran" in markdown
    assert "| postgresql | Postgresql 1.0 | **timed out** | 3 |" in markdown
    assert "| mariadb | - | **not reachable** | - | - | - | - | - | - |" in markdown
    assert "- **postgresql**: timed out at postgresql://host/db: the worker ran past its timeout" in markdown
    assert "- **mariadb**: not reachable at mariadb://host/db: start it with docker compose up" in markdown
    assert "\ntest " not in markdown  # no test for a setup failure


def test_findings_are_listed_highest_level_first() -> None:
    findings = [
        finding("PT204", "note", "unordered_order_divergence", message="a note"),
        finding("PT202", "warning", message="a warning"),
        finding("PT101", "error", "outcome_divergence", message="an error"),
    ]
    markdown = render(report(findings))
    assert markdown.startswith("### :x: Portability tests: 1 error, 1 warning, 1 note\n")
    assert markdown.index("an error") < markdown.index("a warning") < markdown.index("a note")
    codes = re.findall(r"^\| (P[TM]\d+) \|", markdown, re.M)
    assert codes == ["PT101", "PT202", "PT204"]


def test_an_outcome_divergence_shows_its_first_differing_query_and_missing_tests() -> None:
    divergence = finding("PT101", "error", "outcome_divergence", message="fails on postgresql")
    divergence["details"]["query"] = {
        "site": "shop/views.py:7",
        "message": "different rows",
        "cause": "collation",
        "hint": "use __iexact",
        "backends": {"postgresql": {"outcome": "ok", "message": "0 row(s)", "sql": "SELECT 2"}},
    }
    missing = finding("PT104", "note", "collection_divergence", message="different tests collected")
    missing["backends"] = {
        "sqlite": {"outcome": "", "message": "7 missing", "missing": [f"t.py::t{n}" for n in range(7)]}
    }
    markdown = render(report([divergence, missing]))
    assert "first differing query, at `shop/views.py:7`: different rows" in markdown
    assert "- **postgresql** ok: 0 row(s)\n\nSQL on postgresql:\n\n```sql\nSELECT 2\n```" in markdown
    assert "likely cause: collation" in markdown and "query hint: use \\_\\_iexact" in markdown
    assert "  - not collected here: `t.py::t4`" in markdown and "t.py::t5" not in markdown
    assert "  - … and 2 more" in markdown
    assert_well_formed(markdown)


def test_the_registry_writes_the_markdown_file(tmp_path: Path) -> None:
    path = tmp_path / "out" / "summary.md"
    BY_NAME["markdown"].write(path, sample("run_queries"))
    assert path.read_text(encoding="utf-8") == render(sample("run_queries"))
