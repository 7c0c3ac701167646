"""Real third-party test suites: fetch their pinned sdists and run them with plain pytest.

The end-to-end tests in ``tests/e2e/test_realsuites.py`` compare, per backend, every test's
outcome in a ``portability run`` report with its outcome in a plain pytest run of the same suite
with the same settings; this module provides the suites' description and that plain side.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import subprocess
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dj_database_url

from tests.helpers import MARIADB_URL, POSTGRESQL_URL

SDIST_CACHE_ENV = "PORTABILITY_TESTS_SDIST_CACHE"
"""Overrides where downloaded sdists (and their unpacked trees) are kept between runs."""

PLAIN_RUN_TIMEOUT = 20 * 60
"""Seconds a plain pytest run of one suite on one backend may take before it is killed."""

PLAIN_SETTINGS_MODULE = "plain_run_settings"

# Environment variables that would change what a plain pytest run does (the harness scrubs the
# first three for its workers and sets DJANGO_SETTINGS_MODULE itself).
_SCRUBBED_ENV = ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD", "DJANGO_SETTINGS_MODULE")

# What pip prints when it cannot reach the package index (as opposed to any other failure).
_NETWORK_ERRORS = (
    "NewConnectionError",
    "NameResolutionError",
    "Failed to establish a new connection",
    "Max retries exceeded",
    "Temporary failure in name resolution",
    "Name or service not known",
    "Network is unreachable",
    "Connection refused",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "ProxyError",
)


@dataclass(frozen=True)
class SuiteSpec:
    """How to fetch and run one package's own test suite, as its maintainers do."""

    package: str
    version: str
    sha256: str
    settings: str
    project: str = "."
    """The project folder inside the sdist (manage.py's folder): the harness's --project-dir."""
    pytest_args: tuple[str, ...] = ()
    """What the harness adds for this project too (``-o python_files=test*.py`` without pytest config)."""
    selection: tuple[str, ...] = ()
    """pytest arguments both runs get (``-k``): tests left out of the comparison, each with its reason."""
    package_beside_project: bool = False
    """The package under test sits in the sdist's root, outside the project folder: put it on the path."""
    real_findings: tuple[RealFinding, ...] = ()
    """Every finding of `portability run` verified as a real backend difference (see each one's comment)."""

    @property
    def name(self) -> str:
        return f"{self.package}-{self.version}"

    @property
    def dist_stem(self) -> str:
        """``django_model_utils-5.0.0``: the sdist's file stem and top folder (PEP 625 name)."""
        return f"{re.sub(r'[-_.]+', '_', self.package).lower()}-{self.version}"


@dataclass(frozen=True, order=True)
class RealFinding:
    """A finding in comparable form: its code, what it is about, and the backends concerned.

    ``subject`` is the test's node id (PT101), the migration (PT102), or ``"<node id> @ <path:line>"``
    for a query finding (PT2xx: the test and the call site). ``backends`` are those where the test
    failed or errored (PT101), or every backend in the finding's evidence (the others).
    """

    code: str
    subject: str
    backends: tuple[str, ...] = ()
    by_chance: bool = False
    """Verified real, but whether a run shows it depends on values that differ from run to run
    (random uuid4 keys, auto-increment positions that depend on every earlier test, random password
    salts). Its subject is then the call site alone (which test shows it first is chance too); it
    may be absent, and its backends may vary."""

    @classmethod
    def of(cls, finding: dict) -> RealFinding:
        """The comparable form of one finding of a JSON report."""
        code, evidence = finding["code"], finding["backends"]
        if code == "PT101":
            failing = [name for name, each in evidence.items() if each["outcome"] in ("failed", "error")]
            return cls(code, finding["test"], tuple(sorted(failing)))
        if code == "PT102":
            return cls(code, finding["details"]["migration"], tuple(sorted(evidence)))
        location = finding["location"] or {}
        return cls(code, f"{finding['test']} @ {location.get('path')}:{location.get('line')}", tuple(sorted(evidence)))

    def accounts_for(self, observed: RealFinding) -> bool:
        if self.by_chance:
            return self.code == observed.code and observed.subject.endswith(f" @ {self.subject}")
        return (self.code, self.subject, self.backends) == (observed.code, observed.subject, observed.backends)


def unexplained(observed: list[RealFinding], real: list[RealFinding]) -> list[RealFinding]:
    """The observed findings that no verified real finding accounts for: false alarms."""
    return [finding for finding in observed if not any(each.accounts_for(finding) for each in real)]


def missing(observed: list[RealFinding], real: list[RealFinding]) -> list[RealFinding]:
    """The verified real findings (not left to chance) that the run did not report."""
    return [each for each in real if not each.by_chance and not any(each.accounts_for(f) for f in observed)]


class IndexUnreachable(Exception):
    """pip could not reach the package index: the only reason a real-suite test may skip."""


def sdist_cache() -> Path:
    default = Path.home() / ".cache" / "portability-tests" / "sdists"
    return Path(os.environ.get(SDIST_CACHE_ENV) or default).expanduser()


