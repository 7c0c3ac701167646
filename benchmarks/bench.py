"""Benchmark: every speed figure of the harness as a ratio of two commands run side by side.

One command writes ``benchmarks/RESULTS.md``. Each figure runs its two sides alternately
(A B A B ...) for ``--rounds`` rounds on the same machine and servers, so drift hits both
alike, and reports the median ratio A/B with its spread (lowest-highest round):

- recording: `portability run --backends X` / the same with `--no-queries`, per backend, on the
  suite and on a generated query-heavy one (``benchmarks/generate_query_heavy.py``);
- harness vs plain: `portability run --backends X` / plain pytest on X (a settings module
  pointing at the server, as a user would write);
- matrix: `portability run` on the three backends / the three plain runs one after the
  other, and / the slowest plain run alone (wall and CPU time);
- `-n auto`: the matrix with / without `-n auto` (when the harness has `-n`);
- `--reuse-db`: a second run with / without `--reuse-db` (when the harness has it);
- report: `portability report` on a generated set of 20,000 tests and 500,000 query records /
  a bare pass that only parses the same files, with the parent's peak memory (when
  ``benchmarks/generate_results.py`` exists).

The suite is the largest real one the e2e tests run (django-import-export 4.4.3, 728 tests)
when its sdist is cached, else the repository's models_app:

    .venv/bin/python benchmarks/bench.py                    # writes benchmarks/RESULTS.md
    .venv/bin/python benchmarks/bench.py --rounds 3 --only recording,matrix
    .venv/bin/python benchmarks/bench.py --smoke --out /tmp/RESULTS.md   # one quick round (CI)
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import REPO, URLS, clean_env, portability_run  # noqa: E402
from run_vs_plain import plain_settings  # noqa: E402
from server_cpu import servers_cpu_seconds  # noqa: E402

BACKENDS = ["sqlite", "postgresql", "mariadb"]
IMPORT_EXPORT = Path.home() / ".cache/portability-tests/sdists/django_import_export-4.4.3"
# A command: its argv, working directory and environment.
Command = tuple[list[str], Path, dict[str, str]]


@dataclass
class Suite:
    """The project the figures are measured on, and how plain pytest runs it."""

    name: str
    project: Path
    settings: str
    pytest_args: list[str]
    pythonpath: list[str]

    def env(self, *front: Path) -> dict[str, str]:
        paths = [*map(str, front), *self.pythonpath, clean_env().get("PYTHONPATH", "")]
        return {**clean_env(), "PYTHONPATH": os.pathsep.join(filter(None, paths))}

    def harness(self, backends: list[str], *extra: str) -> Command:
        command = portability_run(self.project, backends, "--settings", self.settings, *extra)
        return [*command, "--", *self.pytest_args], self.project, self.env()

    def plain(self, scratch: Path, target: str) -> Command:
        module = plain_settings(scratch, self.settings, target, URLS[target])
        argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:portability"]
        return [*argv, "--ds", module, *self.pytest_args], self.project, self.env(scratch, self.project)


def pick_suite(smoke: bool) -> Suite:
    if IMPORT_EXPORT.is_dir() and not smoke:
        return Suite(
            "django-import-export 4.4.3 (728 tests)",
            IMPORT_EXPORT / "tests",
            "settings",
            ["-o", "python_files=test*.py"],
            [str(IMPORT_EXPORT)],
        )
    return Suite("models_app (this repository)", REPO, "models_app.settings", ["models_app"], [])


@dataclass
class Sample:
    wall: float
    cpu: float
    # CPU the local database servers used meanwhile (server_cpu.py).
    server_cpu: float = 0.0


def measure(commands: list[Command]) -> Sample:
    """Run the commands one after the other: their total wall time and CPU time (with every child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_before = servers_cpu_seconds()
    started = time.perf_counter()
    for argv, cwd, env in commands:
        completed = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
        if completed.returncode not in (0, 1):
            tail = (completed.stdout + completed.stderr)[-1500:]
            raise SystemExit(f"benchmark command failed ({completed.returncode}): {' '.join(argv)}\n{tail}")
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Sample(wall, cpu, servers_cpu_seconds() - server_before)


@dataclass
class Figure:
    """One ratio: side A over side B, each round run A then B (or B then A, alternating)."""

    name: str
    a: str
    b: str
    bound: float | None = None
    ratios: list[float] = field(default_factory=list)
    cpu_ratios: list[float] = field(default_factory=list)
    a_walls: list[float] = field(default_factory=list)
    b_walls: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.ratios)

    def row(self) -> str:
        spread = f"{min(self.ratios):.3f}-{max(self.ratios):.3f}"
        cpu = f"{statistics.median(self.cpu_ratios):.3f}" if self.cpu_ratios else "-"
        if self.bound is None:
            verdict = ""
        else:
            verdict = f"<= {self.bound:.2f}: {'met' if self.median <= self.bound else 'NOT met'}"
        times = f"{statistics.median(self.a_walls):.1f} s / {statistics.median(self.b_walls):.1f} s"
        return (
            f"| {self.name} | {self.a} / {self.b} | {self.median:.3f} | {spread} | {cpu} | {times} | {verdict} "
            f"| {self.note} |"
        )


