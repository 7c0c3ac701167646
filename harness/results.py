"""The results file: one JSON object per line, streamed by a worker, read by compare.

A results file is the unit that crosses machines (one per CI job and backend);
``portability report`` merges any number of them. ``schema_version`` changes when a
record's meaning changes.

Reading keeps everything but the query records, which are most of a file: of those only
where each test's records are (byte offsets) is kept, and harness.results_stream reads
them back one test at a time.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from json.decoder import scanstring
from pathlib import Path
from typing import IO, Any, NamedTuple

from harness import __version__
from harness.errors import ResultsError
from harness.urls import redact_json
from harness.vendors import ServerFacts, facts_of_server

SCHEMA_VERSION = 5

# Outcomes a test can have; "error" covers setup/teardown and collection errors.
PASSED, FAILED, ERROR, SKIPPED, XFAILED, XPASSED = "passed", "failed", "error", "skipped", "xfailed", "xpassed"
OUTCOMES = (PASSED, FAILED, ERROR, SKIPPED, XFAILED, XPASSED)


class ResultsWriter:
    """Append records to a results file, flushing each so readers can follow live."""

    # One encoder for every record: json.dumps(default=...) would build a new one per call.
    _encoder = json.JSONEncoder(default=str)

    def __init__(self, path: Path, secrets: tuple[str, ...] = ()) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handle: IO[str] = path.open("w", encoding="utf-8")
        self._secrets = secrets
        self._pending: list[str] = []

    def write(self, record_type: str, flush: bool = True, **fields: Any) -> None:
        """Append one record; ``flush=False`` batches it with the next flushed one."""
        self._pending.append(self._encoder.encode({"type": record_type, **fields}))
        if flush:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        # Redacted as one text: a JSON line holds no raw newline, so no secret or URL spans two records.
        text = "\n".join(self._pending) + "\n"
        self._pending.clear()
        self._handle.write(redact_json(text, self._secrets))
        self._handle.flush()

    def close(self) -> None:
        self.flush()
        self._handle.close()


@dataclass(slots=True)
class TestResult:
    nodeid: str
    outcome: str
    duration: float = 0.0
    message: str = ""
    location: dict[str, Any] | None = None
    # The test's @pytest.mark.portability declaration ({"expected": {...}, "reason": ...}), if it has one.
    declared: dict[str, Any] | None = None


class QuerySpan(NamedTuple):
    """Consecutive query records of one test in a results file: bytes [start, end), from line ``line``."""

    start: int
    end: int
    line: int


@dataclass
class WorkerResults:
    """Everything one results file says about one target."""

    path: Path
    header: dict[str, Any] = field(default_factory=dict)
    collected: int | None = None
    # The node ids pytest collected (after -k/-m deselection), in order.
    collected_nodeids: list[str] | None = None
    # Test modules that failed to import: {"nodeid", "message", "location"}.
    collection_errors: list[dict[str, Any]] = field(default_factory=list)
    tests: dict[str, TestResult] = field(default_factory=dict)
    setup_failures: list[dict[str, Any]] = field(default_factory=list)
    # Where each test's query records are (by the record's `test`), in file order; read them with
    # harness.results_stream. Records of one test may lie in several spans (xdist, fixtures).
    query_spans: dict[str, list[QuerySpan]] = field(default_factory=dict)
    # Records of other commands' workers (e.g. `migration`, `schema`), by type.
    other: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    finish: dict[str, Any] | None = None
    # The worker's connection to its server was lost (a `lost` record); later test records are not kept.
    lost: dict[str, Any] | None = None

    @property
    def target(self) -> str:
        return self.header["target"] if "target" in self.header else self.path.stem

    def server_facts(self) -> ServerFacts:
        """The facts of the server this backend reached, by the product and version in the header."""
        return facts_of_server(self.target, self.header.get("product"), self.header.get("server_version"))

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(OUTCOMES, 0)
        for test in self.tests.values():
            counts[test.outcome] = counts.get(test.outcome, 0) + 1
        return counts

    def index_queries(self, nodeid: str, span: QuerySpan) -> None:
        """Note where query records of test ``nodeid`` are (joined to its span just before, if adjacent)."""
        spans = self.query_spans.get(nodeid)
        if spans is None:
            spans = self.query_spans[_shared(nodeid)] = []
        if spans and spans[-1].end == span.start:
            spans[-1] = spans[-1]._replace(end=span.end)
        else:
            spans.append(span)

    def apply(self, record: dict[str, Any]) -> None:
        """Keep a record of any type but `query` (the follower indexes those)."""
        kind = record.get("type")
        if kind == "header":
            written_by = record.get("harness_version")
            if record.get("schema_version") != SCHEMA_VERSION:
                raise ResultsError(
                    path=self.path,
                    reason=f"schema_version {record.get('schema_version')} is not {SCHEMA_VERSION} "
                    f"(written by {_by(written_by)}); report it with the version that wrote it",
                )
            if written_by is not None and written_by != __version__:
                raise ResultsError(
                    path=self.path,
                    reason=f"written by {_by(written_by)}, this is portability {__version__}; report it with the "
                    "version that wrote it",
                )
            self.header = record
        elif kind == "collection":
            self.collected = record["count"]
            nodeids = record.get("nodeids")
            self.collected_nodeids = None if nodeids is None else [_shared(nodeid) for nodeid in nodeids]
        elif kind == "collection_error":
            self.collection_errors.append(record)
        elif kind == "lost":
            self.lost = record
        elif kind == "test":
            if self.lost is not None:
                return  # after the server went away, a failure says nothing about the code
            nodeid = _shared(record["nodeid"])
            self.tests[nodeid] = TestResult(
                nodeid=nodeid,
                outcome=record["outcome"],
                duration=record.get("duration", 0.0),
                message=record.get("message", ""),
                location=record.get("location"),
                declared=record.get("declared"),
            )
        elif kind == "setup_failure":
            self.setup_failures.append(record)
        elif kind == "finish":
            self.finish = record
        else:
            self.other.setdefault(str(kind), []).append(record)


def _shared(nodeid: object) -> object:
    """One string object per node id, however many files and records name it (tens of thousands)."""
    return sys.intern(nodeid) if type(nodeid) is str else nodeid


class ResultsFollower:
    """Read a results file incrementally (while its worker still writes it)."""

    def __init__(self, path: Path) -> None:
        self.results = WorkerResults(path=path)
        self._offset = 0
        self._line_number = 0

    def poll(self) -> WorkerResults:
        """Apply every complete line written since the last poll; a broken line is a ResultsError.

        A query record is only indexed here (and checked when it is read back, see
        harness.results_stream), unless it is not in the writer's own form.
        """
        path, results = self.results.path, self.results
        # The run of consecutive query lines of one test being read: (test, start, first line), and
        # how its lines begin (a line that begins so is in the run, no need to read its test).
        run: tuple[str, int, int] | None = None
        run_prefix = b"\0"
        try:
            if not path.exists():
                return results
            with path.open("rb") as handle:
                handle.seek(self._offset)
                for line in handle:
                    if not line.endswith(b"\n"):
                        break  # a partial line: read it whole next time
                    start = self._offset
                    self._offset += len(line)
                    self._line_number += 1
                    if line.startswith(run_prefix):
                        continue
                    nodeid = query_test(line)
                    if nodeid is None and line.strip():
                        record = parse_line(path, line, self._line_number)
                        if record["type"] == "query":
                            nodeid = record["test"]
                        else:
                            self._apply(record)
                    if run and run[0] != nodeid:
                        results.index_queries(run[0], QuerySpan(run[1], start, run[2]))
                        run, run_prefix = None, b"\0"
                    if nodeid is not None and run is None:
                        run = (nodeid, start, self._line_number)
                        run_prefix = QUERY_PREFIX + json.dumps(nodeid)[1:].encode() + b","
        except OSError as error:
            raise ResultsError(path=path, reason=error.strerror or type(error).__name__) from None
        finally:
            if run:
                results.index_queries(run[0], QuerySpan(run[1], self._offset, run[2]))
        return results

    def _apply(self, record: dict[str, Any]) -> None:
        try:
            self.results.apply(record)
        except ResultsError as error:
            reason = f"line {self._line_number}: {error.fields['reason']}"
            raise ResultsError(path=self.results.path, reason=reason) from None


# How ResultsWriter begins a query record (QueryRecord.to_dict puts `test` first).
QUERY_PREFIX = b'{"type": "query", "test": "'


def query_test(line: bytes) -> str | None:
    """The `test` of a query record written by ResultsWriter, read without parsing the whole line
    (the index pass must be cheap); None for any other line."""
    if not line.startswith(QUERY_PREFIX):
        return None
    try:
        return scanstring(line.decode("utf-8"), len(QUERY_PREFIX))[0]
    except ValueError:  # not UTF-8, or a broken string: the full parse says what is wrong
        return None


def read_results(path: Path) -> WorkerResults:
    """Read a whole results file; a truncated last line (killed worker) is ignored."""
    if not path.is_file():
        reason = "it is a folder, not a file" if path.is_dir() else "no such file"
        raise ResultsError(path=path, reason=reason)
    results = ResultsFollower(path).poll()
    if not results.header:
        raise ResultsError(path=path, reason="no header record: is this a portability results file?")
    return results


# The fields readers index directly (record["nodeid"]), by record type: each must be there with this
# type (or, for a tuple of strings, one of these values). Other fields are read with .get().
REQUIRED_FIELDS: dict[str, dict[str, type | tuple[type, ...] | tuple[str, ...]]] = {
    "header": {"schema_version": int, "target": str},
    "collection": {"count": int},
    "collection_error": {"nodeid": str},
    "test": {"nodeid": str, "outcome": OUTCOMES},
    "query": {"test": str, "site": str, "kind": str},
    "migration": {"phase": str, "migration": str, "status": str},
}
# Fields that may be missing, but when present must have this type.
OPTIONAL_FIELDS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "collection": {"nodeids": (list, type(None))},
    "test": {"duration": (int, float), "message": str, "location": (dict, type(None))},
    "finish": {"exitstatus": (int, type(None)), "duration": (int, float, type(None))},
    "lost": {"nodeid": (str, type(None)), "error": (str, type(None))},
}


def _field_rules(kind: str) -> tuple[tuple[str, bool, frozenset[type] | tuple[str, ...]], ...]:
    """A kind's rules as (name, required, the exact JSON types or the values allowed)."""

    def allowed(expected: Any) -> frozenset[type] | tuple[str, ...]:
        if isinstance(expected, tuple) and isinstance(expected[0], str):
            return expected
        return frozenset(expected if isinstance(expected, tuple) else (expected,))

    required = [(name, True, allowed(expected)) for name, expected in REQUIRED_FIELDS.get(kind, {}).items()]
    optional = [(name, False, allowed(expected)) for name, expected in OPTIONAL_FIELDS.get(kind, {}).items()]
    return tuple(required + optional)


