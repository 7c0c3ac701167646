"""Benchmark: `portability run` on one backend against plain pytest on the same backend.

Both sides run the same suite against the same server; the plain side is what a user
would do without the harness (a settings module pointing at the server, plain pytest).
Prints the median wall time of each side over --repeat runs and their ratio.

    .venv/bin/python benchmarks/run_vs_plain.py                      # models_app, all three
    .venv/bin/python benchmarks/run_vs_plain.py --project-dir DIR --settings tests.settings
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import REPO, URLS, clean_env, portability_run  # noqa: E402

from harness.databases import databases_for_target, new_run_token  # noqa: E402
from harness.urls import parse_target_url  # noqa: E402
from harness.vendors import vendor_for_target  # noqa: E402


def plain_settings(directory: Path, settings: str, target: str, url: str) -> str:
    """Write a settings module that points the project's settings at the server, as a user would."""
    from harness.config import Target

    target_obj = Target(name=target, url=url, url_source="benchmark", database=parse_target_url(target, url))
    databases = databases_for_target({"default": {}}, target_obj, new_run_token())
    module = f"bench_{target}_settings"
    (directory / f"{module}.py").write_text(f"from {settings} import *  # noqa\nDATABASES = {databases!r}\n")
    return module


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if completed.returncode not in (0, 1):
        raise SystemExit(f"command failed ({completed.returncode}): {' '.join(command)}\n{completed.stdout[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project-dir", type=Path, default=REPO)
    parser.add_argument("--settings", default="models_app.settings")
    parser.add_argument("--tests", nargs="*", default=None, help="test paths (default: models_app for this repo)")
    parser.add_argument("--backends", default="sqlite,postgresql,mariadb")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    project = args.project_dir.resolve()
    tests = args.tests if args.tests is not None else (["models_app"] if project == REPO else [])
    env = clean_env()
    print(f"{'backend':<11} {'plain pytest':>13} {'portability run':>16} {'ratio':>6}   (median of {args.repeat})")
    with tempfile.TemporaryDirectory() as scratch:
        scratch_dir = Path(scratch)
        plain_env = {**env, "PYTHONPATH": os.pathsep.join([str(scratch_dir), str(project)])}
        commands: list[list[str]] = []
        for target in args.backends.split(","):
            vendor_for_target(target)
            url = URLS[target]
            module = plain_settings(scratch_dir, args.settings, target, url)
            plain = [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "-p",
                "no:portability",
                "--ds",
                module,
                *tests,
            ]
            harness = portability_run(project, [target], "--settings", args.settings, "--", *tests)
            plain_times, harness_times = [], []
            commands.append(plain)
            for _ in range(args.repeat):  # interleaved, so drift affects both sides alike
                plain_times.append(timed(plain, project, plain_env))
                harness_times.append(timed(harness, project, env))
            plain_median, harness_median = statistics.median(plain_times), statistics.median(harness_times)
            print(f"{target:<11} {plain_median:>12.2f}s {harness_median:>15.2f}s {harness_median / plain_median:>6.2f}")
        # The whole job: plain pytest once per backend, one after the other, against one
        # `portability run` on all of them (concurrent workers).
        harness = portability_run(project, args.backends.split(","), "--settings", args.settings, "--", *tests)
        plain_times, harness_times = [], []
        for _ in range(args.repeat):
            plain_times.append(sum(timed(command, project, plain_env) for command in commands))
            harness_times.append(timed(harness, project, env))
        plain_median, harness_median = statistics.median(plain_times), statistics.median(harness_times)
        print(
            f"{'all, seq.':<11} {plain_median:>12.2f}s {harness_median:>15.2f}s {harness_median / plain_median:>6.2f}"
        )


if __name__ == "__main__":
    main()
