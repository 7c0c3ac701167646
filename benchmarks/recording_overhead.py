"""Benchmark: what recording the ORM queries adds to a backend's run.

Runs `portability run --backends B` with and without `--no-queries`, interleaved, and
prints the median of the backend's pytest session time (from the JSON report) and of
the whole command's wall time, with their ratio (recording / not recording).

    .venv/bin/python benchmarks/recording_overhead.py                     # models_app
    .venv/bin/python benchmarks/recording_overhead.py --project-dir DIR   # e.g. django-model-utils
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

REPO = Path(__file__).resolve().parent.parent
URLS = {
    "sqlite": "sqlite://:memory:",
    "postgresql": "postgres://postgres@127.0.0.1:5432/bench",
    "mariadb": "mysql://root@127.0.0.1:3306/bench",
}


def one_run(project: Path, target: str, record: bool, report: Path) -> tuple[float, float]:
    """(session seconds, wall seconds) of one `portability run` on one backend."""
    command = [
        sys.executable,
        "-m",
        "harness.cli",
        "run",
        "--project-dir",
        str(project),
        "--backends",
        target,
        "--url",
        f"{target}={URLS[target]}",
        "--json",
        str(report),
    ]
    if not record:
        command.append("--no-queries")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTEST", "DJANGO_SETTINGS"))}
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if completed.returncode not in (0, 1):
        raise SystemExit(f"portability run failed ({completed.returncode}):\n{completed.stderr}")
    [backend] = json.loads(report.read_text())["backends"]
    return backend["duration"], wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project-dir", type=Path, default=REPO)
    parser.add_argument("--backends", default="sqlite,postgresql,mariadb")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    project = args.project_dir.resolve()
    print(f"project: {project}  (median of {args.repeat} interleaved runs)")
    print(
        f"{'backend':<11} {'session off':>11}"
        f" {'session on':>11} {'ratio':>6}   {'wall off':>9} {'wall on':>9} {'ratio':>6}"
    )
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.json"
        for target in args.backends.split(","):
            samples: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
            for _ in range(args.repeat):
                for record in (False, True):
                    samples[record].append(one_run(project, target, record, report))
            off = [statistics.median(values) for values in zip(*samples[False], strict=True)]
            on = [statistics.median(values) for values in zip(*samples[True], strict=True)]
            print(
                f"{target:<11} {off[0]:>10.2f}s {on[0]:>10.2f}s {on[0] / off[0]:>6.3f}   "
                f"{off[1]:>8.2f}s {on[1]:>8.2f}s {on[1] / off[1]:>6.3f}"
            )


if __name__ == "__main__":
    main()
