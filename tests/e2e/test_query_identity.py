"""End to end: query findings you can trust (issue 7).

Three throwaway projects, each run once through the real `portability run` on sqlite,
postgresql and mariadb:

- IDENTITY: controls. Values that legitimately differ between backends (auto keys that
  SQLite hands out again after each test's rollback, keys the recorder never saw created,
  values made in Python: password hashes, session keys, uuid4 text, random numbers, the
  clock) and columns whose order depends on the hash seed. Every test passes everywhere and
  none may give a finding. Some of them also check that recording never changes a test's
  outcome (`.distinct().count()`, pickling and deep-copying an evaluated QuerySet).
- LOOP: a loop over an unordered result whose order differs on PostgreSQL: exactly one
  note (PT204) at the loop, never a PT202 for the per-item queries it shuffled.
- DETECTIONS: real differences the recorder must find: an ORM call Django refuses on
  MariaDB before any SQL is sent, a row conversion that fails on MariaDB without time zone
  tables, a test failing on PostgreSQL because of the order of an unordered result, and a
  case-insensitive match among users with passwords and sessions.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from tests.helpers import ALL_THREE, MARIADB_URL, CliResult, run_with_report, write_project

pytestmark = pytest.mark.e2e

CONTRIB_APPS = ("django.contrib.contenttypes", "django.contrib.auth", "django.contrib.sessions")

# ---------------------------------------------------------------- the IDENTITY project (controls)

IDENTITY_MODELS = """
    import random

    from django.contrib.contenttypes.fields import GenericForeignKey
    from django.contrib.contenttypes.models import ContentType
    from django.db import models

    _system_random = random.SystemRandom()


    def random_name():
        return "".join(_system_random.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(12))


    class Node(models.Model):
        name = models.CharField(max_length=50)


    class Edge(models.Model):
        node = models.ForeignKey(Node, on_delete=models.CASCADE)
        label = models.CharField(max_length=50)


    class Tag(models.Model):
        # A generic relation keeping the key as text, as django-guardian and django-contrib-comments do.
        content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE)
        object_pk = models.CharField(max_length=40)
        target = GenericForeignKey("content_type", "object_pk")
        label = models.CharField(max_length=20)


    class Memo(models.Model):
        content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE)
        object_pk = models.TextField()
        text = models.CharField(max_length=20)


    class Token(models.Model):
        value = models.CharField(max_length=64, default="")
        number = models.IntegerField(default=0)
        name = models.CharField(max_length=20, default=random_name)
        at = models.TimeField(null=True)


    class Person(models.Model):
        name = models.CharField(max_length=50)
        nickname = models.CharField(max_length=50, null=True)
        score = models.IntegerField(default=0)
        team = models.IntegerField(default=1)
