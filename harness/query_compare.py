"""Compare the recorded ORM queries of one suite across backends: errors, rows and order.

Queries are matched by identity, not position (docs/value-identity.md): the queries of
one test, call site and statement kind pair up in order when every backend ran the same
sequence of inputs, else by their input fingerprint (after a loop over an unordered
result, each backend ran the per-item queries in its own order). A query that has no
counterpart on another backend is not compared.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from harness.canonical import floats_close
from harness.findings import Finding
from harness.query_causes import error_hint, likely_cause, truncated, truncation_cause
from harness.results import SKIPPED, WorkerResults

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


def query_key(record: dict[str, Any], nth: int) -> QueryKey:
    return (record["test"], record["site"], record["kind"], record.get("fingerprint") or "", nth)


def _keyed(records: list[dict[str, Any]]) -> list[tuple[QueryKey, dict[str, Any]]]:
    """Each record with its identity: its fingerprint and how many times that fingerprint came before."""
    seen: Counter[str] = Counter()
    keyed = []
    for record in records:
        fingerprint = record.get("fingerprint") or ""
        seen[fingerprint] += 1
        keyed.append((query_key(record, seen[fingerprint]), record))
    return keyed


def matched_queries(results: list[WorkerResults]) -> Iterator[dict[str, tuple[QueryKey, dict[str, Any]]]]:
    """The queries that ran on two or more backends, as {backend: (key, record)} per query."""
    groups: dict[tuple[str, str, str], dict[str, list[dict[str, Any]]]] = defaultdict(dict)
    for worker in results:
        for record in worker.queries:
            if record["kind"] != REFUSED:
                groups[(record["test"], record["site"], record["kind"])].setdefault(worker.target, []).append(record)
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


def nondeterministic_keys(runs: dict[str, list[WorkerResults]]) -> frozenset[tuple[str, QueryKey]]:
    """(backend, query) pairs whose error or result differs between runs on that backend (--stability-runs)."""
    unstable: set[tuple[str, QueryKey]] = set()
    for backend, repeats in runs.items():
        seen: dict[QueryKey, set[tuple]] = defaultdict(set)
        for results in repeats:
            groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
            for record in results.queries:
                groups[(record["test"], record["site"], record["kind"])].append(record)
            for records in groups.values():
                for key, record in _keyed(records):
                    seen[key].add(_outcome_signature(record))
        unstable |= {(backend, key) for key, signatures in seen.items() if len(signatures) > 1}
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
    """Every matched query whose error, rows or order differ between backends."""
    tolerance = float_tolerance if float_tolerance is not None else _tolerance_of(results)
    divergences = []
    for matched in matched_queries(results):
        if any((backend, key) in nondeterministic for backend, (key, _) in matched.items()):
            continue
        records = {backend: record for backend, (_, record) in matched.items()}
        divergence = _error_divergence(records) or _result_divergence(records, tolerance)
        if divergence:
            divergences.append(divergence)
    unstable_writes = {key[:3] for _, key in nondeterministic}
    return divergences + _refusal_divergences(results) + _write_count_divergences(results, unstable_writes)


def _tolerance_of(results: list[WorkerResults]) -> float:
    """The float tolerance the workers recorded with (the largest, if they differ)."""
    return max((float(worker.header.get("float_tolerance", 1e-9)) for worker in results), default=1e-9)


def _divergence(kind: str, records: dict[str, dict[str, Any]], message: str, **extra: Any) -> Divergence:
    first = next(iter(records.values()))
    return Divergence(kind, first["test"], first["site"], first["kind"], records, message, **extra)


def _error_divergence(records: dict[str, dict[str, Any]]) -> Divergence | None:
    failed = sorted(backend for backend, record in records.items() if record.get("error"))
    if not failed or len(failed) == len(records):
        return None
    passed = sorted(set(records) - set(failed))
    hints = [error_hint(backend, records[backend]["error"]) for backend in failed]
    return _divergence(
        QUERY_ERROR,
        records,
        f"the query raises on {', '.join(failed)} but runs on {', '.join(passed)}",
        hint="; ".join(dict.fromkeys(hint for hint in hints if hint)),
    )


def _refusal_divergences(results: list[WorkerResults]) -> list[Divergence]:
    """An ORM call Django refused before any SQL (NotSupportedError) on some backends only."""
    refused: dict[tuple[str, str], dict[str, dict[str, Any]]] = defaultdict(dict)
    at_site: dict[tuple[str, str], dict[str, dict[str, Any]]] = defaultdict(dict)
    for worker in results:
        for record in worker.queries:
            place = (record["test"], record["site"])
            if record["kind"] == REFUSED:
                refused[place].setdefault(worker.target, record)
            else:
                at_site[place].setdefault(worker.target, record)
    divergences = []
    for place, records in refused.items():
        test = place[0]
        ran = [
            worker.target
            for worker in results
            if worker.target not in records and worker.tests.get(test) and worker.tests[test].outcome != SKIPPED
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
        divergence = _error_divergence(evidence)
        if divergence:
            divergence.statement = next((r["kind"] for r in evidence.values() if r["kind"] != REFUSED), REFUSED)
            divergences.append(divergence)
    return divergences


def _write_count_divergences(
    results: list[WorkerResults], unstable: set[tuple[str, str, str]] = frozenset()
) -> list[Divergence]:
    """update() and delete() compared on the rows affected per call site (batching differs by backend);
    ``unstable``: (test, site, kind) whose row counts vary between runs on one backend."""
    writes: dict[tuple[str, str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for worker in results:
        for record in worker.queries:
            if record["kind"] in WRITE_KINDS and record.get("rowcount") is not None:
                writes[(record["test"], record["site"], record["kind"])][worker.target] += record["rowcount"]
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


def _result_divergence(records: dict[str, dict[str, Any]], tolerance: float) -> Divergence | None:
    if next(iter(records.values()))["kind"] != SELECT:
        return None
    if any("digests" not in record or not record.get("complete") for record in records.values()):
        return None
    random_order = any(record.get("random_order") for record in records.values())
    if random_order and any(truncated(record) for record in records.values()):
        return None  # order_by("?")[:n]: each backend (and each run) draws other rows
    if not same_rows(records, ordered=False, tolerance=tolerance):
        counts = ", ".join(f"{backend}: {record['rows']}" for backend, record in sorted(records.items()))
        cause = likely_cause(records) or truncation_cause(records)
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
            cause=likely_cause(records, ordered=True)
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
    """One finding per test and call site (an unordered result's order: per call site); in a test that
    fails anyway, only its first divergence, tied to the test's own finding."""
    findings: list[Finding] = []
    seen_sites: set[tuple[str, str]] = set()
    seen_failing: set[str] = set()
    unordered: dict[str, list[Divergence]] = defaultdict(list)
    for divergence in sorted(divergences, key=lambda d: (d.test, d.order)):
        test, site = divergence.test, divergence.site
        if test in failing_tests:
            if test in seen_failing:
                continue
            seen_failing.add(test)
            if test in tied:
                tied[test].details["query"] = _evidence(divergence)
                continue
        if divergence.kind == UNORDERED_ORDER:
            unordered[site].append(divergence)
            continue
        if (test, site) in seen_sites:
            continue
        seen_sites.add((test, site))
        findings.append(_finding(divergence))
    for site_divergences in unordered.values():
        finding = _finding(site_divergences[0])
        tests = sorted({divergence.test for divergence in site_divergences})
        finding.details["tests"] = tests[:MAX_LISTED_TESTS]
        finding.details["test_count"] = len(tests)
        if len(tests) > 1:
            finding.message += f" (in {len(tests)} tests)"
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
