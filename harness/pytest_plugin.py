"""The harness's pytest plugin: inert unless ``--portability-target`` is given.

With a target, it points every Django ``DATABASES`` alias at that target (test
databases get a run-unique name) and, with ``--portability-results``, streams one
JSON line per test. ``portability run`` starts one pytest per target with it; a
tox env or CI job can do the same with plain ``pytest`` and merge the files later.

Under pytest-xdist (``-n N``) the plugin runs in the controller and in every xdist worker:
each worker gets its own test databases (``test_<name>_gw0_<token>``) and writes its tests'
records to its own file, which the controller copies test by test into the one results file
(see harness.merge). With ``--portability-reuse-db`` the test databases are kept between runs
(see harness.reuse).
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness import __version__, declarations, lifeline, pytest_fixtures
from harness.cleanup import drop_leftover_test_databases, install_markers
from harness.config import Target, env_url_name, hash_seed_from_env
from harness.databases import ENV_RUN_TOKEN, databases_for_target, new_run_token
from harness.errors import PortabilityError
from harness.merge import XdistRelay, worker_results_path
from harness.outcomes import describe_collection_error, fold_outcome
from harness.probe import ServerInfo, probe
from harness.recorder import QueryRecorder
from harness.results import SCHEMA_VERSION, ResultsWriter
from harness.reuse import KeptDatabases, database_signature
from harness.urls import parse_target_url
from harness.vendors import Vendor, vendor_for_target


@dataclass
class PortabilityState:
    target: Target
    token: str
    server: ServerInfo
    writer: ResultsWriter | None
    started: float = field(default_factory=time.monotonic)
    reports: dict[str, list[pytest.TestReport]] = field(default_factory=dict)
    setup_failure_written: bool = False
    recorder: QueryRecorder | None = None
    rootdir: str = ""
    # The test databases that exist now (created by Django in this process, not yet dropped).
    test_databases: set[str] = field(default_factory=set)
    # The `lost` record once the connection to the server was lost (see _check_connection).
    lost: dict[str, Any] | None = None
    uninstall_markers: Any = None
    # SINGLE (no xdist), CONTROLLER (xdist's, runs no test) or WORKER (an xdist worker, e.g. gw0).
    role: str = "single"
    xdist_worker: str | None = None
    # The controller's: copies each worker's records into the results file (harness.merge).
    relay: XdistRelay | None = None
    # The controller's: the node ids the xdist workers collected (their union, in order).
    collected: dict[str, None] = field(default_factory=dict)
    collection_written: bool = False
    collection_errors: set[str] = field(default_factory=set)
    # --portability-reuse-db: the kept test databases, once their lock is held.
    reuse_db: bool = False
    kept: KeptDatabases | None = None


SINGLE, CONTROLLER, WORKER = "single", "controller", "worker"
# What the xdist controller tells each worker (workerinput): its pid, for the worker's lifeline.
CONTROLLER_PID = "portability_controller_pid"
STATE_KEY = pytest.StashKey[PortabilityState]()


# ---------------------------------------------------------------- options


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("portability", "Django ORM portability harness")
    group.addoption(
        "--portability-target",
        metavar="NAME",
        help="point every DATABASES alias at this target (sqlite, postgresql, mysql, mariadb)",
    )
    group.addoption(
        "--portability-url",
        metavar="URL",
        help="database URL for the target (default: PORTABILITY_<TARGET>_URL, then the docker-compose default)",
    )
    group.addoption("--portability-results", metavar="PATH", help="stream one JSON line per test to this file")
    group.addoption(
        "--portability-no-queries",
        action="store_true",
        help="do not record the ORM queries of each test (recorded by default with --portability-results)",
    )
    group.addoption(
        "--portability-float-tolerance",
        type=float,
        default=1e-9,
        metavar="REL",
        help="relative tolerance when comparing float results: |a-b| <= REL*max(|a|,|b|) (default 1e-9, 0: exact)",
    )
    group.addoption(
        "--portability-reuse-db",
        action="store_true",
        help="keep the test databases between runs, reused while their signature (migrations, models, "
        "Django and server versions, TEST settings) is unchanged",
    )


# ---------------------------------------------------------------- configuration


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", declarations.MARKER_HELP)
    name = config.getoption("portability_target")
    results_path = config.getoption("portability_results")
    if not name:
        if results_path:
            raise pytest.UsageError("--portability-results needs --portability-target NAME")
        return
    try:
        target = _target_from_options(name, config.getoption("portability_url"))
        server = probe(target)
    except PortabilityError as error:
        raise pytest.UsageError(f"portability: {error}") from None
    if not server.reachable:
        raise pytest.UsageError(
            f"portability: target {name!r} is not reachable at {target.masked_url}: {server.reason} "
            f"({server.failure}: {server.hint})"
        )
    token = os.environ.get(ENV_RUN_TOKEN) or new_run_token()
    role = _xdist_role(config)
    xdist_worker = config.workerinput["workerid"] if role == WORKER else None
    writer = None
    if results_path:
        path = worker_results_path(Path(results_path), xdist_worker) if xdist_worker else Path(results_path)
        writer = ResultsWriter(path, target.secrets)
    state = PortabilityState(target=target, token=token, server=server, writer=writer, rootdir=str(config.rootpath))
    state.role, state.xdist_worker = role, xdist_worker
    state.reuse_db = config.getoption("portability_reuse_db") and target.vendor.is_server
    config.stash[STATE_KEY] = state
    if role == WORKER:
        # Tied to the xdist controller (its parent): the worker stops, and drops its test databases, with it.
        lifeline.install(parent=config.workerinput.get(CONTROLLER_PID))
    else:
        # Started by `portability run`: stop (and drop the test databases) when it goes away.
        lifeline.install()
    _point_django_at(target, token, xdist_worker)
    if role == CONTROLLER:
        # Tests run (and test databases are made) in the xdist workers; their records are copied here.
        state.relay = XdistRelay(Path(results_path), writer) if writer else None
    else:
        if not config.pluginmanager.is_registered(pytest_fixtures):
            config.pluginmanager.register(pytest_fixtures, "portability-database-fixtures")
        state.uninstall_markers = install_markers(
            target,
            token,
            on_created=state.test_databases.add,
            on_dropped=state.test_databases.discard,
            skip_drop=lambda: _server_gone(state),
            kept=_KeptProxy(state),
        )
    if writer and role != WORKER:
        import django

        writer.write(
            "header",
            schema_version=SCHEMA_VERSION,
            harness_version=__version__,
            target=target.name,
            vendor=server.vendor,
            product=server.product,
            server_version=server.version,
            url=target.masked_url,
            django_version=django.get_version(),
            python_version=platform.python_version(),
            float_tolerance=config.getoption("portability_float_tolerance"),
            hash_seed=hash_seed_from_env(),
            started_at=time.time(),
        )


def _target_from_options(name: str, url: str | None) -> Target:
    vendor = vendor_for_target(name)
    if url:
        source = "--portability-url"
    elif os.environ.get(env_url_name(name)):
        url, source = os.environ[env_url_name(name)], env_url_name(name)
    else:
        url, source = vendor.default_url, "default"
    return Target(name=name, url=url, url_source=source, database=parse_target_url(name, url))


def _xdist_role(config: pytest.Config) -> str:
    """This process's part in a pytest-xdist run (xdist's own test: distribution mode and nodes to start)."""
    if hasattr(config, "workerinput"):
        return WORKER
    option = config.option
    distributing = getattr(option, "dist", "no") != "no" and bool(getattr(option, "tx", None))
    return CONTROLLER if distributing and not option.collectonly else SINGLE


def _point_django_at(target: Target, token: str, xdist_worker: str | None = None) -> None:
    from asgiref.local import Local
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.db import connections

    try:
        project_databases = settings.DATABASES
    except ImproperlyConfigured as error:
        raise pytest.UsageError(
            f"portability: Django settings are not configured ({error}); pass --ds MODULE"
        ) from None
    settings.DATABASES = databases_for_target(project_databases, target, token, xdist_worker)
    # Forget the connection settings Django may have read before the override.
    connections.close_all()
    connections.__dict__.pop("settings", None)
    connections._settings = None
    connections._connections = Local(connections.thread_critical)


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    state = config.stash.get(STATE_KEY, None)
    if state is None:
        return None
    return [
        f"portability: target {state.target.name} = {state.server.description} "
        f"at {state.target.masked_url} (URL from {state.target.url_source})"
    ]


def use_kept_databases(config: pytest.Config) -> None:
    """--portability-reuse-db: point each alias at its kept test database once its lock is held
    (called by harness.pytest_fixtures, once Django is set up); else the run-unique ones stay."""
    state = config.stash.get(STATE_KEY, None)
    if state is None or not state.reuse_db or state.kept is not None:
        return
    from django.conf import settings

    signature = database_signature(state.server.product, state.server.version, settings.DATABASES)
    state.kept = KeptDatabases.acquire(
        state.target,
        state.token,
        signature,
        settings.DATABASES,
        say=lambda text: _say_uncaptured(config, text),
        xdist_worker=state.xdist_worker,
        recording=state.recorder is not None,
    )
    if state.kept is not None:
        for alias, name in state.kept.names.items():
            settings.DATABASES[alias]["TEST"]["NAME"] = name


class _KeptProxy:
    """The kept test databases as install_markers sees them (there are none until the lock is held)."""

    def __init__(self, state: PortabilityState) -> None:
        self.state = state

    def owns(self, name: str) -> bool:
        return self.state.kept is not None and self.state.kept.owns(name)

    def before_create(self, name: str) -> None:
        assert self.state.kept is not None
        self.state.kept.before_create(name)

    def after_create(self, name: str) -> None:
        assert self.state.kept is not None
        self.state.kept.after_create(name)


# ---------------------------------------------------------------- collection


def pytest_collectreport(report: pytest.CollectReport) -> None:
    state = _CURRENT.state
    # Under xdist every worker collects, and the controller hears each one's failures: written once, there.
    if not state or not state.writer or not report.failed or state.role == WORKER:
        return
    if report.nodeid in state.collection_errors:
        return
    state.collection_errors.add(report.nodeid)
    message, location = describe_collection_error(report, str(state.rootdir))
    state.writer.write("collection_error", nodeid=report.nodeid, message=message, location=location)


def pytest_collection_finish(session: pytest.Session) -> None:
    state = session.config.stash.get(STATE_KEY, None)
    if state and state.writer and state.role == SINGLE:
        # The node ids let the comparison say which tests one backend collected and another did not.
        nodeids = [item.nodeid for item in session.items]
        state.writer.write("collection", count=len(nodeids), nodeids=nodeids)


# ---------------------------------------------------------------- pytest-xdist (controller side)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """Tell each xdist worker the controller's pid: its lifeline."""
    if STATE_KEY in node.config.stash:
        node.workerinput[CONTROLLER_PID] = os.getpid()


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    state = _CURRENT.state
    if state and state.role == CONTROLLER:
        state.collected.update(dict.fromkeys(ids))


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """xdist's default distribution (load) made static: the same tests in the same order in each worker
    on every backend (see harness.xdist_scheduling); other --dist modes are left as asked."""
    if STATE_KEY not in config.stash or config.getvalue("dist") != "load":
        return None
    from harness.xdist_scheduling import StaticScheduling

    return StaticScheduling(config, log)