# REQUIRED_FIELDS and OPTIONAL_FIELDS in the form the check of every line uses.
FIELD_RULES = {kind: _field_rules(kind) for kind in {*REQUIRED_FIELDS, *OPTIONAL_FIELDS}}


def parse_line(path: Path, line: bytes, number: int) -> dict[str, Any]:
    """One line as a record of a known shape, or a ResultsError naming the line."""

    def broken(reason: str) -> ResultsError:
        return ResultsError(path=path, reason=f"line {number}: {reason}")

    try:
        record = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        raise broken("not UTF-8 text: is this a portability results file?") from None
    except json.JSONDecodeError as error:
        raise broken(f"invalid JSON ({error.msg} at column {error.colno})") from None
    except RecursionError:
        raise broken("JSON nested too deeply") from None
    if type(record) is dict and type(record.get("type")) is str and _well_formed(record):
        return record
    _raise_shape_error(broken, record)
    return record


_scan_json = json.JSONDecoder().scan_once


def parse_lines(path: Path, data: bytes, first_line: int) -> list[dict[str, Any]]:
    """The records of consecutive lines (each ending in a newline), as parse_line reads them.

    The C scanner reads each line directly (json.loads adds layers of calls to the same
    scanner); a line it does not read whole into a well-formed record goes to parse_line,
    which says what is wrong.
    """
    records = []
    for number, line in enumerate(data.split(b"\n")[:-1], start=first_line):
        try:
            text = line.decode("utf-8")
            record, end = _scan_json(text, 0)
            whole = end == len(text)
        except (ValueError, StopIteration, RecursionError):
            record, whole = None, False
        if whole and type(record) is dict and type(record.get("type")) is str and _well_formed(record):
            records.append(record)
        elif line.strip():
            records.append(parse_line(path, line, number))
    return records


