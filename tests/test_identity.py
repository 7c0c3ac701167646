"""Value identity (harness/identity.py): labels by first appearance, living as long as their scope.

Each test plays what the recorder does inside one worker: ``enter_test`` when pytest starts
a test, ``register_key``/``register_written`` for what the ORM inserted or updated (with the
scope of the fixture that made it), and the look-ups used to canonicalise rows and match
queries. Two ``Identities`` side by side stand for two backends running the same code.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from harness.identity import CLASS, MODULE, SESSION, TEST, Identities, ScopedLabels, value_key

NODE, EDGE = "app.Node", "app.Edge"


def started(nodeid: str = "tests/test_a.py::TestA::test_1") -> Identities:
    identities = Identities()
    identities.enter_test(nodeid)
    return identities


# ---------------------------------------------------------------- keys by creation order


def test_keys_are_labelled_by_creation_order_per_model_and_scope() -> None:
    identities = started()
    for raw, scope in [(10, TEST), (11, TEST), (3, CLASS), (4, MODULE), (1, SESSION), (12, TEST)]:
        identities.register_key(NODE, raw, scope)
    identities.register_key(EDGE, 10, TEST)
    labels = {raw: identities.key_label(NODE, raw) for raw in (10, 11, 12, 3, 4, 1)}
    assert labels == {
        10: "app.Node#t1",
        11: "app.Node#t2",
        12: "app.Node#t3",
        3: "app.Node#c1",
        4: "app.Node#m1",
        1: "app.Node#s1",
    }
    # Each model counts on its own, and the same raw value of another model is another row.
    assert identities.key_label(EDGE, 10) == "app.Edge#t1"
    assert identities.key_label(EDGE, 11) is None
    identities.register_key(NODE, None, TEST)  # no key (e.g. bulk_create without RETURNING): nothing
    identities.register_key(NODE, 13, TEST)
    assert identities.key_label(NODE, 13) == "app.Node#t4"


def test_two_backends_with_different_raw_keys_get_the_same_labels() -> None:
    sqlite, postgresql = started(), started()
    for raw in (1, 2, 3):
        sqlite.register_key(NODE, raw, TEST)
    for raw in (41, 42, 43):
        postgresql.register_key(NODE, raw, TEST)
    assert [sqlite.key_label(NODE, raw) for raw in (1, 2, 3)] == [
        postgresql.key_label(NODE, raw) for raw in (41, 42, 43)
    ]


def test_a_raw_key_reused_after_the_rollback_gets_a_fresh_label_in_the_next_test() -> None:
    # SQLite restores its AUTOINCREMENT counter at the rollback ending each test, PostgreSQL does not.
    sqlite, postgresql = started("t.py::T::test_1"), started("t.py::T::test_1")
    sqlite.register_key(NODE, 1, TEST)
    sqlite.register_key(NODE, 2, TEST)
    postgresql.register_key(NODE, 1, TEST)
    postgresql.register_key(NODE, 2, TEST)
    for identities in (sqlite, postgresql):
        identities.enter_test("t.py::T::test_2")
        assert identities.key_label(NODE, 1) is None and identities.key_label(NODE, 2) is None
    sqlite.register_key(NODE, 2, TEST)  # the same raw values again on SQLite...
    sqlite.register_key(NODE, 1, TEST)
    postgresql.register_key(NODE, 3, TEST)  # ... the sequence moved on elsewhere
    postgresql.register_key(NODE, 4, TEST)
    assert sqlite.key_label(NODE, 2) == postgresql.key_label(NODE, 3) == "app.Node#t1"
    assert sqlite.key_label(NODE, 1) == postgresql.key_label(NODE, 4) == "app.Node#t2"


def test_class_scope_keys_survive_into_the_next_test_of_the_class_only() -> None:
    identities = started("tests/test_a.py::TestA::test_1")
    identities.register_key(NODE, 5, CLASS)  # setUpTestData
    identities.register_key(NODE, 6, MODULE)  # a module fixture
    identities.register_key(NODE, 7, TEST)
    identities.enter_test("tests/test_a.py::TestA::test_2")
    assert identities.key_label(NODE, 5) == "app.Node#c1"
    assert identities.key_label(NODE, 7) is None
    identities.register_key(NODE, 8, CLASS)  # the class counter goes on within the class
    assert identities.key_label(NODE, 8) == "app.Node#c2"
    identities.enter_test("tests/test_a.py::TestB::test_1")
    assert identities.key_label(NODE, 5) is None and identities.key_label(NODE, 8) is None
    assert identities.key_label(NODE, 6) == "app.Node#m1"  # same module
    identities.register_key(NODE, 9, CLASS)
    assert identities.key_label(NODE, 9) == "app.Node#c1"  # a new class counts from 1 again
    identities.enter_test("tests/test_b.py::TestA::test_1")
    assert identities.key_label(NODE, 6) is None and identities.key_label(NODE, 9) is None


def test_session_keys_survive_every_test() -> None:
    identities = Identities()
    identities.register_key(NODE, 1, SESSION)  # made while the test database was built
    for nodeid in ("a.py::T::test_1", "a.py::U::test_1", "b.py::test_x"):
        identities.enter_test(nodeid)
        assert identities.key_label(NODE, 1) == "app.Node#s1"


def test_a_newer_registration_of_the_same_raw_key_hides_the_older_until_its_scope_ends() -> None:
    identities = started("t.py::T::test_1")
    identities.register_key(NODE, 5, CLASS)
    identities.register_key(NODE, 5, TEST)  # deleted and re-created with the same id in the test
    assert identities.key_label(NODE, 5) == "app.Node#t1"
    identities.enter_test("t.py::T::test_2")  # the rollback brings the class row back
    assert identities.key_label(NODE, 5) == "app.Node#c1"


def test_scoped_labels_stack_and_unstack_by_scope() -> None:
    labels = ScopedLabels()
    labels.add("k", "A", CLASS)
    labels.add("k", "B", TEST)
    labels.add("k", "C", TEST)
    labels.add("other", "D", TEST)
    assert labels.get("k") == "C" and labels.all("k") == ["A", "B", "C"]
    labels.end(TEST)
    assert labels.get("k") == "A" and labels.all("k") == ["A"]
    assert labels.get("other") is None and labels.all("other") == []
    labels.end(TEST)  # nothing left in that scope: harmless
    labels.end(CLASS)
    assert labels.get("k") is None


# ---------------------------------------------------------------- keys nobody announced


def test_sighted_keys_are_labelled_by_first_sight_and_reset_per_test() -> None:
    sqlite, mariadb = started("t.py::test_1"), started("t.py::test_1")
    assert [sqlite.sighted_key_label(NODE, raw) for raw in (7, 8, 7)] == ["app.Node#r1", "app.Node#r2", "app.Node#r1"]
    assert [mariadb.sighted_key_label(NODE, raw) for raw in (30, 31, 30)] == [
        "app.Node#r1",
        "app.Node#r2",
        "app.Node#r1",
    ]
    assert sqlite.sighted_key_label(EDGE, 7) == "app.Edge#r1"  # per model
    sqlite.enter_test("t.py::test_2")
    assert sqlite.sighted_key_label(NODE, 8) == "app.Node#r1"


def test_a_registered_key_is_no_longer_a_sighted_one() -> None:
    identities = started()
    identities.sighted_key_label(NODE, 7)
    identities.register_key(NODE, 7, TEST)
    assert identities.key_label(NODE, 7) == "app.Node#t1"
    assert identities.input_label(7, key_model=NODE) == "app.Node#t1"


# ---------------------------------------------------------------- written values


def test_a_value_read_back_has_the_label_of_its_latest_write_to_that_column() -> None:
    identities = started()
    identities.register_written("auth_user.password", "pbkdf2$a", TEST)
    identities.register_written("auth_user.password", "pbkdf2$b", TEST)
    assert identities.written_label("auth_user.password", "pbkdf2$a") == "<in:t1>"
    assert identities.written_label("auth_user.password", "pbkdf2$b") == "<in:t2>"
    identities.register_written("auth_user.password", "pbkdf2$a", TEST)  # written again
    assert identities.written_label("auth_user.password", "pbkdf2$a") == "<in:t3>"
    assert identities.written_label("auth_user.password", "never written") is None


def test_written_labels_count_writes_not_distinct_values() -> None:
    # A session stamped in seconds: two writes are equal on one backend, differ on the other.
    sqlite, postgresql = started(), started()
    for value in ("stamp:100", "stamp:100", "later"):
        sqlite.register_written("django_session.session_data", value, TEST)
    for value in ("stamp:100", "stamp:101", "later"):
        postgresql.register_written("django_session.session_data", value, TEST)
    assert sqlite.written_label("django_session.session_data", "later") == "<in:t3>"
    assert postgresql.written_label("django_session.session_data", "later") == "<in:t3>"


def test_a_value_read_from_a_column_it_was_not_written_to_is_not_renamed() -> None:
    identities = started()
    identities.register_written("shop_item.quantity", 3, TEST)
    assert identities.written_label("shop_item.quantity", 3) == "<in:t1>"
    assert identities.written_label("shop_order.total", 3) is None  # a count that happens to be 3


def test_written_values_compare_by_value() -> None:
    identities = started()
    identities.register_written("shop_item.price", Decimal("1.50"), TEST)
    assert identities.written_label("shop_item.price", Decimal("1.5")) == "<in:t1>"
    identities.register_written("shop_item.blob", memoryview(b"\x00\x01"), TEST)
    assert identities.written_label("shop_item.blob", b"\x00\x01") == "<in:t1>"
    assert identities.written_label("shop_item.blob", bytearray(b"\x00\x01")) == "<in:t1>"


@pytest.mark.parametrize("value", [True, False, 1.5, float("nan"), None, {"a": 1}, [1, 2], Decimal("NaN")])
def test_bools_floats_none_and_json_are_never_renamed(value) -> None:
    assert value_key(value) is None
    identities = started()
    identities.register_written("shop_item.data", value, TEST)
    assert identities.written_label("shop_item.data", value) is None
    identities.register_written("shop_item.data", "after", TEST)
    assert identities.written_label("shop_item.data", "after") == "<in:t1>"  # no write was counted


def test_value_keys_keep_types_apart() -> None:
    assert value_key(1) == ("int", 1) and value_key(True) is None  # True == 1, but never renamed
    assert value_key("1") == ("str", "1")
    assert value_key(Decimal("1.50")) == value_key(Decimal("1.5")) != value_key(1)
    assert value_key(dt.date(2020, 1, 1)) == ("date", dt.date(2020, 1, 1))
    assert value_key(dt.datetime(2020, 1, 1))[0] == "datetime"
    assert value_key(uuid.UUID(int=1)) == ("uuid", uuid.UUID(int=1))
    assert value_key(memoryview(b"x")) == value_key(b"x") == ("bytes", b"x")


def test_written_values_live_as_long_as_their_scope() -> None:
    identities = started("t.py::T::test_1")
    identities.register_written("auth_user.password", "class-hash", CLASS)
    identities.register_written("auth_user.password", "test-hash", TEST)
    identities.enter_test("t.py::T::test_2")
    assert identities.written_label("auth_user.password", "class-hash") == "<in:c1>"
    assert identities.written_label("auth_user.password", "test-hash") is None
    identities.register_written("auth_user.password", "other-hash", TEST)
    assert identities.written_label("auth_user.password", "other-hash") == "<in:t1>"  # counted from 1 again
    identities.enter_test("t.py::U::test_1")
    assert identities.written_label("auth_user.password", "class-hash") is None


def test_a_rewrite_in_a_test_hides_the_class_write_until_the_test_ends() -> None:
    identities = started("t.py::T::test_1")
    identities.register_written("shop_item.name", "x", CLASS)
    identities.register_written("shop_item.name", "x", TEST)
    assert identities.written_label("shop_item.name", "x") == "<in:t1>"
    identities.enter_test("t.py::T::test_2")
    assert identities.written_label("shop_item.name", "x") == "<in:c1>"


# ---------------------------------------------------------------- query parameters


def test_input_label_names_a_key_by_the_model_of_its_column() -> None:
    sqlite, postgresql = started(), started()
    sqlite.register_key(NODE, 1, TEST)
    postgresql.register_key(NODE, 9, TEST)
    assert sqlite.input_label(1, key_model=NODE) == postgresql.input_label(9, key_model=NODE) == "app.Node#t1"
    assert sqlite.input_label(1, key_model=EDGE) == 1  # no Edge has that key: the raw value
    sqlite.sighted_key_label(EDGE, 1)
    assert sqlite.input_label(1, key_model=EDGE) == "app.Edge#r1"


def test_input_label_names_a_written_value_by_its_column_and_write() -> None:
    sqlite, postgresql = started(), started()
    sqlite.register_written("django_session.session_key", "abc", TEST)
    postgresql.register_written("django_session.session_key", "xyz", TEST)
    assert sqlite.input_label("abc") == postgresql.input_label("xyz") == "django_session.session_key<in:t1>"
    assert sqlite.input_label("never written") == "never written"
    assert sqlite.input_label(1.5) == 1.5 and sqlite.input_label(None) is None and sqlite.input_label(True) is True


def test_a_bare_int_is_named_only_when_it_is_a_key_of_exactly_one_model() -> None:
    identities = started()
    identities.register_key(NODE, 3, TEST)
    assert identities.input_label(3) == "app.Node#t1"  # raw SQL: WHERE node_id = %s
    identities.register_key(EDGE, 3, TEST)
    assert identities.input_label(3) == 3  # Node 3 or Edge 3: ambiguous, left as is
    assert identities.input_label(4) == 4
    identities.enter_test("tests/test_a.py::TestA::test_2")
    identities.register_key(NODE, 3, CLASS)
    identities.register_key(NODE, 3, TEST)
    assert identities.input_label(3) == "app.Node#t1"  # two rows of one model: the newest


def test_a_bare_uuid_key_is_named_too() -> None:
    identities = started()
    key = uuid.UUID(int=7)
    identities.register_key(NODE, key, TEST)
    assert identities.input_label(key) == "app.Node#t1"


def test_session_rows_named_by_natural_key() -> None:
    # ContentType rows: a model that exists on one backend only shifts every creation order after it.
    sqlite, postgresql = Identities(), Identities()
    sqlite.register_key("contenttypes.ContentType", 5, SESSION)
    sqlite.name_key("contenttypes.ContentType", 5, ["core", "child"])
    postgresql.register_key("contenttypes.ContentType", 6, SESSION)
    postgresql.name_key("contenttypes.ContentType", 6, ["core", "child"])
    for identities, raw in ((sqlite, 5), (postgresql, 6)):
        identities.enter_test("t.py::T::test_1")
        assert identities.key_label("contenttypes.ContentType", raw) == 'contenttypes.ContentType#["core","child"]'
        assert identities.input_label(raw) == 'contenttypes.ContentType#["core","child"]'
    sqlite.name_key("contenttypes.ContentType", None, ["x"])  # no key: nothing
    assert sqlite.key_label("contenttypes.ContentType", None) is None