def compare_sides(figure: Figure, side_a: Callable[[], Sample], side_b: Callable[[], Sample], rounds: int) -> Figure:
    for round_number in range(rounds):
        order = (side_a, side_b) if round_number % 2 == 0 else (side_b, side_a)
        samples = {id(side): side() for side in order}
        a, b = samples[id(side_a)], samples[id(side_b)]
        figure.ratios.append(a.wall / b.wall)
        figure.cpu_ratios.append(a.cpu / b.cpu if b.cpu else 0.0)
        figure.a_walls.append(a.wall)
        figure.b_walls.append(b.wall)
        print(f"  {figure.name}: round {round_number + 1}: {a.wall:.2f} s / {b.wall:.2f} s", flush=True)
    return figure


def harness_help() -> str:
    completed = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", "--help"], capture_output=True, text=True, cwd=REPO
    )
    return completed.stdout


# ---------------------------------------------------------------- the figures


def recording_figures(suite: Suite, scratch: Path, rounds: int, backends: list[str]) -> list[Figure]:
    figures = []
    for target in backends:
        figure = Figure(f"recording, {target}", "run", "run --no-queries", bound=1.05)
        on, off = [suite.harness([target])], [suite.harness([target], "--no-queries")]
        figures.append(compare_sides(figure, lambda on=on: measure(on), lambda off=off: measure(off), rounds))
    return figures


def query_heavy_figures(suite: Suite, scratch: Path, rounds: int, backends: list[str], smoke: bool) -> list[Figure]:
    """Recording's worst case: a generated suite of tests that do little but run queries returning many rows."""
    project = scratch / "query-heavy"
    tests = 20 if smoke else 100
    subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "generate_query_heavy.py"), str(project), "--tests", str(tests)],
        check=True,
        capture_output=True,
    )
    heavy = Suite(f"query-heavy ({tests} tests)", project, "heavy.settings", [], [])
    figures = []
    for target in backends:
        figure = Figure(f"recording, query-heavy, {target}", "run", "run --no-queries", bound=1.05)
        figure.note = f"generate_query_heavy.py --tests {tests}: 24 queries per test, up to 300 rows each"
        on, off = [heavy.harness([target])], [heavy.harness([target], "--no-queries")]
        figures.append(compare_sides(figure, lambda on=on: measure(on), lambda off=off: measure(off), rounds))
    return figures