def _write_xdist_collection(state: PortabilityState) -> None:
    """The controller's collection record, before the first test's: the union of what the workers collected
    (xdist schedules no test before every worker has collected)."""
    if state.writer and not state.collection_written:
        state.collection_written = True
        state.writer.write("collection", count=len(state.collected), nodeids=list(state.collected))


def _relay_test(state: PortabilityState, nodeid: str, reports: list[pytest.TestReport]) -> bool:
    """Copy the records of a test an xdist worker ran into the results file."""
    node = getattr(reports[-1], "node", None) if reports else None
    if state.relay is None or node is None:
        return False
    _write_xdist_collection(state)
    return state.relay.copy_test(node.workerinput["workerid"], nodeid)


# ---------------------------------------------------------------- test outcomes and queries


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    recorder = _recorder()
    if recorder:
        recorder.start_test(item.nodeid)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    recorder = _recorder()
    if recorder:
        recorder.set_phase("call")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    recorder = _recorder()
    if recorder:
        recorder.set_phase("teardown")


def _recorder() -> QueryRecorder | None:
    return _CURRENT.state.recorder if _CURRENT.state else None


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    state = _CURRENT.state
    if state:
        state.reports.setdefault(report.nodeid, []).append(report)


# tryfirst: in an xdist worker the test's records are written before xdist tells the controller it finished.
@pytest.hookimpl(tryfirst=True)
def pytest_runtest_logfinish(nodeid: str, location: tuple[str, int | None, str]) -> None:
    state = _CURRENT.state
    if not state:
        return
    reports = state.reports.pop(nodeid, [])
    if state.role == CONTROLLER:
        if not _relay_test(state, nodeid, reports) and reports:
            state.reports[nodeid] = reports  # written at the end, from the reports
        return
    if state.recorder:
        state.recorder.finish_test()
    if state.writer and reports:
        write_test_record(state.writer, nodeid, reports, location)


