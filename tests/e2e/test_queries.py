"""End to end: queries that differ between backends while every test passes, and controls that must stay silent."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import run_with_report, write_project

pytestmark = pytest.mark.e2e

MODELS = """
    import uuid
    from django.db import models

    class Person(models.Model):
        name = models.CharField(max_length=50)
        nickname = models.CharField(max_length=50, null=True)
        score = models.IntegerField(default=0)
        team = models.IntegerField(default=1)

    class Stamp(models.Model):
        label = models.CharField(max_length=20)
        created = models.DateTimeField(auto_now_add=True)
        when = models.DateTimeField(null=True)

    class Doc(models.Model):
        id = models.UUIDField(primary_key=True, default=uuid.uuid4)
        title = models.CharField(max_length=20)
        owner = models.ForeignKey(Person, null=True, on_delete=models.CASCADE)
"""

# Every test passes on every backend: only the recorder can see these differences.
TESTS = """
    from datetime import timedelta
    from django.db import NotSupportedError
    from django.db.models import Avg, Count, ExpressionWrapper, F, FloatField
    from django.test import TestCase
    from django.utils import timezone
    from lab.models import Doc, Person, Stamp

    class Divergent(TestCase):
        def test_case_insensitive_equality(self):
            Person.objects.create(name="scott")
            Person.objects.create(name="Scott")
            self.assertTrue(list(Person.objects.filter(name="scott")))

        def test_trailing_space_equality(self):
            Person.objects.create(name="abc")
            Person.objects.create(name="abc ")
            self.assertTrue(list(Person.objects.filter(name="abc")))

        def test_null_ordering(self):
            for nickname in ("b", None, "a"):
                Person.objects.create(name="x", nickname=nickname)
            self.assertEqual(len(Person.objects.order_by("nickname").values_list("nickname", flat=True)), 3)

        def test_average_rounding(self):
            for score in (1, 1, 2):
                Person.objects.create(name="x", score=score)
            self.assertGreater(Person.objects.aggregate(avg=Avg("score"))["avg"], 1)

        def test_integer_division(self):
            Person.objects.create(name="x", score=7, team=2)
            ratio = ExpressionWrapper(F("score") / F("team"), output_field=FloatField())
            self.assertGreater(Person.objects.annotate(ratio=ratio).get().ratio, 1)

        def test_distinct_on_field(self):
            Person.objects.create(name="x")
            try:
                list(Person.objects.order_by("name").distinct("name"))
            except NotSupportedError:
                pass

        def test_regex_word_boundary(self):
            Person.objects.create(name="hello scott")
            self.assertIsNotNone(list(Person.objects.filter(name__regex=r"\\bscott\\b")))

        def test_unordered_group_first_row(self):
            for team in (3, 1, 2, 3, 1):
                Person.objects.create(name="x", team=team)
            self.assertTrue(Person.objects.values("team").annotate(n=Count("id"))[0])


    class Controls(TestCase):
        def test_keys_differ_between_backends(self):
            for name in ("a", "b", "c"):
                Doc.objects.create(title=name, owner=Person.objects.create(name=name))
            self.assertEqual(len(Person.objects.values_list("id", "name")), 3)
            self.assertEqual(len(Doc.objects.values_list("id", "owner", "title")), 3)

        def test_clock_values(self):
            Stamp.objects.create(label="now", when=timezone.now())
            Stamp.objects.create(label="last month", when=timezone.now() - timedelta(days=30))
            self.assertEqual(len(Stamp.objects.order_by("label").values_list("label", "created", "when")), 2)

        def test_ordered_results(self):
            for name in ("b", "a", "c"):
                Person.objects.create(name=name)
            self.assertEqual(list(Person.objects.order_by("name").values_list("name", flat=True)), ["a", "b", "c"])

        def test_random_order(self):
            for name in ("b", "a", "c"):
                Person.objects.create(name=name)
            self.assertEqual(len(list(Person.objects.order_by("?"))), 3)

        def test_membership_and_length_only(self):
            # PostgreSQL returns the updated row last, but `in` and len() cannot see the order.
            people = [Person.objects.create(name=name) for name in ("a", "b", "c")]
            Person.objects.filter(pk=people[0].pk).update(score=5)
            self.assertIn(people[0], Person.objects.all())
            self.assertEqual(len(Person.objects.all()), 3)
            self.assertTrue(Person.objects.filter(score=5))

        def test_float_sum(self):
            for score in (1, 2):
                Person.objects.create(name="x", score=score)
            total = ExpressionWrapper(F("score") * 0.1, output_field=FloatField())
            self.assertEqual(len(Person.objects.annotate(total=total).order_by("score").values_list("total")), 2)
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    project = write_project(
        tmp_path_factory.mktemp("queries") / "project", {"lab/models.py": MODELS, "lab/tests.py": TESTS}, apps=("lab",)
    )
    result, report = run_with_report(project)
    assert result.returncode == 1, result.output
    return report


