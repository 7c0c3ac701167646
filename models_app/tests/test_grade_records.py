from datetime import UTC, datetime, timedelta

from django.db import IntegrityError, transaction
from django.test import TestCase

from models_app.models import GradeRecord


def at(hour, minute, second=0, microsecond=0):
    return datetime(2024, 5, 6, hour, minute, second, microsecond, tzinfo=UTC)


class GradeRecordAsOfTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        for name, grade, tstamp in [
            # The lecture's example.
            ("Scott", "B", at(1, 35)),
            ("Scott", "B-", at(2, 5)),
            ("Alice", "A-", at(1, 0)),
            ("Alice", "A", at(1, 50)),
            ("Alice", "A+", at(3, 0)),
            ("Bob", "C", at(1, 40)),
        ]:
            GradeRecord.objects.create(name=name, grade=grade, tstamp=tstamp)

    def grades_as_of(self, qtime):
        return list(GradeRecord.objects.as_of(qtime).values_list("name", "grade"))

    def test_before_any_record(self):
        self.assertEqual(self.grades_as_of(at(0, 0)), [])

    def test_between_scotts_records(self):
        self.assertEqual(self.grades_as_of(at(2, 0)), [("Alice", "A"), ("Bob", "C"), ("Scott", "B")])

    def test_after_scotts_change(self):
        self.assertEqual(
            self.grades_as_of(at(2, 30)),
            [("Alice", "A"), ("Bob", "C"), ("Scott", "B-")],
        )

    def test_after_every_record(self):
        self.assertEqual(
            self.grades_as_of(at(4, 0)),
            [("Alice", "A+"), ("Bob", "C"), ("Scott", "B-")],
        )

    def test_only_students_with_earlier_records(self):
        self.assertEqual(self.grades_as_of(at(1, 36)), [("Alice", "A-"), ("Scott", "B")])

    def test_qtime_equal_to_tstamp_excludes_that_row(self):
        self.assertEqual(self.grades_as_of(at(1, 35)), [("Alice", "A-")])
        self.assertEqual(self.grades_as_of(at(2, 5)), [("Alice", "A"), ("Bob", "C"), ("Scott", "B")])

    def test_microsecond_after_tstamp_includes_that_row(self):
        self.assertIn(("Scott", "B-"), self.grades_as_of(at(2, 5, microsecond=1)))

    def test_composes_with_filters(self):
        self.assertQuerySetEqual(
            GradeRecord.objects.filter(name="Scott").as_of(at(3, 0)).values_list("grade", flat=True),
            ["B-"],
        )

    def test_returns_the_snapshot_rows(self):
        row = GradeRecord.objects.filter(name="Scott").as_of(at(2, 0)).get()
        self.assertEqual(row.tstamp, at(1, 35))


class GradeRecordConstraintTests(TestCase):
    def test_name_and_tstamp_are_unique_together(self):
        GradeRecord.objects.create(name="Scott", grade="B", tstamp=at(1, 35))
        with self.assertRaises(IntegrityError), transaction.atomic():
            GradeRecord.objects.create(name="Scott", grade="B-", tstamp=at(1, 35))

    def test_same_tstamp_for_different_students(self):
        GradeRecord.objects.create(name="Scott", grade="B", tstamp=at(1, 35))
        GradeRecord.objects.create(name="Alice", grade="A", tstamp=at(1, 35))
        GradeRecord.objects.create(name="Scott", grade="B-", tstamp=at(1, 35) + timedelta(microseconds=1))
        self.assertEqual(GradeRecord.objects.count(), 3)
