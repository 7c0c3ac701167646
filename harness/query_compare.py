"""Compare the recorded ORM queries of one suite across backends: errors, rows and order."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from harness.findings import Finding
from harness.results import WorkerResults
from harness.vendors import Vendor, vendor_for_target

WRITE_KINDS = ("update", "delete")
REGEX_OPERATOR = re.compile(r"\bREGEXP\b|\s~\*?\s|\bREGEXP_LIKE\b", re.IGNORECASE)
NOT_SUPPORTED_HINT = (
    "Django refuses this ORM feature on that backend (e.g. distinct(*fields) is PostgreSQL only): "
    "use a portable form (values().annotate(), a Subquery) or guard it by connection.vendor"
)
QueryKey = tuple[str, str, str, int]  # test, call site, statement kind, occurrence


@dataclass
class Divergence:
    """A difference at one query key, before it becomes a finding."""

    kind: str
    key: QueryKey
    records: dict[str, dict[str, Any]]
    message: str
    cause: str | None = None
    hint: str = ""

    @property
    def order(self) -> int:
        """Where in its test the query ran (the first backend to run it)."""
        return min(record.get("position", 0) for record in self.records.values())


def query_divergences(results: list[WorkerResults], nondeterministic: set[QueryKey] = frozenset()) -> list[Divergence]:
    """Every query whose error, rows or order differ between backends (one per key)."""
    by_key: dict[QueryKey, dict[str, dict[str, Any]]] = defaultdict(dict)
    writes: dict[tuple[str, str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for worker in results:
        for record in worker.queries:
            key = query_key(record)
            by_key[key][worker.target] = record
            if record["kind"] in WRITE_KINDS and record.get("rowcount") is not None:
                writes[key[:3]][worker.target] += record["rowcount"]
    divergences = []
    for key, records in by_key.items():
        if len(records) < 2 or key in nondeterministic:
            continue
        divergence = _error_divergence(key, records) or _result_divergence(key, records)
        if divergence:
            divergences.append(divergence)
    for (test, site, kind), counts in writes.items():
        if len(set(counts.values())) > 1:
            records = {backend: {"rowcount": count, "sql": "", "position": 0} for backend, count in counts.items()}
            affected = ", ".join(f"{backend}: {count}" for backend, count in sorted(counts.items()))
            divergences.append(
                Divergence(
                    "result_divergence",
                    (test, site, kind, 0),
                    records,
                    f"{kind} affected a different number of rows ({affected})",
                )
            )
    return divergences


def nondeterministic_keys(runs: dict[str, list[WorkerResults]]) -> frozenset[QueryKey]:
    """Queries whose error or result differs between runs on the same backend (--stability-runs)."""
    unstable: set[QueryKey] = set()
    for repeats in runs.values():
        seen: dict[QueryKey, set[tuple]] = defaultdict(set)
        for results in repeats:
            for record in results.queries:
                seen[query_key(record)].add(_outcome_signature(record))
        unstable |= {key for key, signatures in seen.items() if len(signatures) > 1}
    return frozenset(unstable)


def _outcome_signature(record: dict[str, Any]) -> tuple:
    error = record.get("error")
    return (
        error.get("code") if error else None,
        record.get("digest_unordered"),
        record.get("digest_ordered") if not record.get("random_order") else None,
        record.get("rowcount"),
    )


def query_key(record: dict[str, Any]) -> QueryKey:
    return (record["test"], record["site"], record["kind"], record["occurrence"])


def _error_divergence(key: QueryKey, records: dict[str, dict[str, Any]]) -> Divergence | None:
    failed = sorted(backend for backend, record in records.items() if record.get("error"))
    if not failed or len(failed) == len(records):
        return None
    passed = sorted(set(records) - set(failed))
    hints = [_error_hint(backend, records[backend]["error"]) for backend in failed]
    return Divergence(
        "query_error",
        key,
        records,
        f"the query raises on {', '.join(failed)} but runs on {', '.join(passed)}",
        hint="; ".join(dict.fromkeys(hint for hint in hints if hint)),
    )


def _error_hint(backend: str, error: dict[str, Any]) -> str:
    if error.get("class", "").endswith("NotSupportedError"):
        return NOT_SUPPORTED_HINT
    return vendor_for_target(backend).error_hints.get(error.get("code"), "")


def _result_divergence(key: QueryKey, records: dict[str, dict[str, Any]]) -> Divergence | None:
    if key[2] != "select" or any("digest_unordered" not in record for record in records.values()):
        return None
    if not all(record.get("complete") for record in records.values()):
        return None
    if any(record.get("random_order") for record in records.values()):
        return None
    if len({record["digest_unordered"] for record in records.values()}) > 1:
        cause = likely_cause(records)
        truncated = any(_truncated(record) and not record.get("total_order") for record in records.values())
        if truncated and cause is None:
            cause = "LIMIT/OFFSET without an ORDER BY that fixes the order: each backend picked other rows"
        counts = ", ".join(f"{backend}: {record['rows']}" for backend, record in sorted(records.items()))
        return Divergence("result_divergence", key, records, f"the query returns different rows ({counts})", cause)
    if len({record["digest_ordered"] for record in records.values()}) > 1:
        if all(record.get("total_order") for record in records.values()):
            return None
        # The order matters when the code asked for one, sliced the result, or indexed it.
        if not any(
            record.get("explicit_order") or record.get("order_consumed") or _truncated(record)
            for record in records.values()
        ):
            return None
        return Divergence(
            "order_divergence",
            key,
            records,
            "the same rows come back in a different order: the ORDER BY does not fix it, and the code uses the order",
            likely_cause(records, ordered=True)
            or "no ORDER BY (or a non-unique one): the order is whatever each backend's plan yields",
        )
    return None


def _truncated(record: dict[str, Any]) -> bool:
    limit = record.get("limit")
    return bool(record.get("offset")) or (limit is not None and record.get("rows", 0) >= limit)


# ---------------------------------------------------------------- likely causes


def likely_cause(records: dict[str, dict[str, Any]], ordered: bool = False) -> str | None:
    """Name the vendor behaviour that explains the difference, when the evidence points at one."""
    vendors = {backend: vendor_for_target(backend) for backend in records}
    if ordered:
        return _null_ordering(records, vendors)
    if any(REGEX_OPERATOR.search(record.get("sql", "")) for record in records.values()):
        return (
            "regular expression: each backend has its own regex dialect (PostgreSQL ARE: \\y is the word "
            "boundary and \\b a backspace; MySQL ICU / MariaDB PCRE; SQLite uses Python's re); keep patterns "
            "to the common subset or use __contains/__startswith"
        )
    params = [value for record in records.values() for value in record.get("params", []) if isinstance(value, str)]
    values = {backend: _flat(record.get("sample", [])) for backend, record in records.items()}
    strings = {backend: {v for v in found if isinstance(v, str)} for backend, found in values.items()}
    all_strings = set().union(*strings.values())
    for value in all_strings:
        for param in params:
            if value != param and value.lower() == param.lower() and _any(vendors, "case_insensitive_equality"):
                return (
                    f"collation: {_names(vendors, 'case_insensitive_equality')} compare strings without case "
                    f"by default ({value!r} = {param!r}); use __iexact where that is meant, or a case-sensitive "
                    "db_collation"
                )
            if value != param and value.rstrip(" ") == param.rstrip(" ") and _any(vendors, "ignores_trailing_spaces"):
                return (
                    f"trailing spaces: {_names(vendors, 'ignores_trailing_spaces')} ignore trailing spaces in "
                    f"= ({value!r} = {param!r}); strip values before saving"
                )
    numbers = {
        backend: [v for v in found if isinstance(v, int | float) and not isinstance(v, bool)]
        for backend, found in values.items()
    }
    numbers.update(
        {
            backend: numbers[backend] + [float(v["decimal"]) for v in found if isinstance(v, dict) and "decimal" in v]
            for backend, found in values.items()
        }
    )
    if _integer_division(numbers) and any(vendor.integer_division for vendor in vendors.values()):
        return (
            f"integer division: {_names(vendors, 'integer_division')} divide integers to an integer, the others "
            "do not; wrap the operands in Cast(..., FloatField()) or use ExpressionWrapper(output_field=...)"
        )
    if _rounding(numbers):
        return (
            "rounding: backends compute the aggregate with different precision (AVG over integers, numeric vs "
            "double); round explicitly with Round() or compare with a tolerance"
        )
    return None


def _null_ordering(records: dict[str, dict[str, Any]], vendors: dict[str, type[Vendor]]) -> str | None:
    first_is_null = {
        backend: bool(record.get("sample")) and None in record["sample"][0] for backend, record in records.items()
    }
    if len(set(first_is_null.values())) > 1:
        return (
            f"NULL ordering: {_names(vendors, 'nulls_first_ascending')} sort NULLs first in ascending order, "
            "the others last; use F(...).asc(nulls_first=True) or nulls_last=True"
        )
    return None


def _integer_division(numbers: dict[str, list[float]]) -> bool:
    columns = list(numbers.values())
    if len(columns) < 2 or any(len(column) != len(columns[0]) for column in columns):
        return False
    for values in zip(*columns, strict=True):
        integral = [float(v).is_integer() for v in values]
        if any(integral) and not all(integral) and len({int(v) for v in values}) == 1:
            return True
    return False


def _rounding(numbers: dict[str, list[float]]) -> bool:
    columns = list(numbers.values())
    if len(columns) < 2 or any(len(column) != len(columns[0]) or not column for column in columns):
        return False
    differs = False
    for values in zip(*columns, strict=True):
        low, high = min(values), max(values)
        if high != low:
            differs = True
            if abs(high - low) > 1e-3 * max(abs(high), abs(low), 1):
                return False
    return differs


def _flat(sample: list[list[Any]]) -> list[Any]:
    return [value for row in sample for value in row]


def _any(vendors: dict[str, type[Vendor]], flag: str) -> bool:
    return any(getattr(vendor, flag) for vendor in vendors.values())


def _names(vendors: dict[str, type[Vendor]], flag: str) -> str:
    return ", ".join(sorted(backend for backend, vendor in vendors.items() if getattr(vendor, flag)))


# ---------------------------------------------------------------- findings


def query_findings(divergences: list[Divergence], failing_tests: set[str], tied: dict[str, Finding]) -> list[Finding]:
    """One finding per test and call site; in a test that fails anyway, only its first divergence, tied to it."""
    findings: list[Finding] = []
    seen_sites: set[tuple[str, str]] = set()
    seen_failing: set[str] = set()
    for divergence in sorted(divergences, key=lambda d: (d.key[0], d.order)):
        test, site = divergence.key[0], divergence.key[1]
        if test in failing_tests:
            if test in seen_failing:
                continue
            seen_failing.add(test)
            if test in tied:
                tied[test].details["query"] = _evidence(divergence)
                continue
        if (test, site) in seen_sites:
            continue
        seen_sites.add((test, site))
        path, _, line = site.rpartition(":")
        findings.append(
            Finding(
                kind=divergence.kind,
                test=test,
                location={"path": path, "line": int(line) if line.isdigit() else None},
                message=divergence.message + (f"; likely cause: {divergence.cause}" if divergence.cause else ""),
                backends={backend: _backend_evidence(record) for backend, record in divergence.records.items()},
                details={"cause": divergence.cause, "hint": divergence.hint, "statement": divergence.key[2]},
            )
        )
    return findings


def _evidence(divergence: Divergence) -> dict[str, Any]:
    return {
        "kind": divergence.kind,
        "site": divergence.key[1],
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
            sample=record.get("sample", [])[:5],
            message=f"{record['rows']} row(s): {record.get('sample', [])[:3]}",
        )
    elif "rowcount" in record:
        evidence.update(rowcount=record["rowcount"], message=f"{record['rowcount']} row(s) affected")
    return evidence