def finding_for(report: dict, test_name: str) -> dict:
    [finding] = [finding for finding in report["findings"] if finding["test"].endswith(f"::{test_name}")]
    return finding


def test_every_test_passes_everywhere(report: dict) -> None:
    for backend in report["backends"]:
        assert backend["counts"]["failed"] == backend["counts"]["error"] == 0, backend


def test_case_insensitive_equality_on_mariadb(report: dict) -> None:
    finding = finding_for(report, "test_case_insensitive_equality")
    assert (finding["kind"], finding["code"]) == ("result_divergence", "PT202")
    assert finding["location"] == {"path": "lab/tests.py", "line": 13}
    assert finding["backends"]["mariadb"]["rows"] == 2
    assert finding["backends"]["postgresql"]["rows"] == finding["backends"]["sqlite"]["rows"] == 1
    assert finding["details"]["cause"].startswith("collation")
    assert "`lab_person`" in finding["backends"]["mariadb"]["sql"]


def test_trailing_space_equality_on_mariadb(report: dict) -> None:
    finding = finding_for(report, "test_trailing_space_equality")
    assert finding["kind"] == "result_divergence"
    assert finding["details"]["cause"].startswith("trailing spaces")


def test_null_ordering(report: dict) -> None:
    finding = finding_for(report, "test_null_ordering")
    assert (finding["kind"], finding["code"]) == ("order_divergence", "PT203")
    assert finding["details"]["cause"].startswith("NULL ordering")
    assert finding["backends"]["postgresql"]["sample"][-1] == [None]
    assert finding["backends"]["sqlite"]["sample"][0] == [None]


def test_average_rounding(report: dict) -> None:
    finding = finding_for(report, "test_average_rounding")
    assert finding["kind"] == "result_divergence"
    assert finding["details"]["cause"].startswith("rounding")


def test_integer_division(report: dict) -> None:
    finding = finding_for(report, "test_integer_division")
    assert finding["kind"] == "result_divergence"
    assert finding["details"]["cause"].startswith("integer division")


def test_distinct_on_fields_errors_off_postgresql(report: dict) -> None:
    finding = finding_for(report, "test_distinct_on_field")
    assert (finding["kind"], finding["code"]) == ("query_error", "PT201")
    assert finding["backends"]["postgresql"]["outcome"] == "ok"
    for backend in ("sqlite", "mariadb"):
        assert finding["backends"][backend]["outcome"] == "error"
        assert "NotSupportedError" in finding["backends"][backend]["message"]
    assert "distinct(*fields)" in finding["hint"]


def test_regex_dialects_differ(report: dict) -> None:
    finding = finding_for(report, "test_regex_word_boundary")
    assert finding["kind"] == "result_divergence"
    assert finding["backends"]["postgresql"]["rows"] == 0
    assert finding["details"]["cause"].startswith("regular expression")


