"""Turn results files into an outcome matrix and findings; knows nothing of how they were made.

The outcomes, collection and setup records are all in memory; the query records are
compared one test at a time (harness.query_compare, harness.results_stream).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.findings import Finding
from harness.query_compare import QueryFindings, QueryKey, divergences_by_test
from harness.results import ERROR, FAILED, PASSED, XFAILED, XPASSED, TestResult, WorkerResults

GOOD_OUTCOMES = frozenset({PASSED, XFAILED, XPASSED})
BAD_OUTCOMES = frozenset({FAILED, ERROR})


@dataclass
class Comparison:
    """The outcome of every test on every backend that ran, and what differs."""

    backends: list[str]
    matrix: dict[str, dict[str, TestResult]] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    # Problems of the harness itself (not of the code under test), each with its evidence.
    warnings: list[dict] = field(default_factory=list)
    # Every backend collected zero tests (and none failed to import): nothing was tested.
    collected_nothing: bool = False


def compare(
    results: list[WorkerResults],
    nondeterministic: frozenset[tuple[str, QueryKey]] = frozenset(),
    repeats: dict[str, list[WorkerResults]] | None = None,
) -> Comparison:
    """Compare the results of one suite on several backends.

    Queries whose results vary between runs on one backend are left out: those in
    ``nondeterministic``, and those that vary across ``repeats`` (per backend, the results
    of every --stability-runs run), read test by test along with the compared ones.
    """
    comparison = Comparison(backends=[worker.target for worker in results])
    broken_setup = {worker.target for worker in results if worker.setup_failures}
    for worker in results:
        comparison.matrix.update({nodeid: {} for nodeid in worker.tests if nodeid not in comparison.matrix})
    for worker in results:
        for nodeid, row in comparison.matrix.items():
            if nodeid in worker.tests:
                row[worker.target] = worker.tests[nodeid]
    comparison.findings.extend(collection_error_findings(results))
    comparison.findings.extend(collection_divergence_findings(results))
    comparison.collected_nothing = bool(results) and all(
        worker.collected == 0 and not worker.collection_errors for worker in results
    )
    for worker in results:
        for failure in worker.setup_failures:
            comparison.findings.append(_setup_failure_finding(worker, failure))
    for nodeid, row in comparison.matrix.items():
        considered = {
            backend: result
            for backend, result in row.items()
            if not (backend in broken_setup and result.outcome == ERROR)
        }
        outcomes = {result.outcome for result in considered.values()}
        if outcomes & GOOD_OUTCOMES and outcomes & BAD_OUTCOMES:
            comparison.findings.append(_divergence_finding(nodeid, considered))
    failing = {
        nodeid for nodeid, row in comparison.matrix.items() if any(r.outcome in BAD_OUTCOMES for r in row.values())
    }
    tied = {finding.test: finding for finding in comparison.findings if finding.test}
    query_findings = QueryFindings(failing, tied)
    for test, divergences in divergences_by_test(results, nondeterministic, repeats=repeats):
        query_findings.add(test, divergences)
    comparison.findings.extend(query_findings.findings())
    comparison.warnings.extend(recorder_warnings(results))
    return comparison


def recorder_warnings(results: list[WorkerResults]) -> list[dict]:
    """The query recorder's own errors (caught in the worker, never raised into a test)."""
    warnings = []
    for worker in results:
        for record in worker.other.get("recorder_error", []):
            tracebacks = record.get("tracebacks", [])
            last_line = tracebacks[0].strip().splitlines()[-1] if tracebacks else ""
            warnings.append(
                {
                    "backend": worker.target,
                    "message": f"the query recorder hit {record.get('count', 0)} internal error(s) on "
                    f"{worker.target}; those queries were not compared (first: {last_line})",
                    "tracebacks": tracebacks,
                }
            )
    return warnings


def collection_error_findings(results: list[WorkerResults]) -> list[Finding]:
    """One PT103 per test module that failed to import, with each backend's error and file:line."""
    by_module: dict[str, dict[str, dict]] = {}
    for worker in results:
        for error in worker.collection_errors:
            by_module.setdefault(error["nodeid"], {})[worker.target] = error
    findings = []
    for nodeid, errors in by_module.items():
        failing = [worker.target for worker in results if worker.target in errors]
        where = "every backend" if len(failing) == len(results) else ", ".join(failing)
        first = next(iter(errors.values()))
        findings.append(
            Finding(
                kind="collection_error",
                test=nodeid,
                location=first.get("location"),
                message=f"{nodeid} could not be collected on {where}",
                backends={target: {"outcome": ERROR, "message": error["message"]} for target, error in errors.items()},
            )
        )
    return findings


SETUP_HINT = "the error per backend says why the test database could not be created or connected to"

# How many node ids a collection_divergence finding lists per backend.
LISTED_NODEIDS = 20


def collection_divergence_findings(results: list[WorkerResults]) -> list[Finding]:
    """One PT104 per test module whose tests some backend collected and another did not
    (modules that failed to import are PT103s instead)."""
    collected = {
        worker.target: set(worker.collected_nodeids) for worker in results if worker.collected_nodeids is not None
    }
    if len(collected) < 2:
        return []
    failed_modules = {error["nodeid"] for worker in results for error in worker.collection_errors}
    everywhere = set.intersection(*collected.values())
    uneven: dict[str, set[str]] = {}
    for nodeid in set.union(*collected.values()) - everywhere:
        module = nodeid.split("::")[0]
        if module not in failed_modules:
            uneven.setdefault(module, set()).add(nodeid)
    findings = []
    for module, nodeids in sorted(uneven.items()):
        having = sorted({target for target, ids in collected.items() if ids & nodeids})
        missing = {target: sorted(nodeids - ids) for target, ids in collected.items() if nodeids - ids}
        findings.append(
            Finding(
                kind="collection_divergence",
                test=module,
                location={"path": module, "line": None},
                message=f"{module}: {len(nodeids)} test(s) collected on {', '.join(having)} "
                f"but not on {', '.join(sorted(missing))}",
                backends={
                    target: {
                        "outcome": "missing",
                        "message": f"{len(names)} of them not collected here",
                        "missing": names[:LISTED_NODEIDS],
                    }
                    for target, names in missing.items()
                },
            )
        )
    return findings


def _divergence_finding(nodeid: str, row: dict[str, TestResult]) -> Finding:
    good = sorted(backend for backend, result in row.items() if result.outcome in GOOD_OUTCOMES)
    bad = sorted(backend for backend, result in row.items() if result.outcome in BAD_OUTCOMES)
    location = next((result.location for result in row.values() if result.location), None)
    return Finding(
        kind="outcome_divergence",
        test=nodeid,
        location=location,
        message=f"passes on {', '.join(good)} but fails on {', '.join(bad)}",
        backends={backend: {"outcome": result.outcome, "message": result.message} for backend, result in row.items()},
    )


def _setup_failure_finding(worker: WorkerResults, failure: dict) -> Finding:
    where = f"migration {failure['migration']}" if failure.get("migration") else "test database setup"
    if failure.get("operation"):
        where += f" ({failure['operation']})"
    return Finding(
        kind="setup_failure",
        location=failure.get("location"),
        message=f"{where} failed on {worker.target}; its tests could not run there",
        backends={worker.target: {"outcome": ERROR, "message": failure.get("error", "")}},
        details={
            "migration": failure.get("migration"),
            "operation": failure.get("operation"),
            # The kind's hint (run the migration alone) fits only when a migration failed.
            **({} if failure.get("migration") else {"hint": SETUP_HINT}),
        },
    )
