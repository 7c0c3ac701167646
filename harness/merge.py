"""One results file per backend when pytest-xdist runs its tests in several processes.

Queries are recorded where tests run, in the xdist workers; so each worker writes its own
file, ``<results>.gw0``, holding only its tests' records (queries, setup failures, a `lost`
record, then the test's `test` record). The xdist controller writes the header, the
collection record and the finish record to ``<results>`` itself and, each time a worker says
a test finished (pytest_runtest_logfinish, forwarded by xdist), copies that test's records
from the worker's file: the one results file keeps every test's records together, its `test`
record last, and grows while the run goes on (the parent follows it for progress).
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.results import ResultsWriter

# How every `test` record's line starts (ResultsWriter writes the type first).
TEST_RECORD_START = b'{"type": "test", '


def worker_results_path(results: Path, xdist_worker: str) -> Path:
    return results.with_name(f"{results.name}.{xdist_worker}")


class XdistRelay:
    """Copies the xdist workers' records, a test at a time, into the controller's results file."""

    def __init__(self, results: Path, writer: ResultsWriter) -> None:
        self.results = results
        self.writer = writer
        self._offsets: dict[str, int] = {}

    def copy_test(self, xdist_worker: str, nodeid: str) -> bool:
        """Copy the records of ``nodeid``'s test, up to its `test` record; False when that is not there."""
        path = worker_results_path(self.results, xdist_worker)
        offset = self._offsets.get(xdist_worker, 0)
        try:
            with path.open("rb") as handle:
                handle.seek(offset)
                lines = handle.readlines()
        except FileNotFoundError:
            return False
        block = []
        for line in lines:
            if not line.endswith(b"\n"):
                break
            block.append(line)
            offset += len(line)
            if line.startswith(TEST_RECORD_START) and json.loads(line).get("nodeid") == nodeid:
                self._write(block)
                self._offsets[xdist_worker] = offset
                return True
        return False

    def drain(self) -> None:
        """Copy what is left in every worker's file (the records of a test whose worker crashed)."""
        for path in sorted(self.results.parent.glob(f"{self.results.name}.gw*")):
            xdist_worker = path.name.rpartition(".")[2]
            with path.open("rb") as handle:
                handle.seek(self._offsets.get(xdist_worker, 0))
                self._write([line for line in handle.readlines() if line.endswith(b"\n")])

    def remove_worker_files(self) -> None:
        for path in self.results.parent.glob(f"{self.results.name}.gw*"):
            path.unlink(missing_ok=True)

    def _write(self, lines: list[bytes]) -> None:
        for number, line in enumerate(lines, 1):
            record = json.loads(line)
            self.writer.write(record.pop("type"), flush=number == len(lines), **record)
