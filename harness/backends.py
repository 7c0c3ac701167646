"""The status of each backend in a run: what it is, whether it ran, and its counts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.cleanup import CLEAN_COMMAND
from harness.compare import Comparison
from harness.errors import EXIT_BACKEND_UNAVAILABLE, EXIT_NO_TESTS, EXIT_SAME
from harness.findings import Finding, findings_exit_code
from harness.results import ERROR, OUTCOMES, WorkerResults

RAN, NOT_REACHABLE, DRIVER_MISSING, CRASHED, TIMED_OUT, SETUP_FAILED, INTERRUPTED, LOST, NOT_COLLECTED = (
    "ran",
    "not reachable",
    "driver missing",
    "crashed",
    "timed out",
    "setup failed",
    "interrupted",
    "lost",
    "collection failed",
)
# Statuses whose results are whole: every test the worker collected has its outcome.
# (A collection error stops pytest before any test; the PT103 finding reports it.)
COMPLETE = frozenset({RAN, SETUP_FAILED, NOT_COLLECTED})
# Statuses of backends that never started (no results to be partial).
NEVER_STARTED = frozenset({NOT_REACHABLE, DRIVER_MISSING})

# pytest's exit codes (pytest.ExitCode), as written in a results file's finish record.
PYTEST_OK, PYTEST_TESTS_FAILED, PYTEST_INTERRUPTED, PYTEST_NO_TESTS = 0, 1, 2, 5
# Exit codes of a worker that finished its work (tests may have failed, or none were collected).
FINISHED_EXIT_CODES = frozenset({PYTEST_OK, PYTEST_TESTS_FAILED, PYTEST_NO_TESTS})


@dataclass
class BackendStatus:
    name: str
    vendor: str
    product: str | None
    version: str | None
    status: str
    url: str = ""
    reason: str = ""
    duration: float | None = None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def server(self) -> str:
        return f"{self.product} {self.version}" if self.product else "-"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "vendor": self.vendor,
            "product": self.product,
            "version": self.version,
            "status": self.status,
            "url": self.url,
            "reason": self.reason,
            "duration": self.duration,
            "counts": self.counts,
        }


def derive_status(
    results: WorkerResults,
    *,
    returncode: int | None = None,
    timed_out: bool = False,
    interrupted: bool = False,
    last_output: Callable[[], str] = lambda: "",
) -> BackendStatus:
    """The one place a backend's status is decided, for `run`, `migrations` and `report` alike.

    A results file is complete only when its worker wrote a finish record with an exit status
    of a finished run and, when the process is known, the process agrees: a missing finish
    record, an interrupted or crashed worker, a timeout or a lost server each make it partial.
    ``returncode`` is None when only the file is known (`report`); ``last_output`` (the end of the
    worker's log) is read only for a partial run, whose reason quotes it.
    """
    status, reason = _status_and_reason(results, returncode, timed_out, interrupted)
    header = results.header
    if status not in COMPLETE and status != LOST:
        tail = last_output()
        if tail:
            reason = f"{reason}; last output: {' / '.join(tail.splitlines()[-3:])}"
    if status == LOST and returncode is None and results.lost.get("test_databases"):
        # Only the file is known (`report`): the databases it names may still be on the server.
        reason = f"{reason}; {lost_databases_note(results)}"
    return BackendStatus(
        name=results.target,
        vendor=header.get("vendor", ""),
        product=header.get("product"),
        version=header.get("server_version"),
        status=status,
        url=header.get("url", ""),
        reason=reason,
        duration=(results.finish or {}).get("duration"),
        counts=results.counts() if header else dict.fromkeys(OUTCOMES, 0),
    )


def _status_and_reason(
    results: WorkerResults, returncode: int | None, timed_out: bool, interrupted: bool
) -> tuple[str, str]:
    finish = results.finish
    exitstatus = finish.get("exitstatus") if finish else None
    if timed_out:
        return TIMED_OUT, "stopped after the --timeout limit"
    if results.lost:
        lost = results.lost
        during = f" during {lost['nodeid']}" if lost.get("nodeid") else ""
        return LOST, f"the connection to the server was lost{during}: {lost.get('error', '')}".rstrip(": ")
    if exitstatus == PYTEST_INTERRUPTED and results.collection_errors and returncode in (None, exitstatus):
        return NOT_COLLECTED, "a test module failed to import, so pytest ran no test here"
    if interrupted or exitstatus == PYTEST_INTERRUPTED:
        return INTERRUPTED, "interrupted before every test ran"
    if not results.header:
        return CRASHED, f"the worker wrote no results ({_exited(returncode)})"
    if finish is None:
        return CRASHED, f"the results end before the run finished ({_exited(returncode)})"
    if exitstatus not in FINISHED_EXIT_CODES:
        return CRASHED, f"the worker finished with exit status {exitstatus}"
    if returncode is not None and returncode != exitstatus:
        return CRASHED, f"the results say exit status {exitstatus} but the worker {_exited(returncode)}"
    if results.setup_failures:
        return SETUP_FAILED, ""
    return RAN, ""


def lost_databases_note(results: WorkerResults) -> str:
    names = ", ".join(results.lost["test_databases"])
    return f"test database(s) that may be left on the server: {names}; `{CLEAN_COMMAND}` drops them once it is back"


def _exited(returncode: int | None) -> str:
    if returncode is None:
        return "worker exit code unknown"
    if returncode < 0:
        return f"killed by signal {-returncode}"
    return f"exited with code {returncode}"


# What to do about a backend whose results are partial, by status.
PARTIAL_HINTS = {
    TIMED_OUT: "a test hangs or the suite needs longer: raise --timeout, or read the worker's log (--results-dir) "
    "for the last test it started",
    CRASHED: "the worker process died: its log (--results-dir DIR keeps it) ends with what it last printed",
    INTERRUPTED: "the run was stopped before it finished: run it again to completion",
    LOST: "the database server went away mid-run (restart, crash, network): check it, then run again",
}


def partial_results_findings(backends: list[BackendStatus]) -> list[Finding]:
    """A PT102 finding for every backend whose results are partial: those are never a clean run."""
    findings = []
    for backend in backends:
        if backend.status in COMPLETE or backend.status in NEVER_STARTED:
            continue
        findings.append(
            Finding(
                kind="setup_failure",
                message=f"the run on {backend.name} did not finish ({backend.status}); "
                "its results are partial and were compared only up to that point",
                backends={backend.name: {"outcome": ERROR, "message": backend.reason}},
                details={"status": backend.status, "hint": PARTIAL_HINTS[backend.status]},
            )
        )
    return findings


def exit_code(comparison: Comparison, backends: list[BackendStatus], fail_on: str) -> int:
    """The exit code of run, migrations and report.

    A lost server (3) outranks findings (1); a run that collected no test anywhere is 5, as
    pytest's own "no tests collected", so a CI job cannot go green having tested nothing.
    """
    if any(backend.status == LOST for backend in backends):
        return EXIT_BACKEND_UNAVAILABLE
    code = findings_exit_code(comparison.findings, fail_on)
    if code == EXIT_SAME and comparison.collected_nothing:
        return EXIT_NO_TESTS
    return code