def _well_formed(record: dict[str, Any]) -> bool:
    """The quick check of every line (the exact types json.loads makes: a bool is never an int here)."""
    for name, required, allowed in FIELD_RULES.get(record["type"], ()):
        if name not in record:
            if required:
                return False
        elif type(allowed) is tuple:
            if record[name] not in allowed:
                return False
        elif type(record[name]) not in allowed:
            return False
    return True


def _raise_shape_error(broken: Any, record: object) -> None:
    """Say what is wrong with a record _well_formed refused."""
    if not isinstance(record, dict):
        raise broken(f"a JSON {type(record).__name__}, not an object")
    kind = record.get("type")
    if not isinstance(kind, str):
        raise broken('a record without a string "type"')
    for name, expected in REQUIRED_FIELDS.get(kind, {}).items():
        if name not in record:
            raise broken(f"a {kind!r} record without {name!r}")
        _check_field(broken, kind, name, record[name], expected)
    for name, expected in OPTIONAL_FIELDS.get(kind, {}).items():
        if name in record:
            _check_field(broken, kind, name, record[name], expected)


def _check_field(broken: Any, kind: str, name: str, value: object, expected: Any) -> None:
    allowed = expected if isinstance(expected, tuple) else (expected,)
    if isinstance(allowed[0], str):
        if value not in allowed:
            raise broken(f"{kind!r} record: {name} {_shown(value)} is not one of {', '.join(allowed)}")
    # JSON true/false are Python bools, which are ints too: never a count or a version.
    elif not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
        raise broken(f"{kind!r} record: {name} {_shown(value)} has the wrong type")


def _shown(value: object) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def _by(version: str | None) -> str:
    return f"portability {version}" if version else "an older portability"
