"""Read the query records of results files back one test at a time.

Reading a results file (harness.results) keeps only where each test's query records are;
the comparison then asks for one test's records on each backend, compares them and drops
them, so the parent's memory grows with the number of tests, never with the number of
queries. The byte offsets make the order of the files irrelevant: without xdist every
backend ran the tests in the same order, with xdist each in its own, and a test may be
missing on some backend (setup error, lost server, collected elsewhere only).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from harness.errors import ResultsError
from harness.results import WorkerResults, parse_lines


class QueryReader:
    """One open handle per results file; ``queries(worker, test)`` reads that test's records.

    Use it as a context manager: the handles are closed on leaving.
    """

    def __init__(self) -> None:
        self._handles: dict[Path, IO[bytes]] = {}

    def __enter__(self) -> QueryReader:
        return self

    def __exit__(self, *exc: tuple[type[BaseException] | None, BaseException | None, TracebackType | None]) -> None:
        for handle in self._handles.values():
            handle.close()
        self._handles.clear()

    def queries(self, worker: WorkerResults, test: str) -> list[dict[str, Any]]:
        """The query records of ``test`` in ``worker``'s file, in file order, each checked as it is parsed."""
        spans = worker.query_spans.get(test)
        if not spans:
            return []
        handle = self._handle(worker.path)
        records = []
        for span in spans:
            try:
                handle.seek(span.start)
                data = handle.read(span.end - span.start)
            except OSError as error:
                raise ResultsError(path=worker.path, reason=error.strerror or type(error).__name__) from None
            if len(data) != span.end - span.start:
                raise ResultsError(path=worker.path, reason=f"line {span.line}: the file changed while it was read")
            records += parse_lines(worker.path, data, span.line)
        return records

    def _handle(self, path: Path) -> IO[bytes]:
        if path not in self._handles:
            try:
                self._handles[path] = path.open("rb")
            except OSError as error:
                raise ResultsError(path=path, reason=error.strerror or type(error).__name__) from None
        return self._handles[path]


def tests_with_queries(results: list[WorkerResults]) -> list[str]:
    """Every test that has query records on some backend, in the order the backends first ran them."""
    return list(dict.fromkeys(test for worker in results for test in worker.query_spans))


def queries_by_test(results: list[WorkerResults]) -> Iterator[tuple[str, dict[str, list[dict[str, Any]]]]]:
    """(test, {backend: its query records}) for each test with queries; a backend without any is absent."""
    with QueryReader() as reader:
        for test in tests_with_queries(results):
            by_backend = {worker.target: reader.queries(worker, test) for worker in results}
            yield test, {backend: records for backend, records in by_backend.items() if records}
