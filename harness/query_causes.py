"""Likely causes of a query difference: the vendor behaviour the evidence points at, or none.

A cause is named only when the records show it (a value that differs only by case or
trailing spaces from a parameter, an integer where another backend has a fraction, ...);
a difference without such evidence gets no cause rather than a guess.
"""

from __future__ import annotations

import re
from typing import Any

from harness.canonical import SAMPLE_ROWS
from harness.vendors import ServerFacts

REGEX_OPERATOR = re.compile(r"\bREGEXP\b|\s~\*?\s|\bREGEXP_LIKE\b", re.IGNORECASE)
NOT_SUPPORTED_HINT = (
    "Django refuses this ORM feature on that backend (e.g. distinct(*fields) is PostgreSQL only, "
    "bulk_create(update_conflicts=True, unique_fields=...) is not on MySQL/MariaDB): use a portable form "
    "(values().annotate(), a Subquery) or guard it by connection.features / connection.vendor"
)
TRUNCATED_CAUSE = "LIMIT/OFFSET without an ORDER BY that fixes the order: each backend picked other rows"


def error_hint(facts: ServerFacts, error: dict[str, Any]) -> str:
    """What an error on a server means: from its class, or the code or message its product's facts explain."""
    if error.get("class", "").endswith("NotSupportedError"):
        return NOT_SUPPORTED_HINT
    hint = facts.error_hints.get(error.get("code"))
    if hint:
        return hint
    message = error.get("message", "")
    return next((hint for fragment, hint in facts.message_hints.items() if fragment in message), "")


def truncation_cause(records: dict[str, dict[str, Any]]) -> str | None:
    """Each backend returned as many rows as the LIMIT allows (or skipped an OFFSET) with no total order."""
    if any(record.get("total_order") or not truncated(record) for record in records.values()):
        return None
    if len({record.get("rows") for record in records.values()}) > 1:
        return None
    return TRUNCATED_CAUSE


def truncated(record: dict[str, Any]) -> bool:
    limit = record.get("limit")
    return bool(record.get("offset")) or (limit is not None and record.get("rows", 0) >= limit)


def likely_cause(
    records: dict[str, dict[str, Any]], facts: dict[str, ServerFacts], ordered: bool = False
) -> str | None:
    """Name the vendor behaviour that explains the difference, when the evidence points at one
    (``facts``: of the server each backend reached)."""
    vendors = {backend: facts[backend] for backend in records}
    if ordered:
        return _null_ordering(records, vendors)
    if any(REGEX_OPERATOR.search(record.get("sql", "")) for record in records.values()):
        dialects = "; ".join(f"{backend}: {facts.regex_dialect}" for backend, facts in sorted(vendors.items()))
        return (
            f"regular expression: each backend has its own regex dialect ({dialects}); keep patterns "
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
    for backend, record in records.items():  # floats kept aside for a tolerant comparison
        numbers[backend] += [value for row in record.get("float_rows", [])[:SAMPLE_ROWS] for value in row[2]]
    if _integer_division(numbers, {backend: vendor.integer_division for backend, vendor in vendors.items()}):
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


def _null_ordering(records: dict[str, dict[str, Any]], vendors: dict[str, ServerFacts]) -> str | None:
    first_is_null = {
        backend: bool(record.get("sample")) and None in record["sample"][0] for backend, record in records.items()
    }
    if len(set(first_is_null.values())) > 1:
        return (
            f"NULL ordering: {_names(vendors, 'nulls_first_ascending')} sort NULLs first in ascending order, "
            "the others last; use F(...).asc(nulls_first=True) or nulls_last=True"
        )
    return None


def _integer_division(numbers: dict[str, list[float]], divides_to_integer: dict[str, bool]) -> bool:
    """Whole numbers exactly on the backends that divide integers to an integer, a fraction of the
    same integer part on the others."""
    if len(set(divides_to_integer.values())) < 2:
        return False
    backends = list(numbers)
    columns = [numbers[backend] for backend in backends]
    if any(len(column) != len(columns[0]) for column in columns):
        return False
    found = False
    for values in zip(*columns, strict=True):
        integral = {backend: float(value).is_integer() for backend, value in zip(backends, values, strict=True)}
        if len(set(integral.values())) == 1:
            continue
        if integral != {backend: divides_to_integer[backend] for backend in backends}:
            return False
        if len({int(value) for value in values}) != 1:
            return False
        found = True
    return found


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


def _any(vendors: dict[str, ServerFacts], flag: str) -> bool:
    return any(getattr(vendor, flag) for vendor in vendors.values())


def _names(vendors: dict[str, ServerFacts], flag: str) -> str:
    return ", ".join(sorted(backend for backend, vendor in vendors.items() if getattr(vendor, flag)))