"""

IDENTITY_TESTS = """
    import copy
    import pickle
    import random
    import time
    import uuid

    import pytest
    from django.contrib.auth.models import User
    from django.contrib.contenttypes.models import ContentType
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.db import connection
    from django.test import TestCase
    from django.utils import timezone

    from lab.models import Edge, Memo, Node, Person, Tag, Token


    # 1. SQLite hands the same auto key values out again after each test's rollback (its
    # sqlite_sequence is rolled back too); PostgreSQL sequences and InnoDB counters keep counting.
    class KeysAcrossTests:
        @classmethod
        def setUpTestData(cls):
            cls.nodes = [Node.objects.create(name=f"class-{index}") for index in range(5)]
            for node in cls.nodes:
                Edge.objects.create(node=node, label="class")

        def create_and_read_back(self, label):
            node = Node.objects.create(name=label)
            Edge.objects.create(node=node, label=label)
            Edge.objects.create(node=self.nodes[0], label=label)
            rows = list(Node.objects.order_by("id").values_list("id", "name"))
            self.assertEqual([name for _, name in rows], [f"class-{index}" for index in range(5)] + [label])
            edges = list(Edge.objects.order_by("id").values_list("id", "node", "label"))
            self.assertEqual(len(edges), 7)
            self.assertEqual(list(Edge.objects.filter(node=node).values_list("node", "label")), [(node.pk, label)])

        def test_one(self):
            self.create_and_read_back("one")

        def test_two(self):
            self.create_and_read_back("two")

        def test_three(self):
            self.create_and_read_back("three")


    class KeysFirstClass(KeysAcrossTests, TestCase):
        pass


    class KeysSecondClass(KeysAcrossTests, TestCase):
        pass


    # 2. Rows made by a pytest function fixture belong to the test, not to the class.
    @pytest.fixture
    def fixture_nodes():
        nodes = [Node.objects.create(name=f"fixture-{index}") for index in range(3)]
        for node in nodes:
            Edge.objects.create(node=node, label="fixture")
        return nodes


    def read_back(nodes):
        Node.objects.create(name="extra")
        rows = list(Node.objects.order_by("id").values_list("id", "name"))
        assert [name for _, name in rows] == ["fixture-0", "fixture-1", "fixture-2", "extra"]
        edges = list(Edge.objects.order_by("id").values_list("id", "node", "label"))
        assert [node for _, node, _ in edges] == [node.pk for node in nodes]
        assert list(Edge.objects.filter(node=nodes[1]).values_list("node", "label")) == [(nodes[1].pk, "fixture")]


    @pytest.mark.django_db
    class TestFixtureRows:
        def test_first(self, fixture_nodes):
            read_back(fixture_nodes)

        def test_second(self, fixture_nodes):
            read_back(fixture_nodes)


    # The same with plain test functions (the module is their "class").
    @pytest.mark.django_db
    def test_fixture_rows_in_a_function(fixture_nodes):
        read_back(fixture_nodes)


    @pytest.mark.django_db
    def test_fixture_rows_in_another_function(fixture_nodes):
        read_back(fixture_nodes)


    # 3. Keys the recorder did not see created, and keys kept as text.
    class UnseenKeys(TestCase):
        def test_raw_sql_insert(self):
            table, column = connection.ops.quote_name(Node._meta.db_table), connection.ops.quote_name("name")
            with connection.cursor() as cursor:
                for name in ("raw-a", "raw-b"):
                    cursor.execute(f"INSERT INTO {table} ({column}) VALUES (%s)", [name])
            Node.objects.create(name="orm")
            rows = list(Node.objects.order_by("id").values_list("id", "name"))
            self.assertEqual([name for _, name in rows], ["raw-a", "raw-b", "orm"])
            raw = Node.objects.get(name="raw-b")
            Edge.objects.create(node=raw, label="to raw")
            self.assertEqual(list(Edge.objects.values_list("node", "label")), [(raw.pk, "to raw")])

        def test_explicit_ids(self):
            Node.objects.create(id=1000, name="thousand")
            Node.objects.create(id=1001, name="thousand and one")
            Edge.objects.create(node_id=1001, label="to 1001")
            rows = list(Node.objects.order_by("id").values_list("id", "name"))
            self.assertEqual(rows, [(1000, "thousand"), (1001, "thousand and one")])
            self.assertEqual(list(Edge.objects.values_list("node", "label")), [(1001, "to 1001")])

        def test_bulk_create(self):
            nodes = Node.objects.bulk_create([Node(name=f"bulk-{index}") for index in range(4)])
            Edge.objects.bulk_create([Edge(node=node, label=node.name) for node in Node.objects.order_by("id")])
            rows = list(Node.objects.order_by("id").values_list("id", "name"))
            self.assertEqual([name for _, name in rows], [node.name for node in nodes])
            edges = list(Edge.objects.order_by("id").values_list("id", "node", "label"))
            self.assertEqual([node for _, node, _ in edges], [node_id for node_id, _ in rows])

        def test_generic_relation_with_text_keys(self):
            node_type = ContentType.objects.get_for_model(Node)
            nodes = [Node.objects.create(name=name) for name in ("x", "y")]
            for node in nodes:
                Tag.objects.create(content_type=node_type, object_pk=str(node.pk), label=node.name)
                Memo.objects.create(content_type=node_type, object_pk=str(node.pk), text=node.name)
            tags = list(Tag.objects.order_by("id").values_list("content_type", "object_pk", "label"))
            self.assertEqual([object_pk for _, object_pk, _ in tags], [str(node.pk) for node in nodes])
            labels = Tag.objects.filter(object_pk=str(nodes[1].pk)).values_list("label", flat=True)
            self.assertEqual(list(labels), ["y"])
            memos = list(Memo.objects.order_by("id").values_list("object_pk", "text"))
            self.assertEqual(memos, [(str(node.pk), node.name) for node in nodes])
            self.assertEqual(Tag.objects.get(label="y").target, nodes[1])

        def test_generic_relation_given_int_keys(self):
            # django-guardian's assign_perm: object_pk=obj.pk, an int the CharField saves as text.
            node_type = ContentType.objects.get_for_model(Node)
            nodes = [Node.objects.create(name=name) for name in ("x", "y")]
            for node in nodes:
                Tag.objects.create(content_type=node_type, object_pk=node.pk, label=node.name)
            pairs = list(Tag.objects.order_by("id").values_list("object_pk", "label"))
            self.assertEqual(pairs, [(str(node.pk), node.name) for node in nodes])


    # 4. Values that come from Python, not from the database: each backend was given other values.
    class PythonSideValues(TestCase):
        def test_password_hashes(self):
            User.objects.create_user("ann", password="secret")
            User.objects.create_user("bob", password="secret")
            rows = list(User.objects.order_by("username").values_list("username", "password"))
            self.assertEqual([username for username, _ in rows], ["ann", "bob"])

        def test_session_store(self):
            store = SessionStore()
            store["cart"] = [1, 2]
            store.create()
            self.assertEqual(Session.objects.values_list("session_key", "session_data").get()[0], store.session_key)

        def test_session_from_login(self):
            user = User.objects.create_user("carol", password="secret")
            self.client.force_login(user)
            rows = list(Session.objects.values_list("session_key", "session_data"))
            self.assertEqual([key for key, _ in rows], [self.client.session.session_key])

        def test_uuid4_text(self):
            for _ in range(3):
                Token.objects.create(value=str(uuid.uuid4()))
            values = list(Token.objects.order_by("id").values_list("value", flat=True))
            self.assertEqual(len(set(values)), 3)
            self.assertEqual(Token.objects.filter(value=values[1]).count(), 1)

        def test_random_sample(self):
            numbers = random.sample(range(10**6), 5)
            for number in numbers:
                Token.objects.create(number=number)
            self.assertEqual(list(Token.objects.order_by("id").values_list("number", flat=True)), numbers)

        def test_system_random_default(self):
            made = [Token.objects.create(), Token.objects.create()]
            names = list(Token.objects.order_by("id").values_list("name", flat=True))
            self.assertEqual(names, [token.name for token in made])

        def test_time_of_day(self):
            at = timezone.now().time()
            Token.objects.create(at=at)
            self.assertEqual(Token.objects.values_list("at", flat=True).get(), at)


    # date_joined is set by setUpTestData, before the clock window of the class's later tests.
    class UserFromClassData(TestCase):
        @classmethod
        def setUpTestData(cls):
            cls.user = User.objects.create(username="dora")

        def test_a_slow_first_test(self):
            time.sleep(2.5)  # like any slow test: the class data is now seconds old
            self.assertEqual(User.objects.values_list("username", "date_joined").get()[0], "dora")

        def test_b_date_joined(self):
            self.assertEqual(User.objects.values_list("username", "date_joined").get(), ("dora", self.user.date_joined))


    # 5. Columns from a set: their order depends on each process's hash seed.
    class ColumnsFromASet(TestCase):
        @classmethod
        def setUpTestData(cls):
            Person.objects.create(name="ann", nickname="a", score=3, team=1)
            Person.objects.create(name="bob", nickname=None, score=5, team=2)

        def test_values_from_a_set(self):
            rows = list(Person.objects.order_by("name").values(*{"name", "score", "team", "nickname"}))
            self.assertEqual([row["score"] for row in rows], [3, 5])

        def test_values_from_a_set_again(self):
            rows = list(Person.objects.order_by("name").values(*{"nickname", "team", "score", "name"}))
            self.assertEqual([row["nickname"] for row in rows], ["a", None])


    # 6. Recording never changes what the code under test sees.
    class RecorderIsInvisible(TestCase):
        @classmethod
        def setUpTestData(cls):
            for name, team in (("ann", 1), ("bob", 1), ("cid", 2)):
                Person.objects.create(name=name, team=team)

        def test_distinct_count(self):
            self.assertEqual(Person.objects.distinct().count(), 3)

        def test_values_distinct_count(self):
            self.assertEqual(Person.objects.values("team").distinct().count(), 2)

        def test_pickle_evaluated_queryset(self):
            queryset = Person.objects.order_by("name")
            list(queryset)
            restored = pickle.loads(pickle.dumps(queryset))
            self.assertEqual([person.name for person in restored], ["ann", "bob", "cid"])
            self.assertEqual(list(restored), list(queryset))

        def test_deepcopy_evaluated_queryset(self):
            queryset = Person.objects.order_by("name")
            list(queryset)
            copied = copy.deepcopy(queryset)
            self.assertEqual(list(copied), list(queryset))
