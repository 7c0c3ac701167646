"""Benchmark: what recording the ORM queries adds to a backend's run.

Runs `portability run --backends B` with and without `--no-queries`, interleaved, and
prints the median of the backend's pytest session time (from the JSON report), of the
whole command's wall time and of its CPU time (user + system of the command and its
workers: steadier than wall time on a busy machine), with their ratios (recording / not
recording).

    .venv/bin/python benchmarks/recording_overhead.py                     # models_app
    .venv/bin/python benchmarks/recording_overhead.py --project-dir DIR   # e.g. django-model-utils
    .venv/bin/python benchmarks/recording_overhead.py --project-dir SDIST/tests --settings settings
                                                        # django-import-export's suite (the largest here)
    .venv/bin/python benchmarks/generate_query_heavy.py /tmp/heavy
    .venv/bin/python benchmarks/recording_overhead.py --project-dir /tmp/heavy   # recording's worst case
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, clean_env, portability_run  # noqa: E402


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def one_run(project: Path, target: str, record: bool, report: Path, settings: str | None) -> tuple[float, float, float]:
    """(session seconds, wall seconds, CPU seconds) of one `portability run` on one backend."""
    command = portability_run(project, [target], "--json", str(report), *(["--settings", settings] if settings else []))
    if not record:
        command.append("--no-queries")
    env = clean_env()
    started, cpu_before = time.perf_counter(), children_cpu()
    completed = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    cpu = children_cpu() - cpu_before  # the command and its workers (waited for by it)
    if completed.returncode not in (0, 1):
        raise SystemExit(f"portability run failed ({completed.returncode}):\n{completed.stderr}")
    [backend] = json.loads(report.read_text())["backends"]
    return backend["duration"], wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project-dir", type=Path, default=REPO)
    parser.add_argument("--backends", default="sqlite,postgresql,mariadb")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--settings", help="the project's settings module, when it is not configured")
    args = parser.parse_args()
    project = args.project_dir.resolve()
    print(f"project: {project}  ({args.repeat} interleaved runs each; best = fastest run, the least noisy)")
    print(
        f"{'backend':<11} {'session off':>11} {'session on':>11} {'best ratio':>10} {'median ratio':>12}"
        f"   {'wall off':>9} {'wall on':>9} {'median ratio':>12}"
        f"   {'cpu off':>9} {'cpu on':>9} {'median ratio':>12}"
    )
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.json"
        for target in args.backends.split(","):
            samples: dict[bool, list[tuple[float, float, float]]] = {False: [], True: []}
            for _ in range(args.repeat):
                for record in (False, True):
                    samples[record].append(one_run(project, target, record, report, args.settings))
            session_off, wall_off, cpu_off = zip(*samples[False], strict=True)
            session_on, wall_on, cpu_on = zip(*samples[True], strict=True)
            print(
                f"{target:<11} {min(session_off):>10.2f}s {min(session_on):>10.2f}s "
                f"{min(session_on) / min(session_off):>10.3f} "
                f"{statistics.median(session_on) / statistics.median(session_off):>12.3f}   "
                f"{statistics.median(wall_off):>8.2f}s {statistics.median(wall_on):>8.2f}s "
                f"{statistics.median(wall_on) / statistics.median(wall_off):>12.3f}   "
                f"{statistics.median(cpu_off):>8.2f}s {statistics.median(cpu_on):>8.2f}s "
                f"{statistics.median(cpu_on) / statistics.median(cpu_off):>12.3f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
