"""Compare the recorded ORM queries of one suite across backends: errors, rows and order.

Queries are matched by identity, not position (docs/value-identity.md): the queries of
one test, call site and statement kind pair up in order when every backend ran the same
sequence of inputs, else by their input fingerprint (after a loop over an unordered
result, each backend ran the per-item queries in its own order). A query that has no
counterpart on another backend is not compared.

Every comparison is within one test, so the records are read one test at a time
(harness.results_stream) and only the divergences' evidence is kept.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.canonical import floats_close
from harness.findings import Finding
from harness.query_causes import error_hint, likely_cause, truncated, truncation_cause
from harness.results import SKIPPED, TestResult, WorkerResults
from harness.results_stream import QueryReader, tests_with_queries
from harness.vendors import ServerFacts

SELECT, REFUSED = "select", "refused"
WRITE_KINDS = ("update", "delete")
QUERY_ERROR, RESULT_DIVERGENCE, ORDER_DIVERGENCE, UNORDERED_ORDER = (
    "query_error",
    "result_divergence",
    "order_divergence",
    "unordered_order_divergence",
)
DIGEST_FORMS = ("raw", "renamed")
# A query's identity in its own run: test, call site, statement kind, input fingerprint, n-th with it.
QueryKey = tuple[str, str, str, str, int]
# One test's query records per backend (a backend that ran none is absent).
TestQueries = dict[str, list[dict[str, Any]]]
MAX_LISTED_TESTS = 20


@dataclass
class Divergence:
    """A difference at one matched query, before it becomes a finding."""

    kind: str
    test: str
    site: str
    statement: str
    records: dict[str, dict[str, Any]]
    message: str
    cause: str | None = None
    hint: str = ""

    @property
    def order(self) -> int:
        """Where in its test the query ran (the first backend to run it)."""
        return min(record.get("position", 0) for record in self.records.values())


# ---------------------------------------------------------------- matching


def _keyed(records: list[dict[str, Any]]) -> list[tuple[QueryKey, dict[str, Any]]]:
    """Each record with its identity: its fingerprint and how many times that fingerprint came before."""
    seen: dict[str, int] = {}
    keyed = []
    for record in records:
        fingerprint = record.get("fingerprint") or ""
        seen[fingerprint] = nth = seen.get(fingerprint, 0) + 1
        keyed.append(((record["test"], record["site"], record["kind"], fingerprint, nth), record))
    return keyed


def matched_queries(queries: TestQueries) -> Iterator[dict[str, tuple[QueryKey, dict[str, Any]]]]:
    """The queries of one test that ran on two or more backends, as {backend: (key, record)} per query."""
    groups: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = defaultdict(dict)
    for backend, records in queries.items():
        for record in records:
            if record["kind"] != REFUSED:
                groups[(record["site"], record["kind"])].setdefault(backend, []).append(record)
    for by_backend in groups.values():
        if len(by_backend) < 2:
            continue
        keyed = {backend: _keyed(records) for backend, records in by_backend.items()}
        sequences = {tuple(record.get("fingerprint") for record in records) for records in by_backend.values()}
        if len(sequences) == 1:
            for position in range(len(next(iter(by_backend.values())))):
                yield {backend: pairs[position] for backend, pairs in keyed.items()}
            continue
        by_identity: dict[tuple[str, int], dict[str, tuple[QueryKey, dict[str, Any]]]] = defaultdict(dict)
        for backend, pairs in keyed.items():
            for key, record in pairs:
                by_identity[(key[3], key[4])][backend] = (key, record)
        for matched in by_identity.values():
            if len(matched) >= 2:
                yield matched


def unstable_keys(runs: dict[str, list[list[dict[str, Any]]]]) -> set[tuple[str, QueryKey]]:
    """(backend, query) pairs of one test whose error or result differs between its runs on that
    backend; ``runs``: per backend, the test's query records in each run."""
    unstable: set[tuple[str, QueryKey]] = set()
    for backend, repeats in runs.items():
        seen: dict[QueryKey, set[tuple]] = defaultdict(set)
        for records in repeats:
            groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
            for record in records:
                groups[(record["site"], record["kind"])].append(record)
            for group in groups.values():
                for key, record in _keyed(group):
                    seen[key].add(_outcome_signature(record))
        unstable |= {(backend, key) for key, signatures in seen.items() if len(signatures) > 1}
    return unstable


