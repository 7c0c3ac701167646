"""Deterministic query times for reading append-only snapshots.

A report about an interval ending at ``interval_end`` is computed from the
data known at some query time ``qtime``. Rounding ``qtime`` down to a bucket
(hour, then day, then week, as the interval ages) keeps reruns reproducible:
every ``asof`` in the same bucket yields the same ``qtime``.
"""

from datetime import UTC, datetime, timedelta

from django.utils.timezone import is_aware

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def get_qtime(interval_end, asof=None):
    """Return the query time for ``interval_end`` as seen at ``asof``.

    With ``delta = asof - interval_end``:

    - ``delta`` under 1 day: ``interval_end`` plus the whole hours elapsed;
    - 1 day <= ``delta`` and ``delta.days <= 7``: midnight at the start of
      ``asof``'s day;
    - ``delta.days > 7``: midnight at the start of ``asof``'s ISO week (Monday).

    ``asof`` defaults to the current UTC time. Both arguments must be naive or
    both timezone-aware; the result carries ``interval_end``'s tzinfo, and day
    and week boundaries follow that timezone's wall clock.
    """
    if asof is None:
        asof = datetime.now(UTC)
    if is_aware(interval_end) != is_aware(asof):
        raise ValueError("interval_end and asof must both be naive or both be timezone-aware")
    if is_aware(asof):
        asof = asof.astimezone(interval_end.tzinfo)

    # Aware datetimes sharing a tzinfo subtract and compare by wall clock, so
    # measure elapsed time in UTC to stay correct across DST changes.
    elapsed = _as_utc(asof) - _as_utc(interval_end)
    if elapsed < timedelta(0):
        raise ValueError(
            f"asof ({asof.isoformat()}) is before interval_end "
            f"({interval_end.isoformat()}): the interval has not ended yet"
        )

    if elapsed < DAY:
        qtime = _as_utc(interval_end) + (elapsed // HOUR) * HOUR
        return qtime.astimezone(interval_end.tzinfo) if is_aware(qtime) else qtime

    start_of_day = asof.replace(hour=0, minute=0, second=0, microsecond=0)
    if elapsed.days <= 7:
        return start_of_day
    return start_of_day - timedelta(days=asof.weekday())


def _as_utc(value):
    return value.astimezone(UTC) if is_aware(value) else value