def test_first_row_of_an_unordered_group_by(report: dict) -> None:
    finding = finding_for(report, "test_unordered_group_first_row")
    assert finding["kind"] == "result_divergence"
    assert "LIMIT/OFFSET without an ORDER BY" in finding["details"]["cause"]


def test_controls_stay_silent(report: dict) -> None:
    controls = [finding for finding in report["findings"] if "::Controls::" in finding["test"]]
    # Docs have random UUID keys: InnoDB returns them in key order, the others in insertion order.
    # That is a real (note-level) difference, unless the draw happened to come out sorted.
    notes = [finding for finding in controls if finding["code"] == "PT204"]
    assert [finding["location"] for finding in notes] in ([], [{"path": "lab/tests.py", "line": 57}]), notes
    assert not [finding for finding in controls if finding["code"] != "PT204"], controls


def test_no_queries_turns_recording_off(tmp_path: Path) -> None:
    project = write_project(tmp_path / "project", {"lab/models.py": MODELS, "lab/tests.py": TESTS}, apps=("lab",))
    result, report = run_with_report(project, "--no-queries")
    assert result.returncode == 0, result.output
    assert report["findings"] == []


NONDETERMINISTIC_TESTS = """
    from django.db.models.functions import Random
    from django.test import TestCase
    from lab.models import Person

    class Draws(TestCase):
        def test_random_annotation(self):
            Person.objects.create(name="x")
            self.assertEqual(len(Person.objects.annotate(draw=Random()).values_list("draw")), 1)
"""


def test_stability_runs_leave_out_queries_that_vary_on_one_backend(tmp_path: Path) -> None:
    project = write_project(
        tmp_path / "project", {"lab/models.py": MODELS, "lab/tests.py": NONDETERMINISTIC_TESTS}, apps=("lab",)
    )
    two = ("sqlite", "postgresql")
    without, report = run_with_report(project, backends=two, name="without")
    assert without.returncode == 1, without.output
    [finding] = report["findings"]
    assert finding["kind"] == "result_divergence"
    with_runs, report = run_with_report(project, "--stability-runs", "1", backends=two, name="with")
    assert with_runs.returncode == 0, with_runs.output
    assert report["findings"] == []


BROKEN_VALUE_MODELS = """
    from django.db import models

    class Opaque:
        def __init__(self, raw):
            self.raw = raw

        def __eq__(self, other):
            return isinstance(other, Opaque) and other.raw == self.raw

        def __str__(self):
            raise RuntimeError("this value refuses to be shown")

    class OpaqueField(models.CharField):
        def from_db_value(self, value, expression, connection):
            return None if value is None else Opaque(value)

    class Box(models.Model):
        content = OpaqueField(max_length=20)
"""

BROKEN_VALUE_TESTS = """
    from django.test import TestCase
    from lab.models import Box, Opaque

    class Boxes(TestCase):
        def test_reads_a_value_the_recorder_cannot_canonicalise(self):
            Box.objects.create(content="x")
            self.assertEqual(Box.objects.get().content, Opaque("x"))
"""


def test_a_recorder_error_is_a_warning_never_a_test_failure(tmp_path: Path) -> None:
    project = write_project(
        tmp_path / "project", {"lab/models.py": BROKEN_VALUE_MODELS, "lab/tests.py": BROKEN_VALUE_TESTS}, apps=("lab",)
    )
    result, report = run_with_report(
        project, "--results-dir", str(tmp_path / "results"), backends=("sqlite", "postgresql")
    )
    assert result.returncode == 0, result.output
    assert "query recorder internal error" in (tmp_path / "results" / "sqlite.log").read_text()
    assert [test["outcomes"] for test in report["tests"]] == [{"sqlite": "passed", "postgresql": "passed"}]
    assert {warning["backend"] for warning in report["warnings"]} == {"sqlite", "postgresql"}
    assert "this value refuses to be shown" in report["warnings"][0]["message"]
    assert "Traceback" in report["warnings"][0]["tracebacks"][0]
    assert "portability: warning: the query recorder hit" in result.stdout