def nondeterministic_keys(runs: dict[str, list[WorkerResults]]) -> frozenset[tuple[str, QueryKey]]:
    """(backend, query) pairs whose error or result differs between runs on that backend (--stability-runs),
    for every test at once (compare works them out test by test)."""
    unstable: set[tuple[str, QueryKey]] = set()
    with QueryReader() as reader:
        for test in tests_with_queries([results for repeats in runs.values() for results in repeats]):
            unstable |= unstable_keys(
                {backend: [reader.queries(results, test) for results in repeats] for backend, repeats in runs.items()}
            )
    return frozenset(unstable)


def _outcome_signature(record: dict[str, Any]) -> tuple:
    error = record.get("error")
    digests = record.get("digests", {}).get("raw", {})
    return (
        error.get("code") if error else None,
        digests.get("unordered"),
        digests.get("ordered") if not record.get("random_order") else None,
        str(record.get("float_rows")),  # floats are kept outside the digests
        record.get("rowcount"),
    )


# ---------------------------------------------------------------- divergences


def query_divergences(
    results: list[WorkerResults],
    nondeterministic: frozenset[tuple[str, QueryKey]] = frozenset(),
    float_tolerance: float | None = None,
) -> list[Divergence]:
    """Every matched query whose error, rows or order differ between backends (all tests at once)."""
    return [
        divergence
        for _, divergences in divergences_by_test(results, nondeterministic, float_tolerance)
        for divergence in divergences
    ]


def divergences_by_test(
    results: list[WorkerResults],
    nondeterministic: frozenset[tuple[str, QueryKey]] = frozenset(),
    float_tolerance: float | None = None,
    repeats: dict[str, list[WorkerResults]] | None = None,
) -> Iterator[tuple[str, list[Divergence]]]:
    """(test, its divergences) for each test with queries, reading only that test's records.

    Queries whose results vary between runs on one backend are left out: those in
    ``nondeterministic``, and those found by reading each test's records in ``repeats``
    (per backend, the results of every --stability-runs run).
    """
    tolerance = float_tolerance if float_tolerance is not None else _tolerance_of(results)
    given_writes = {key[:3] for _, key in nondeterministic}
    repeats = {backend: runs for backend, runs in (repeats or {}).items() if len(runs) > 1}
    targets = [(worker.target, worker) for worker in results]
    facts = {worker.target: worker.server_facts() for worker in results}
    with QueryReader() as reader:
        for test in tests_with_queries(results):
            read: dict[Path, list[dict[str, Any]]] = {}  # a file compared and repeated is read once

            def records(worker: WorkerResults, test: str = test, read: dict = read) -> list[dict[str, Any]]:
                if worker.path not in read:
                    read[worker.path] = reader.queries(worker, test)
                return read[worker.path]

            queries = {target: records(worker) for target, worker in targets if records(worker)}
            unstable: Collection[tuple[str, QueryKey]] = nondeterministic
            unstable_writes = given_writes
            if repeats:
                found = unstable_keys({backend: [records(run) for run in runs] for backend, runs in repeats.items()})
                if found:
                    unstable = nondeterministic | found
                    unstable_writes = given_writes | {key[:3] for _, key in found}
            outcomes = {target: worker.tests.get(test) for target, worker in targets}
            yield test, divergences_of_test(queries, outcomes, facts, tolerance, unstable, unstable_writes)


def divergences_of_test(
    queries: TestQueries,
    outcomes: dict[str, TestResult | None],
    facts: dict[str, ServerFacts],
    tolerance: float,
    unstable: Collection[tuple[str, QueryKey]] = frozenset(),
    unstable_writes: Collection[tuple[str, str, str]] = frozenset(),
) -> list[Divergence]:
    """The divergences of one test: its matched queries, calls refused on some backends only, and
    rows affected per call site (``outcomes``: the test's result on each backend compared; ``facts``:
    of the server each backend reached)."""
    divergences = []
    for matched in matched_queries(queries):
        if any((backend, key) in unstable for backend, (key, _) in matched.items()):
            continue
        records = {backend: record for backend, (_, record) in matched.items()}
        if _plainly_same(records):
            continue
        divergence = _error_divergence(records, facts) or _result_divergence(records, facts, tolerance)
        if divergence:
            divergences.append(divergence)
    return (
        divergences
        + _refusal_divergences(queries, outcomes, facts)
        + _write_count_divergences(queries, unstable_writes)
    )


