"""End to end: `portability run -n 2` runs each backend's tests in pytest-xdist workers.

Same outcomes and findings as without -n; one results file per backend (each test's records
together); every test database seen during the run carries the run's token and a marker, and
none is left after it, also when `portability` is killed.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import pytest

from harness.cleanup import Marker
from harness.urls import parse_target_url
from harness.vendors import vendor_for_target
from tests.e2e.test_run import OVERFLOW_PROJECT
from tests.e2e.test_safety import (
    SERVERS,
    new_tag,
    start_portability,
    stop,
    tagged_test_databases,
    tagged_urls,
    wait_until,
)
from tests.helpers import MARIADB_URL, POSTGRESQL_URL, read_json, run_portability, write_project

pytestmark = pytest.mark.e2e

# The overflow test (passes on SQLite only) and 20 tests that pass everywhere, slow enough to be seen,
# in two classes (an xdist worker runs whole classes: harness.xdist_scheduling).
ITEM_TEST = """
            def test_item_{n}(self):
                time.sleep(0.1)
                Item.objects.create(code="x{n}")
                self.assertEqual(Item.objects.count(), 1)
"""
MANY_TESTS = (
    "\n        import time\n"
    + OVERFLOW_PROJECT["shop/tests.py"]
    + "".join(ITEM_TEST.format(n=n) for n in range(10))
    + "\n        class MoreItemTests(TestCase):\n"
    + "".join(ITEM_TEST.format(n=n) for n in range(10, 20))
)
BACKENDS = ("sqlite", *SERVERS)


def xdist_project(root: Path) -> Path:
    return write_project(root, {"shop/models.py": OVERFLOW_PROJECT["shop/models.py"], "shop/tests.py": MANY_TESTS})


def markers(target: str) -> dict[str, str]:
    vendor = vendor_for_target(target)
    url = POSTGRESQL_URL if target == "postgresql" else MARIADB_URL
    connection = vendor.connect(parse_target_url(target, url), timeout=5)
    try:
        return vendor.marked_test_databases(connection.cursor())
    finally:
        connection.close()


def findings(report: dict) -> list[tuple]:
    return sorted(
        (f["code"], f["kind"], f.get("test"), json.dumps({b: o.get("outcome") for b, o in f["backends"].items()}))
        for f in report["findings"]
    )


def outcomes(results: Path) -> dict[str, dict[str, str]]:
    """Each backend's test outcomes, from its results file."""
    found: dict[str, dict[str, str]] = {}
    for target in BACKENDS:
        for line in (results / f"{target}.jsonl").read_text().splitlines():
            record = json.loads(line)
            if record["type"] == "test":
                found.setdefault(target, {})[record["nodeid"]] = record["outcome"]
    return found


def test_xdist_run_matches_the_plain_run_and_names_every_database_for_the_run(tmp_path):
    project = xdist_project(tmp_path / "proj")
    tag = new_tag()
    args = ["run", "--settings", "settings", "--backends", ",".join(BACKENDS), *tagged_urls(tag, *SERVERS)]
    plain = run_portability(
        *args, "--json", str(tmp_path / "plain.json"), "--results-dir", str(tmp_path / "plain"), cwd=project
    )
    assert plain.returncode == 1, plain.output

    results = tmp_path / "results"
    process = start_portability(
        [*args, "-n", "2", "--json", str(tmp_path / "xdist.json"), "--results-dir", str(results)],
        project,
        tmp_path / "out",
    )
    seen: dict[str, dict[str, str | None]] = {target: {} for target in SERVERS}
    try:
        while process.poll() is None:
            for target, names in tagged_test_databases(tag).items():
                marked = markers(target)
                for name in names:
                    if seen[target].get(name) is None:
                        seen[target][name] = marked.get(name)
            time.sleep(0.05)
        returncode = process.wait(5)
    finally:
        stop(process)
    output = (tmp_path / "out" / "stdout").read_text() + (tmp_path / "out" / "stderr").read_text()
    assert returncode == 1, output

    plain_report, xdist_report = read_json(tmp_path / "plain.json"), read_json(tmp_path / "xdist.json")
    assert outcomes(results) == outcomes(tmp_path / "plain")
    assert [len(tests) for tests in outcomes(results).values()] == [22, 22, 22]
    counts = {backend["name"]: backend["counts"] for backend in xdist_report["backends"]}
    assert counts == {backend["name"]: backend["counts"] for backend in plain_report["backends"]}
    assert findings(xdist_report) == findings(plain_report)
    assert [f["test"] for f in xdist_report["findings"]] == [
        "shop/tests.py::ItemTests::test_code_longer_than_max_length"
    ]

    # Each xdist worker had its own test database, named for the run (so the sweep finds it), and marked.
    for target in SERVERS:
        assert len(seen[target]) == 2, seen
        tokens = set()
        for name, marker_text in seen[target].items():
            match = re.fullmatch(rf"test_{tag}_gw[01]_([0-9a-f]{{8}})", name)
            assert match, name
            marker = Marker.parse(marker_text)
            assert marker is not None and marker.token == match.group(1), (name, marker_text)
            tokens.add(match.group(1))
        assert len(tokens) == 1, seen
    assert tagged_test_databases(tag) == {target: set() for target in SERVERS}

    # One results file per backend, as without xdist: one header, collection and finish; a test's records together.
    assert sorted(path.name for path in results.iterdir()) == sorted(
        f"{target}.{kind}" for target in BACKENDS for kind in ("jsonl", "log")
    )
    for target in BACKENDS:
        records = [json.loads(line) for line in (results / f"{target}.jsonl").read_text().splitlines()]
        kinds = [record["type"] for record in records]
        assert (kinds[0], kinds[1], kinds[-1]) == ("header", "collection", "finish"), kinds
        assert kinds.count("header") == kinds.count("collection") == kinds.count("finish") == 1
        assert records[1]["count"] == 22 and len(set(records[1]["nodeids"])) == 22
        done: set[str] = set()
        for record in records[2:-1]:
            test = record["nodeid"] if record["type"] == "test" else record.get("test")
            assert test not in done, f"{target}: a record of {test} after its test record"
            if record["type"] == "test":
                done.add(test)
        assert len(done) == 22


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (found by their parent pids in /proc)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rpartition(")")[2].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pids: set[int]) -> set[int]:
    return {pid for pid in pids if Path(f"/proc/{pid}").exists() and "(Z)" not in _state(pid)}


