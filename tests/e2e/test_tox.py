"""tox.ini's default envs (sqlite, postgresql, mariadb, then report) pass against the local servers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO

pytestmark = pytest.mark.e2e


def test_default_tox_envs_run_the_plugin_and_merge_a_clean_report(tmp_path: Path) -> None:
    tox = Path(sys.executable).with_name("tox")
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    completed = subprocess.run(
        [str(tox), "--workdir", str(tmp_path / "tox")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-5000:]
    for target in ("sqlite", "postgresql", "mariadb"):
        assert f"py311-django52-{target}: OK" in output
        assert (tmp_path / "tox" / "results" / f"py311-django52-{target}.jsonl").is_file()
    assert "report: OK" in output
    assert "No findings" in output