def _plainly_same(records: dict[str, dict[str, Any]]) -> bool:
    """No error anywhere and, for a SELECT, equal digests and equal floats: most queries, and
    nothing _error_divergence or _result_divergence would report (the quick way out)."""
    first = next(iter(records.values()))
    if first["kind"] != SELECT:
        return not any(record.get("error") for record in records.values())
    digests, floats = first.get("digests"), first.get("float_rows")
    return all(
        not record.get("error") and record.get("digests") == digests and record.get("float_rows") == floats
        for record in records.values()
    )


def _tolerance_of(results: list[WorkerResults]) -> float:
    """The float tolerance the workers recorded with (the largest, if they differ)."""
    return max((float(worker.header.get("float_tolerance", 1e-9)) for worker in results), default=1e-9)


def _divergence(kind: str, records: dict[str, dict[str, Any]], message: str, **extra: Any) -> Divergence:
    first = next(iter(records.values()))
    return Divergence(kind, first["test"], first["site"], first["kind"], records, message, **extra)


def _error_divergence(records: dict[str, dict[str, Any]], facts: dict[str, ServerFacts]) -> Divergence | None:
    failed = sorted(backend for backend, record in records.items() if record.get("error"))
    if not failed or len(failed) == len(records):
        return None
    passed = sorted(set(records) - set(failed))
    hints = [error_hint(facts[backend], records[backend]["error"]) for backend in failed]
    return _divergence(
        QUERY_ERROR,
        records,
        f"the query raises on {', '.join(failed)} but runs on {', '.join(passed)}",
        hint="; ".join(dict.fromkeys(hint for hint in hints if hint)),
    )


def _refusal_divergences(
    queries: TestQueries, outcomes: dict[str, TestResult | None], facts: dict[str, ServerFacts]
) -> list[Divergence]:
    """An ORM call Django refused before any SQL (NotSupportedError) on some backends only."""
    refused: dict[tuple[str, str], dict[str, dict[str, Any]]] = defaultdict(dict)
    at_site: dict[tuple[str, str], dict[str, dict[str, Any]]] = defaultdict(dict)
    for backend, records in queries.items():
        for record in records:
            place = (record["test"], record["site"])
            if record["kind"] == REFUSED:
                refused[place].setdefault(backend, record)
            else:
                at_site[place].setdefault(backend, record)
    divergences = []
    for place, records in refused.items():
        test = place[0]
        ran = [
            backend
            for backend, result in outcomes.items()
            if backend not in records and result and result.outcome != SKIPPED
        ]
        if not ran:
            continue
        evidence = dict(records)
        for backend in ran:
            evidence[backend] = at_site[place].get(backend) or {
                "test": test,
                "site": place[1],
                "kind": REFUSED,
                "sql": "",
                "position": 0,
            }
        divergence = _error_divergence(evidence, facts)
        if divergence:
            divergence.statement = next((r["kind"] for r in evidence.values() if r["kind"] != REFUSED), REFUSED)
            divergences.append(divergence)
    return divergences


