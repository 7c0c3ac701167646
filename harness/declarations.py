"""Declared differences: what a project knows differs between backends and accepts.

Two ways to declare one, as SQLAlchemy's ``fails_on`` does for its own suite:

* on a test, ``@pytest.mark.portability(expected={"mariadb": "fails"}, reason="...")``, or the same
  under ``[tool.portability.expected]`` keyed by the test's node id;
* on a finding, ``[tool.portability.expected]`` keyed by ``"CODE"``, ``"CODE at PATH"`` or
  ``"CODE at PATH:LINE"``, with a ``reason``.

A declared difference that happens is reported as expected (level note). One that no longer happens
is an *unexpected success* (PT105, a warning: remove the declaration), and a declaration that matches
nothing in the run is reported (PT106), never silently kept. The marker never changes a test's outcome:
it is read, not acted on, while the test runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.findings import NOTE, Finding
from harness.results import TestResult

if TYPE_CHECKING:
    from harness.compare import Comparison
    from harness.results import WorkerResults
from harness.vendors import TARGET_NAME

MARKER = "portability"
MARKER_HELP = (
    'portability(expected={"mariadb": "fails"}, reason="..."): a difference between backends that is known and '
    "accepted (reported as expected; a warning once it no longer happens)"
)
# What a declared backend does → the outcomes that fulfil it.
EXPECTATIONS: dict[str, frozenset[str]] = {
    "fails": frozenset({"failed", "error"}),
    "passes": frozenset({"passed"}),
}
VERBS = {"fails": "fail", "passes": "pass"}
FINDING_KEY = re.compile(r"(?P<code>P[TM]\d{3})(?:\s+at\s+(?P<path>[^:\s]+)(?::(?P<line>\d+))?)?")


@dataclass(frozen=True)
class Declaration:
    source: str  # where it was declared, for messages
    reason: str
    test: str | None = None  # a test's node id (with ``expected``)
    expected: dict[str, str] = field(default_factory=dict)  # backend (target or vendor name) → fails/passes
    code: str | None = None  # or a finding's code (with ``path``/``line`` when given)
    path: str | None = None
    line: int | None = None


def check_marker(expected: Any, reason: Any) -> str | None:
    """What is wrong with a marker's arguments (None: nothing)."""
    return _check_expected(expected) or check_reason(reason)


def check_reason(reason: Any) -> str | None:
    if not isinstance(reason, str) or not reason.strip():
        return "reason= must say why the difference is accepted"
    return None


def _check_expected(expected: Any) -> str | None:
    if not isinstance(expected, dict) or not expected:
        return 'expected= must be a dict of backend → "fails" or "passes", e.g. {"mariadb": "fails"}'
    for backend, behaviour in expected.items():
        if not isinstance(backend, str) or not TARGET_NAME.fullmatch(backend):
            return f"expected= names {backend!r}, not a backend (a target name such as mariadb or postgresql@15)"
        if behaviour not in EXPECTATIONS:
            return f'expected[{backend!r}] is {behaviour!r}: write "fails" or "passes"'
    return None


def check_config_entry(key: str, entry: dict[str, Any]) -> str | None:
    """What is wrong with one ``[tool.portability.expected]`` entry (None: nothing)."""
    if "::" in key:
        return check_marker(_expected_of(entry), entry.get("reason"))
    if FINDING_KEY.fullmatch(key.strip()):
        extra = sorted(set(entry) - {"reason"})
        return (
            f"has {', '.join(extra)}: a finding's entry has only a reason"
            if extra
            else check_reason(entry.get("reason"))
        )
    return "is neither a test id (path::Class::test) nor CODE [at PATH[:LINE]]"


def _expected_of(entry: dict[str, Any]) -> dict[str, Any]:
    """A test entry's backends and what each does (every key but ``reason``)."""
    return {backend: behaviour for backend, behaviour in entry.items() if backend != "reason"}


def from_config(table: dict[str, dict[str, Any]]) -> list[Declaration]:
    """The declarations of a checked ``[tool.portability.expected]`` table (see config_schema)."""
    declarations = []
    for key, entry in table.items():
        source = f"[tool.portability.expected] {key!r}"
        reason = entry.get("reason", "")
        if "::" in key:
            declarations.append(Declaration(source, reason, test=key, expected=_expected_of(entry)))
        else:
            match = FINDING_KEY.fullmatch(key.strip())
            assert match is not None, key  # checked with the configuration
            line = int(match["line"]) if match["line"] else None
            declarations.append(Declaration(source, reason, code=match["code"], path=match["path"], line=line))
    return declarations