def fetch_suite(spec: SuiteSpec, cache_dir: Path) -> Path:
    """Download (once), verify and unpack (once) the pinned sdist; return its unpacked root.

    Raises IndexUnreachable when the download fails for want of a network, RuntimeError for
    anything else (a wrong digest, a malformed archive, pip failing for another reason).
    """
    source_root = cache_dir / spec.dist_stem
    if source_root.is_dir():
        return source_root
    cache_dir.mkdir(parents=True, exist_ok=True)
    sdist = cache_dir / f"{spec.dist_stem}.tar.gz"
    if not sdist.is_file():
        _download_sdist(spec, sdist)
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    if digest != spec.sha256:
        raise RuntimeError(f"{sdist} has sha256 {digest}, not the pinned {spec.sha256}")
    _unpack(sdist, source_root)
    return source_root


def _download_sdist(spec: SuiteSpec, sdist: Path) -> None:
    """pip download into a private folder, then move the file in place (a half download never counts)."""
    with tempfile.TemporaryDirectory(prefix=".download-", dir=sdist.parent) as staging:
        completed = subprocess.run(
            [
                sys.executable, "-m", "pip", "download", "--disable-pip-version-check",
                # pip names a connection error only when it retries: never let that be 0.
                "--retries", "2",
                "--no-deps", "--no-binary", ":all:", f"{spec.package}=={spec.version}", "-d", staging,
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )  # fmt: skip
        output = completed.stdout + completed.stderr
        if completed.returncode != 0:
            network_error = next((line for line in output.splitlines() if _is_network_error(line)), None)
            if network_error:
                reason = network_error.split("connection broken by ", 1)[-1].strip()
                raise IndexUnreachable(f"cannot download {spec.name}: {reason}")
            raise RuntimeError(f"pip download {spec.name} failed:\n{output[-3000:]}")
        downloaded = Path(staging) / sdist.name
        if not downloaded.is_file():
            raise RuntimeError(f"pip download {spec.name} left {os.listdir(staging)}, not {sdist.name}")
        os.replace(downloaded, sdist)


def _is_network_error(line: str) -> bool:
    return any(marker in line for marker in _NETWORK_ERRORS)


def _unpack(sdist: Path, source_root: Path) -> None:
    """Unpack beside the target and rename, so a half-unpacked tree never counts."""
    staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=source_root.parent))
    try:
        with tarfile.open(sdist) as archive:
            archive.extractall(staging, filter="data")
        unpacked = staging / source_root.name
        if not unpacked.is_dir():
            raise RuntimeError(f"{sdist} does not contain the folder {source_root.name}")
        try:
            unpacked.rename(source_root)
        except OSError:
            if not source_root.is_dir():
                raise  # not a concurrent unpack that won the race
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def project_dir(spec: SuiteSpec, source_root: Path) -> Path:
    return (source_root / spec.project).resolve()


def suite_pythonpath(spec: SuiteSpec, source_root: Path, *front: Path) -> str:
    """PYTHONPATH for both runs of a suite: ``front``, and the package when it is outside the project.

    (The harness puts the project folder first itself, as a plain run's ``front`` does.)
    """
    paths = [*map(str, front), str(source_root) if spec.package_beside_project else "", os.environ.get("PYTHONPATH")]
    return os.pathsep.join(path for path in paths if path)


# --- JUnit XML <-> pytest node ids ----------------------------------------------------------

JUnitAddress = tuple[str, str]
"""(classname, name) of a JUnit <testcase>."""


def junit_address(nodeid: str) -> JUnitAddress:
    """Where pytest's JUnit report puts a test: ``a/test_b.py::C::test_d[x]`` → ``("a.test_b.C", "test_d[x]")``.

    As pytest's ``mangle_test_address``: the parameters are split off first (they may contain
    ``::`` or ``/``), the file path becomes a dotted module path.
    """
    path, bracket, params = nodeid.partition("[")
    names = path.split("::")
    names[0] = names[0].replace("/", ".").removesuffix(".py")
    names[-1] += bracket + params
    return ".".join(names[:-1]), names[-1]


def junit_outcomes(path: Path) -> dict[JUnitAddress, str]:
    """Each test's outcome in a pytest JUnit report, folded as the harness folds its phases.

    pytest writes a test that fails and then errors in teardown as two <testcase> elements (and
    counts it twice: "1 failed, 1 error"); the harness reports one test whose outcome is its first
    failure (harness/outcomes.py). So the elements of one address are folded in document order and
    the first failure or error wins.
    """
    outcomes: dict[JUnitAddress, str] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        address = (case.get("classname", ""), case.get("name", ""))
        if outcomes.get(address) not in ("failed", "error"):
            outcomes[address] = _testcase_outcome(case)
    return outcomes


