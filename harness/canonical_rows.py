"""The raw and renamed forms of result rows (docs/value-identity.md), a column at a time.

The recorder canonicalises every row of every SELECT; on a query-heavy suite that is most of
what recording costs. Rows are therefore taken a chunk at a time and each column is
canonicalised in one pass chosen by its role and by the type of its values (most columns hold
one type): values that are their own canonical form (``str``, ``int``, ``bool``) are kept as they
are, the labels of written values and keys are looked up in one dict per column
(``Identities.written_labels``, ``Identities.key_labels``), and repeated values (a test reads its
fixture rows many times) are canonicalised once per test. A column holding several types goes
value by value, as does anything unusual.

The result is exactly what canonicalising row by row gives, including the order in which keys
nobody announced are first sighted (row by row, then column by column in name order).
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import zip_longest
from typing import Any

from harness.canonical import (
    CLOCK_FIELD,
    FLOAT_PLACEHOLDER,
    GENERATED_UUID,
    KEY,
    PLAIN,
    Clock,
    Column,
    canonical_plain,
)
from harness.identity import VALUE_KINDS, Identities

WRITTEN_IN_KEYED_ROW = "<in>"
CLOCK_VALUE = "<clock>"
KEY_DERIVED_VALUE = "<computed from a key>"
# Canonical forms remembered per type (cleared when full).
MAX_CACHED_VALUES = 100_000
_NONE = type(None)
# Types that are their own canonical form.
_AS_READ = frozenset({str, int, bool})
# Types whose canonical form depends on the value alone and whose equal values share it
# (not time: two aware times at one instant in different zones have different forms).
_CACHED = frozenset({decimal.Decimal, dt.date, dt.timedelta, uuid.UUID})


@dataclass(slots=True)
class ResultPlan:
    """How to canonicalise a SELECT's rows: each column's role, in the order of their names."""

    columns: list[Column]
    names: list[str]
    order: list[int]
    # Whether each column's row key is selected too (orm_inspect.row_keyed).
    keyed: list[bool]
    # Every column holds immutable values (orm_inspect.immutable_values): its rows can be
    # canonicalised a chunk after they were read, nothing the code does in between changes them.
    deferrable: bool = False


@dataclass(slots=True)
class CanonicalRows:
    """A chunk of rows in name order: raw forms, renamed forms (None: nothing renamed), floats per row."""

    raw: list[tuple]
    renamed: list[tuple] | None
    floats: list[list[float] | None] | None


class RowCanonicaliser:
    """Canonicalises chunks of rows for one worker."""

    def __init__(self, float_tolerance: float) -> None:
        self.tolerant = float_tolerance > 0
        # type → value → canonical form, for the types whose form depends on the value alone, and for
        # datetimes too far in the past to be taken as computed from the clock (see _canonical_column).
        self._cache: dict[type, dict[Any, Any]] = {}
        # The earliest "settled" moment (Clock.settled_before) a remembered datetime was checked against.
        self._settled_floor: dt.datetime | None = None

    def rows(
        self, rows: Sequence[Sequence[Any]], plan: ResultPlan, identities: Identities, clock: Clock
    ) -> CanonicalRows:
        count = len(rows)
        by_index = list(zip_longest(*rows))  # a short row reads as None beyond its end
        raw_columns: list[Sequence[Any]] = []
        renamed_columns: list[Sequence[Any]] = []
        floats: list[list[float] | None] | None = None
        # (row, column position, model, value) of keys no insert announced: labelled in reading order.
        unannounced: list[tuple[int, int, str, Any]] = []
        for position, index in enumerate(plan.order):
            values = by_index[index] if index < len(by_index) else (None,) * count
            column = plan.columns[index]
            role = column.role
            if role == PLAIN:
                raw, renamed, column_floats = self._plain(values, column, plan.keyed[index], identities, clock)
                if column_floats is not None:
                    if floats is None:
                        floats = [None if value is None else [value] for value in column_floats]
                    else:
                        for row, value in enumerate(column_floats):
                            if value is not None:
                                row_floats = floats[row]
                                if row_floats is None:
                                    floats[row] = [value]
                                else:
                                    row_floats.append(value)
            elif role in (KEY, GENERATED_UUID):
                raw, renamed = self._keys(values, column.model, identities, position, unannounced)
            else:
                constant = CLOCK_VALUE if role == CLOCK_FIELD else KEY_DERIVED_VALUE
                raw = renamed = [None if value is None else constant for value in values]
            raw_columns.append(raw)
            renamed_columns.append(renamed)
        if unannounced:
            unannounced.sort(key=lambda miss: (miss[0], miss[1]))
            for row, position, model, value in unannounced:
                renamed_columns[position][row] = identities.sighted_key_label(model, value)
        if not raw_columns:
            return CanonicalRows([()] * count, None, floats)
        raw_rows = list(zip(*raw_columns, strict=True))
        changed = any(renamed is not raw for raw, renamed in zip(raw_columns, renamed_columns, strict=True))
        return CanonicalRows(raw_rows, list(zip(*renamed_columns, strict=True)) if changed else None, floats)

    # ------------------------------------------------------------ plain columns

    def _plain(
        self, values: Sequence[Any], column: Column, keyed: bool, identities: Identities, clock: Clock
    ) -> tuple[Sequence[Any], Sequence[Any], Sequence[float | None] | None]:
        """(raw, renamed, the floats kept aside row by row, or None) of a plain column."""
        kinds = set(map(type, values))
        kinds.discard(_NONE)
        if not kinds:
            return values, values, None
        if len(kinds) > 1:
            return self._plain_mixed(values, column, keyed, identities, clock)
        [kind] = kinds
        column_floats = None
        if kind is float:
            raw, column_floats = self._floats(values)
        elif kind in _AS_READ:
            raw = values
        else:
            raw = self._canonical_column(kind, values, clock)
        if column.source is None:
            return raw, raw, column_floats
        value_kind = VALUE_KINDS.get(kind)
        if value_kind is None:
            if kind in _AS_READ or kind is float:
                return raw, raw, column_floats  # never renamed (bool, float)
            labels = [identities.written_label(column.source, value) for value in values]
        else:
            index = identities.written_labels(column.source, value_kind)
            if not index:
                return raw, raw, column_floats
            labels = list(map(index.get, values))
        missing = labels.count(None)
        if missing == len(labels):
            return raw, raw, column_floats
        if not missing:  # every value was written by the test (its fixtures)
            return raw, [WRITTEN_IN_KEYED_ROW] * len(labels) if keyed else labels, column_floats
        if keyed:
            renamed = [
                raw_value if label is None else WRITTEN_IN_KEYED_ROW
                for raw_value, label in zip(raw, labels, strict=True)
            ]
        else:
            renamed = [raw_value if label is None else label for raw_value, label in zip(raw, labels, strict=True)]
        return raw, renamed, column_floats

    def _floats(self, values: Sequence[Any]) -> tuple[list[Any], Sequence[float | None] | None]:
        """A column of floats (and None): with a tolerance, finite ones are kept aside."""
        if not self.tolerant:
            return [None if value is None else canonical_plain(value, None) for value in values], None
        if None not in values and all(map(math.isfinite, values)):
            return [FLOAT_PLACEHOLDER] * len(values), values
        raw: list[Any] = []
        kept: list[float | None] = []
        for value in values:
            finite = value is not None and math.isfinite(value)
            raw.append(FLOAT_PLACEHOLDER if finite else None if value is None else repr(value))
            kept.append(value if finite else None)
        return raw, kept if kept.count(None) < len(kept) else None

    def _plain_mixed(
        self, values: Sequence[Any], column: Column, keyed: bool, identities: Identities, clock: Clock
    ) -> tuple[list[Any], list[Any], list[float | None] | None]:
        """Value by value: a column holding several types (JSON, a Coalesce of mixed types)."""
        raw: list[Any] = []
        renamed: list[Any] = []
        kept: list[float | None] = []
        for value in values:
            kept.append(None)
            if value is None:
                raw_value = renamed_value = None
            elif self.tolerant and isinstance(value, float) and math.isfinite(value):
                raw_value = renamed_value = FLOAT_PLACEHOLDER
                kept[-1] = value
            else:
                raw_value = canonical_plain(value, clock)
                label = identities.written_label(column.source, value) if column.source else None
                if label is None:
                    renamed_value = raw_value
                else:
                    # Numbers of writes can differ when two writes coincide on one backend only
                    # (a session signed twice in one second): where the row's key says which row
                    # this is, "a value the test wrote" is all that needs saying.
                    renamed_value = WRITTEN_IN_KEYED_ROW if keyed else label
            raw.append(raw_value)
            renamed.append(renamed_value)
        return raw, renamed, kept if kept.count(None) < len(kept) else None

    def _canonical_column(self, kind: type, values: Sequence[Any], clock: Clock) -> list[Any]:
        """canonical_plain of a column of one type (and None), remembering the forms of repeated values."""
        if kind is not dt.datetime and kind not in _CACHED:
            return [None if value is None else canonical_plain(value, clock) for value in values]
        cache = self._cache_for(kind)
        settled = None
        if kind is dt.datetime:
            # A datetime is remembered only when it is too far in the past to be taken as computed
            # from the clock, now and later: the clock only moves on, unless a test travels back in
            # time (time-machine, freezegun), which forgets them.
            settled = clock.settled_before()
            if self._settled_floor is not None and settled < self._settled_floor:
                cache.clear()
                self._settled_floor = None
        forms = list(map(cache.get, values))
        if None not in forms:
            return forms
        for row, (value, form) in enumerate(zip(values, forms, strict=True)):
            if form is not None or value is None:
                continue
            form = forms[row] = canonical_plain(value, clock)
            if settled is not None:
                if (value if value.tzinfo else value.replace(tzinfo=dt.UTC)) < settled:
                    cache[value] = form
                    if self._settled_floor is None or settled < self._settled_floor:
                        self._settled_floor = settled
            elif kind is not decimal.Decimal or value.is_finite():  # a non-finite Decimal is not equal to itself
                cache[value] = form
        return forms

    def _cache_for(self, kind: type) -> dict[Any, Any]:
        cache = self._cache.get(kind)
        if cache is None or len(cache) > MAX_CACHED_VALUES:
            cache = self._cache[kind] = {}
            if kind is dt.datetime:
                self._settled_floor = None
        return cache

    # ------------------------------------------------------------ keys

    @staticmethod
    def _keys(
        values: Sequence[Any],
        model: str,
        identities: Identities,
        position: int,
        unannounced: list[tuple[int, int, str, Any]],
    ) -> tuple[list[Any], list[Any]]:
        """Keys by their labels; a key no insert announced is ``model#=raw`` in the raw form and
        labelled by first sight in the renamed form (filled in by the caller, in reading order)."""
        labels = list(map(identities.key_labels(model).get, values))
        misses = labels.count(None) - values.count(None)
        if not misses:
            return labels, labels
        raw = list(labels)
        for row, (value, label) in enumerate(zip(values, labels, strict=True)):
            if label is None and value is not None:
                raw[row] = f"{model}#={value}"
                unannounced.append((row, position, model, value))
        return raw, list(raw)
