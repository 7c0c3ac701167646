"""Canonical forms of query results, so that only differences the database made remain.

Each value gets one representation per meaning (Decimal, datetimes in UTC, bytes, JSON);
values computed from the clock become their offset from "now". Each row is digested in
two forms (docs/value-identity.md):

- ``raw``: auto keys by creation order, everything else as read;
- ``renamed``: additionally, every value the test itself wrote (and read back from the
  column it wrote it to) is replaced by its input label, and keys nobody announced by
  their first sight.

Two backends agree on a result when either form agrees: the raw form keeps values that
are the same everywhere comparable even when the test wrote them in another order, the
renamed form absorbs inputs that differed (random salts, session keys, ``uuid4()``).
With a float tolerance, floats are left out of the digests and kept per row, so they can
be compared by ``|a - b| <= tolerance * max(|a|, |b|)``.
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
# Rows whose floats are kept for a tolerant comparison; beyond it floats are not compared.
MAX_FLOAT_ROWS = 1000
FLOAT_PLACEHOLDER = "<float>"
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


# What a result column holds, for canonicalisation.
PLAIN, KEY, KEY_DERIVED, CLOCK_FIELD, GENERATED_UUID = "plain", "key", "key-derived", "clock", "uuid"


@dataclass(frozen=True)
class Column:
    """A result column: its role, the model whose keys it holds, and the table column it reads."""

    role: str = PLAIN
    model: str = ""
    # "table.column" of a plain column read as stored (written values are renamed there).
    source: str | None = None


def canonical_plain(value: Any, clock: Clock) -> Any:
    """One plain value as a JSON-able canonical form (floats as they are)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return repr(value) if math.isnan(value) or math.isinf(value) else value
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


def floats_close(a: float, b: float, tolerance: float) -> bool:
    """Relative tolerance: |a - b| <= tolerance * max(|a|, |b|); 0 means exact."""
    return a == b or abs(a - b) <= tolerance * max(abs(a), abs(b))


def _row_hash(row: list[Any]) -> bytes:
    encoded = json.dumps(row, separators=(",", ":"), default=str).encode()
    return hashlib.blake2b(encoded, digest_size=8).digest()


class _FormDigest:
    """Order-sensitive and order-insensitive digests of one form of a result."""

    __slots__ = ("_ordered", "_unordered")

    def __init__(self) -> None:
        self._ordered = hashlib.blake2b(digest_size=16)
        self._unordered = 0

    def add(self, row_hash: bytes) -> None:
        self._ordered.update(row_hash)
        # A multiset hash: the sum of the rows' hashes, so row order does not matter.
        self._unordered = (self._unordered + int.from_bytes(row_hash)) % (1 << 64)

    def to_dict(self) -> dict[str, str]:
        return {"ordered": self._ordered.hexdigest()[:16], "unordered": f"{self._unordered:016x}"}


class RowDigest:
    """Streamed digests of a result in its raw and renamed forms, a sample, and floats per row."""

    def __init__(self) -> None:
        self._raw = _FormDigest()
        self._renamed = _FormDigest()
        self.rows = 0
        self.sample: list[list[Any]] = []
        self.float_rows: list[list[Any]] = []
        self.float_rows_complete = True

    def add(self, raw: list[Any], renamed: list[Any] | None = None, floats: list[float] | None = None) -> None:
        """Add one row; ``renamed`` is None when no value of it was renamed."""
        raw_hash = _row_hash(raw)
        renamed_hash = raw_hash if renamed is None else _row_hash(renamed)
        self._raw.add(raw_hash)
        self._renamed.add(renamed_hash)
        self.rows += 1
        if len(self.sample) < SAMPLE_ROWS:
            self.sample.append([_cut(value) for value in raw])
        if floats:
            if len(self.float_rows) < MAX_FLOAT_ROWS:
                self.float_rows.append([raw_hash.hex(), renamed_hash.hex(), floats])
            else:
                self.float_rows_complete = False

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "rows": self.rows,
            "digests": {"raw": self._raw.to_dict(), "renamed": self._renamed.to_dict()},
            "sample": self.sample,
        }
        if self.float_rows:
            data["float_rows"] = self.float_rows
            data["float_rows_complete"] = self.float_rows_complete
        return data


def _cut(value: Any) -> Any:
    if isinstance(value, str) and len(value) > SAMPLE_VALUE_CHARS:
        return value[:SAMPLE_VALUE_CHARS] + "…"
    return value
