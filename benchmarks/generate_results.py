"""Write a large synthetic results set: one results file per backend (sqlite, postgresql, mariadb).

The records have the shape a worker writes (copied from real runs of models_app and
tests/e2e/test_queries.py): inserts in setup and call, SELECTs with digests, samples and
columns, updates with row counts, aggregates with floats kept aside. A few tests diverge,
so the report has findings of every query kind and a few outcome divergences.

    .venv/bin/python benchmarks/generate_results.py --out /tmp/big           # 20,000 tests, 500,000 queries
    .venv/bin/python benchmarks/generate_results.py --out /tmp/small --tests 2000 --queries 100000 --order xdist

--order xdist interleaves the tests differently per backend (as two pytest-xdist workers
would), each test's records staying contiguous.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from collections import deque
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.results import SCHEMA_VERSION  # noqa: E402

BACKENDS = ("sqlite", "postgresql", "mariadb")
SERVERS = {
    "sqlite": ("sqlite", "SQLite", "3.40.1", "sqlite://:memory:"),
    "postgresql": ("postgresql", "PostgreSQL", "15.20", "postgres://postgres@127.0.0.1:5432/bench"),
    "mariadb": ("mysql", "MariaDB", "10.11.19", "mysql://root@127.0.0.1:3306/bench"),
}
# By default one test in this many has a divergence of each kind (they do not overlap): 40 tests of
# each kind in 20,000. More findings cost the report their rendering, not more memory.
DIVERGENT_EVERY = 499
NAMES = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy")


def digest(*parts: object) -> str:
    return hashlib.blake2b(repr(parts).encode(), digest_size=8).hexdigest()


def quoted(backend: str, name: str) -> str:
    return f"`{name}`" if backend == "mariadb" else f'"{name}"'


class TestPlan:
    """The queries of one test, the same on every backend except where it is made to diverge."""

    def __init__(self, index: int, nodeid: str, queries: int, rng: random.Random, every: int) -> None:
        self.index, self.nodeid, self.queries = index, nodeid, queries
        self.model = f"app_{rng.choice(('person', 'order', 'item', 'stamp', 'doc'))}"
        self.rows = [[f"app.Model#t{n + 1}", rng.choice(NAMES), rng.randint(0, 99)] for n in range(rng.randint(1, 6))]
        self.divergence = ("result", "error", "order", "unordered", "outcome", "rowcount", None)[
            index % every if index % every < 6 else 6
        ]
        self.module = nodeid.split("::")[0]

    def records(self, backend: str) -> list[dict]:
        records = []
        inserts = max(1, self.queries // 3)
        for number in range(self.queries):
            position = number + 1
            if number < inserts:
                records.append(self.insert(backend, position, number))
            elif number == inserts and self.queries > 3:
                records.append(self.update(backend, position))
            elif number == self.queries - 1 and self.queries > 4:
                records.append(self.aggregate(backend, position))
            else:
                records.append(self.select(backend, position, number))
        return records

    def base(self, backend: str, kind: str, position: int, line: int, phase: str = "call") -> dict:
        return {
            "type": "query",
            "test": self.nodeid,
            "phase": phase,
            "site": f"{self.module}:{line}",
            "kind": kind,
            "occurrence": 1,
            "position": position,
        }

    def insert(self, backend: str, position: int, number: int) -> dict:
        row = self.rows[number % len(self.rows)]
        table = quoted(backend, self.model)
        returning = "" if backend == "mariadb" else f" RETURNING {table}.{quoted(backend, 'id')}"
        return {
            **self.base(backend, "insert", position, 10 + number, "setup" if number == 0 else "call"),
            "sql": f"INSERT INTO {table} ({quoted(backend, 'name')}, {quoted(backend, 'score')}) "
            f"VALUES (%s, %s){returning}",
            "params": row[1:],
        }

    def update(self, backend: str, position: int) -> dict:
        table = quoted(backend, self.model)
        rowcount = 1 + (self.divergence == "rowcount" and backend == "postgresql")
        return {
            **self.base(backend, "update", position, 40),
            "sql": f"UPDATE {table} SET {quoted(backend, 'score')} = %s WHERE {table}.{quoted(backend, 'id')} = %s",
            "params": [5, 1],
            "rowcount": rowcount,
        }

    def select(self, backend: str, position: int, number: int) -> dict:
        table = quoted(backend, self.model)
        rows = [list(row) for row in self.rows]
        first_select = number == max(1, self.queries // 3) + (self.queries > 3)
        explicit_order = number % 2 == 0
        if first_select and self.divergence in ("order", "unordered"):
            explicit_order = self.divergence == "order"
        record = {
            **self.base(backend, "select", position, 50 + number),
            "sql": f"SELECT {table}.{quoted(backend, 'id')}, {table}.{quoted(backend, 'name')}, "
            f"{table}.{quoted(backend, 'score')} FROM {table} WHERE {table}.{quoted(backend, 'name')} = %s"
            + (f" ORDER BY {table}.{quoted(backend, 'score')} ASC" if explicit_order else ""),
            "params": [rows[0][1]],
            "fingerprint": digest(self.nodeid, number),
        }
        if first_select and self.divergence == "error" and backend == "sqlite":
            record["error"] = {
                "class": "django.db.utils.OperationalError",
                "code": None,
                "message": "no such function: REGEXP_LIKE",
            }
            return record
        if first_select and self.divergence in ("result", "outcome") and backend == "mariadb":
            rows.append([f"app.Model#t{len(rows) + 1}", rows[0][1].title(), 7])
        if first_select and self.divergence in ("order", "unordered") and backend == "postgresql":
            rows.reverse()
        if first_select and self.divergence in ("order", "unordered") and len(rows) == 1:
            rows.append([f"app.Model#t{len(rows) + 1}", rows[0][1], 1])
            if backend == "postgresql":
                rows.reverse()
        unordered = digest(sorted(map(repr, rows)))
        ordered = digest(rows)
        record.update(
            rows=len(rows),
            digests={
                "raw": {"ordered": ordered, "unordered": unordered},
                "renamed": {"ordered": digest("r", ordered), "unordered": digest("r", unordered)},
            },
            sample=rows[:20],
            columns=[f"{self.model}.id", f"{self.model}.name", f"{self.model}.score"],
            complete=True,
            total_order=False,
            explicit_order=explicit_order,
            offset=0,
            limit=21 if number % 3 == 0 else None,
            random_order=False,
            order_consumed=False,
            order_iterated=True,
        )
        return record

    def aggregate(self, backend: str, position: int) -> dict:
        table = quoted(backend, self.model)
        average = sum(row[2] for row in self.rows) / len(self.rows)
        row_hash = digest(self.nodeid, "avg")
        return {
            **self.base(backend, "select", position, 90),
            "sql": f"SELECT AVG({table}.{quoted(backend, 'score')}) AS {quoted(backend, 'avg')} FROM {table}",
            "params": [],
            "fingerprint": digest(self.nodeid, "avg"),
            "rows": 1,
            "digests": {
                "raw": {"ordered": row_hash, "unordered": row_hash},
                "renamed": {"ordered": row_hash, "unordered": row_hash},
            },
            "sample": [["<float>"]],
            "float_rows": [[row_hash, row_hash, [average]]],
            "float_rows_complete": True,
            "columns": ["avg"],
            "complete": True,
            "total_order": False,
            "explicit_order": False,
            "offset": 0,
            "limit": None,
            "random_order": False,
            "order_consumed": False,
            "order_iterated": True,
        }

    def outcome(self, backend: str) -> tuple[str, str]:
        if self.divergence == "outcome" and backend == "mariadb":
            return "failed", f"AssertionError: 2 != 3 ({self.module}:{20 + self.index % 50})"
        return "passed", ""


def test_order(nodeids: list[str], backend: str, order: str, seed: int) -> list[int]:
    """The order a backend ran the tests in: as collected, or as two xdist workers interleave them."""
    indexes = list(range(len(nodeids)))
    if order == "sequential":
        return indexes
    rng = random.Random(f"{seed}-{backend}")
    workers: list[deque[int]] = [deque(), deque()]
    for index in indexes:
        workers[rng.randrange(2)].append(index)
    merged = []
    while workers[0] or workers[1]:
        source = workers[rng.randrange(2)] if workers[0] and workers[1] else workers[0] or workers[1]
        merged.append(source.popleft())
    return merged


def generate(
    directory: Path,
    tests: int,
    queries: int,
    order: str = "sequential",
    seed: int = 1,
    divergent_every: int = DIVERGENT_EVERY,
) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    modules = max(1, tests // 40)
    nodeids = [
        f"app{index % modules}/tests/test_views.py::Views{index % 7}Tests::test_case_{index}" for index in range(tests)
    ]
    per_backend = queries // len(BACKENDS)
    plans = []
    for index, nodeid in enumerate(nodeids):
        share = per_backend // tests + (index < per_backend % tests)
        plans.append(TestPlan(index, nodeid, share, rng, divergent_every))
    paths = []
    for backend in BACKENDS:
        vendor, product, version, url = SERVERS[backend]
        path = directory / f"{backend}.jsonl"
        with path.open("w", encoding="utf-8") as handle:

            def write(record: dict) -> None:
                handle.write(json.dumps(record) + "\n")

            write(
                {
                    "type": "header",
                    "schema_version": SCHEMA_VERSION,
                    "target": backend,
                    "vendor": vendor,
                    "product": product,
                    "server_version": version,
                    "url": url,
                    "django_version": "5.2.19",
                    "python_version": "3.11.7",
                    "float_tolerance": 1e-09,
                    "hash_seed": 1234,
                    "started_at": 1795919260.0,
                }
            )
            write({"type": "collection", "count": len(nodeids), "nodeids": nodeids})
            for index in test_order(nodeids, backend, order, seed):
                plan = plans[index]
                for record in plan.records(backend):
                    write(record)
                outcome, message = plan.outcome(backend)
                location = {"path": plan.module, "line": 20 + index % 50}
                duration = round(rng.random() / 50, 6)
                write(
                    {
                        "type": "test",
                        "nodeid": plan.nodeid,
                        "outcome": outcome,
                        "duration": duration,
                        "message": message,
                        "location": location,
                    }
                )
            write({"type": "finish", "exitstatus": 1, "duration": 600.0})
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="the folder to write the results files to")
    parser.add_argument("--tests", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=500_000, help="query records in all files together")
    parser.add_argument("--order", choices=("sequential", "xdist"), default="sequential")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--divergent-every",
        type=int,
        default=DIVERGENT_EVERY,
        metavar="N",
        help=f"one test in N diverges in each of 6 ways (default {DIVERGENT_EVERY})",
    )
    args = parser.parse_args()
    paths = generate(args.out, args.tests, args.queries, args.order, args.seed, args.divergent_every)
    size = sum(path.stat().st_size for path in paths) / 1e6
    print(f"wrote {', '.join(str(path) for path in paths)}: {args.tests} tests, {args.queries} queries, {size:.0f} MB")


if __name__ == "__main__":
    main()