def from_results(tests: dict[str, TestResult]) -> list[Declaration]:
    """The markers the workers found on the tests they ran."""
    return [
        Declaration(
            f"the portability marker of {nodeid}",
            result.declared["reason"],
            test=nodeid,
            expected=result.declared["expected"],
        )  # fmt: skip
        for nodeid, result in tests.items()
        if result.declared
    ]


def apply(
    findings: list[Finding], matrix: dict[str, dict[str, TestResult]], declarations: list[Declaration]
) -> list[Finding]:
    """Mark declared findings as expected; return the findings the declarations themselves give (PT105, PT106)."""
    raised: list[Finding] = []
    for declaration in declarations:
        if declaration.test is not None:
            raised += _apply_to_test(findings, matrix, declaration)
        else:
            raised += _apply_to_findings(findings, declaration)
    return raised


def _apply_to_test(
    findings: list[Finding], matrix: dict[str, dict[str, TestResult]], declaration: Declaration
) -> list[Finding]:
    row = matrix.get(declaration.test or "")
    if row is None:
        return [_unused(declaration, f"no test {declaration.test} ran")]
    concerned = {
        backend: declaration.expected[declared]
        for declared in declaration.expected
        for backend in row
        if backend == declared or backend.split("@", 1)[0] == declared
    }
    if not concerned:
        return []  # none of the declared backends ran here (one CI job per backend)
    missed = {
        backend: behaviour
        for backend, behaviour in concerned.items()
        if row[backend].outcome not in EXPECTATIONS[behaviour]
    }
    if missed:
        return [_unexpected_success(declaration, row, missed)]
    for finding in findings:
        if finding.kind == "outcome_divergence" and finding.test == declaration.test:
            _mark_expected(finding, declaration)
    return []


def _apply_to_findings(findings: list[Finding], declaration: Declaration) -> list[Finding]:
    matched = [finding for finding in findings if _matches(finding, declaration)]
    for finding in matched:
        _mark_expected(finding, declaration)
    if matched:
        return []
    return [_unused(declaration, "no finding of the run matches it: the difference no longer happens")]


def _matches(finding: Finding, declaration: Declaration) -> bool:
    if finding.code != declaration.code or finding.details.get("declared"):
        return False
    location = finding.location or {}
    if declaration.path is not None and location.get("path") != declaration.path:
        return False
    return declaration.line is None or location.get("line") == declaration.line


def _mark_expected(finding: Finding, declaration: Declaration) -> None:
    finding.details.update(severity=NOTE, declared=declaration.source, reason=declaration.reason)
    finding.message = f"expected ({declaration.reason}): {finding.message}"


def _unexpected_success(declaration: Declaration, row: dict[str, TestResult], missed: dict[str, str]) -> Finding:
    said = ", ".join(f"to {VERBS[behaviour]} on {backend}" for backend, behaviour in missed.items())
    return Finding(
        kind="unexpected_success",
        test=declaration.test,
        location=None,
        message=f"declared {said} ({declaration.reason}), but it does not: the difference no longer happens",
        backends={backend: {"outcome": result.outcome, "message": result.message} for backend, result in row.items()},
        details={"declared": declaration.source, "reason": declaration.reason, "expected": declaration.expected},
    )


def _unused(declaration: Declaration, why: str) -> Finding:
    return Finding(
        kind="unused_declaration",
        test=declaration.test,
        location=None,
        message=f"{declaration.source} matches nothing: {why}",
        backends={},
        details={"declared": declaration.source, "reason": declaration.reason},
    )


def apply_to_run(comparison: Comparison, results: list[WorkerResults], table: dict[str, dict[str, Any]]) -> None:
    """Apply the project's declarations (config and markers) to a comparison, adding what they give."""
    marked: dict[str, TestResult] = {}
    for worker in results:
        for nodeid, result in worker.tests.items():
            if result.declared:
                marked.setdefault(nodeid, result)
    declared = from_config(table) + from_results(marked)
    comparison.findings.extend(apply(comparison.findings, comparison.matrix, declared))
