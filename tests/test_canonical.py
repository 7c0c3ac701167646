"""Canonical forms: values that legitimately differ between backends or runs compare equal."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from harness.canonical import Clock, RowDigest, canonical_plain, floats_close

UTC = dt.UTC


def canon(value, clock: Clock | None = None):
    return canonical_plain(value, clock or Clock())


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


def test_floats_compare_by_a_relative_tolerance() -> None:
    assert floats_close(0.1 + 0.2, 0.3, 1e-9)
    assert not floats_close(0.1 + 0.2, 0.3, 0)  # 0 means exact
    assert floats_close(1.3333333333333333, 1.3333, 1e-4)
    assert not floats_close(1.3333333333333333, 1.3333, 1e-5)
    assert floats_close(1e-300, 1.0000000001e-300, 1e-9)  # relative, whatever the magnitude
    assert not floats_close(1e-12, 2e-12, 1e-9)


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
    digests = [digest.to_dict()["digests"]["raw"] for digest in (first, second, other)]
    assert digests[0]["unordered"] == digests[1]["unordered"] and digests[0]["ordered"] != digests[1]["ordered"]
    assert digests[0]["unordered"] != digests[2]["unordered"]
    assert first.rows == 2 and first.sample == [[1, "a"], [2, "b"]]


def test_the_renamed_form_absorbs_inputs_the_raw_form_keeps() -> None:
    sqlite, postgresql = RowDigest(), RowDigest()
    sqlite.add(["alice", "pbkdf2$salt1"], ["alice", "<in:t1>"])
    postgresql.add(["alice", "pbkdf2$salt2"], ["alice", "<in:t1>"])
    first, second = sqlite.to_dict()["digests"], postgresql.to_dict()["digests"]
    assert first["raw"] != second["raw"]
    assert first["renamed"] == second["renamed"]


def test_samples_are_bounded() -> None:
    digest = RowDigest()
    for index in range(1000):
        digest.add([index, "x" * 1000])
    assert digest.rows == 1000
    assert len(digest.sample) == 20
    assert len(digest.sample[0][1]) < 300