def _state(pid: int) -> str:
    try:
        return "(" + Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] + ")"
    except OSError:
        return "(Z)"


def test_sigkill_of_portability_leaves_no_xdist_worker_and_no_test_database(tmp_path):
    tests = MANY_TESTS.replace("time.sleep(0.1)", "time.sleep(60)")
    project = write_project(
        tmp_path / "proj", {"shop/models.py": OVERFLOW_PROJECT["shop/models.py"], "shop/tests.py": tests}
    )
    tag = new_tag()
    process = start_portability(
        ["run", "--settings", "settings", "--backends", ",".join(SERVERS), *tagged_urls(tag, *SERVERS), "-n", "2"],
        project,
        tmp_path / "out",
    )
    tree: set[int] = set()
    try:
        # Both xdist workers of both backends have their test database: every process is up.
        assert wait_until(
            lambda: all(len(names) == 2 for names in tagged_test_databases(tag).values()) or process.poll() is not None,
            timeout=90,
        ), tagged_test_databases(tag)
        assert process.poll() is None, (tmp_path / "out" / "stderr").read_text()
        tree = descendants(process.pid)
        assert len(tree) >= 6, tree  # per backend: the pytest controller and two xdist workers
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        assert wait_until(lambda: not alive(tree), timeout=30), f"outlived a killed portability: {alive(tree)}"
        assert wait_until(lambda: tagged_test_databases(tag) == {t: set() for t in SERVERS}, timeout=10), (
            tagged_test_databases(tag)
        )
    finally:
        stop(process)
        for pid in alive(tree):
            os.kill(pid, signal.SIGKILL)


def test_xdist_worker_test_database_names_end_with_the_run_token():
    from harness.cleanup import like_literal
    from harness.databases import kept_test_database_name, unique_test_database_name

    assert unique_test_database_name("shop", "abcd1234", 63, "gw0") == "test_shop_gw0_abcd1234"
    long_name = unique_test_database_name("x" * 100, "abcd1234", 63, "gw12")
    assert len(long_name) == 63 and long_name.endswith("_gw12_abcd1234")
    kept = kept_test_database_name("x" * 100, "0123456789abcdef", 63, "gw1")
    assert len(kept) == 63 and kept.endswith("_gw1_keep_0123456789ab")
    assert like_literal("gw0_ab%c") == "gw0\\_ab\\%c"
    marker = Marker.for_this_process("abcd1234", kept="0123456789abcdef", state="busy")
    assert Marker.parse(marker.text) == marker and Marker.parse(marker.with_state("ready").text).state == "ready"


def test_relay_copies_one_test_at_a_time(tmp_path):
    from harness.merge import XdistRelay, worker_results_path
    from harness.results import ResultsWriter

    results = tmp_path / "postgresql.jsonl"
    writer = ResultsWriter(results)
    relay = XdistRelay(results, writer)
    worker = ResultsWriter(worker_results_path(results, "gw0"))
    worker.write("query", test="a", site="s", kind="k")
    worker.write("test", nodeid="a", outcome="passed")
    worker.write("query", test="b", site="s", kind="k")  # the next test is running: not copied yet
    assert relay.copy_test("gw0", "a")
    assert not relay.copy_test("gw0", "b")
    worker.write("test", nodeid="b", outcome="failed")
    assert relay.copy_test("gw0", "b")
    worker.close()
    writer.close()
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert [(line["type"], line.get("test") or line.get("nodeid")) for line in lines] == [
        ("query", "a"),
        ("test", "a"),
        ("query", "b"),
        ("test", "b"),
    ]
    relay.remove_worker_files()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["postgresql.jsonl"]


def test_static_shares_are_whole_classes_in_collection_order():
    from harness.xdist_scheduling import static_shares

    scopes = (("a.py", 5), ("b.py::B", 3), ("b.py::C", 6))
    collection = [f"{path}::t{n}" for path, count in scopes for n in range(count)]
    assert static_shares(collection, 2) == [list(range(8)), list(range(8, 14))]
    assert static_shares(collection, 3) == [list(range(5)), list(range(5, 8)), list(range(8, 14))]
    assert static_shares(collection[:1], 2) == [[], [0]]