"""

# Each control: the project's test (Class::method) and the mechanism it guards.
CONTROLS = {
    "KeysFirstClass::test_one": "auto keys: class data, first test",
    "KeysFirstClass::test_two": "auto keys: SQLite reuses the values rolled back after test_one",
    "KeysFirstClass::test_three": "auto keys: SQLite reuses the values rolled back after test_two",
    "KeysSecondClass::test_one": "auto keys: a second class on the same model (SQLite restarts at 1)",
    "KeysSecondClass::test_two": "auto keys: second class, reused values",
    "KeysSecondClass::test_three": "auto keys: second class, reused values",
    "TestFixtureRows::test_first": "pytest function fixture rows in the first test of a class are the test's",
    "TestFixtureRows::test_second": "pytest function fixture rows in the second test of a class",
    "test_fixture_rows_in_a_function": "pytest function fixture rows in a first test function",
    "test_fixture_rows_in_another_function": "pytest function fixture rows in a second test function",
    "UnseenKeys::test_raw_sql_insert": "keys of rows inserted with raw SQL",
    "UnseenKeys::test_explicit_ids": "explicit ids (create(id=1000))",
    "UnseenKeys::test_bulk_create": "keys from bulk_create",
    "UnseenKeys::test_generic_relation_with_text_keys": "keys kept as text (generic relation object_pk)",
    "UnseenKeys::test_generic_relation_given_int_keys": "an int key assigned to a text object_pk",
    "PythonSideValues::test_password_hashes": "password hashes (random salt)",
    "PythonSideValues::test_session_store": "session key and data from SessionStore().create()",
    "PythonSideValues::test_session_from_login": "session from client.force_login()",
    "PythonSideValues::test_uuid4_text": "str(uuid4()) in a CharField",
    "PythonSideValues::test_random_sample": "random.sample() test data",
    "PythonSideValues::test_system_random_default": "a SystemRandom field default",
    "PythonSideValues::test_time_of_day": "timezone.now().time() in a TimeField",
    "UserFromClassData::test_a_slow_first_test": "date_joined from setUpTestData, first test",
    "UserFromClassData::test_b_date_joined": "date_joined from setUpTestData, before the test's clock window",
    "ColumnsFromASet::test_values_from_a_set": "values(*set): column order depends on the hash seed",
    "ColumnsFromASet::test_values_from_a_set_again": "values(*set), second copy",
    "RecorderIsInvisible::test_distinct_count": "recorder transparency: distinct().count()",
    "RecorderIsInvisible::test_values_distinct_count": "recorder transparency: values().distinct().count()",
    "RecorderIsInvisible::test_pickle_evaluated_queryset": "recorder transparency: pickling an evaluated QuerySet",
    "RecorderIsInvisible::test_deepcopy_evaluated_queryset": "recorder transparency: deepcopy of an evaluated QuerySet",
}

# ---------------------------------------------------------------- the LOOP project

LOOP_MODELS = """
    from django.db import models


    class Parent(models.Model):
        name = models.CharField(max_length=20)
        rank = models.IntegerField(default=0)


    class Child(models.Model):
        parent = models.ForeignKey(Parent, on_delete=models.CASCADE)
