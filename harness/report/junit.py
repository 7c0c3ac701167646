"""The JUnit XML report (``--junit``), for the test views of GitLab, Jenkins and GitHub's test-report actions.

One <testsuite> per backend (its name the target's) holds a <testcase> per test that ran there, addressed as
pytest's own --junitxml does; then the "portability findings" suite holds one <failure> testcase per finding of
level error or warning. Notes are not failures: they are passed testcases whose <system-out> carries the same text,
so they stay visible without failing the job.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

FINDINGS_SUITE = "portability findings"
FAILING_LEVELS = ("error", "warning")

# A test's outcome → the child element JUnit marks it with, and that element's type (pytest's own types).
# passed and xpassed (a non-strict xpass passes) get none.
OUTCOME_ELEMENTS = {
    "failed": ("failure", None),
    "error": ("error", None),
    "skipped": ("skipped", "pytest.skip"),
    "xfailed": ("skipped", "pytest.xfail"),
}

# What XML 1.0 cannot hold at all, not even as a character reference: C0 controls but tab, newline and carriage
# return, lone surrogates, U+FFFE and U+FFFF.
NOT_XML_CHARACTERS = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def write(path: Path, report: dict[str, Any]) -> None:
    findings = report.get("findings") or []
    messages = failure_messages(findings)
    root = ET.Element("testsuites", name="portability")
    for backend in report.get("backends") or []:
        root.append(backend_suite(backend, report.get("tests") or [], messages))
    root.append(findings_suite(findings))
    for counted in ("tests", "failures", "errors"):
        root.set(counted, str(sum(int(suite.get(counted)) for suite in root)))
    for element in root.iter():
        element.text = xml_text(element.text)
        element.attrib = {name: xml_text(value) for name, value in element.attrib.items()}
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def backend_suite(
    backend: dict[str, Any], tests: list[dict[str, Any]], messages: dict[tuple[str, str], str]
) -> ET.Element:
    suite = ET.Element("testsuite", name=backend["name"])
    if backend.get("duration") is not None:
        suite.set("time", f"{backend['duration']:.3f}")
    properties = ET.SubElement(suite, "properties")
    for name in ("vendor", "product", "version", "status", "reason"):
        if backend.get(name):
            ET.SubElement(properties, "property", name=name, value=str(backend[name]))
    for test in tests:
        outcome = test["outcomes"].get(backend["name"])
        if outcome is None:  # the test did not run on this backend
            continue
        classname, name = pytest_address(test["nodeid"])
        case = ET.SubElement(suite, "testcase", classname=classname, name=name)
        if outcome in OUTCOME_ELEMENTS:
            tag, kind = OUTCOME_ELEMENTS[outcome]
            message = messages.get((test["nodeid"], backend["name"])) or f"{outcome} on {backend['name']}"
            marker = ET.SubElement(case, tag, message=message)
            if kind:
                marker.set("type", kind)
            if tag != "skipped":
                marker.text = message
    return counted_suite(suite)


def findings_suite(findings: list[dict[str, Any]]) -> ET.Element:
    suite = ET.Element("testsuite", name=FINDINGS_SUITE)
    names_used: dict[tuple[str, str], int] = {}
    for finding in findings:
        classname = f"portability.{finding['code']}"
        name = finding_name(finding)
        # GitLab keys a testcase by suite, classname and name: two findings sharing them would show as one.
        names_used[classname, name] = names_used.get((classname, name), 0) + 1
        if names_used[classname, name] > 1:
            name += f" ({names_used[classname, name]})"
        case = ET.SubElement(suite, "testcase", classname=classname, name=name)
        if finding["level"] in FAILING_LEVELS:
            failure = ET.SubElement(case, "failure", type=finding["kind"], message=finding["message"])
            failure.text = finding_text(finding)
        else:
            ET.SubElement(case, "system-out").text = finding_text(finding)
    return counted_suite(suite)


def counted_suite(suite: ET.Element) -> ET.Element:
    """Set the suite's counts from the testcases it holds, so they cannot disagree."""
    cases = suite.findall("testcase")
    suite.set("tests", str(len(cases)))
    for counted, tag in (("failures", "failure"), ("errors", "error"), ("skipped", "skipped")):
        suite.set(counted, str(sum(1 for case in cases if case.find(tag) is not None)))
    return suite


def pytest_address(nodeid: str) -> tuple[str, str]:
    """(classname, name) as pytest's junitxml writes them: ``a/b.py::C::test_d[x]`` → ``("a.b.C", "test_d[x]")``.

    The parameters are split off first: they may contain ``::`` or ``/``.
    """
    path, bracket, params = nodeid.partition("[")
    names = path.split("::")
    names[0] = names[0].replace("/", ".").removesuffix(".py")
    names[-1] += bracket + params
    return ".".join(names[:-1]), names[-1]


def failure_messages(findings: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    """(node id, backend) → the failure message an outcome divergence recorded; the JSON report keeps no other."""
    return {
        (finding["test"], backend): evidence["message"]
        for finding in findings
        if finding["kind"] == "outcome_divergence"
        for backend, evidence in finding["backends"].items()
        if evidence.get("message")
    }


def finding_name(finding: dict[str, Any]) -> str:
    """What the finding is about: its test or migration and where; its message when it has neither."""
    subject = finding.get("test") or (finding.get("details") or {}).get("migration")
    location = finding.get("location") or {}
    where = ":".join(str(part) for part in (location.get("path"), location.get("line")) if part is not None)
    if subject and where:
        return f"{subject} at {where}"
    return subject or where or finding["message"]


def finding_text(finding: dict[str, Any]) -> str:
    lines = [f"{finding['code']} ({finding['level']}): {finding['message']}"]
    for backend, evidence in finding["backends"].items():
        said = [str(evidence[key]) for key in ("outcome", "message") if evidence.get(key)]
        lines.append(f"{backend}: {': '.join(said) or '-'}")
    lines.append(f"hint: {finding['hint']}")
    return "\n".join(lines)


def xml_text(value: str | None) -> str | None:
    """The text with each character XML 1.0 forbids written as ``#xHH``, as pytest's junitxml does."""
    if value is None:
        return None
    return NOT_XML_CHARACTERS.sub(lambda match: f"#x{ord(match.group()):02X}", value)
