"""Value identity: which values a test fed the database, so they are renamed, not compared.

A difference counts only when the database made it (docs/value-identity.md). Values that
differ *before* the database sees them are inputs: auto-increment keys (each backend
allocates its own), and whatever the test wrote that came from Python (random salts,
session keys, ``uuid4()``, clock readings). Inputs get labels by first appearance, the
same on every backend because the same code runs in the same order:

- keys: ``app.Model#t1`` is the first row of that model created in the current test
  (``#c`` class, ``#m`` module, ``#s`` session scope: setUpTestData, class/module fixtures,
  rows made while the test database was built);
- written values: ``<in:t3>`` is the value of the 3rd write the test made to a column;
  a value read back from that column is shown by the label of the latest write of it
  there. Labels count writes, not distinct values: two writes that happen to carry the
  same value on one backend only (a signed session stamped with the same second) would
  otherwise shift every later label on that backend.

Labels live as long as the pytest scope that created them: a test's rows are rolled back
at its end (and SQLite then reuses their key values), so its labels are dropped then.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

# pytest fixture scopes → the label scope of what they create (outer to inner).
SCOPE_OF_FIXTURE = {"session": "s", "package": "s", "module": "m", "class": "c", "function": "t"}
TEST, CLASS, MODULE, SESSION = "t", "c", "m", "s"

# Types whose values can be matched between what was written and what is read back.
_HASHABLE_KINDS: tuple[tuple[type, str], ...] = (
    (bool, ""),  # never an input worth renaming (and True == 1)
    (str, "str"),
    (int, "int"),
    (decimal.Decimal, "decimal"),
    (dt.datetime, "datetime"),
    (dt.date, "date"),
    (dt.time, "time"),
    (dt.timedelta, "timedelta"),
    (uuid.UUID, "uuid"),
    (bytes, "bytes"),
)
# The same, by exact type, for looking up many values of one type at once (bool: never renamed).
VALUE_KINDS: dict[type, str] = {kind: name for kind, name in _HASHABLE_KINDS if name}
_EMPTY: Mapping[Any, str] = {}


def value_key(value: Any) -> tuple[str, Any] | None:
    """A hashable identity for a written or read value (None: not renamed, e.g. floats, JSON)."""
    if isinstance(value, memoryview | bytearray):
        value = bytes(value)
    for kind, name in _HASHABLE_KINDS:
        if isinstance(value, kind):
            if not name or (name == "decimal" and not value.is_finite()):
                return None
            # Decimal("1.50") and Decimal("1.5") are the same value read back.
            return (name, value.normalize() if name == "decimal" else value)
    return None


class ScopedLabels:
    """Labels by key, each living as long as its scope; a newer label hides an older one until
    its scope ends (a row rolled back at the end of a test, a value rewritten in it)."""

    def __init__(self) -> None:
        self._entries: dict[Any, list[tuple[str, str]]] = {}
        self._keys_by_scope: dict[str, set[Any]] = {}

    def add(self, key: Any, label: str, scope: str) -> None:
        self._entries.setdefault(key, []).append((label, scope))
        self._keys_by_scope.setdefault(scope, set()).add(key)

    def get(self, key: Any) -> str | None:
        entries = self._entries.get(key)
        return entries[-1][0] if entries else None

    def all(self, key: Any) -> list[str]:
        return [label for label, _ in self._entries.get(key, ())]

    def end(self, scope: str) -> None:
        for key in self._keys_by_scope.pop(scope, ()):
            entries = [entry for entry in self._entries.get(key, ()) if entry[1] != scope]
            if entries:
                self._entries[key] = entries
            else:
                self._entries.pop(key, None)


class GroupedLabels(ScopedLabels):
    """ScopedLabels whose keys are ``(group, item)``; each group's latest labels are also kept in
    one dict, for looking up a whole column of values at once."""

    def __init__(self) -> None:
        super().__init__()
        self._latest: dict[Any, dict[Any, str]] = {}

    def add(self, key: tuple[Any, Any], label: str, scope: str) -> None:
        super().add(key, label, scope)
        group, item = key
        self._latest.setdefault(group, {})[item] = label

    def end(self, scope: str) -> None:
        ended = self._keys_by_scope.get(scope, ())
        super().end(scope)
        for group, item in ended:
            label = self.get((group, item))
            if label is None:
                self._latest[group].pop(item, None)
            else:
                self._latest[group][item] = label

    def latest(self, group: Any) -> Mapping[Any, str]:
        """item → its latest label, for one group (read only)."""
        return self._latest.get(group, _EMPTY)


class Identities:
    """The labels of the inputs seen so far, by scope; one instance per worker."""

    def __init__(self) -> None:
        # (model label, raw key) → key label
        self._keys = GroupedLabels()
        # raw key → the labels of the rows with that key, to name keys that reach SQL as bare parameters
        self._keys_by_raw = ScopedLabels()
        # ((column, kind), value) → the label of the latest write of that value there
        self._written = GroupedLabels()
        # value key → the column and label of its latest write anywhere (to name query parameters)
        self._values = ScopedLabels()
        # keys read that no insert announced (raw SQL, bulk inserts without RETURNING)
        self._sighted: dict[tuple[str, Any], str] = {}
        self._counters: Counter[tuple[str, str]] = Counter()
        self._module: str | None = None
        self._class: str | None = None
        # Called before any label is added or dropped (the recorder digests the rows it holds back).
        self.before_change: Callable[[], None] | None = None

    # ------------------------------------------------------------ scopes

    def enter_test(self, nodeid: str) -> None:
        """A test starts: forget what the previous test (and a finished class or module) made."""
        if self.before_change is not None:
            self.before_change()
        module = nodeid.split("::", 1)[0]
        klass = nodeid.rsplit("::", 1)[0]
        ended = [TEST]
        if klass != self._class:
            ended.append(CLASS)
        if module != self._module:
            ended.append(MODULE)
        self._module, self._class = module, klass
        for scope in ended:
            for labels in (self._keys, self._keys_by_raw, self._written, self._values):
                labels.end(scope)
            for counter in [counter for counter in self._counters if counter[1] == scope]:
                del self._counters[counter]
        self._sighted.clear()

    def _next(self, namespace: str, scope: str) -> int:
        self._counters[(namespace, scope)] += 1
        return self._counters[(namespace, scope)]

    # ------------------------------------------------------------ keys

    def register_key(self, model: str, raw: Any, scope: str) -> None:
        """A row was created with this key: it is a new row even if the raw value was seen before."""
        if raw is None:
            return
        if self.before_change is not None:
            self.before_change()
        label = f"{model}#{scope}{self._next(model, scope)}"
        self._keys.add((model, raw), label, scope)
        self._keys_by_raw.add(raw, label, scope)
        self._sighted.pop((model, raw), None)

    def name_key(self, model: str, raw: Any, natural: list[Any]) -> None:
        """Replace a session row's creation-order label by its natural key."""
        if raw is None:
            return
        if self.before_change is not None:
            self.before_change()
        label = f"{model}#{json.dumps(natural, default=str, separators=(',', ':'))}"
        self._keys.add((model, raw), label, SESSION)
        self._keys_by_raw.add(raw, label, SESSION)

    def key_label(self, model: str, raw: Any) -> str | None:
        return self._keys.get((model, raw))

    def key_labels(self, model: str) -> Mapping[Any, str]:
        """raw key → label, for every live row of the model (read only)."""
        return self._keys.latest(model)

    def sighted_key_label(self, model: str, raw: Any) -> str:
        """A key no insert announced: labelled by first sight in this test."""
        label = self._sighted.get((model, raw))
        if label is None:
            label = self._sighted[(model, raw)] = f"{model}#r{self._next('r:' + model, TEST)}"
        return label

    # ------------------------------------------------------------ written values

    def register_written(self, column: str, value: Any, scope: str) -> None:
        key = value_key(value)
        if key is None:
            return
        if self.before_change is not None:
            self.before_change()
        label = f"<in:{scope}{self._next('in:' + column, scope)}>"
        self._written.add(((column, key[0]), key[1]), label, scope)
        self._values.add(key, f"{column}{label}", scope)

    def written_label(self, column: str, value: Any) -> str | None:
        """The label of a value read from a column the test wrote that value to."""
        key = value_key(value)
        return self._written.get(((column, key[0]), key[1])) if key is not None else None

    def written_labels(self, column: str, kind: str) -> Mapping[Any, str]:
        """value → the label of its latest write to the column, for values of one kind (VALUE_KINDS)."""
        return self._written.latest((column, kind))

    # ------------------------------------------------------------ query inputs

    def input_label(self, value: Any, key_model: str | None = None) -> Any:
        """What a query parameter is, for matching queries across backends (not for comparing)."""
        if key_model is not None:
            return self.key_label(key_model, value) or self._sighted.get((key_model, value)) or value
        key = value_key(value)
        if key is None:
            return value
        label = self._values.get(key)
        if label is not None:
            return label
        if key[0] in ("int", "uuid"):
            # A bare key: named when the rows that have it all belong to one model.
            labels = self._keys_by_raw.all(value)
            if labels and len({label.split("#", 1)[0] for label in labels}) == 1:
                return labels[-1]
        return value