"""

LOOP_TESTS = """
    from django.test import TestCase

    from lab.models import Child, Parent


    class UnorderedLoop(TestCase):
        def test_unordered_loop(self):
            for name, children in (("a", 1), ("b", 2), ("c", 3)):
                parent = Parent.objects.create(name=name)
                for _ in range(children):
                    Child.objects.create(parent=parent)
            # PostgreSQL writes the updated row anew at the end of the heap: a full scan returns b, c, a.
            Parent.objects.filter(name="a").update(rank=10)
            counts = {}
            for p in Parent.objects.all():
                counts[p.name] = Child.objects.filter(parent=p).count()
            self.assertEqual(counts, {"a": 1, "b": 2, "c": 3})
"""

# ---------------------------------------------------------------- the DETECTIONS project

DETECTION_MODELS = """
    from django.db import models


    class Item(models.Model):
        code = models.CharField(max_length=20, unique=True)
        label = models.CharField(max_length=50)


    class Event(models.Model):
        label = models.CharField(max_length=20)
        created = models.DateTimeField()


    class Parent(models.Model):
        name = models.CharField(max_length=20)
        rank = models.IntegerField(default=0)
"""

DETECTION_TESTS = """
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from django.contrib.auth.models import User
    from django.contrib.sessions.models import Session
    from django.db import NotSupportedError
    from django.db.models.functions import TruncDay
    from django.test import TestCase

    from lab.models import Event, Item, Parent


    class Detections(TestCase):
        def test_upsert_with_unique_fields(self):
            Item.objects.create(code="a", label="old")
            items = [Item(code="a", label="new"), Item(code="b", label="new")]
            try:
                Item.objects.bulk_create(items, update_conflicts=True, unique_fields=["code"], update_fields=["label"])
            except NotSupportedError:  # MySQL and MariaDB cannot name the conflict target
                pass

        def test_trunc_day_in_a_time_zone(self):
            Event.objects.create(label="x", created=datetime(2020, 3, 10, 23, 30, tzinfo=UTC))
            paris = ZoneInfo("Europe/Paris")
            try:
                days = list(Event.objects.annotate(day=TruncDay("created", tzinfo=paris)).values_list("day", flat=True))
            except ValueError:  # MariaDB without time zone tables: CONVERT_TZ() gives NULL
                days = None
            self.assertIn(days, ([datetime(2020, 3, 10, 23, 0, tzinfo=UTC)], None))

        def test_unordered_names(self):
            for name in ("a", "b", "c"):
                Parent.objects.create(name=name)
            Parent.objects.filter(name="a").update(rank=10)
            self.assertEqual([parent.name for parent in Parent.objects.all()], ["a", "b", "c"])

        def test_case_insensitive_match_among_users(self):
            scott = User.objects.create_user("u1", password="secret", first_name="scott")
            User.objects.create_user("u2", password="secret", first_name="Scott")
            self.client.force_login(scott)
            self.assertEqual(len(list(Session.objects.values_list("session_key", "session_data"))), 1)
            matches = list(User.objects.filter(first_name="scott"))
            self.assertIn(scott, matches)
