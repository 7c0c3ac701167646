"""The SARIF report, validated against the published SARIF 2.1.0 schema (tests/schemas), without servers."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from jsonschema import Draft4Validator

from harness.findings import KINDS
from harness.migrations.lint import RULES
from harness.report import sarif
from harness.report.formats import BY_NAME

HERE = Path(__file__).parent
SCHEMA = json.loads((HERE / "schemas" / "sarif-schema-2.1.0.json").read_text())
# Real reports: `portability run` on query differences, `portability migrations` on two third-party packages.
SAMPLES = [
    HERE / "fixtures" / f"reports_{name}.json"
    for name in ("run_queries", "migrations_import_export", "migrations_guardian")
]
# Every code the harness reports: the kinds but PM300 (the lint rules' placeholder), and every lint rule.
KNOWN_CODES = {kind.code for kind in KINDS.values() if kind.code != "PM300"} | {rule.code for rule in RULES}


def finding(code: str = "PT201", kind: str = "query_error", level: str = "warning", **fields: object) -> dict:
    return {
        "code": code,
        "level": level,
        "kind": kind,
        "test": "shop/tests.py::ItemTests::test_code",
        "location": {"path": "shop/tests.py", "line": 12},
        "backends": {
            "sqlite": {"outcome": "ok", "message": "1 row(s): [[1]]"},
            "mysql": {"outcome": "error", "message": "OperationalError [1054]: unknown column (shop/models.py:40)"},
        },
        "message": "the query raises on mysql but runs on sqlite",
        "details": {},
        "hint": KINDS[kind].hint,
        **fields,
    }


def report(*findings: dict, exit_code: int = 1, **fields: object) -> dict:
    return {
        "schema_version": 1,
        "tool": {"name": "portability", "version": "0.1.0"},
        "generated_at": "2026-11-28T10:41:00Z",
        "exit_code": exit_code,
        "partial": False,
        "hash_seed": 1,
        "backends": [],
        "tests": [],
        "findings": list(findings),
        "warnings": [],
        **fields,
    }


def valid(log: dict) -> dict:
    errors = sorted(Draft4Validator(SCHEMA).iter_errors(log), key=lambda error: list(error.path))
    assert not errors, "\n".join(f"{list(error.path)}: {error.message}" for error in errors)
    return log


def written(tmp_path: Path, data: dict) -> dict:
    """Through the registry, as `--sarif FILE` writes it."""
    path = tmp_path / "out" / "report.sarif"
    BY_NAME["sarif"].write(path, data)
    return valid(json.loads(path.read_text()))


def run_of(log: dict) -> dict:
    [run] = log["runs"]
    return run


def only_result(log: dict) -> dict:
    [result] = run_of(log)["results"]
    return result


def test_the_schema_is_draft_4_and_rejects_a_broken_log() -> None:
    assert SCHEMA["$schema"] == "http://json-schema.org/draft-04/schema#"
    Draft4Validator.check_schema(SCHEMA)
    broken = sarif.build_sarif(report(finding()))
    only_result(broken)["level"] = "fatal"
    with pytest.raises(AssertionError, match="fatal"):
        valid(broken)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda path: path.stem)
def test_samples_give_valid_sarif_one_result_per_finding(tmp_path: Path, sample: Path) -> None:
    data = json.loads(sample.read_text())
    log = written(tmp_path, data)
    assert log["version"] == "2.1.0"
    run = run_of(log)
    rules = run["tool"]["driver"]["rules"]
    assert len(run["results"]) == len(data["findings"])
    for result, source in zip(run["results"], data["findings"], strict=True):
        assert result["ruleId"] == source["code"]
        assert rules[result["ruleIndex"]]["id"] == source["code"]
        assert result["level"] == source["level"]
        assert result["message"]["text"].startswith(source["message"])
        assert result["properties"]["backends"] == sorted(source["backends"])
        [location] = result["locations"]
        physical = location["physicalLocation"]
        assert physical["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
        where = source["location"] or {}
        if where.get("path"):
            assert physical["artifactLocation"]["uri"] == where["path"]
        if where.get("line"):
            assert physical["region"] == {"startLine": where["line"]}
        else:
            assert "region" not in physical
    [invocation] = run["invocations"]
    assert invocation["exitCode"] == data["exit_code"] == 1
    assert invocation["executionSuccessful"] is True


def test_sample_levels_and_codes() -> None:
    by_sample = {}
    for sample in SAMPLES:
        results = run_of(sarif.build_sarif(json.loads(sample.read_text())))["results"]
        by_sample[sample.name] = [(result["ruleId"], result["level"]) for result in results]
    assert by_sample["reports_migrations_guardian.json"] == [
        ("PM101", "error"),
        ("PM313", "warning"),
        ("PM305", "error"),
    ]
    assert ("PM105", "note") in by_sample["reports_migrations_import_export.json"]
    assert {code for code, _ in by_sample["reports_run_queries.json"]} == {"PT201", "PT202", "PT203"}


def test_every_code_is_a_rule_with_descriptions_and_help() -> None:
    driver = run_of(sarif.build_sarif(report()))["tool"]["driver"]
    assert driver["name"] == "portability"
    assert driver["version"] == "0.1.0"
    assert driver["informationUri"] == "https://github.com/django-portability/django-portability"
    ids = [rule["id"] for rule in driver["rules"]]
    assert len(ids) == len(set(ids))
    assert set(ids) == KNOWN_CODES
    assert {"PT101", "PT102", "PM105", "PM301", "PM314"} <= set(ids)
    assert "PM300" not in ids
    lint_levels = {rule.code: rule.severity for rule in RULES}
    kind_levels = {kind.code: kind.level for kind in KINDS.values()}
    for rule in driver["rules"]:
        assert rule["name"]
        for field in ("shortDescription", "fullDescription"):
            assert rule[field]["text"].strip(), (rule["id"], field)
        assert rule["help"]["text"].strip() and rule["help"]["markdown"].strip(), rule["id"]
        assert rule["defaultConfiguration"]["level"] == {**kind_levels, **lint_levels}[rule["id"]]
    by_id = {rule["id"]: rule for rule in driver["rules"]}
    assert by_id["PM302"]["name"] == "runpython-without-reverse"
    assert "reverse_code" in by_id["PM302"]["help"]["text"]
    assert "order_by()" in by_id["PT203"]["help"]["text"]


def test_result_location_level_and_message(tmp_path: Path) -> None:
    log = written(tmp_path, report(finding(level="note")))
    result = only_result(log)
    assert result["ruleId"] == "PT201"
    assert run_of(log)["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == "PT201"
    assert result["level"] == "note"
    assert result["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "shop/tests.py", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 12},
    }
    text = result["message"]["text"]
    assert text.splitlines()[0] == "the query raises on mysql but runs on sqlite"
    assert "- mysql (error): OperationalError [1054]: unknown column (shop/models.py:40)" in text
    assert "- sqlite (ok): 1 row(s): [[1]]" in text
    assert "Hint" not in text  # the kind's own hint is the rule's help already
    assert result["properties"]["backends"] == ["mysql", "sqlite"]


def test_a_finding_of_its_own_hint_says_it_and_long_evidence_is_cut(tmp_path: Path) -> None:
    long = finding(hint="use Lower() on both sides")
    long["backends"]["mysql"]["message"] = "x" * 5000
    text = only_result(written(tmp_path, report(long)))["message"]["text"]
    assert "Hint: use Lower() on both sides" in text
    assert len(text) < 1000


@pytest.mark.parametrize(
    "extra",
    [
        # A schema difference: no path, no test, no migration.
        {"code": "PM103", "kind": "schema_divergence", "details": {"table": "shop_item", "subject": "index"}},
        # A partial run: a setup_failure without a migration.
        {"code": "PT102", "kind": "setup_failure", "level": "error", "details": {"status": "crashed"}},
        # A location whose path is unknown.
        {"code": "PM101", "kind": "migration_failure", "level": "error", "location": {"path": None, "line": None}},
    ],
    ids=["schema", "partial", "no-path"],
)
def test_a_finding_without_location_goes_to_pyproject(tmp_path: Path, extra: dict) -> None:
    lost = finding(**{"location": None, **extra, "test": None})
    physical = only_result(written(tmp_path, report(lost)))["locations"][0]["physicalLocation"]
    assert physical == {"artifactLocation": {"uri": "pyproject.toml", "uriBaseId": "%SRCROOT%"}}


def test_a_setup_failure_goes_to_its_migration_file_or_its_test_module(tmp_path: Path) -> None:
    migration = "shop.0003_backfill"
    failed = finding(code="PT102", kind="setup_failure", level="error", location=None, test=None)
    failed["details"] = {"migration": migration, "operation": "Raw SQL operation"}
    lint = finding(code="PM303", kind="migration_lint", test=None)
    lint["location"] = {"path": "shop/migrations/0003_backfill.py", "line": 9}
    lint["details"] = {"code": "PM303", "migration": migration, "severity": "warning"}
    module = finding(code="PT104", kind="collection_divergence", level="note", location=None)
    log = written(tmp_path, report(failed, lint, module))
    places = [result["locations"][0]["physicalLocation"] for result in run_of(log)["results"]]
    assert places[0] == {"artifactLocation": {"uri": "shop/migrations/0003_backfill.py", "uriBaseId": "%SRCROOT%"}}
    assert places[1]["region"] == {"startLine": 9}
    assert places[2] == {"artifactLocation": {"uri": "shop/tests.py", "uriBaseId": "%SRCROOT%"}}


def test_line_zero_or_missing_gives_no_region_and_paths_are_uri_encoded(tmp_path: Path) -> None:
    spaced = finding(location={"path": "my app/tests.py", "line": 0})
    physical = only_result(written(tmp_path, report(spaced)))["locations"][0]["physicalLocation"]
    assert physical == {"artifactLocation": {"uri": "my%20app/tests.py", "uriBaseId": "%SRCROOT%"}}


def fingerprints(*findings: dict) -> list[dict]:
    return [result["partialFingerprints"] for result in run_of(sarif.build_sarif(report(*findings)))["results"]]


def test_fingerprints_survive_a_moved_line_but_not_another_finding() -> None:
    first = finding()
    moved = copy.deepcopy(first)
    moved["location"]["line"] = 80
    moved["message"] = first["message"]
    moved["backends"]["mysql"]["message"] = "OperationalError [1054]: unknown column (shop/models.py:52)"
    [a], [b] = fingerprints(first), fingerprints(moved)
    assert a == b and a["portability/v1"]
    in_message = finding(message="fails at shop/models.py:40 on mysql")
    assert fingerprints(in_message) == fingerprints({**in_message, "message": "fails at shop/models.py:41 on mysql"})
    others = [
        finding(code="PT202", kind="result_divergence"),
        finding(test="shop/tests.py::ItemTests::test_other"),
        finding(location={"path": "shop/other.py", "line": 12}),
        finding(message="the query raises on mysql, postgresql but runs on sqlite"),
    ]
    assert len({fp["portability/v1"] for fp in fingerprints(first, *others)}) == 5


def test_an_unknown_code_gets_a_rule_of_its_own(tmp_path: Path) -> None:
    future = finding(code="PM399", kind="migration_lint", level="error", details={"code": "PM399"})
    log = written(tmp_path, report(future))
    result = only_result(log)
    assert run_of(log)["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == "PM399"


@pytest.mark.parametrize(
    ("exit_code", "partial", "successful"),
    [(0, False, True), (1, False, True), (1, True, False), (2, False, False), (130, False, False)],
)
def test_invocation_and_warnings(tmp_path: Path, exit_code: int, partial: bool, successful: bool) -> None:
    warning = {"backend": "mysql", "message": "the query recorder hit 1 internal error(s)", "tracebacks": []}
    log = written(tmp_path, report(exit_code=exit_code, partial=partial, warnings=[warning]))
    [invocation] = run_of(log)["invocations"]
    assert invocation["exitCode"] == exit_code
    assert invocation["executionSuccessful"] is successful
    assert invocation["toolExecutionNotifications"] == [
        {"level": "warning", "message": {"text": "the query recorder hit 1 internal error(s)"}}
    ]
    assert run_of(log)["results"] == []