def write_test_record(
    writer: ResultsWriter, nodeid: str, reports: list[pytest.TestReport], location: tuple[str, int | None, str]
) -> None:
    """One test's `test` record: its outcome folded from its phase reports, where it is, and its declaration."""
    outcome, message = fold_outcome(reports)
    path, line, _ = location
    declared = next((value for report in reports for key, value in report.user_properties if key == DECLARED), None)
    writer.write(
        "test",
        nodeid=nodeid,
        outcome=outcome,
        duration=round(sum(report.duration for report in reports), 6),
        message=message,
        location={"path": path, "line": None if line is None else line + 1},
        **({"declared": declared} if declared else {}),
    )


# ---------------------------------------------------------------- declared differences

# The user property a test's @pytest.mark.portability declaration travels in (to its reports, across xdist too).
DECLARED = "portability_declared"


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Read every portability marker once: a malformed one stops the run with one line naming the test."""
    if STATE_KEY not in config.stash:
        return
    for item in items:
        marker = item.get_closest_marker(declarations.MARKER)
        if marker is None:
            continue
        expected, reason = marker.kwargs.get("expected"), marker.kwargs.get("reason")
        problem = declarations.check_marker(expected, reason) if not marker.args else "give expected= and reason="
        if problem:
            raise pytest.UsageError(f"portability: the portability marker of {item.nodeid}: {problem}")
        item.user_properties.append((DECLARED, {"expected": dict(expected), "reason": reason}))


# ---------------------------------------------------------------- a lost server

# Modules whose exceptions come from the database (Django's wrappers, or a server's driver).
DATABASE_ERROR_MODULES = tuple(
    dict.fromkeys(["django.db", *(module for vendor in Vendor.registry.values() for module in vendor.error_modules)])
)
# How long a fresh connection may take before the server counts as gone.
LOST_PROBE_TIMEOUT = 2.0


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    report = yield
    state = _CURRENT.state
    if state and report.failed and call.excinfo is not None:
        _check_connection(item, state, call.excinfo.value)
    return report


def _check_connection(item: pytest.Item, state: PortabilityState, error: BaseException) -> None:
    """A test failed with a database error: if the server no longer answers, the backend is lost.

    The `lost` record is written before the test's own record (which readers then ignore): what
    fails once the server is gone says nothing about the code. The run stops after this test,
    and Django does not try to drop test databases on a server that is not there.
    """
    if state.lost is not None or not state.target.vendor.is_server or not _is_database_error(error):
        return
    answer = probe(state.target, timeout=LOST_PROBE_TIMEOUT)
    if answer.reachable:
        return
    first_line = (str(error).strip().splitlines() or [""])[0]
    described = " ".join(f"{type(error).__module__}.{type(error).__name__}: {first_line}".split())[:300]
    state.lost = {
        "nodeid": item.nodeid,
        "error": f"{described}; a new connection failed: {answer.reason}",
        "test_databases": sorted(state.test_databases),
    }
    if state.writer:
        state.writer.write("lost", **state.lost)
    if state.recorder:
        # The queries of the test that was running are not the code's either.
        state.recorder.records.clear()
        state.recorder.paused = True
    item.session.shouldstop = f"portability: {state.target.name} server gone during {item.nodeid}: stopping"
    _log_line(item.config, item.session.shouldstop)


def _is_database_error(error: BaseException | None) -> bool:
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if any(cls.__module__.startswith(DATABASE_ERROR_MODULES) for cls in type(error).__mro__):
            return True
        error = error.__cause__ or error.__context__
    return False


def _server_gone(state: PortabilityState) -> bool:
    """Once lost: is the server still away (then dropping a test database would only wait and fail)?"""
    return state.lost is not None and not probe(state.target, timeout=LOST_PROBE_TIMEOUT).reachable


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session) -> Any:
    try:
        return (yield)
    finally:
        # The test databases are dropped next: a stop signal must not cut that short.
        lifeline.entering_cleanup()


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef, request: pytest.FixtureRequest) -> Any:
    recorder = _recorder()
    building_databases = fixturedef.argname == "django_db_setup"
    if recorder:
        # Rows and values a fixture creates live as long as its scope (setUpTestData: the class).
        recorder.enter_fixture(fixturedef.scope)
        # Migrations and serialization are not the test's queries (their inserts are still seen).
        recorder.paused = recorder.paused or building_databases
    try:
        result = yield
        state = request.config.stash.get(STATE_KEY, None)
        if building_databases and state and state.kept is not None:
            state.kept.set_up()
            _share_build_labels(state)
        return result
    except BaseException as error:
        state = request.config.stash.get(STATE_KEY, None)
        if state and state.writer and fixturedef.argname == "django_db_setup" and not state.setup_failure_written:
            state.setup_failure_written = True
            state.writer.write("setup_failure", **describe_setup_failure(error))
        raise
    finally:
        if recorder:
            recorder.leave_fixture()
            if building_databases:
                recorder.paused = False


def _share_build_labels(state: PortabilityState) -> None:
    """--reuse-db with queries recorded: the recorder's labels of the rows a build makes (harness.identity)
    are saved by the run that builds the kept databases and loaded by the runs that reuse them."""
    recorder, kept = state.recorder, state.kept
    if recorder is None or kept is None:
        return
    watcher = recorder.identities.before_change
    if not kept.reused:
        recorder.identities.before_change = None  # a method of the recorder: not part of the labels
        try:
            kept.save_labels(recorder.identities)
        except Exception as error:  # noqa: BLE001 - the next run then rebuilds
            warnings.warn(f"portability: could not save the query labels of the kept databases: {error}", stacklevel=1)
        finally:
            recorder.identities.before_change = watcher
    elif kept.reused == set(kept.markers):
        labels = kept.load_labels()
        if labels is not None:
            labels.before_change = watcher
            recorder.identities = labels


def describe_setup_failure(error: BaseException) -> dict[str, Any]:
    """Name the migration and operation that failed while the test database was built."""
    migration = operation = location = None
    traceback = error.__traceback__
    while traceback is not None:
        frame = traceback.tb_frame
        if frame.f_code.co_name == "apply" and frame.f_code.co_filename.endswith(
            os.path.join("migrations", "migration.py")
        ):
            instance, current = frame.f_locals.get("self"), frame.f_locals.get("operation")
            if instance is not None:
                migration = f"{instance.app_label}.{instance.name}"
                module_file = getattr(sys.modules.get(type(instance).__module__), "__file__", None)
                if module_file:
                    location = {"path": os.path.relpath(module_file), "line": None}
            if current is not None:
                operation = current.describe()
        traceback = traceback.tb_next
    message = " ".join(f"{type(error).__module__}.{type(error).__name__}: {error}".split())
    return {"migration": migration, "operation": operation, "location": location, "error": message[:1000]}


# ---------------------------------------------------------------- session end


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = session.config.stash.get(STATE_KEY, None)
    if not state:
        return
    # Runs after pytest-django's teardown: whatever is left (a failed setup) is dropped here.
    lifeline.entering_cleanup()
    _close_connections()
    if state.kept is not None:
        # Ready for the next run only when this one ended as runs do (not stopped, not lost).
        ended = exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED)
        try:
            state.kept.finish(clean=ended and state.lost is None and not lifeline.STATE.stopping)
        except Exception as error:  # noqa: BLE001 - the next run then rebuilds it
            warnings.warn(f"portability: could not mark the kept test databases ready: {error}", stacklevel=1)
        state.kept = None
    try:
        timeout = LOST_PROBE_TIMEOUT if state.lost else 5.0
        # An xdist worker drops only its own; the controller (after every worker is gone) all of the run's.
        drop_leftover_test_databases(state.target, state.token, timeout=timeout, xdist_worker=state.xdist_worker)
    except Exception as error:  # noqa: BLE001 - a cleanup problem must not hide the results
        warnings.warn(f"portability: could not drop leftover test databases: {error}", stacklevel=1)
    if state.uninstall_markers:
        state.uninstall_markers()
        state.uninstall_markers = None
    if state.recorder:
        state.recorder.uninstall()
        for failure in state.recorder.finish_session():
            _log_line(session.config, f"portability: query recorder internal error {failure}")
        state.recorder = None
    if state.relay:
        _finish_xdist_results(state)
    if state.writer:
        if state.role != WORKER:
            duration = round(time.monotonic() - state.started, 3)
            state.writer.write("finish", exitstatus=int(exitstatus), duration=duration)
        state.writer.close()
        state.writer = None
    if state.relay:
        state.relay.remove_worker_files()


def _finish_xdist_results(state: PortabilityState) -> None:
    """The controller, every worker gone: what no logfinish brought (a crashed worker's last test)."""
    assert state.relay is not None and state.writer is not None
    _write_xdist_collection(state)
    state.relay.drain()
    for nodeid, reports in state.reports.items():
        write_test_record(state.writer, nodeid, reports, reports[-1].location)
    state.reports.clear()


def _close_connections() -> None:
    """Close Django's connections: PostgreSQL waits 5 s, then refuses, to drop a database still in use
    (a run interrupted while the test database was being built leaves its connection open)."""
    from django.db import connections

    for connection in connections.all(initialized_only=True):
        try:
            connection.close()
        except Exception:  # noqa: BLE001,S110 - a broken connection is closed all the same
            pass


def _log_line(config: pytest.Config, text: str) -> None:
    """A line in the worker's log (the terminal pytest writes to)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(text)


def _say_uncaptured(config: pytest.Config, text: str) -> None:
    """A line on the worker's stderr (its log) even while pytest captures output: an xdist worker has no
    terminal of its own, and a fixture's output would only show with a failing test."""
    capture = config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        sys.stderr.write(text + "\n")
        sys.stderr.flush()


def pytest_unconfigure(config: pytest.Config) -> None:
    _CURRENT.state = None


# ---------------------------------------------------------------- state lookup


class _Current:
    """The active state, for hooks that receive no config object."""

    state: PortabilityState | None = None


_CURRENT = _Current()


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    state = _CURRENT.state = session.config.stash.get(STATE_KEY, None)
    recording = not session.config.getoption("portability_no_queries")
    if state and state.writer and state.role != CONTROLLER and recording:
        state.recorder = QueryRecorder(
            writer=state.writer,
            project_root=os.path.join(str(session.config.rootpath), ""),
            float_tolerance=session.config.getoption("portability_float_tolerance"),
        )
        state.recorder.install()
