"""The recorder's column roles and query inputs (harness/orm_inspect.py), and what each role becomes in a row.

Django can be configured only once per process (and this suite must not configure it for the
other test modules), so the ORM part runs in one subprocess per module: a throwaway ``shop``
app is written to a temporary folder, and the ``PROBES`` below run there after
``django.setup()`` (SQLite in memory; no table is created, queries are only compiled). Each
probe returns plain data that one test asserts on. The row part needs no Django at all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.canonical import CLOCK_FIELD, GENERATED_UUID, KEY, KEY_DERIVED, PLAIN, Column, RowDigest
from harness.identity import TEST, Identities
from harness.recorder import QueryRecorder, ResultPlan
from harness.results import ResultsWriter
from tests.helpers import REPO, write_project

MODELS = """
    import uuid

    from django.db import models
    from django.db.models import Q


    class Customer(models.Model):
        name = models.CharField(max_length=50)
        email = models.CharField(max_length=50, unique=True)
        city = models.CharField(max_length=50)
        created = models.DateTimeField(auto_now_add=True)
        updated = models.DateTimeField(auto_now=True)
        born = models.DateField(null=True)
        score = models.FloatField(default=0)


    class Order(models.Model):
        customer = models.ForeignKey(Customer, on_delete=models.CASCADE)
        number = models.IntegerField()

        class Meta:
            unique_together = [("customer", "number")]


    class Place(models.Model):
        name = models.CharField(max_length=50)


    class Restaurant(Place):
        stars = models.IntegerField(default=0)


    class Pizzeria(Restaurant):
        oven = models.CharField(max_length=20)


    class Review(models.Model):
        restaurant = models.ForeignKey(Restaurant, on_delete=models.CASCADE)
        text = models.CharField(max_length=100)


    class Token(models.Model):
        id = models.UUIDField(primary_key=True, default=uuid.uuid4)
        label = models.CharField(max_length=20)


    class Imported(models.Model):
        id = models.UUIDField(primary_key=True)


    class Membership(models.Model):
        person = models.CharField(max_length=50)
        group = models.CharField(max_length=50)
        active = models.BooleanField(default=True)

        class Meta:
            constraints = [
                models.UniqueConstraint(fields=["person"], condition=Q(active=True), name="one_active"),
                models.UniqueConstraint(fields=["person", "group"], name="person_group"),
            ]


    class Tag(models.Model):
        name = models.CharField(max_length=50)


    class Newest(models.Model):
        name = models.CharField(max_length=50)

        class Meta:
            ordering = ["-id"]