def plain_figures(suite: Suite, scratch: Path, rounds: int, backends: list[str]) -> list[Figure]:
    figures = []
    for target in backends:
        figure = Figure(f"harness vs plain, {target}", "run", "plain pytest")
        harness, plain = [suite.harness([target])], [suite.plain(scratch, target)]
        figures.append(compare_sides(figure, lambda h=harness: measure(h), lambda p=plain: measure(p), rounds))
    return figures


def matrix_figures(suite: Suite, scratch: Path, rounds: int, backends: list[str]) -> list[Figure]:
    matrix = [suite.harness(backends)]
    plains = {target: [suite.plain(scratch, target)] for target in backends}
    in_a_row = Figure("matrix", f"run on {len(backends)} backends", "the plain runs in a row", bound=0.60)
    slowest = Figure("matrix", f"run on {len(backends)} backends", "the slowest plain run alone")
    cores = os.cpu_count() or 1
    floors, used = [], []
    for round_number in range(rounds):
        plain_samples = {target: measure(command) for target, command in plains.items()}
        run_sample = measure(matrix)
        total_wall = sum(sample.wall for sample in plain_samples.values())
        total_cpu = sum(sample.cpu for sample in plain_samples.values())
        total_server_cpu = sum(sample.server_cpu for sample in plain_samples.values())
        slowest_sample = max(plain_samples.values(), key=lambda sample: sample.wall)
        sides = ((in_a_row, total_wall, total_cpu), (slowest, slowest_sample.wall, slowest_sample.cpu))
        for figure, wall, cpu in sides:
            figure.ratios.append(run_sample.wall / wall)
            figure.cpu_ratios.append(run_sample.cpu / cpu)
            figure.a_walls.append(run_sample.wall)
            figure.b_walls.append(wall)
        # The best any parallel run can do: the plain runs' work (theirs and the servers') spread
        # over every core, and never less than the slowest run alone.
        floors.append(max((total_cpu + total_server_cpu) / cores, slowest_sample.wall) / total_wall)
        used.append((run_sample.cpu + run_sample.server_cpu) / (cores * run_sample.wall))
        print(f"  matrix: round {round_number + 1}: {run_sample.wall:.2f} s / {total_wall:.2f} s in a row", flush=True)
    in_a_row.note = (
        f"{cores} cores: the plain runs' own and their servers' CPU spread over {cores} cores put the floor "
        f"at {statistics.median(floors):.2f}; the matrix kept the cores {statistics.median(used):.0%} busy "
        "(its CPU and its servers')"
    )
    return [in_a_row, slowest]


def parallel_figures(suite: Suite, scratch: Path, rounds: int, backends: list[str]) -> list[Figure]:
    if "--numprocesses" not in harness_help():
        return [Figure("-n auto", "matrix -n auto", "matrix", note="the harness has no -n option yet")]
    figure = Figure("-n auto", "matrix with -n auto", "matrix without -n")
    with_n, without = [suite.harness(backends, "-n", "auto")], [suite.harness(backends)]
    return [compare_sides(figure, lambda: measure(with_n), lambda: measure(without), rounds)]


def reuse_figures(suite: Suite, scratch: Path, rounds: int, backends: list[str]) -> list[Figure]:
    if "--reuse-db" not in harness_help():
        return [Figure("--reuse-db", "second run --reuse-db", "run", note="the harness has no --reuse-db option yet")]
    servers = [target for target in backends if target != "sqlite"]
    figure = Figure("--reuse-db", "a second run with --reuse-db", "a run without it")
    reuse, fresh = [suite.harness(servers, "--reuse-db")], [suite.harness(servers)]
    measure(reuse)  # builds the kept databases
    return [compare_sides(figure, lambda: measure(reuse), lambda: measure(fresh), rounds)]


