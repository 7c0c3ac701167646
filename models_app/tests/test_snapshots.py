"""Boundary and property tests for get_qtime (pure Python, no database)."""

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytest

from models_app.snapshots import get_qtime

US = timedelta(microseconds=1)

# Wednesday; 2024-05-06 and 2024-05-13 are Mondays.
INTERVAL_END = datetime(2024, 5, 8, 10, 15, tzinfo=UTC)


def utc(*args):
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("elapsed", "expected"),
    [
        (timedelta(0), INTERVAL_END),
        (timedelta(hours=1) - US, INTERVAL_END),
        (timedelta(hours=1), INTERVAL_END + timedelta(hours=1)),
        (timedelta(hours=1, minutes=30), INTERVAL_END + timedelta(hours=1)),
        (timedelta(days=1) - US, INTERVAL_END + timedelta(hours=23)),
        # From one day on: midnight at the start of asof's day.
        (timedelta(days=1), utc(2024, 5, 9)),
        (timedelta(days=7), utc(2024, 5, 15)),
        (timedelta(days=8) - US, utc(2024, 5, 16)),  # delta.days == 7
        # From delta.days == 8 on: midnight on the Monday of asof's week.
        (timedelta(days=8), utc(2024, 5, 13)),
        (timedelta(days=30), utc(2024, 6, 3)),
    ],
)
def test_buckets(elapsed, expected):
    assert get_qtime(INTERVAL_END, INTERVAL_END + elapsed) == expected


@pytest.mark.parametrize(
    ("asof", "expected"),
    [
        (utc(2024, 5, 19, 23, 59, 59, 999999), utc(2024, 5, 13)),  # Sunday night
        (utc(2024, 5, 20), utc(2024, 5, 20)),  # Monday midnight
        (utc(2024, 5, 20, 0, 0, 0, 1), utc(2024, 5, 20)),
        (utc(2024, 5, 26, 23, 59, 59, 999999), utc(2024, 5, 20)),
    ],
)
def test_week_edges(asof, expected):
    assert get_qtime(INTERVAL_END, asof) == expected


def test_asof_before_interval_end_is_rejected():
    with pytest.raises(ValueError, match="before interval_end"):
        get_qtime(INTERVAL_END, INTERVAL_END - US)


@pytest.mark.parametrize(
    ("interval_end", "asof"),
    [
        (INTERVAL_END, INTERVAL_END.replace(tzinfo=None)),
        (INTERVAL_END.replace(tzinfo=None), INTERVAL_END),
        (INTERVAL_END.replace(tzinfo=None), None),  # asof defaults to aware now
    ],
)
def test_mixing_naive_and_aware_is_rejected(interval_end, asof):
    with pytest.raises(ValueError, match="both be naive or both be timezone-aware"):
        get_qtime(interval_end, asof)


def test_naive_inputs_give_naive_results():
    interval_end = INTERVAL_END.replace(tzinfo=None)
    assert get_qtime(interval_end, interval_end + timedelta(hours=2, minutes=1)) == (interval_end + timedelta(hours=2))
    assert get_qtime(interval_end, interval_end + timedelta(days=2)) == datetime(2024, 5, 10)
    assert get_qtime(interval_end, interval_end + timedelta(days=9)) == datetime(2024, 5, 13)


def test_default_asof_is_now():
    before = datetime.now(UTC)
    qtime = get_qtime(before - timedelta(minutes=30))
    assert qtime == before - timedelta(minutes=30)
    assert qtime.tzinfo is UTC


def test_result_uses_interval_end_timezone():
    plus_two = timezone(timedelta(hours=2))
    # 2024-05-10 01:00 at +02:00 is still 2024-05-09 in UTC.
    asof = datetime(2024, 5, 10, 1, 0, tzinfo=plus_two)
    qtime = get_qtime(INTERVAL_END, asof)
    assert qtime == utc(2024, 5, 9)
    assert qtime.tzinfo is UTC


def test_hourly_buckets_count_real_hours_across_dst():
    try:
        berlin = ZoneInfo("Europe/Berlin")
    except ZoneInfoNotFoundError:
        pytest.skip("no tz database")
    # Clocks jump from 02:00 CET to 03:00 CEST on 2024-03-31: 40 real minutes
    # pass between these two times, though the wall clocks differ by 1h40.
    interval_end = datetime(2024, 3, 31, 1, 30, tzinfo=berlin)
    asof = datetime(2024, 3, 31, 3, 10, tzinfo=berlin)
    assert get_qtime(interval_end, asof) == interval_end
    assert get_qtime(interval_end, asof + timedelta(minutes=20)) == asof + timedelta(minutes=20)


def bucket(asof):
    """The bucket get_qtime should map ``asof`` to (see its docstring)."""
    elapsed = asof - INTERVAL_END
    if elapsed < timedelta(days=1):
        return ("hour", elapsed // timedelta(hours=1))
    if elapsed.days <= 7:
        return ("day", asof.date())
    return ("week", asof.isocalendar()[:2])


def test_qtime_is_bounded_and_stable_within_each_bucket():
    qtimes_by_bucket = {}
    asof = INTERVAL_END
    while asof < INTERVAL_END + timedelta(days=40):
        qtime = get_qtime(INTERVAL_END, asof)
        assert INTERVAL_END <= qtime <= asof
        assert qtime.tzinfo is UTC
        qtimes_by_bucket.setdefault(bucket(asof), set()).add(qtime)
        asof += timedelta(minutes=7, seconds=13, microseconds=1)
    assert len(qtimes_by_bucket) > 24 + 7 + 4
    assert all(len(qtimes) == 1 for qtimes in qtimes_by_bucket.values())
