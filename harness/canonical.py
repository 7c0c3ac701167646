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
import marshal
import math
import uuid
from collections.abc import Iterable, Sequence
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

    def settled_before(self) -> dt.datetime:
        """Values before this moment are too far in the past to ever be taken as computed from the
        clock in this test (its window only grows): their canonical form can be remembered."""
        return dt.datetime.now(dt.UTC) + CLOCK_SLACK - CLOCK_HORIZON


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


def _row_hashes(rows: Iterable[tuple]) -> list[bytes]:
    """The hashes of rows in their canonical form. Marshal format 0 is a fixed, exact encoding of
    the canonical values (str, int, float, bool, None, small dicts): no references, no interning,
    so equal rows give equal bytes in any process; several times cheaper than JSON."""
    blake2b, dumps = hashlib.blake2b, marshal.dumps
    try:
        return [blake2b(dumps(row, 0), digest_size=8).digest() for row in rows]
    except ValueError:  # a subclass (an IntEnum, a str subclass): as its plain value
        return [blake2b(dumps(_marshallable(row), 0), digest_size=8).digest() for row in rows]


def _marshallable(value: Any) -> Any:
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, dict):
        return {str(key): _marshallable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return tuple(_marshallable(item) for item in value)
    return str(value)


class _FormDigest:
    """Order-sensitive and order-insensitive digests of one form of a result."""

    __slots__ = ("_ordered", "_unordered")

    def __init__(self) -> None:
        self._ordered = hashlib.blake2b(digest_size=16)
        self._unordered = 0

    def add(self, row_hashes: list[bytes]) -> None:
        self._ordered.update(b"".join(row_hashes))
        # A multiset hash: the sum of the rows' hashes, so row order does not matter.
        self._unordered = (self._unordered + sum(map(int.from_bytes, row_hashes))) % (1 << 64)

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

    def add(self, raw: Sequence[Any], renamed: Sequence[Any] | None = None, floats: list[float] | None = None) -> None:
        """Add one row; ``renamed`` is None when no value of it was renamed."""
        self.add_rows([tuple(raw)], None if renamed is None else [tuple(renamed)], None if floats is None else [floats])

    def add_rows(
        self,
        raws: Sequence[tuple],
        renameds: Sequence[tuple] | None = None,
        floats: Sequence[list[float] | None] | None = None,
    ) -> None:
        """Add rows (tuples) in order; ``renameds`` (None: nothing renamed) and ``floats`` go row by row
        with them."""
        raw_hashes = _row_hashes(raws)
        if renameds is None:
            renamed_hashes = raw_hashes
        else:
            renamed_hashes = _row_hashes(renameds)
        self._raw.add(raw_hashes)
        self._renamed.add(renamed_hashes)
        self.rows += len(raw_hashes)
        room = SAMPLE_ROWS - len(self.sample)
        if room > 0:
            cut = SAMPLE_VALUE_CHARS
            self.sample.extend(
                [value[:cut] + "…" if isinstance(value, str) and len(value) > cut else value for value in raw]
                for raw in raws[:room]
            )
        if floats is not None:
            room = MAX_FLOAT_ROWS - len(self.float_rows)
            kept = [
                (raw_hash, renamed_hash, row_floats)
                for raw_hash, renamed_hash, row_floats in zip(raw_hashes, renamed_hashes, floats, strict=True)
                if row_floats
            ]
            if len(kept) > room:
                self.float_rows_complete = False
                del kept[room:]
            self.float_rows.extend(
                [raw_hash.hex(), renamed_hash.hex(), row_floats] for raw_hash, renamed_hash, row_floats in kept
            )

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
