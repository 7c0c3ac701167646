"""Fetch django-model-utils' own test suite and run it "by hand" with pytest.

The end-to-end tests compare the outcome of that suite run through the
portability harness with the outcome of a plain pytest run against the same
database server; this module provides the plain ("by hand") side.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import subprocess
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DJANGO_MODEL_UTILS_VERSION = "5.0.0"
"""Latest release (2024-09-01); its suite passes on Django 5.2 / Python 3.11."""

DJANGO_MODEL_UTILS_SDIST_SHA256 = "041cdd6230d2fbf6cd943e1969318bce762272077f4ecd333ab2263924b4e5eb"

DJANGO_MODEL_UTILS_TEST_REQUIREMENTS: tuple[str, ...] = ("time-machine>=2.9",)
"""Packages the suite imports beyond Django, pytest, pytest-django and drivers."""

BY_HAND_TIMEOUT = 15 * 60
"""Seconds a by-hand pytest run may take before it is killed."""

SETTINGS_MODULE = "dmu_by_hand_settings"

# Environment variables that would change what a plain pytest run does.
_SCRUBBED_ENV = (
    "PYTEST_ADDOPTS",
    "PYTEST_PLUGINS",
    "PYTEST_DISABLE_PLUGIN_AUTOLOAD",
    "DJANGO_SETTINGS_MODULE",
)


@dataclass(frozen=True)
class Counts:
    """Outcome of a test run, one category per test case.

    xfailed tests count as skipped and xpassed ones as passed, as in JUnit XML
    (the suite has neither). Subtests are not counted separately.
    """

    passed: int
    failed: int
    skipped: int
    errors: int


def _sdist_path(cache_dir: Path) -> Path | None:
    for name in ("django_model_utils", "django-model-utils"):
        path = cache_dir / f"{name}-{DJANGO_MODEL_UTILS_VERSION}.tar.gz"
        if path.is_file():
            return path
    return None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch_django_model_utils(cache_dir: Path) -> Path:
    """Download (once) and unpack (once) the pinned sdist into *cache_dir*.

    Returns the unpacked source root, the directory that contains ``tests/``.
    Installs nothing.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    source_root = cache_dir / f"django_model_utils-{DJANGO_MODEL_UTILS_VERSION}"
    if (source_root / "tests" / "settings.py").is_file():
        return source_root

    sdist = _sdist_path(cache_dir)
    if sdist is None:
        subprocess.run(
            [
                sys.executable, "-m", "pip", "download",
                "--disable-pip-version-check", "--no-deps",
                "--no-binary", ":all:",
                f"django-model-utils=={DJANGO_MODEL_UTILS_VERSION}",
                "-d", str(cache_dir),
            ],
            check=True,
        )  # fmt: skip
        sdist = _sdist_path(cache_dir)
        if sdist is None:
            raise RuntimeError(f"pip download left no sdist in {cache_dir}")
    digest = _sha256(sdist)
    if digest != DJANGO_MODEL_UTILS_SDIST_SHA256:
        raise RuntimeError(f"{sdist} has sha256 {digest}, expected the pinned one")

    # Unpack beside the target and rename, so a half-unpacked tree never counts.
    staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=cache_dir))
    try:
        with tarfile.open(sdist) as archive:
            archive.extractall(staging, filter="data")
        unpacked = staging / source_root.name
        if not (unpacked / "tests" / "settings.py").is_file():
            raise RuntimeError(f"{sdist} does not contain {source_root.name}/tests")
        try:
            unpacked.rename(source_root)
        except OSError:
            if not (source_root / "tests" / "settings.py").is_file():
                raise  # not a concurrent unpack that won the race
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return source_root


def database_for(target: str) -> dict[str, Any]:
    """Return the Django ``DATABASES`` entry for a local test server."""
    if target == "sqlite":
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
    if target == "postgresql":
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": "dmu",
            "USER": "postgres",
            "PASSWORD": "",
            "HOST": "127.0.0.1",
            "PORT": "5432",
        }
    if target == "mariadb":
        return {
            "ENGINE": "django.db.backends.mysql",
            "NAME": "dmu",
            "USER": "root",
            "PASSWORD": "",
            "HOST": "127.0.0.1",
            "PORT": "3306",
            "OPTIONS": {"charset": "utf8mb4"},
        }
    raise ValueError(f"unknown target {target!r}")


def write_settings(database: dict[str, Any], workdir: Path) -> Path:
    """Write the override settings module into *workdir* and return its path.

    Non-SQLite databases get a fresh ``test_dmu_<hex>`` TEST NAME so that
    concurrent runs never share a test database.
    """
    database = dict(database)
    if database["ENGINE"] != "django.db.backends.sqlite3":
        test = dict(database.get("TEST") or {})
        test["NAME"] = f"test_dmu_{secrets.token_hex(6)}"
        database["TEST"] = test
    path = workdir / f"{SETTINGS_MODULE}.py"
    path.write_text(
        '"""Generated: django-model-utils test settings with DATABASES replaced."""\n'
        "from tests.settings import *  # noqa: F403\n\n"
        f"DATABASES = {{'default': {database!r}}}\n"
    )
    return path


def parse_junit(path: Path) -> Counts:
    """Count the test cases of a pytest JUnit XML report by outcome.

    A case with a ``<failure>`` is failed (even if teardown also errored);
    otherwise one with an ``<error>`` (setup/teardown/collection) is an error.
    """
    passed = failed = skipped = errors = 0
    for case in ET.parse(path).getroot().iter("testcase"):
        tags = {child.tag for child in case}
        if "failure" in tags:
            failed += 1
        elif "error" in tags:
            errors += 1
        elif "skipped" in tags:
            skipped += 1
        else:
            passed += 1
    return Counts(passed=passed, failed=failed, skipped=skipped, errors=errors)


def run_by_hand(source_root: Path, database: dict[str, Any], workdir: Path) -> Counts:
    """Run the suite with plain pytest against *database* and count outcomes.

    The unpacked sources are not modified; the settings override and the
    JUnit report (``by_hand.xml``) go to *workdir*.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    write_settings(database, workdir)
    junit = workdir / "by_hand.xml"
    junit.unlink(missing_ok=True)

    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    paths = [str(workdir), str(source_root), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    command = [
        sys.executable, "-m", "pytest",
        "-p", "no:cacheprovider", "-p", "no:portability",
        "--ds", SETTINGS_MODULE,
        f"--junitxml={junit}",
        "tests",
    ]  # fmt: skip
    try:
        proc = subprocess.run(
            command,
            check=False,
            cwd=source_root,
            env=env,
            capture_output=True,
            text=True,
            timeout=BY_HAND_TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"by-hand pytest run timed out after {BY_HAND_TIMEOUT}s") from exc
    (workdir / "by_hand.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode not in (0, 1) or not junit.is_file():
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
        raise RuntimeError(f"by-hand pytest run crashed (exit code {proc.returncode}):\n{tail}")
    return parse_junit(junit)