def report_figures(suite: Suite, scratch: Path, rounds: int, backends: list[str], smoke: bool) -> list[Figure]:
    generator = REPO / "benchmarks" / "generate_results.py"
    if not generator.exists():
        return [Figure("report", "portability report", "bare parse", note="no results generator yet")]
    tests, queries = (200, 5_000) if smoke else (20_000, 500_000)
    folder = scratch / "generated"
    subprocess.run(
        [sys.executable, str(generator), "--out", str(folder), "--tests", str(tests), "--queries", str(queries)],
        check=True,
        capture_output=True,
    )
    files = sorted(str(path) for path in folder.glob("*.jsonl"))
    report = [[sys.executable, "-m", "harness.cli", "report", *files], REPO, clean_env()]
    bare = [[sys.executable, "-c", BARE_PARSE, *files], REPO, clean_env()]
    figure = Figure("report", f"report ({tests:,} tests, {queries:,} queries)", "bare parse", bound=3.0)
    compare_sides(figure, lambda: measure([report]), lambda: measure([bare]), rounds)
    peak_mb = peak_rss_mb(report)
    figure.note = f"report peak memory {peak_mb:.0f} MB (bound 200 MB: {'met' if peak_mb <= 200 else 'NOT met'})"
    return [figure]


# The floor of any report: read and parse every line, keep nothing.
BARE_PARSE = """
import json, sys
for name in sys.argv[1:]:
    for line in open(name, "rb"):
        json.loads(line)
"""


def peak_rss_mb(command: Command) -> float:
    """The peak resident memory of one command (it has no children of its own)."""
    argv, cwd, env = command
    completed = subprocess.run(["/usr/bin/time", "-f", "%M", *argv], cwd=cwd, env=env, capture_output=True, text=True)
    return int(completed.stderr.strip().splitlines()[-1]) / 1024


SECTIONS = {
    "recording": recording_figures,
    "plain": plain_figures,
    "matrix": matrix_figures,
    "parallel": parallel_figures,
    "reuse": reuse_figures,
}


def write_results(path: Path, suite: Suite, rounds: int, figures: list[Figure], seconds: float) -> None:
    lines = [
        "# Benchmark results",
        "",
        f"Written by `benchmarks/bench.py` ({' '.join(sys.argv[1:]) or 'no options'}) on "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: {platform.node()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; suite: {suite.name}; {rounds} alternating round(s) per figure; "
        f"{seconds / 60:.1f} min in all. Every figure is a ratio A / B of two commands run side by side on the "
        "same machine and servers (median over the rounds, spread = lowest-highest round; CPU = the same ratio "
        "of CPU time, every child process included).",
        "",
        "| figure | A / B | wall ratio | spread | CPU ratio | median wall A / B | bound | note |",
        "|---|---|---|---|---|---|---|---|",
        *(figure.row() for figure in figures if figure.ratios),
        "",
        *(f"- {figure.name}: not measured: {figure.note}" for figure in figures if not figure.ratios),
        "",
    ]
    path.write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "RESULTS.md")
    parser.add_argument("--only", help=f"comma-separated sections: {', '.join([*SECTIONS, 'heavy', 'report'])}")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--smoke", action="store_true", help="one round on models_app and a small report set")
    args = parser.parse_args()
    rounds = 1 if args.smoke else args.rounds
    suite = pick_suite(args.smoke)
    backends = args.backends.split(",")
    wanted = args.only.split(",") if args.only else [*SECTIONS, "heavy", "report"]
    started = time.perf_counter()
    figures: list[Figure] = []
    print(f"suite: {suite.name}; {rounds} round(s)", flush=True)
    with tempfile.TemporaryDirectory(prefix="portability-bench-") as folder:
        scratch = Path(folder)
        for name, section in SECTIONS.items():
            if name in wanted:
                figures += section(suite, scratch, rounds, backends)
        if "heavy" in wanted:
            figures += query_heavy_figures(suite, scratch, rounds, backends, args.smoke)
        if "report" in wanted:
            figures += report_figures(suite, scratch, rounds, backends, args.smoke)
    write_results(args.out, suite, rounds, figures, time.perf_counter() - started)
    print(args.out.read_text())


if __name__ == "__main__":
    main()