def _testcase_outcome(case: ET.Element) -> str:
    children = {child.tag: child for child in case}
    if "failure" in children:
        return "failed"
    if "error" in children:
        return "error"
    if "skipped" in children:
        return "xfailed" if children["skipped"].get("type") == "pytest.xfail" else "skipped"
    return "passed"  # an xpassed (non-strict) test is written as a pass


def harness_outcomes(report: dict, target: str) -> Iterator[tuple[str, str]]:
    """(nodeid, outcome) of every test the harness ran on ``target``, in JUnit's vocabulary."""
    for test in report["tests"]:
        outcome = test["outcomes"].get(target)
        if outcome is not None:
            yield test["nodeid"], "passed" if outcome == "xpassed" else outcome


# --- the plain pytest run -------------------------------------------------------------------


def plain_database(target: str, test_name: str) -> dict[str, Any]:
    """The DATABASES["default"] of a plain run, on the same server and with the same test settings as the harness."""
    if target == "sqlite":
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
    url = {"postgresql": POSTGRESQL_URL, "mariadb": MARIADB_URL}[target]
    database = dj_database_url.parse(url)
    database["TEST"] = {"NAME": test_name}
    if target == "mariadb":
        # What the harness's MariaDB target sets (harness/vendors.py): utf8mb4 connections and test database.
        database["OPTIONS"] = {"charset": "utf8mb4"}
        database["TEST"] |= {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}
    return database


def drop_test_database(target: str, name: str) -> None:
    """Drop a plain run's test database (pytest-django cannot tear one down whose migrations failed)."""
    from harness.urls import parse_target_url
    from harness.vendors import vendor_for_target

    vendor = vendor_for_target(target)
    url = {"postgresql": POSTGRESQL_URL, "mariadb": MARIADB_URL}[target]
    connection = vendor.connect(parse_target_url(target, url), timeout=5)
    try:
        connection.cursor().execute(f"DROP DATABASE IF EXISTS {vendor.quote_template.format(name)}")
    finally:
        connection.close()


def write_plain_settings(settings: str, database: dict[str, Any], workdir: Path) -> None:
    """A settings module that is the suite's own, with only DATABASES replaced."""
    (workdir / f"{PLAIN_SETTINGS_MODULE}.py").write_text(
        f'"""Generated: {settings} with DATABASES replaced, for a plain pytest run."""\n'
        "import importlib\n\n"
        f"_base = importlib.import_module({settings!r})\n"
        "globals().update({name: value for name, value in vars(_base).items() if name.isupper()})\n"
        f"DATABASES = {{'default': {database!r}}}\n"
    )


def plain_pytest_command(spec: SuiteSpec, project: Path, junit: Path) -> list[str]:
    """The harness's worker command line (harness/execute.py) without its plugin, plus a JUnit report."""
    return [
        sys.executable, "-m", "pytest",
        "-p", "no:cacheprovider", "-p", "no:portability",
        # --tb=native, not the harness's --tb=short: it changes no outcome, and pytest's own
        # formatting of 504 setup errors (django-guardian on MariaDB) costs two minutes of CPU.
        "--color=no", "--tb=native",
        "--rootdir", str(project),
        "--ds", PLAIN_SETTINGS_MODULE,
        f"--junitxml={junit}",
        *spec.pytest_args,
        *spec.selection,
    ]  # fmt: skip


def plain_env(pythonpath: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in _SCRUBBED_ENV}
    return env | {"PYTHONPATH": pythonpath}


@dataclass
class PlainRun:
    target: str
    process: subprocess.Popen
    junit: Path
    log: Path
    test_database: str

    def outcomes(self) -> dict[JUnitAddress, str]:
        """Wait for the run, drop its test database, and return each test's outcome."""
        try:
            returncode = self.process.wait(timeout=PLAIN_RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise RuntimeError(f"plain pytest on {self.target} timed out after {PLAIN_RUN_TIMEOUT}s") from None
        finally:
            if self.target != "sqlite":
                drop_test_database(self.target, self.test_database)
        if returncode not in (0, 1) or not self.junit.is_file():
            tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])
            raise RuntimeError(f"plain pytest on {self.target} crashed (exit code {returncode}):\n{tail}")
        return junit_outcomes(self.junit)


def start_plain_run(spec: SuiteSpec, source_root: Path, target: str, workdir: Path) -> PlainRun:
    """Start the suite under plain pytest on ``target``; ``PlainRun.outcomes()`` waits for it."""
    workdir.mkdir(parents=True, exist_ok=True)
    test_name = f"test_plain_{secrets.token_hex(6)}"
    write_plain_settings(spec.settings, plain_database(target, test_name), workdir)
    project = project_dir(spec, source_root)
    junit = workdir / "junit.xml"
    log = workdir / "pytest.log"
    with log.open("w") as log_file:
        process = subprocess.Popen(
            plain_pytest_command(spec, project, junit),
            cwd=project,
            env=plain_env(suite_pythonpath(spec, source_root, workdir, project)),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    return PlainRun(target, process, junit, log, test_name)
