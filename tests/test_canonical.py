"""Canonical forms: values that legitimately differ between backends or runs compare equal."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from harness.canonical import KEY, Clock, Column, KeyMap, RowDigest, canonical_value

UTC = dt.UTC
PLAIN_COLUMN = Column()


def canon(
    value, column: Column = PLAIN_COLUMN, keys: KeyMap | None = None, clock: Clock | None = None, digits: int = 9
):
    return canonical_value(value, column, keys or KeyMap(), clock or Clock(), digits)


def test_auto_keys_become_their_creation_order_whatever_their_value() -> None:
    postgresql, sqlite = KeyMap(), KeyMap()
    for raw in (41, 42):
        postgresql.register("app.Item", raw, class_scope=False)
    for raw in (1, 2):
        sqlite.register("app.Item", raw, class_scope=False)
    column = Column(KEY, "app.Item")
    assert [canon(raw, column, postgresql) for raw in (42, 41)] == [canon(raw, column, sqlite) for raw in (2, 1)]


def test_a_reused_raw_key_is_a_new_row() -> None:
    keys = KeyMap()
    keys.register("app.Item", 1, class_scope=True)
    keys.new_test()
    keys.register("app.Item", 2, class_scope=False)
    assert keys.canonical("app.Item", 1) == "app.Item#c1"
    assert keys.canonical("app.Item", 2) == "app.Item#t1"
    assert keys.canonical("app.Item", 99) == "app.Item#?"


def test_test_scope_keys_restart_each_test_and_class_scope_each_class() -> None:
    keys = KeyMap()
    keys.register("app.Item", 7, class_scope=False)
    keys.new_test()
    keys.register("app.Item", 8, class_scope=False)
    assert keys.canonical("app.Item", 8) == "app.Item#t1"
    keys.new_class()
    assert keys.canonical("app.Item", 8) == "app.Item#?"


def test_clock_values_become_offsets_from_now() -> None:
    clock = Clock()
    now = dt.datetime.now(UTC)
    assert canon(now, clock=clock) == {"datetime": "now"}
    assert canon(now - dt.timedelta(days=30), clock=clock) == {"datetime": "now-30 days, 0:00:00"}
    fixed = dt.datetime(2020, 3, 1, 8, 30, 15, 123456, tzinfo=UTC)
    assert canon(fixed, clock=clock) == {"datetime": fixed.isoformat()}


def test_datetimes_compare_in_utc() -> None:
    paris = dt.timezone(dt.timedelta(hours=1))
    assert canon(dt.datetime(2020, 1, 1, 13, tzinfo=paris)) == canon(dt.datetime(2020, 1, 1, 12, tzinfo=UTC))


def test_decimals_compare_by_value() -> None:
    assert canon(Decimal("5.000")) == canon(Decimal("5")) == {"decimal": "5"}
    assert canon(Decimal("0.00")) == canon(Decimal("0"))
    assert canon(Decimal("1.5")) != canon(Decimal("1.50001"))


def test_floats_compare_to_a_relative_tolerance() -> None:
    assert canon(0.1 + 0.2) == canon(0.3)
    assert canon(1.3333333333333333) != canon(1.3333)
    assert canon(1.3333333333333333, digits=4) == canon(1.3333, digits=4)


def test_bytes_memoryview_and_json_are_normalised() -> None:
    assert canon(b"\x00\x01") == canon(memoryview(b"\x00\x01")) == canon(bytearray(b"\x00\x01"))
    assert canon({"b": 1, "a": [1, 2]}) == canon({"a": [1, 2], "b": 1})
    assert canon(uuid.UUID(int=5)) == {"uuid": str(uuid.UUID(int=5))}


def test_row_digests_separate_order_from_content() -> None:
    first, second, other = RowDigest(), RowDigest(), RowDigest()
    for row in ([1, "a"], [2, "b"]):
        first.add(row)
    for row in ([2, "b"], [1, "a"]):
        second.add(row)
    for row in ([1, "a"], [2, "c"]):
        other.add(row)
    assert first.unordered == second.unordered and first.ordered != second.ordered
    assert first.unordered != other.unordered
    assert first.rows == 2 and first.sample == [[1, "a"], [2, "b"]]


def test_samples_are_bounded() -> None:
    digest = RowDigest()
    for index in range(1000):
        digest.add([index, "x" * 1000])
    assert digest.rows == 1000
    assert len(digest.sample) == 20
    assert len(digest.sample[0][1]) < 300
