"""What the benchmark scripts share: the local servers' URLs and the `portability run` command line."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
URLS = {
    "sqlite": "sqlite://:memory:",
    "postgresql": "postgres://postgres@127.0.0.1:5432/bench",
    "mariadb": "mysql://root@127.0.0.1:3306/bench",
}


def portability_run(project: Path, backends: list[str], *extra: str) -> list[str]:
    """`portability run` on the given backends of the local servers."""
    urls = [f"--url={target}={URLS[target]}" for target in backends]
    return [
        sys.executable,
        "-m",
        "harness.cli",
        "run",
        "--project-dir",
        str(project),
        "--backends",
        ",".join(backends),
        *urls,
        *extra,
    ]


def clean_env() -> dict[str, str]:
    """The environment without settings that would change what pytest runs."""
    return {key: value for key, value in os.environ.items() if not key.startswith(("PYTEST", "DJANGO_SETTINGS"))}