"""

# ---------------------------------------------------------------- probes (run in the subprocess)

PROBES: dict[str, Callable[[], Any]] = {}


def probe(function: Callable[[], Any]) -> Callable[[], Any]:
    PROBES[function.__name__] = function
    return function


def _roles(queryset: Any) -> dict[str, dict[str, Any]]:
    """Each selected column's role, as the recorder's _describe_select computes it."""
    from harness.orm_inspect import column_name, column_of, key_column_names

    compiler = queryset.query.get_compiler("default")
    compiler.setup_query()
    key_columns = key_column_names(queryset.query.get_meta())
    roles = {}
    for select in compiler.select[: compiler.col_count]:
        expression, alias = select[0], select[2]
        column = column_of(expression, key_columns)
        roles[column_name(expression, alias)] = {"role": column.role, "model": column.model, "source": column.source}
    return roles


@probe
def customer_columns() -> Any:
    from shop.models import Customer

    return _roles(Customer.objects.values("id", "name", "created", "updated", "born", "score"))


@probe
def order_columns() -> Any:
    from shop.models import Order

    return _roles(Order.objects.values("id", "customer", "customer__name", "number"))


@probe
def inheritance_columns() -> Any:
    from shop.models import Pizzeria, Review

    return {
        "pizzeria": _roles(Pizzeria.objects.values("pk", "name")),
        "review": _roles(Review.objects.values("restaurant")),
    }


@probe
def uuid_columns() -> Any:
    from shop.models import Imported, Token

    return {"token": _roles(Token.objects.values("id", "label")), "imported": _roles(Imported.objects.values("id"))}


@probe
def annotation_columns() -> Any:
    from django.db.models import DurationField, ExpressionWrapper, F
    from django.db.models.functions import Now, Upper
    from shop.models import Customer

    return _roles(
        Customer.objects.annotate(
            now=Now(),
            age=ExpressionWrapper(Now() - F("created"), output_field=DurationField()),
            next_id=F("id") + 1,
            upper=Upper("name"),
        ).values("now", "age", "next_id", "upper")
    )


@probe
def aggregate_columns() -> Any:
    from django.db.models import Count, Max, Min, Sum
    from shop.models import Customer

    return _roles(
        Customer.objects.values("city").annotate(
            top=Max("name"),
            low=Min("name"),
            newest=Max("id"),
            total=Sum("id"),
            n=Count("id"),
            orders=Count("order"),
            rows=Count("*"),
        )
    )


@probe
def extra_columns() -> Any:
    from shop.models import Customer

    return _roles(Customer.objects.extra(select={"plus": "id + 1", "shout": "name || '!'"}).values("plus", "shout"))


@probe
def key_columns() -> Any:
    from shop.models import Customer, Order, Review

    from harness.orm_inspect import key_column_names

    return {model.__name__: sorted(key_column_names(model._meta)) for model in (Customer, Order, Review)}


@probe
def natural_keys() -> Any:
    from shop.models import Customer, Membership, Order, Tag, Token

    from harness.orm_inspect import natural_key_fields

    result = {}
    for model in (Order, Membership, Customer, Tag, Token):
        fields = natural_key_fields(model._meta)
        result[model.__name__] = None if fields is None else [field.name for field in fields]
    return result


@probe
def total_orders() -> Any:
    from django.db.models import Count, F
    from shop.models import Customer, Newest, Order

    from harness.orm_inspect import has_explicit_order, has_total_order

    querysets = {
        "pk": Customer.objects.order_by("pk"),
        "-id": Customer.objects.order_by("-id"),
        "name,id": Customer.objects.order_by("name", "id"),
        "name": Customer.objects.order_by("name"),
        "unique email": Customer.objects.order_by("email"),
        "none": Customer.objects.all(),
        "random": Customer.objects.order_by("?"),
        "meta ordering": Newest.objects.all(),
        "meta ordering cleared": Newest.objects.order_by(),
        "meta ordering replaced": Newest.objects.order_by("name"),
        "unique_together": Order.objects.order_by("customer", "number"),
        "part of unique_together": Order.objects.order_by("number"),
        "every group key": Customer.objects.values("city").annotate(n=Count("id")).order_by("city"),
        "some group keys": Customer.objects.values("city", "name").annotate(n=Count("id")).order_by("city"),
        "expression": Customer.objects.order_by(F("name").asc()),
    }
    return {
        name: {"total": has_total_order(queryset.query), "explicit": has_explicit_order(queryset.query)}
        for name, queryset in querysets.items()
    }


@probe
def fingerprints() -> Any:
    import datetime as dt

    from django.db.models import Q
    from django.utils import timezone
    from shop.models import Customer, Order, Pizzeria, Review, Token

    from harness.canonical import Clock
    from harness.identity import TEST, Identities
    from harness.orm_inspect import input_fingerprint

    token_a, token_b = uuid.UUID(int=1), uuid.UUID(int=2)
    # The same test on two backends: SQLite hands out 1, 2; PostgreSQL's sequence is at 7.
    sqlite, postgresql = Identities(), Identities()
    for identities, keys, salt, token in ((sqlite, (1, 2), "salt-a", token_a), (postgresql, (7, 8), "salt-b", token_b)):
        identities.enter_test("t.py::test")
        for raw in keys:
            identities.register_key("shop.Customer", raw, TEST)
        identities.register_key("shop.Place", keys[0] * 100, TEST)  # no raw key shared with Customer
        identities.register_key("shop.Token", token, TEST)
        identities.register_written("shop_customer.name", salt, TEST)

    def on(identities: Identities, queryset: Any) -> str:
        return input_fingerprint(queryset.query, identities, Clock())

    a, b = sqlite, postgresql
    day_ago = timezone.now() - dt.timedelta(days=1)
    pairs = {
        "fk": (on(a, Order.objects.filter(customer_id=1)), on(b, Order.objects.filter(customer_id=7))),
        "pk": (on(a, Customer.objects.filter(pk=2)), on(b, Customer.objects.filter(pk=8))),
        "instance": (
            on(a, Order.objects.filter(customer=Customer(pk=1))),
            on(b, Order.objects.filter(customer=Customer(pk=7))),
        ),
        "in": (on(a, Customer.objects.filter(id__in=[1, 2])), on(b, Customer.objects.filter(id__in=[8, 7]))),
        "in strings": (
            on(a, Customer.objects.filter(city__in=["b", "a"])),
            on(b, Customer.objects.filter(city__in=["a", "b"])),
        ),
        "written": (on(a, Customer.objects.filter(name="salt-a")), on(b, Customer.objects.filter(name="salt-b"))),
        "clock": (
            on(a, Customer.objects.filter(created__gte=day_ago)),
            on(b, Customer.objects.filter(created__gte=day_ago + dt.timedelta(seconds=0.5))),
        ),
        "subquery": (
            on(a, Order.objects.filter(customer__in=Customer.objects.filter(pk=1))),
            on(b, Order.objects.filter(customer__in=Customer.objects.filter(pk=7))),
        ),
        "inheritance": (on(a, Pizzeria.objects.filter(pk=100)), on(b, Pizzeria.objects.filter(pk=700))),
        "inherited fk": (
            on(a, Review.objects.filter(restaurant_id=100)),
            on(b, Review.objects.filter(restaurant_id=700)),
        ),
        "generated uuid": (on(a, Token.objects.filter(pk=token_a)), on(b, Token.objects.filter(pk=token_b))),
        "raw where": (
            on(a, Customer.objects.extra(where=["id = %s"], params=[1])),
            on(b, Customer.objects.extra(where=["id = %s"], params=[7])),
        ),
        "or": (
            on(a, Customer.objects.filter(Q(pk=1) | Q(name="salt-a"))),
            on(b, Customer.objects.filter(Q(pk=7) | Q(name="salt-b"))),
        ),
    }
    different = {
        "other key": (on(a, Customer.objects.filter(pk=1)), on(a, Customer.objects.filter(pk=2))),
        "other key across backends": (on(a, Customer.objects.filter(pk=1)), on(b, Customer.objects.filter(pk=8))),
        "other value": (on(a, Customer.objects.filter(city="x")), on(b, Customer.objects.filter(city="y"))),
        "other in list": (on(a, Customer.objects.filter(id__in=[1, 2])), on(b, Customer.objects.filter(id__in=[7]))),
        "other slice": (on(a, Customer.objects.all()[:10]), on(b, Customer.objects.all()[10:20])),
        "other lookup": (on(a, Customer.objects.filter(pk=1)), on(b, Customer.objects.filter(pk__gt=7))),
        "other model": (on(a, Customer.objects.filter(city="x")), on(b, Order.objects.filter(customer__city="x"))),
        "negated": (on(a, Customer.objects.filter(city="x")), on(b, Customer.objects.exclude(city="x"))),
        "written on one only": (
            on(a, Customer.objects.filter(name="salt-a")),
            on(b, Customer.objects.filter(name="z")),
        ),
    }
    return {
        "same": {name: first == second for name, (first, second) in pairs.items()},
        "different": {name: first != second for name, (first, second) in different.items()},
    }


def _run_probes() -> dict[str, Any]:
    results = {}
    for name, function in PROBES.items():
        try:
            results[name] = function()
        except Exception as error:  # noqa: BLE001 - reported per probe, so one failure names itself
            results[name] = {"probe error": f"{type(error).__name__}: {error}"}
    return results


DRIVER = """
import json, sys
import django
django.setup()
from tests.test_column_roles import _run_probes
print("PROBES:" + json.dumps(_run_probes()))
"""


@pytest.fixture(scope="module")
def probed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    project = write_project(tmp_path_factory.mktemp("roles"), {"shop/models.py": MODELS})
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "settings",
        "PYTHONPATH": os.pathsep.join([str(project), str(REPO)]),
    }
    done = subprocess.run(
        [sys.executable, "-c", DRIVER], cwd=project, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    [line] = [line for line in done.stdout.splitlines() if line.startswith("PROBES:")]
    return json.loads(line.removeprefix("PROBES:"))


def role(kind: str, model: str = "", source: str | None = None) -> dict[str, Any]:
    return {"role": kind, "model": model, "source": source}


# ---------------------------------------------------------------- column roles


def test_an_auto_primary_key_is_a_key_of_its_model(probed: dict[str, Any]) -> None:
    assert probed["customer_columns"]["id"] == role(KEY, "shop.Customer")


def test_a_plain_column_is_plain_with_its_table_column_as_source(probed: dict[str, Any]) -> None:
    columns = probed["customer_columns"]
    assert columns["name"] == role(PLAIN, source="shop_customer.name")
    assert columns["born"] == role(PLAIN, source="shop_customer.born")
    assert columns["score"] == role(PLAIN, source="shop_customer.score")


def test_auto_now_and_auto_now_add_are_clock_fields(probed: dict[str, Any]) -> None:
    columns = probed["customer_columns"]
    assert columns["created"] == role(CLOCK_FIELD)
    assert columns["updated"] == role(CLOCK_FIELD)


def test_a_foreign_key_holds_a_key_of_its_target(probed: dict[str, Any]) -> None:
    columns = probed["order_columns"]
    assert columns["customer"] == role(KEY, "shop.Customer")
    assert columns["id"] == role(KEY, "shop.Order")
    assert columns["number"] == role(PLAIN, source="shop_order.number")
    # A column of a joined table keeps its own table as source.
    assert columns["customer__name"] == role(PLAIN, source="shop_customer.name")


def test_multi_table_inheritance_keys_are_keys_of_the_root(probed: dict[str, Any]) -> None:
    # Pizzeria.restaurant_ptr -> Restaurant.place_ptr -> Place.id: one row, one key, allocated by Place.
    assert probed["inheritance_columns"]["pizzeria"]["pk"] == role(KEY, "shop.Place")
    assert probed["inheritance_columns"]["pizzeria"]["name"] == role(PLAIN, source="shop_place.name")
    assert probed["inheritance_columns"]["review"]["restaurant"] == role(KEY, "shop.Place")


def test_a_uuid_primary_key_with_a_default_is_generated(probed: dict[str, Any]) -> None:
    assert probed["uuid_columns"]["token"]["id"] == role(GENERATED_UUID, "shop.Token")
    assert probed["uuid_columns"]["token"]["label"] == role(PLAIN, source="shop_token.label")
    # Without a default the test chose the value: plain data (renamed as a written value).
    assert probed["uuid_columns"]["imported"]["id"] == role(PLAIN, source="shop_imported.id")


def test_now_and_expressions_over_it_are_clock_values(probed: dict[str, Any]) -> None:
    columns = probed["annotation_columns"]
    assert columns["now"] == role(CLOCK_FIELD)
    assert columns["age"] == role(CLOCK_FIELD)


def test_arithmetic_on_a_key_is_key_derived(probed: dict[str, Any]) -> None:
    assert probed["annotation_columns"]["next_id"] == role(KEY_DERIVED)
    assert probed["extra_columns"]["plus"] == role(KEY_DERIVED)  # extra(select={"plus": "id + 1"})


def test_a_function_of_a_column_is_plain_without_a_source(probed: dict[str, Any]) -> None:
    # Upper(written value) is not renamed (a documented limit): no source column.
    assert probed["annotation_columns"]["upper"] == role(PLAIN)
    assert probed["extra_columns"]["shout"] == role(PLAIN)


def test_grouping_columns_and_counts_of_rows(probed: dict[str, Any]) -> None:
    columns = probed["aggregate_columns"]
    assert columns["city"] == role(PLAIN, source="shop_customer.city")
    assert columns["rows"] == role(PLAIN)  # Count("*")


def test_the_largest_key_is_a_key(probed: dict[str, Any]) -> None:
    assert probed["aggregate_columns"]["newest"] == role(KEY, "shop.Customer")


def test_min_and_max_keep_their_column(probed: dict[str, Any]) -> None:
    columns = probed["aggregate_columns"]
    assert columns["top"] == role(PLAIN, source="shop_customer.name")
    assert columns["low"] == role(PLAIN, source="shop_customer.name")


def test_a_sum_of_keys_is_key_derived(probed: dict[str, Any]) -> None:
    assert probed["aggregate_columns"]["total"] == role(KEY_DERIVED)


def test_a_count_of_keys_is_plain_data(probed: dict[str, Any]) -> None:
    columns = probed["aggregate_columns"]
    assert columns["n"] == role(PLAIN)
    assert columns["orders"] == role(PLAIN)


def test_key_columns_of_a_model(probed: dict[str, Any]) -> None:
    assert probed["key_columns"] == {
        "Customer": ["id"],
        "Order": ["customer_id", "id"],
        "Review": ["id", "restaurant_id"],
    }


# ---------------------------------------------------------------- natural keys and order


def test_natural_key_fields(probed: dict[str, Any]) -> None:
    assert probed["natural_keys"] == {
        "Order": ["customer", "number"],  # unique_together
        "Membership": ["person", "group"],  # the unconditional UniqueConstraint
        "Customer": ["email"],  # a unique field
        "Tag": None,
        "Token": None,  # the primary key is not a natural key
    }


def test_total_and_explicit_orders(probed: dict[str, Any]) -> None:
    total = {name: value["total"] for name, value in probed["total_orders"].items()}
    assert total == {
        "pk": True,
        "-id": True,
        "name,id": True,
        "name": False,
        "unique email": True,
        "none": False,
        "random": False,
        "meta ordering": True,
        "meta ordering cleared": False,
        "meta ordering replaced": False,
        "unique_together": True,
        "part of unique_together": False,
        "every group key": True,
        "some group keys": False,
        "expression": False,
    }
    explicit = {name for name, value in probed["total_orders"].items() if value["explicit"]}
    assert explicit == set(total) - {"none", "meta ordering cleared"}


# ---------------------------------------------------------------- input fingerprints


def test_fingerprints_are_equal_for_the_same_question_on_two_backends(probed: dict[str, Any]) -> None:
    same = probed["fingerprints"]["same"]
    assert same == dict.fromkeys(same, True)
    assert {"fk", "pk", "in", "in strings", "written", "clock", "raw where", "inheritance"} <= set(same)


def test_fingerprints_differ_for_different_questions(probed: dict[str, Any]) -> None:
    different = probed["fingerprints"]["different"]
    assert different == dict.fromkeys(different, True)
    assert {"other key", "other value", "other in list", "other slice"} <= set(different)


def test_every_probe_ran(probed: dict[str, Any]) -> None:
    errors = {name: result for name, result in probed.items() if isinstance(result, dict) and "probe error" in result}
    assert errors == {}
    assert set(probed) == set(PROBES)


# ---------------------------------------------------------------- roles in a row (no Django)


def recorder(tmp_path: Path, float_tolerance: float = 1e-9, name: str = "r") -> QueryRecorder:
    recorder = QueryRecorder(
        writer=ResultsWriter(tmp_path / f"{name}.jsonl"), project_root=str(tmp_path), float_tolerance=float_tolerance
    )
    recorder.identities.enter_test("t.py::test")
    return recorder


def plan(columns: dict[str, Column]) -> ResultPlan:
    """Columns in select order; compared in the order of their names."""
    names = list(columns)
    order = sorted(range(len(names)), key=names.__getitem__)
    return ResultPlan(list(columns.values()), sorted(names), order, [False] * len(names))  # no row key beside


def test_each_role_in_a_row(tmp_path: Path) -> None:
    rec = recorder(tmp_path)
    rec.identities.register_key("shop.Customer", 41, TEST)
    rec.identities.register_written("shop_customer.name", "salt", TEST)
    columns = plan(
        {
            "a_key": Column(KEY, "shop.Customer"),
            "b_unannounced": Column(KEY, "shop.Customer"),
            "c_written": Column(PLAIN, source="shop_customer.name"),
            "d_elsewhere": Column(PLAIN, source="shop_customer.city"),
            "e_clock": Column(CLOCK_FIELD),
            "f_derived": Column(KEY_DERIVED),
            "g_float": Column(PLAIN),
            "h_null": Column(KEY, "shop.Customer"),
        }
    )
    raw, renamed, floats = rec._canonical_row([41, 99, "salt", "salt", "2020", 42, 0.5, None], columns)
    assert raw == [
        "shop.Customer#t1",
        "shop.Customer#=99",
        "salt",
        "salt",
        "<clock>",
        "<computed from a key>",
        "<float>",
        None,
    ]
    assert renamed == [
        "shop.Customer#t1",
        "shop.Customer#r1",
        "<in:t1>",
        "salt",  # read from a column it was not written to
        "<clock>",
        "<computed from a key>",
        "<float>",
        None,
    ]
    assert floats == [0.5]


def test_a_row_with_nothing_renamed_has_no_renamed_form(tmp_path: Path) -> None:
    rec = recorder(tmp_path)
    raw, renamed, floats = rec._canonical_row(["x", 3], plan({"a": Column(), "b": Column()}))
    assert (raw, renamed, floats) == (["x", 3], None, None)


def test_a_float_tolerance_of_zero_keeps_floats_in_the_row(tmp_path: Path) -> None:
    rec = recorder(tmp_path, float_tolerance=0)
    raw, renamed, floats = rec._canonical_row([0.5, float("inf")], plan({"a": Column(), "b": Column()}))
    assert (raw, renamed, floats) == ([0.5, "inf"], None, None)
    tolerant = recorder(tmp_path, name="tolerant")
    raw, _, floats = tolerant._canonical_row([0.5, float("inf")], plan({"a": Column(), "b": Column()}))
    assert (raw, floats) == (["<float>", "inf"], [0.5])  # only finite floats are kept aside


def test_columns_compare_by_name_whatever_their_select_order(tmp_path: Path) -> None:
    # values(*a_set): the select order follows each process's hash seed.
    rec = recorder(tmp_path)
    first = rec._canonical_row(["x", 1], plan({"name": Column(), "rank": Column()}))
    second = rec._canonical_row([1, "x"], plan({"rank": Column(), "name": Column()}))
    assert first == second == (["x", 1], None, None)


def test_two_backends_with_different_inputs_agree_in_the_renamed_form(tmp_path: Path) -> None:
    digests = []
    for name, keys, hashes, unannounced in (
        ("sqlite", (1, 2), ("h1", "h2"), 5),
        ("postgresql", (7, 8), ("h9", "h8"), 40),
    ):
        rec = recorder(tmp_path, name=name)
        for key, value in zip(keys, hashes, strict=True):
            rec.identities.register_key("auth.User", key, TEST)
            rec.identities.register_written("auth_user.password", value, TEST)
        columns = plan(
            {
                "id": Column(KEY, "auth.User"),
                "password": Column(PLAIN, source="auth_user.password"),
                "group": Column(KEY, "auth.Group"),
            }
        )
        digest = RowDigest()
        for key, value in zip(keys, hashes, strict=True):
            digest.add(*rec._canonical_row([key, value, unannounced], columns))
        digests.append(digest.to_dict()["digests"])
    assert digests[0]["renamed"] == digests[1]["renamed"]
    assert digests[0]["raw"] != digests[1]["raw"]


def test_a_generated_uuid_key_is_labelled_like_an_auto_key(tmp_path: Path) -> None:
    rec = recorder(tmp_path)
    token = uuid.uuid4()
    rec.identities.register_key("shop.Token", token, TEST)
    raw, renamed, _ = rec._canonical_row(
        [token, uuid.uuid4()],
        plan({"a": Column(GENERATED_UUID, "shop.Token"), "b": Column(GENERATED_UUID, "shop.Token")}),
    )
    assert raw[0] == renamed[0] == "shop.Token#t1"
    assert raw[1].startswith("shop.Token#=") and renamed[1] == "shop.Token#r1"
