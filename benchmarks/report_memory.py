"""Benchmark: peak memory and wall time of `portability report` against a bare parse of the same files.

The bare pass only reads the results files and parses every line (json.loads, nothing
kept): the least any report must do. The two run alternately, each in its own process,
for --rounds rounds; each process's peak RSS and CPU time come from its own rusage
(os.wait4). CPU time is printed beside wall time because it barely moves when other work
shares the machine; the time bound is checked on wall time, as asked, and on CPU time.

    .venv/bin/python benchmarks/generate_results.py --out /tmp/big      # 20,000 tests, 500,000 queries
    .venv/bin/python benchmarks/report_memory.py /tmp/big

Exits 1 when the report's peak RSS is over --max-mb or its median time over --max-ratio
times the bare parse's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, clean_env  # noqa: E402


def bare_parse(directory: Path) -> None:
    for path in sorted(directory.glob("*.jsonl")):
        with path.open("rb") as handle:
            for line in handle:
                json.loads(line)


def measure(command: list[str]) -> tuple[float, float, float, int]:
    """(wall seconds, CPU seconds, peak RSS in MB, exit code) of one child process."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO, env=clean_env(), stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, process.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path, help="a results set written by generate_results.py")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-mb", type=float, default=200.0)
    parser.add_argument("--max-ratio", type=float, default=3.0)
    parser.add_argument("--bare-parse", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    directory = args.directory.resolve()
    if args.bare_parse:
        bare_parse(directory)
        return
    files = sorted(directory.glob("*.jsonl"))
    size = sum(path.stat().st_size for path in files) / 1e6
    print(f"results: {directory} ({len(files)} files, {size:.0f} MB); {args.rounds} alternating rounds")
    with tempfile.TemporaryDirectory() as scratch:
        commands = {
            "bare parse": [sys.executable, __file__, "--bare-parse", str(directory)],
            "report": [
                *(sys.executable, "-m", "harness.cli", "report", "--results-dir", str(directory)),
                *("--json", str(Path(scratch) / "report.json")),
            ],
        }
        samples: dict[str, list[tuple[float, float, float]]] = {name: [] for name in commands}
        for round_number in range(args.rounds):
            order = list(commands) if round_number % 2 == 0 else list(reversed(commands))
            for name in order:
                wall, cpu, peak, code = measure(commands[name])
                if code not in (0, 1):
                    raise SystemExit(f"{name} failed with exit code {code}")
                samples[name].append((wall, cpu, peak))
                print(f"  round {round_number + 1}  {name:<10}  {wall:6.2f} s wall  {cpu:6.2f} s CPU  {peak:7.1f} MB")
    wall = {name: statistics.median(sample[0] for sample in runs) for name, runs in samples.items()}
    cpu = {name: statistics.median(sample[1] for sample in runs) for name, runs in samples.items()}
    peak = {name: max(sample[2] for sample in runs) for name, runs in samples.items()}
    print(f"{'':<12}{'median wall':>12}{'median CPU':>12}{'peak RSS':>12}")
    for name in commands:
        print(f"{name:<12}{wall[name]:>10.2f} s{cpu[name]:>10.2f} s{peak[name]:>9.1f} MB")
    ratio = wall["report"] / wall["bare parse"]
    cpu_ratio = cpu["report"] / cpu["bare parse"]
    print(
        f"report / bare parse: {ratio:.2f}x wall time, {cpu_ratio:.2f}x CPU time, "
        f"{peak['report'] / peak['bare parse']:.1f}x peak RSS"
    )
    failures = []
    if peak["report"] > args.max_mb:
        failures.append(f"report peak {peak['report']:.0f} MB > {args.max_mb:.0f} MB")
    if ratio > args.max_ratio:
        failures.append(f"report wall time {ratio:.2f}x > {args.max_ratio}x the bare parse")
    if cpu_ratio > args.max_ratio:
        failures.append(f"report CPU time {cpu_ratio:.2f}x > {args.max_ratio}x the bare parse")
    print("FAIL: " + "; ".join(failures) if failures else "OK: within both bounds")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
