"""Value identity: which values a test fed the database, so they are renamed, not compared.

A difference counts only when the database made it (docs/value-identity.md). Values that
differ *before* the database sees them are inputs: auto-increment keys (each backend
allocates its own), and whatever the test wrote that came from Python (random salts,
session keys, ``uuid4()``, clock readings). Inputs get labels by first appearance, the
same on every backend because the same code runs in the same order:

- keys: ``app.Model#t1`` is the first row of that model created in the current test
  (``#c`` class, ``#m`` module, ``#s`` session scope: setUpTestData, class/module fixtures,
  rows made while the test database was built);
- written values: ``<in:t1>`` is the first distinct value the test wrote; a value read
  back from a column it was written to is shown by its label.

Labels live as long as the pytest scope that created them: a test's rows are rolled back
at its end (and SQLite then reuses their key values), so its labels are dropped then.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections import Counter
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


class Identities:
    """The labels of the inputs seen so far, by scope; one instance per worker."""

    def __init__(self) -> None:
        # (model label, raw key) → (label, scope)
        self._keys: dict[tuple[str, Any], tuple[str, str]] = {}
        # raw key → {model label: key label}, to name keys that reach SQL as bare parameters
        self._keys_by_raw: dict[Any, dict[str, str]] = {}
        # value key → (label, scope), and the (column, value key) pairs written
        self._values: dict[tuple[str, Any], tuple[str, str]] = {}
        self._written: dict[tuple[str, tuple[str, Any]], str] = {}
        # keys read that no insert announced (raw SQL, bulk inserts without RETURNING)
        self._sighted: dict[tuple[str, Any], str] = {}
        self._counters: Counter[tuple[str, str]] = Counter()
        self._module: str | None = None
        self._class: str | None = None

    # ------------------------------------------------------------ scopes

    def enter_test(self, nodeid: str) -> None:
        """A test starts: forget what the previous test (and a finished class or module) made."""
        module = nodeid.split("::", 1)[0]
        klass = nodeid.rsplit("::", 1)[0]
        ended = {TEST}
        if klass != self._class:
            ended.add(CLASS)
        if module != self._module:
            ended.add(MODULE)
        self._module, self._class = module, klass
        self._end(ended)

    def _end(self, scopes: set[str]) -> None:
        self._keys = {key: entry for key, entry in self._keys.items() if entry[1] not in scopes}
        self._keys_by_raw = {}
        for (model, raw), (label, _) in self._keys.items():
            self._keys_by_raw.setdefault(raw, {})[model] = label
        self._values = {key: entry for key, entry in self._values.items() if entry[1] not in scopes}
        self._written = {key: scope for key, scope in self._written.items() if scope not in scopes}
        self._sighted.clear()
        for counter in [counter for counter in self._counters if counter[1] in scopes]:
            del self._counters[counter]

    def _next(self, namespace: str, scope: str) -> int:
        self._counters[(namespace, scope)] += 1
        return self._counters[(namespace, scope)]

    # ------------------------------------------------------------ keys

    def register_key(self, model: str, raw: Any, scope: str) -> None:
        """A row was created with this key: it is a new row even if the raw value was seen before."""
        if raw is None:
            return
        label = f"{model}#{scope}{self._next(model, scope)}"
        self._keys[(model, raw)] = (label, scope)
        self._keys_by_raw.setdefault(raw, {})[model] = label
        self._sighted.pop((model, raw), None)

    def key_label(self, model: str, raw: Any) -> str | None:
        entry = self._keys.get((model, raw))
        return entry[0] if entry else None

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
        if key not in self._values:
            self._values[key] = (f"<in:{scope}{self._next('in', scope)}>", scope)
        self._written.setdefault((column, key), scope)

    def written_label(self, column: str, value: Any) -> str | None:
        """The label of a value read from a column the test wrote that value to."""
        key = value_key(value)
        if key is None or (column, key) not in self._written:
            return None
        return self._values[key][0]

    # ------------------------------------------------------------ query inputs

    def input_label(self, value: Any, key_model: str | None = None) -> Any:
        """What a query parameter is, for matching queries across backends (not for comparing)."""
        if key_model is not None:
            return self.key_label(key_model, value) or self._sighted.get((key_model, value)) or value
        key = value_key(value)
        if key is None:
            return value
        entry = self._values.get(key)
        if entry is not None:
            return entry[0]
        models = self._keys_by_raw.get(value) if key[0] in ("int", "uuid") else None
        if models and len(models) == 1:
            return next(iter(models.values()))
        return value
