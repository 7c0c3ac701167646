"""The JUnit XML report (--junit): valid against Jenkins xUnit's published schema, one testcase per test and
backend, one failing testcase per error or warning finding, without servers."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import xmlschema

from harness.report.junit import FINDINGS_SUITE, pytest_address, write

HERE = Path(__file__).resolve().parent
SCHEMA = xmlschema.XMLSchema(HERE / "schemas" / "junit-10.xsd")
SAMPLES = ("reports_run_queries", "reports_migrations_import_export", "reports_migrations_guardian")


def sample(name: str) -> dict[str, Any]:
    """A real report model: the JSON report `portability run` or `portability migrations` wrote."""
    return json.loads((HERE / "fixtures" / f"{name}.json").read_text())


def written(tmp_path: Path, report: dict[str, Any]) -> ET.Element:
    """Write the report, check it against the schema, return its root."""
    path = tmp_path / "junit.xml"
    write(path, report)
    SCHEMA.validate(str(path))
    return ET.parse(path).getroot()


def suites(root: ET.Element) -> dict[str, ET.Element]:
    return {suite.get("name"): suite for suite in root.findall("testsuite")}


def outcome(case: ET.Element) -> str:
    """The one outcome element of a testcase (failure, error, skipped), or "passed"."""
    marks = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
    assert len(marks) <= 1, marks
    return marks[0] if marks else "passed"


def backend(name: str, **fields: Any) -> dict[str, Any]:
    entry = {
        "name": name,
        "vendor": name,
        "product": name.capitalize(),
        "version": "1.0",
        "status": "ran",
        "url": f"{name}://",
        "reason": "",
        "duration": 1.5,
        "counts": {},
    }
    return {**entry, **fields}


def finding(code: str, kind: str, level: str, message: str = "differs", **fields: Any) -> dict[str, Any]:
    entry = {
        "code": code,
        "level": level,
        "kind": kind,
        "message": message,
        "backends": {},
        "test": None,
        "location": None,
        "details": {},
        "hint": "do this",
    }
    return {**entry, **fields}


def report(backends: list[dict], tests: list[dict] | None = None, findings: list[dict] | None = None) -> dict:
    return {"schema_version": 1, "backends": backends, "tests": tests or [], "findings": findings or []}


@pytest.mark.parametrize("name", SAMPLES)
def test_a_real_report_is_valid_and_its_counts_are_those_of_its_testcases(tmp_path: Path, name: str) -> None:
    model = sample(name)
    root = written(tmp_path, model)

    assert (tmp_path / "junit.xml").read_bytes().startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    assert root.tag == "testsuites"
    assert list(suites(root)) == [entry["name"] for entry in model["backends"]] + [FINDINGS_SUITE]
    for suite in root.findall("testsuite"):
        outcomes = [outcome(case) for case in suite.findall("testcase")]
        assert suite.get("tests") == str(len(outcomes))
        assert suite.get("failures") == str(outcomes.count("failure"))
        assert suite.get("errors") == str(outcomes.count("error"))
        assert suite.get("skipped") == str(outcomes.count("skipped"))
    for counted in ("tests", "failures", "errors"):
        assert root.get(counted) == str(sum(int(suite.get(counted)) for suite in root.findall("testsuite")))
    failing = [entry for entry in model["findings"] if entry["level"] in ("error", "warning")]
    assert suites(root)[FINDINGS_SUITE].get("failures") == str(len(failing)) != "0"


def test_a_run_gives_each_backend_a_testcase_per_test_addressed_as_pytest_does(tmp_path: Path) -> None:
    model = sample("reports_run_queries")
    root = written(tmp_path, model)

    assert root.get("tests") == str(3 * 14 + 8)
    for name in ("sqlite", "postgresql", "mariadb"):
        suite = suites(root)[name]
        cases = {(case.get("classname"), case.get("name")): outcome(case) for case in suite.findall("testcase")}
        assert len(cases) == 14
        assert cases[("lab.tests.Divergent", "test_null_ordering")] == "passed"
        assert cases[("lab.tests.Controls", "test_float_sum")] == "passed"
        properties = {prop.get("name"): prop.get("value") for prop in suite.iter("property")}
        assert properties["status"] == "ran"
        assert properties["vendor"] == {"mariadb": "mysql"}.get(name, name)
    assert suites(root)["mariadb"].get("time") == "0.685"
    mariadb = {prop.get("name"): prop.get("value") for prop in suites(root)["mariadb"].iter("property")}
    assert (mariadb["product"], mariadb["version"]) == ("MariaDB", "10.11.19")


def test_each_query_finding_fails_with_its_message_evidence_and_hint(tmp_path: Path) -> None:
    root = written(tmp_path, sample("reports_run_queries"))

    cases = suites(root)[FINDINGS_SUITE].findall("testcase")
    codes = [case.get("classname").removeprefix("portability.") for case in cases]
    assert sorted(codes) == ["PT201"] + ["PT202"] * 6 + ["PT203"]
    distinct = next(case for case in cases if case.get("classname") == "portability.PT201")
    assert distinct.get("name") == "lab/tests.py::Divergent::test_distinct_on_field at lab/tests.py:38"
    failure = distinct.find("failure")
    assert failure.get("message") == "the query raises on mariadb, sqlite but runs on postgresql"
    assert failure.get("type") == "query_error"
    lines = failure.text.splitlines()
    assert lines[0] == "PT201 (warning): the query raises on mariadb, sqlite but runs on postgresql"
    assert (
        "sqlite: error: django.db.utils.NotSupportedError: DISTINCT ON fields is not supported by this database "
        "backend" in lines
    )
    assert "postgresql: ok: 1 row(s): [['lab.Person#t1', 'x', None, 0, 1]]" in lines
    assert lines[-1].startswith("hint: Django refuses this ORM feature on that backend")


def test_migration_findings_name_the_migration_and_a_note_does_not_fail(tmp_path: Path) -> None:
    root = written(tmp_path, sample("reports_migrations_import_export"))

    for name in ("mariadb", "postgresql", "sqlite"):
        # The backends' counts (applied, failed, skipped migrations) are not tests.
        assert suites(root)[name].get("tests") == "0"
    cases = {case.get("classname"): case for case in suites(root)[FINDINGS_SUITE].findall("testcase")}
    assert {code: outcome(case) for code, case in cases.items()} == {
        "portability.PM102": "failure",
        "portability.PM105": "passed",
        "portability.PM314": "failure",
        "portability.PM313": "failure",
        "portability.PM312": "failure",
    }
    assert (
        cases["portability.PM102"].get("name")
        == "core.0004_bookwithchapters at core/migrations/0004_bookwithchapters.py"
    )
    assert cases["portability.PM313"].get("name").endswith("at core/migrations/0009_auto_20211111_0807.py:12")
    reapply = 'apply again: django.db.utils.ProgrammingError [42P07]: relation "core_bookwithchapters" already exists'
    assert f"postgresql: failed: reverse: reversed; {reapply}" in cases["portability.PM102"].find("failure").text
    note = cases["portability.PM105"]
    assert note.get("name").startswith("2 table(s) no model declares")
    assert note.find("system-out").text.startswith("PM105 (note): 2 table(s) no model declares")
    assert suites(root)[FINDINGS_SUITE].get("tests") == "5"
    assert suites(root)[FINDINGS_SUITE].get("failures") == "4"


def test_a_lint_finding_fails_at_its_rules_severity(tmp_path: Path) -> None:
    root = written(tmp_path, sample("reports_migrations_guardian"))

    cases = suites(root)[FINDINGS_SUITE].findall("testcase")
    assert [(case.get("classname"), outcome(case)) for case in cases] == [
        ("portability.PM101", "failure"),
        ("portability.PM313", "failure"),
        ("portability.PM305", "failure"),
    ]
    assert cases[2].find("failure").text.splitlines()[:2] == [
        "PM305 (error): testapp.0010_textpkmodel: unique=True on TextPKModel.text_pk keys the TextField column(s) "
        "text_pk: mariadb cannot index TEXT/BLOB without a prefix length (error 1170)",
        "mariadb: error: index-on-textfield",
    ]


def test_every_outcome_maps_to_its_junit_element(tmp_path: Path) -> None:
    outcomes = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")
    tests = [{"nodeid": f"shop/tests.py::test_{name}", "outcomes": {"sqlite": name}} for name in outcomes]
    tests.append({"nodeid": "shop/tests.py::test_elsewhere", "outcomes": {"postgresql": "passed"}})
    root = written(tmp_path, report([backend("sqlite"), backend("postgresql")], tests))

    sqlite = suites(root)["sqlite"]
    by_name = {case.get("name"): case for case in sqlite.findall("testcase")}
    assert {name: outcome(case) for name, case in by_name.items()} == {
        "test_passed": "passed",
        "test_failed": "failure",
        "test_error": "error",
        "test_skipped": "skipped",
        "test_xfailed": "skipped",
        "test_xpassed": "passed",
    }
    assert {case.get("classname") for case in by_name.values()} == {"shop.tests"}
    assert by_name["test_failed"].find("failure").get("message") == "failed on sqlite"
    assert by_name["test_xfailed"].find("skipped").get("type") == "pytest.xfail"
    assert (sqlite.get("tests"), sqlite.get("failures"), sqlite.get("errors"), sqlite.get("skipped")) == (
        "6",
        "1",
        "1",
        "2",
    )
    assert [case.get("name") for case in suites(root)["postgresql"].findall("testcase")] == ["test_elsewhere"]
    assert root.get("tests") == "7"


def test_a_failed_test_carries_the_message_its_outcome_divergence_recorded(tmp_path: Path) -> None:
    nodeid = "shop/tests.py::ItemTests::test_code"
    divergence = finding(
        "PT101",
        "outcome_divergence",
        "error",
        "passes on sqlite but fails on postgresql",
        test=nodeid,
        location={"path": "shop/tests.py", "line": 7},
        backends={
            "sqlite": {"outcome": "passed", "message": ""},
            "postgresql": {"outcome": "failed", "message": "AssertionError: 1 != 2 (shop/tests.py:9)"},
        },
    )
    tests = [{"nodeid": nodeid, "outcomes": {"sqlite": "passed", "postgresql": "failed"}}]
    root = written(tmp_path, report([backend("sqlite"), backend("postgresql")], tests, [divergence]))

    failure = suites(root)["postgresql"].find("testcase/failure")
    assert failure.get("message") == failure.text == "AssertionError: 1 != 2 (shop/tests.py:9)"
    assert outcome(suites(root)["sqlite"].find("testcase")) == "passed"
    case = suites(root)[FINDINGS_SUITE].find("testcase")
    assert (case.get("classname"), case.get("name")) == ("portability.PT101", f"{nodeid} at shop/tests.py:7")
    assert case.find("failure").text.splitlines() == [
        "PT101 (error): passes on sqlite but fails on postgresql",
        "sqlite: passed",
        "postgresql: failed: AssertionError: 1 != 2 (shop/tests.py:9)",
        "hint: do this",
    ]
    assert root.get("failures") == "2"


@pytest.mark.parametrize(
    ("nodeid", "address"),
    [
        ("shop/tests.py::ItemTests::test_code", ("shop.tests.ItemTests", "test_code")),
        ("tests.py::test_plain", ("tests", "test_plain")),
        ("a/b/test_c.py::test_d[x/y::z.py]", ("a.b.test_c", "test_d[x/y::z.py]")),
        ("shop/tests.py", ("", "shop.tests")),
    ],
)
def test_a_node_id_splits_into_classname_and_name_as_pytest_junitxml_does(nodeid: str, address: tuple) -> None:
    assert pytest_address(nodeid) == address


def test_characters_xml_forbids_are_escaped_and_the_rest_kept(tmp_path: Path) -> None:
    message = "\x1b[31mboom\x00 é\ud800\tand\nmore"
    error = finding(
        "PT201",
        "query_error",
        "warning",
        message,
        test="shop/tests.py::test_x",
        backends={"sqlite": {"outcome": "error", "message": message}},
    )
    root = written(tmp_path, report([backend("sqlite")], [], [error]))

    failure = suites(root)[FINDINGS_SUITE].find("testcase/failure")
    expected = "#x1B[31mboom#x00 é#xD800\tand\nmore"
    assert failure.get("message") == expected
    assert f"sqlite: error: {expected}" in failure.text
    raw = (tmp_path / "junit.xml").read_bytes()
    assert b"\x1b" not in raw and b"\x00" not in raw
    assert "é".encode() in raw


def test_notes_pass_with_their_text_and_failing_levels_come_from_the_finding(tmp_path: Path) -> None:
    findings = [
        finding("PT204", "unordered_order_divergence", "note", "order differs", test="shop/tests.py::test_list"),
        finding("PM104", "missing_migration", "note", "apps the project does not own differ"),
        finding("PM104", "missing_migration", "warning", "app shop: the models changed without a migration"),
    ]
    root = written(tmp_path, report([backend("sqlite")], [], findings))

    suite = suites(root)[FINDINGS_SUITE]
    assert [(case.get("name"), outcome(case)) for case in suite.findall("testcase")] == [
        ("shop/tests.py::test_list", "passed"),
        ("apps the project does not own differ", "passed"),
        ("app shop: the models changed without a migration", "failure"),
    ]
    assert suite.find("testcase/system-out").text == "PT204 (note): order differs\nhint: do this"
    assert (suite.get("tests"), suite.get("failures"), root.get("failures")) == ("3", "1", "1")


def test_findings_with_the_same_address_stay_apart(tmp_path: Path) -> None:
    # A migration that fails on two backends is two PT102s with the same migration and location.
    setup = {"details": {"migration": "shop.0002_x"}, "location": {"path": "shop/migrations/0002_x.py", "line": None}}
    findings = [finding("PT102", "setup_failure", "error", f"failed on {name}", **setup) for name in ("a", "b")]
    root = written(tmp_path, report([backend("sqlite")], [], findings))

    assert [case.get("name") for case in suites(root)[FINDINGS_SUITE].findall("testcase")] == [
        "shop.0002_x at shop/migrations/0002_x.py",
        "shop.0002_x at shop/migrations/0002_x.py (2)",
    ]


@pytest.mark.parametrize("tests_key", [{"tests": []}, {}])
def test_a_backend_that_never_started_still_gives_a_valid_file(tmp_path: Path, tests_key: dict) -> None:
    unreachable = backend(
        "mysql",
        status="not reachable",
        reason="connection refused; start it with: docker compose up mysql",
        product=None,
        version=None,
        duration=None,
    )
    model = {"schema_version": 1, "backends": [unreachable], "findings": [], **tests_key}
    root = written(tmp_path, model)

    suite = suites(root)["mysql"]
    assert suite.get("tests") == "0" and suite.get("time") is None
    assert {prop.get("name"): prop.get("value") for prop in suite.iter("property")} == {
        "vendor": "mysql",
        "status": "not reachable",
        "reason": "connection refused; start it with: docker compose up mysql",
    }
    assert suites(root)[FINDINGS_SUITE].get("tests") == "0"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("0", "0", "0")