"""

# ---------------------------------------------------------------- running the projects


def line_of(source: str, needle: str) -> int:
    """The 1-based line of the only line of a project file (as written by write_project) containing needle."""
    lines = textwrap.dedent(source).splitlines()
    found = [number for number, line in enumerate(lines, start=1) if needle in line]
    assert len(found) == 1, f"{needle!r} must be on exactly one line of the project file, found on {found}"
    return found[0]


def make_migrations(project: Path) -> None:
    """Generate the app's migrations: its models point at contrib models, which are migrated."""
    env = {**os.environ, "PYTHONPATH": str(project), "DJANGO_SETTINGS_MODULE": "settings"}
    completed = subprocess.run(
        [sys.executable, "-m", "django", "makemigrations", "lab"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def write(root: Path, models: str, tests: str, contrib: bool) -> Path:
    apps = (*CONTRIB_APPS, "lab") if contrib else ("lab",)
    project = write_project(root, {"lab/models.py": models, "lab/tests.py": tests}, apps=apps)
    if contrib:
        make_migrations(project)
    return project


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("identity")
    return {
        "identity": write(root / "identity", IDENTITY_MODELS, IDENTITY_TESTS, contrib=True),
        "loop": write(root / "loop", LOOP_MODELS, LOOP_TESTS, contrib=False),
        "detections": write(root / "detections", DETECTION_MODELS, DETECTION_TESTS, contrib=True),
    }


@dataclass
class Run:
    """One `portability run` of a project: the CLI's result and the JSON report (empty if none was written)."""

    result: CliResult
    report: dict


def run(project: Path, name: str, *extra: str) -> Run:
    return Run(*run_with_report(project, *extra, name=name))


def report_of(a_run: Run) -> dict:
    assert a_run.report, f"no JSON report (exit {a_run.result.returncode}):\n{a_run.result.output[-3000:]}"
    return a_run.report


@pytest.fixture(scope="module")
def identity_run(projects: dict[str, Path]) -> Run:
    return run(projects["identity"], "report")


@pytest.fixture(scope="module")
def identity_report(identity_run: Run) -> dict:
    return report_of(identity_run)


@pytest.fixture(scope="module")
def loop_run(projects: dict[str, Path]) -> Run:
    return run(projects["loop"], "report")


@pytest.fixture(scope="module")
def detections_run(projects: dict[str, Path]) -> Run:
    return run(projects["detections"], "report")


@pytest.fixture(scope="module")
def detections_report(detections_run: Run) -> dict:
    return report_of(detections_run)


def findings_for(report: dict, test_name: str) -> list[dict]:
    """The findings of one test of the project, by ``Class::method`` (or ``method``)."""
    return [finding for finding in report["findings"] if (finding.get("test") or "").endswith(f"::{test_name}")]


def outcomes_of(report: dict, test_name: str) -> dict[str, str]:
    [test] = [test for test in report["tests"] if test["nodeid"].endswith(f"::{test_name}")]
    return test["outcomes"]


def describe(findings: list[dict]) -> str:
    """The findings, one per line with their evidence, for an assertion message."""
    lines = []
    for finding in findings:
        location = finding.get("location") or {}
        lines.append(
            f"{finding.get('code')} {finding.get('kind')} level={finding.get('level', '-')} "
            f"{finding.get('test')} at {location.get('path')}:{location.get('line')}: {finding.get('message')}"
        )
        for backend, evidence in sorted((finding.get("backends") or {}).items()):
            lines.append(f"    {backend}: {evidence.get('outcome')}: {str(evidence.get('message'))[:300]}")
        query = (finding.get("details") or {}).get("query")
        if query:
            lines.append(f"    details.query: {query.get('kind')} at {query.get('site')}: {query.get('message')}")
    return "\n".join(lines) or "(no findings)"


def hint_of(finding: dict) -> str:
    return " ".join(filter(None, [finding.get("hint"), (finding.get("details") or {}).get("hint")]))


def mariadb_has_time_zone_tables() -> bool:
    """Does the local MariaDB know named time zones (mysql_tzinfo_to_sql loaded)?"""
    import MySQLdb

    url = urlsplit(MARIADB_URL)
    connection = MySQLdb.connect(
        host=url.hostname or "127.0.0.1",
        port=url.port or 3306,
        user=unquote(url.username or "root"),
        password=unquote(url.password or ""),
        connect_timeout=5,
    )
    try:
        cursor = connection.cursor()
        cursor.execute("SELECT CONVERT_TZ('2020-01-01 00:00:00', 'UTC', 'Europe/Paris')")
        return cursor.fetchone()[0] is not None
    finally:
        connection.close()


# ---------------------------------------------------------------- controls: no finding at all


@pytest.mark.parametrize("test_name", list(CONTROLS), ids=[f"{name} ({why})" for name, why in CONTROLS.items()])
def test_control_passes_on_every_backend(identity_report: dict, test_name: str) -> None:
    outcomes = outcomes_of(identity_report, test_name)
    assert outcomes == dict.fromkeys(ALL_THREE, "passed"), (
        f"{test_name} ({CONTROLS[test_name]}) must pass everywhere: recording must never change an outcome; "
        f"got {outcomes}\n{describe(findings_for(identity_report, test_name))}"
    )


@pytest.mark.parametrize("test_name", list(CONTROLS), ids=[f"{name} ({why})" for name, why in CONTROLS.items()])
def test_control_gives_no_finding(identity_report: dict, test_name: str) -> None:
    findings = findings_for(identity_report, test_name)
    assert not findings, f"{test_name} ({CONTROLS[test_name]}) must give no finding:\n{describe(findings)}"


def test_identity_project_has_no_finding_and_exits_0(identity_run: Run) -> None:
    report = report_of(identity_run)
    assert report["findings"] == [], describe(report["findings"])
    assert identity_run.result.returncode == 0, identity_run.result.output[-3000:]


def test_recording_changes_no_outcome(projects: dict[str, Path], identity_report: dict) -> None:
    without = report_of(run(projects["identity"], "no-queries", "--no-queries"))
    assert without["findings"] == [], describe(without["findings"])
    recorded = {test["nodeid"]: test["outcomes"] for test in identity_report["tests"]}
    plain = {test["nodeid"]: test["outcomes"] for test in without["tests"]}
    changed = {
        nodeid: (plain.get(nodeid), outcome) for nodeid, outcome in recorded.items() if plain.get(nodeid) != outcome
    }
    assert set(recorded) == set(plain)
    assert not changed, f"outcomes (without recording, with recording) that differ: {changed}"


# ---------------------------------------------------------------- an unordered loop: one note


def test_unordered_loop_is_one_note_at_the_loop(loop_run: Run) -> None:
    report = report_of(loop_run)
    assert outcomes_of(report, "test_unordered_loop") == dict.fromkeys(ALL_THREE, "passed")
    findings = findings_for(report, "test_unordered_loop")
    assert len(findings) == 1, f"expected exactly one PT204 note at the loop, got:\n{describe(findings)}"
    [finding] = findings
    assert (finding["code"], finding["kind"], finding.get("level")) == (
        "PT204",
        "unordered_order_divergence",
        "note",
    ), describe(findings)
    expected = {"path": "lab/tests.py", "line": line_of(LOOP_TESTS, "for p in Parent.objects.all()")}
    assert finding["location"] == expected, describe(findings)


def test_unordered_loop_note_shows_each_backends_order(loop_run: Run) -> None:
    findings = [f for f in findings_for(report_of(loop_run), "test_unordered_loop") if f["code"] == "PT204"]
    assert findings, describe(findings_for(report_of(loop_run), "test_unordered_loop"))
    backends = findings[0]["backends"]
    assert "b" in backends["postgresql"]["sample"][0], backends
    assert "a" in backends["sqlite"]["sample"][0], backends


def test_a_note_alone_exits_0(loop_run: Run) -> None:
    report = report_of(loop_run)
    assert loop_run.result.returncode == 0, f"{loop_run.result.output[-3000:]}\n{describe(report['findings'])}"


def test_a_note_fails_the_run_with_fail_on_note(projects: dict[str, Path]) -> None:
    with_notes = run(projects["loop"], "fail-on-note", "--fail-on", "note")
    assert with_notes.result.returncode == 1, with_notes.result.output[-3000:]


# ---------------------------------------------------------------- detections


def test_detections_project_outcomes(detections_report: dict) -> None:
    for name in (
        "test_upsert_with_unique_fields",
        "test_trunc_day_in_a_time_zone",
        "test_case_insensitive_match_among_users",
    ):
        assert outcomes_of(detections_report, name) == dict.fromkeys(ALL_THREE, "passed"), name
    assert outcomes_of(detections_report, "test_unordered_names") == {
        "sqlite": "passed",
        "postgresql": "failed",
        "mariadb": "passed",
    }


def test_upsert_refused_by_django_before_any_sql_is_a_query_error(detections_report: dict) -> None:
    findings = findings_for(detections_report, "test_upsert_with_unique_fields")
    assert len(findings) == 1, f"expected one PT201 at the bulk_create call, got:\n{describe(findings)}"
    [finding] = findings
    assert (finding["code"], finding["kind"]) == ("PT201", "query_error"), describe(findings)
    line = line_of(DETECTION_TESTS, "Item.objects.bulk_create(items, update_conflicts=True")
    assert finding["location"] == {"path": "lab/tests.py", "line": line}, describe(findings)
    assert finding["backends"]["mariadb"]["outcome"] == "error", describe(findings)
    assert "NotSupportedError" in finding["backends"]["mariadb"]["message"], describe(findings)
    assert finding["backends"]["postgresql"]["outcome"] == finding["backends"]["sqlite"]["outcome"] == "ok"


def test_row_conversion_error_without_time_zone_tables_is_a_query_error(detections_report: dict) -> None:
    findings = findings_for(detections_report, "test_trunc_day_in_a_time_zone")
    if mariadb_has_time_zone_tables():
        assert not findings, f"MariaDB has time zone tables: TruncDay works everywhere\n{describe(findings)}"
        return
    assert len(findings) == 1, f"expected one PT201 at the TruncDay query, got:\n{describe(findings)}"
    [finding] = findings
    assert (finding["code"], finding["kind"]) == ("PT201", "query_error"), describe(findings)
    line = line_of(DETECTION_TESTS, 'TruncDay("created", tzinfo=paris)')
    assert finding["location"] == {"path": "lab/tests.py", "line": line}, describe(findings)
    mariadb = finding["backends"]["mariadb"]
    assert mariadb["outcome"] == "error" and "ValueError" in mariadb["message"], describe(findings)
    assert finding["backends"]["postgresql"]["outcome"] == finding["backends"]["sqlite"]["outcome"] == "ok"
    assert "time zone" in hint_of(finding).lower(), f"the hint must name time zone tables: {hint_of(finding)!r}"


def test_failure_from_an_unordered_result_names_that_query(detections_report: dict) -> None:
    findings = findings_for(detections_report, "test_unordered_names")
    assert len(findings) == 1, f"expected one PT101, got:\n{describe(findings)}"
    [finding] = findings
    assert (finding["code"], finding["kind"]) == ("PT101", "outcome_divergence"), describe(findings)
    assert finding["backends"]["postgresql"]["outcome"] == "failed", describe(findings)
    query = finding["details"].get("query")
    assert query, f"details.query must name the unordered SELECT:\n{describe(findings)}"
    assert query["kind"] == "unordered_order_divergence", describe(findings)
    site = f"lab/tests.py:{line_of(DETECTION_TESTS, 'for parent in Parent.objects.all()')}"
    assert query["site"] == site, describe(findings)
    assert "b" in query["backends"]["postgresql"]["sample"][0], query["backends"]
    assert "a" in query["backends"]["sqlite"]["sample"][0], query["backends"]


def test_case_insensitive_match_is_found_among_python_side_values(detections_report: dict) -> None:
    findings = findings_for(detections_report, "test_case_insensitive_match_among_users")
    assert len(findings) == 1, f"expected one PT202 at the filter, got:\n{describe(findings)}"
    [finding] = findings
    assert (finding["code"], finding["kind"]) == ("PT202", "result_divergence"), describe(findings)
    line = line_of(DETECTION_TESTS, 'User.objects.filter(first_name="scott")')
    assert finding["location"] == {"path": "lab/tests.py", "line": line}, describe(findings)
    assert finding["backends"]["mariadb"]["rows"] == 2, describe(findings)
    assert finding["backends"]["postgresql"]["rows"] == finding["backends"]["sqlite"]["rows"] == 1
    assert (finding["details"].get("cause") or "").startswith("collation"), describe(findings)


def test_detections_fail_the_run(detections_run: Run) -> None:
    report = report_of(detections_run)
    assert detections_run.result.returncode == 1, (
        f"{detections_run.result.output[-3000:]}\n{describe(report['findings'])}"
    )
