"""The benchmark script runs end to end (one quick round); the real figures come from a full run."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO

pytestmark = pytest.mark.e2e


def test_benchmark_script_writes_a_results_table(tmp_path: Path) -> None:
    out = tmp_path / "RESULTS.md"
    completed = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "bench.py"),
            "--smoke",
            "--backends",
            "sqlite,postgresql",
            "--out",
            str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    text = out.read_text()
    rows = {line.split(" | ")[0].lstrip("| "): line for line in text.splitlines() if re.match(r"\| \w", line)}
    for figure in (
        "recording, sqlite",
        "recording, postgresql",
        "recording, query-heavy, sqlite",
        "harness vs plain, sqlite",
        "matrix",
    ):
        assert figure in rows, text
        ratio = float(rows[figure].split(" | ")[2])
        assert 0 < ratio < 20, rows[figure]
    assert "<= 1.05: " in rows["recording, sqlite"]