def _write_count_divergences(
    queries: TestQueries, unstable: Collection[tuple[str, str, str]] = frozenset()
) -> list[Divergence]:
    """update() and delete() compared on the rows affected per call site (batching differs by backend);
    ``unstable``: (test, site, kind) whose row counts vary between runs on one backend."""
    writes: dict[tuple[str, str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for backend, records in queries.items():
        for record in records:
            if record["kind"] in WRITE_KINDS and record.get("rowcount") is not None:
                writes[(record["test"], record["site"], record["kind"])][backend] += record["rowcount"]
    divergences = []
    for (test, site, kind), counts in writes.items():
        if len(counts) > 1 and len(set(counts.values())) > 1 and (test, site, kind) not in unstable:
            records = {
                backend: {"test": test, "site": site, "kind": kind, "rowcount": count, "sql": "", "position": 0}
                for backend, count in counts.items()
            }
            affected = ", ".join(f"{backend}: {count}" for backend, count in sorted(counts.items()))
            divergences.append(
                _divergence(RESULT_DIVERGENCE, records, f"{kind} affected a different number of rows ({affected})")
            )
    return divergences


def _result_divergence(
    records: dict[str, dict[str, Any]], facts: dict[str, ServerFacts], tolerance: float
) -> Divergence | None:
    if next(iter(records.values()))["kind"] != SELECT:
        return None
    if any("digests" not in record or not record.get("complete") for record in records.values()):
        return None
    random_order = any(record.get("random_order") for record in records.values())
    if random_order and any(truncated(record) for record in records.values()):
        return None  # order_by("?")[:n]: each backend (and each run) draws other rows
    if not same_rows(records, ordered=False, tolerance=tolerance):
        counts = ", ".join(f"{backend}: {record['rows']}" for backend, record in sorted(records.items()))
        cause = likely_cause(records, facts) or truncation_cause(records)
        return _divergence(RESULT_DIVERGENCE, records, f"the query returns different rows ({counts})", cause=cause)
    if random_order or same_rows(records, ordered=True, tolerance=tolerance):
        return None
    if all(record.get("total_order") for record in records.values()):
        return None
    # The order matters when the code asked for one, sliced the result, or indexed it.
    if any(_order_used(record) for record in records.values()):
        return _divergence(
            ORDER_DIVERGENCE,
            records,
            "the same rows come back in a different order: the ORDER BY does not fix it, and the code uses the order",
            cause=likely_cause(records, facts, ordered=True)
            or "no ORDER BY (or a non-unique one): the order is whatever each backend's plan yields",
        )
    if not any(record.get("order_iterated", True) for record in records.values()):
        return None  # only asked `in`, len() or bool(): the order cannot matter
    return _divergence(
        UNORDERED_ORDER,
        records,
        "the same rows come back in a different order (the query has no ORDER BY): "
        + ", ".join(f"{backend}: {_first_rows(record)}" for backend, record in sorted(records.items())),
        cause="no ORDER BY: each backend returns rows in the order its storage or plan yields",
    )


def _order_used(record: dict[str, Any]) -> bool:
    return bool(record.get("explicit_order") or record.get("order_consumed")) or truncated(record)


def same_rows(records: dict[str, dict[str, Any]], ordered: bool, tolerance: float) -> bool:
    """Do all backends agree in the raw or in the renamed form (and on their floats, within tolerance)?"""
    which = "ordered" if ordered else "unordered"
    for index, form in enumerate(DIGEST_FORMS):
        if len({record["digests"][form][which] for record in records.values()}) == 1:
            if _floats_agree(list(records.values()), index, ordered, tolerance):
                return True
    return False


def _floats_agree(records: list[dict[str, Any]], form: int, ordered: bool, tolerance: float) -> bool:
    if not any(record.get("float_rows") for record in records):
        return True
    if not all(record.get("float_rows_complete", True) for record in records):
        return True  # too many rows to keep their floats: only the rest of each row is compared
    rows = [[(row[form], row[2]) for row in record.get("float_rows", [])] for record in records]
    if not ordered:
        rows = [sorted(backend_rows) for backend_rows in rows]
    first = rows[0]
    for other in rows[1:]:
        if len(other) != len(first):
            return False
        for (hash_a, floats_a), (hash_b, floats_b) in zip(first, other, strict=True):
            if hash_a != hash_b or len(floats_a) != len(floats_b):
                return False
            if not all(floats_close(a, b, tolerance) for a, b in zip(floats_a, floats_b, strict=True)):
                return False
    return True


def _first_rows(record: dict[str, Any]) -> str:
    return str(record.get("sample", [])[:3])


# ---------------------------------------------------------------- findings


def query_findings(divergences: list[Divergence], failing_tests: set[str], tied: dict[str, Finding]) -> list[Finding]:
    """The findings of divergences of any tests (see QueryFindings)."""
    by_test: dict[str, list[Divergence]] = defaultdict(list)
    for divergence in divergences:
        by_test[divergence.test].append(divergence)
    findings = QueryFindings(failing_tests, tied)
    for test, test_divergences in by_test.items():
        findings.add(test, test_divergences)
    return findings.findings()


class QueryFindings:
    """Findings from divergences given one test at a time, in any order of tests.

    One finding per test and call site, in the order of the tests' node ids and, within a
    test, of its queries; an unordered result's order is one finding per call site, after
    the others. In a test that fails anyway, only its first divergence counts, tied to the
    test's own finding (``tied``, which it changes) when there is one.
    """

    def __init__(self, failing_tests: set[str], tied: dict[str, Finding]) -> None:
        self._failing, self._tied = failing_tests, tied
        self._by_test: list[tuple[str, list[Finding]]] = []
        # Per call site: (where its first divergence comes in that order, its finding, the tests).
        self._unordered: dict[str, tuple[tuple[str, int], Finding, set[str]]] = {}

    def add(self, test: str, divergences: list[Divergence]) -> None:
        findings: list[Finding] = []
        seen_sites: set[str] = set()
        failing = test in self._failing
        for index, divergence in enumerate(sorted(divergences, key=lambda d: d.order)):
            if failing:
                if index:
                    break
                if test in self._tied:
                    self._tied[test].details["query"] = _evidence(divergence)
                    break
            if divergence.kind == UNORDERED_ORDER:
                self._add_unordered(divergence, (test, index))
                continue
            if divergence.site in seen_sites:
                continue
            seen_sites.add(divergence.site)
            findings.append(_finding(divergence))
        if findings:
            self._by_test.append((test, findings))

    def _add_unordered(self, divergence: Divergence, order: tuple[str, int]) -> None:
        first = self._unordered.get(divergence.site)
        if first is None or order < first[0]:
            tests = first[2] if first else set()
            self._unordered[divergence.site] = (order, _finding(divergence), tests)
        self._unordered[divergence.site][2].add(divergence.test)

    def findings(self) -> list[Finding]:
        findings = [
            finding for _, test_findings in sorted(self._by_test, key=lambda item: item[0]) for finding in test_findings
        ]
        for _, finding, tests in sorted(self._unordered.values(), key=lambda item: item[0]):
            listed = sorted(tests)
            finding.details["tests"] = listed[:MAX_LISTED_TESTS]
            finding.details["test_count"] = len(listed)
            if len(listed) > 1:
                finding.message += f" (in {len(listed)} tests)"
            findings.append(finding)
        return findings


def _finding(divergence: Divergence) -> Finding:
    path, _, line = divergence.site.rpartition(":")
    return Finding(
        kind=divergence.kind,
        test=divergence.test,
        location={"path": path, "line": int(line) if line.isdigit() else None},
        message=divergence.message + (f"; likely cause: {divergence.cause}" if divergence.cause else ""),
        backends={backend: _backend_evidence(record) for backend, record in divergence.records.items()},
        details={"cause": divergence.cause, "hint": divergence.hint, "statement": divergence.statement},
    )


def _evidence(divergence: Divergence) -> dict[str, Any]:
    return {
        "kind": divergence.kind,
        "site": divergence.site,
        "message": divergence.message,
        "cause": divergence.cause,
        "hint": divergence.hint,
        "backends": {backend: _backend_evidence(record) for backend, record in divergence.records.items()},
    }


def _backend_evidence(record: dict[str, Any]) -> dict[str, Any]:
    error = record.get("error")
    if error:
        code = f" [{error['code']}]" if error.get("code") is not None else ""
        return {"outcome": "error", "message": f"{error['class']}{code}: {error['message']}", "sql": record.get("sql")}
    evidence: dict[str, Any] = {"outcome": "ok", "sql": record.get("sql")}
    if "rows" in record:
        evidence.update(
            rows=record["rows"],
            columns=record.get("columns", []),
            sample=record.get("sample", [])[:5],
            message=f"{record['rows']} row(s): {record.get('sample', [])[:3]}",
        )
    elif "rowcount" in record:
        evidence.update(rowcount=record["rowcount"], message=f"{record['rowcount']} row(s) affected")
    else:
        evidence["message"] = "no refusal: the call ran" if record.get("kind") == REFUSED else "ran"
    return evidence
