"""Canonical forms of query results, so that only real differences between backends remain.

Values that legitimately differ between backends or runs are replaced by stable
stand-ins: auto-increment keys (and the foreign keys pointing at them) become the
order in which the rows were created in the test; values from the clock become
their offset from "now"; generated UUIDs become their creation order. Everything
else is normalised to one representation per meaning (Decimal, datetimes in UTC,
bytes, JSON, floats to a relative tolerance).
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import math
import uuid
from dataclasses import dataclass, field
from typing import Any

SAMPLE_ROWS = 20
SAMPLE_VALUE_CHARS = 200
# Two datetimes a whole number of minutes from "now" are taken as computed from the clock.
CLOCK_OFFSET_UNIT = dt.timedelta(minutes=1)
CLOCK_HORIZON = dt.timedelta(days=400)
CLOCK_SLACK = dt.timedelta(seconds=2)


@dataclass
class Clock:
    """The wall-clock window of the current test: values inside it came from now()."""

    started: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def canonical(self, value: dt.datetime) -> str | None:
        """``now`` or ``now±offset`` when the value was evidently computed from the clock."""
        aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        earliest, latest = self.started - CLOCK_SLACK, dt.datetime.now(dt.UTC) + CLOCK_SLACK
        if earliest <= aware <= latest:
            return "now"
        if abs(aware - latest) > CLOCK_HORIZON:
            return None
        # Is there a moment in the test's window a whole number of minutes away from the value?
        low, high = aware - latest, aware - earliest
        unit = CLOCK_OFFSET_UNIT
        candidate = math.ceil(low / unit) * unit
        if candidate <= high:
            return f"now{'+' if candidate >= dt.timedelta(0) else '-'}{abs(candidate)}"
        return None


@dataclass
class KeyMap:
    """Raw auto-generated keys → the order of creation, per model, in class and test scope."""

    class_keys: dict[tuple[str, Any], str] = field(default_factory=dict)
    test_keys: dict[tuple[str, Any], str] = field(default_factory=dict)
    _counts: dict[tuple[str, bool], int] = field(default_factory=dict)

    def register(self, model: str, raw: Any, class_scope: bool) -> None:
        if (model, raw) in self.class_keys or (model, raw) in self.test_keys:
            return
        count = self._counts[(model, class_scope)] = self._counts.get((model, class_scope), 0) + 1
        keys = self.class_keys if class_scope else self.test_keys
        keys[(model, raw)] = f"{model}#{'c' if class_scope else 't'}{count}"

    def new_test(self) -> None:
        self.test_keys.clear()
        self._counts = {scope: count for scope, count in self._counts.items() if scope[1]}

    def new_class(self) -> None:
        self.class_keys.clear()
        self.test_keys.clear()
        self._counts.clear()

    def canonical(self, model: str, raw: Any) -> str:
        return self.test_keys.get((model, raw)) or self.class_keys.get((model, raw)) or f"{model}#?"


# What a result column holds, for canonicalisation.
PLAIN, KEY, KEY_DERIVED, CLOCK_FIELD, GENERATED_UUID = "plain", "key", "key-derived", "clock", "uuid"


@dataclass(frozen=True)
class Column:
    role: str = PLAIN
    model: str = ""


def canonical_value(value: Any, column: Column, keys: KeyMap, clock: Clock, float_digits: int) -> Any:
    """One value as a JSON-able canonical form."""
    if value is None:
        return None
    if column.role == KEY:
        return keys.canonical(column.model, value)
    if column.role == CLOCK_FIELD:
        return "<clock>"
    if column.role == KEY_DERIVED:
        return "<computed from a key>"
    if column.role == GENERATED_UUID:
        return keys.canonical(column.model, value)
    return _plain(value, clock, float_digits)


def _plain(value: Any, clock: Clock, float_digits: int) -> Any:
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return repr(value)
        return float(f"{value:.{float_digits}g}")
    if isinstance(value, decimal.Decimal):
        normalised = value.normalize()
        return {"decimal": str(normalised if normalised != 0 else decimal.Decimal(0))}
    if isinstance(value, dt.datetime):
        from_clock = clock.canonical(value)
        if from_clock is not None:
            return {"datetime": from_clock}
        aware = value.astimezone(dt.UTC) if value.tzinfo else value
        return {"datetime": aware.isoformat()}
    if isinstance(value, dt.date | dt.time):
        return {type(value).__name__: value.isoformat()}
    if isinstance(value, dt.timedelta):
        return {"timedelta_us": value // dt.timedelta(microseconds=1)}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"bytes": bytes(value).hex()}
    if isinstance(value, uuid.UUID):
        return {"uuid": str(value)}
    if isinstance(value, dict | list | tuple):
        return {"json": json.dumps(value, sort_keys=True, default=str)}
    return {type(value).__name__: str(value)}


class RowDigest:
    """Streamed digests of a result: order-sensitive and order-insensitive, plus a small sample."""

    def __init__(self) -> None:
        self._ordered = hashlib.sha256()
        self._unordered = 0
        self.rows = 0
        self.sample: list[list[Any]] = []

    def add(self, row: list[Any]) -> None:
        encoded = json.dumps(row, separators=(",", ":"), default=str).encode()
        self._ordered.update(encoded + b"\n")
        # A multiset hash: the sum of the rows' hashes, so row order does not matter.
        self._unordered = (self._unordered + int.from_bytes(hashlib.blake2b(encoded, digest_size=8).digest())) % (
            1 << 64
        )
        self.rows += 1
        if len(self.sample) < SAMPLE_ROWS:
            self.sample.append([_cut(value) for value in row])

    @property
    def ordered(self) -> str:
        return self._ordered.hexdigest()[:16]

    @property
    def unordered(self) -> str:
        return f"{self._unordered:016x}"


def _cut(value: Any) -> Any:
    if isinstance(value, str) and len(value) > SAMPLE_VALUE_CHARS:
        return value[:SAMPLE_VALUE_CHARS] + "…"
    return value
