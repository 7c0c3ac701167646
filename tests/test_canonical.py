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


def test_the_renamed_form_is_the_raw_form_when_nothing_was_renamed() -> None:
    plain, same, renamed = RowDigest(), RowDigest(), RowDigest()
    plain.add(["alice", 1])
    same.add(["alice", 1], ["alice", 1])
    renamed.add(["alice", 1], ["alice", "<in:t1>"])
    digests = [digest.to_dict()["digests"] for digest in (plain, same, renamed)]
    assert digests[0]["raw"] == digests[0]["renamed"]
    assert digests[0] == digests[1]
    assert digests[2]["raw"] == digests[0]["raw"] and digests[2]["renamed"] != digests[0]["renamed"]
    assert renamed.sample == [["alice", 1]]  # the evidence shows what was read


def test_float_rows_are_kept_only_when_floats_are_given() -> None:
    digest = RowDigest()
    digest.add(["a", 1])
    digest.add(["b", 2], floats=[])
    assert "float_rows" not in digest.to_dict() and "float_rows_complete" not in digest.to_dict()
    digest.add(["c", "<float>"], ["<in:t1>", "<float>"], floats=[0.5, 1.5])
    data = digest.to_dict()
    assert data["float_rows_complete"] is True
    [(raw_hash, renamed_hash, floats)] = data["float_rows"]
    assert floats == [0.5, 1.5] and raw_hash != renamed_hash
    other = RowDigest()
    other.add(["c", "<float>"], floats=[9.0])
    [(other_raw, other_renamed, _)] = other.to_dict()["float_rows"]
    assert other_raw == other_renamed == raw_hash  # floats stay out of the row's hash


def test_float_rows_beyond_the_maximum_are_dropped_and_flagged() -> None:
    from harness.canonical import MAX_FLOAT_ROWS

    digest = RowDigest()
    for index in range(MAX_FLOAT_ROWS):
        digest.add([index, "<float>"], floats=[float(index)])
    assert digest.to_dict()["float_rows_complete"] is True
    digest.add([MAX_FLOAT_ROWS, "<float>"], floats=[1.0])
    data = digest.to_dict()
    assert len(data["float_rows"]) == MAX_FLOAT_ROWS and data["float_rows_complete"] is False
    assert data["rows"] == MAX_FLOAT_ROWS + 1


def test_long_values_are_cut_in_the_sample_only() -> None:
    short, long = RowDigest(), RowDigest()
    short.add(["x" * 200 + "y"])
    long.add(["x" * 200 + "z"])
    assert short.sample == long.sample == [["x" * 200 + "…"]]
    assert short.to_dict()["digests"] != long.to_dict()["digests"]


def test_float_tolerance_edges() -> None:
    assert floats_close(1.0, 1.0, 0) and floats_close(-2.5, -2.5, 0)
    assert floats_close(-1.0, -1.0000000001, 1e-9) and not floats_close(-1.0, 1.0, 1e-9)
    assert not floats_close(0.0, 1e-300, 1e-9)  # relative: only 0 is close to 0
    assert floats_close(100.0, 101.0, 0.01) and not floats_close(100.0, 101.1, 0.01)
    assert not floats_close(float("nan"), float("nan"), 1.0)


def test_plain_values_of_other_types() -> None:
    assert canon(True) is True and canon(1) == 1 and canon("1") == "1" and canon(None) is None
    assert canon(1.5) == 1.5 and canon(float("nan")) == "nan" and canon(float("-inf")) == "-inf"
    assert canon(dt.date(2020, 1, 2)) == {"date": "2020-01-02"}
    assert canon(dt.time(8, 30)) == {"time": "08:30:00"}
    assert canon(dt.timedelta(seconds=1, microseconds=5)) == {"timedelta_us": 1_000_005}
    assert canon(dt.datetime(2020, 1, 1, 12)) == {"datetime": "2020-01-01T12:00:00"}  # naive: as read
    assert canon([1, "a"]) == canon((1, "a")) == {"json": '[1, "a"]'}
    assert canon(Decimal("-0.0")) == canon(Decimal("0")) == {"decimal": "0"}


def test_clock_offsets_are_whole_minutes_within_the_horizon() -> None:
    clock = Clock()
    now = dt.datetime.now(UTC)
    assert canon(now + dt.timedelta(hours=2), clock) == {"datetime": "now+2:00:00"}
    assert canon(now.replace(tzinfo=None), clock) == {"datetime": "now"}  # naive values are taken as UTC
    odd = now - dt.timedelta(minutes=5, seconds=30)
    assert canon(odd, clock) == {"datetime": odd.isoformat()}
    far = now - dt.timedelta(days=401)
    assert canon(far, clock) == {"datetime": far.isoformat()}
