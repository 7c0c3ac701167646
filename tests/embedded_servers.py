"""Embedded PostgreSQL servers for the end-to-end tests: a folder of their own per test, stopped after."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import PORTABILITY, REPO, CliResult

# Run a command where no server answers on any address (a network namespace of its own with only
# loopback up; needs root, as CI has here), while the machine's servers keep serving the other tests.
NO_NETWORK = ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh"]


@contextlib.contextmanager
def embedded_folder() -> Iterator[Path]:
    """A PORTABILITY_EMBEDDED_DIR reachable by the server's user when run as root; servers stopped after."""
    folder = Path(tempfile.mkdtemp(prefix="portability-embedded-test-", dir="/var/tmp"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        run_clean("servers", "stop", embedded=folder)
        shutil.rmtree(folder, ignore_errors=True)


def run_clean(
    *args: str, embedded: Path, isolated: bool = False, env: dict[str, str] | None = None, cwd: Path = REPO
) -> CliResult:
    """The real `portability` command with no PORTABILITY_* variable of the caller's (only ``env``),
    embedded servers kept in ``embedded``; ``isolated``: where no server answers."""
    full_env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("PORTABILITY_") and name != "DJANGO_SETTINGS_MODULE"
    }
    full_env.update({"PORTABILITY_EMBEDDED_DIR": str(embedded), **(env or {})})
    if isolated and os.geteuid() != 0:
        # A network namespace needs root (a user namespace would make the server's user root, which
        # PostgreSQL refuses). CI runs as root; say so rather than fail on a developer's machine.
        pytest.skip("needs root for `unshare --net` (a machine with no server answering); CI runs it as root")
    command = [*(NO_NETWORK if isolated else []), *PORTABILITY, *args]
    completed = subprocess.run(command, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=600)
    return CliResult(completed.returncode, completed.stdout, completed.stderr)
