from datetime import UTC, datetime, timedelta

from django.test import TestCase

from models_app.models import Timespan

START = datetime(2024, 3, 1, 8, 30, 15, 123456, tzinfo=UTC)

DURATIONS = [
    timedelta(0),
    timedelta(microseconds=1),
    timedelta(minutes=90, microseconds=250),
    timedelta(hours=23, minutes=59, seconds=59, microseconds=999999),
    timedelta(days=2, hours=3, minutes=4, seconds=5, microseconds=678901),
    timedelta(days=400, microseconds=42),
]


class TimespanDurationTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        for duration in DURATIONS:
            Timespan.objects.create(start=START, end=START + duration)

    def test_python_duration(self):
        spans = Timespan.objects.order_by("end")
        self.assertEqual([span.duration for span in spans], DURATIONS)

    def test_sql_duration_matches_python_duration(self):
        python = {span.pk: span.duration for span in Timespan.objects.all()}
        sql = dict(Timespan.objects.with_duration().values_list("pk", "sql_duration"))
        self.assertEqual(sql, python)

    def test_with_duration_instances_carry_the_sql_value(self):
        spans = Timespan.objects.with_duration().order_by("end")
        self.assertEqual([span.sql_duration for span in spans], DURATIONS)

    def test_filter_on_sql_duration(self):
        longer_than_a_day = Timespan.objects.with_duration().filter(sql_duration__gt=timedelta(days=1))
        self.assertEqual(sorted(span.end - span.start for span in longer_than_a_day), DURATIONS[-2:])
