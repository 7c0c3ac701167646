"""Fuzz the results-file reader: whatever the bytes, it returns results or raises one-line ResultsError.

A results file crosses machines (CI artifacts, `portability report`), so it may be truncated,
hand-edited, of another version or not a results file at all.
"""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.errors import ResultsError
from harness.results import SCHEMA_VERSION, ResultsFollower, WorkerResults, read_results

# Bounded so the whole module runs in a few seconds in CI.
FUZZ = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

HEADER = {"type": "header", "schema_version": SCHEMA_VERSION, "target": "sqlite", "vendor": "sqlite"}
VALID_RECORDS = [
    HEADER,
    {"type": "collection", "count": 2, "nodeids": ["t.py::a", "t.py::b"]},
    {"type": "test", "nodeid": "t.py::a", "outcome": "passed", "duration": 0.1, "message": "", "location": None},
    {"type": "test", "nodeid": "t.py::b", "outcome": "failed", "duration": 0.2, "message": "boom"},
    {"type": "query", "test": "t.py::a", "site": "t.py:3", "kind": "select", "rows": 1},
    {"type": "setup_failure", "error": "no table"},
    {"type": "migration", "phase": "apply", "migration": "shop.0001_initial", "status": "applied"},
    {"type": "finish", "exitstatus": 1, "duration": 0.5},
]
VALID_TEXT = "".join(json.dumps(record) + "\n" for record in VALID_RECORDS)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)
record_types = st.sampled_from(["header", "collection", "collection_error", "test", "query", "migration", "finish"])
field_names = st.sampled_from(
    ["schema_version", "target", "count", "nodeids", "nodeid", "outcome", "duration", "message", "location"]
    + ["test", "site", "kind", "phase", "migration", "status", "exitstatus", "error"]
)
# Records of a known type whose fields are missing or of any type.
odd_records = st.builds(
    lambda kind, fields: {**fields, "type": kind},
    record_types | json_values,
    st.dictionaries(field_names, json_values, max_size=4),
)


def read_or_results_error(path: Path) -> WorkerResults | None:
    """read_results, then a follower polling the same file: each either answers or raises a ResultsError."""
    answers: list[WorkerResults | None] = []
    for read in (read_results, lambda p: ResultsFollower(p).poll()):
        try:
            answers.append(read(path))
        except ResultsError as error:
            message = str(error)
            assert "\n" not in message, message
            assert str(path) in message, message
            answers.append(None)
    return answers[0]


def write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "sqlite.jsonl"
    path.write_bytes(data)
    return path


@FUZZ
@given(data=st.binary(max_size=300))
def test_random_bytes(tmp_path: Path, data: bytes) -> None:
    read_or_results_error(write(tmp_path, data))


@FUZZ
@given(data=st.binary(max_size=200))
def test_random_bytes_after_a_valid_header(tmp_path: Path, data: bytes) -> None:
    read_or_results_error(write(tmp_path, (json.dumps(HEADER) + "\n").encode() + data))


@FUZZ
@given(cut=st.integers(min_value=0, max_value=len(VALID_TEXT)))
def test_a_truncated_valid_file_reads_up_to_its_last_whole_line(tmp_path: Path, cut: int) -> None:
    results = read_or_results_error(write(tmp_path, VALID_TEXT[:cut].encode()))
    complete_lines = VALID_TEXT[:cut].count("\n")
    if complete_lines == 0:
        assert results is None  # no header yet
    else:
        assert results is not None
        assert results.target == "sqlite"
        assert (results.finish is not None) == (complete_lines == len(VALID_RECORDS))


@FUZZ
@given(records=st.lists(odd_records, min_size=1, max_size=4))
def test_json_records_of_the_wrong_shape(tmp_path: Path, records: list) -> None:
    lines = [json.dumps(HEADER), *(json.dumps(record) for record in records)]
    read_or_results_error(write(tmp_path, ("\n".join(lines) + "\n").encode()))


@FUZZ
@given(values=st.lists(json_values, min_size=1, max_size=3))
def test_json_lines_that_are_not_objects(tmp_path: Path, values: list) -> None:
    lines = [json.dumps(HEADER), *(json.dumps(value) for value in values)]
    read_or_results_error(write(tmp_path, ("\n".join(lines) + "\n").encode()))


def read_error(tmp_path: Path, text: bytes) -> str:
    path = write(tmp_path, text)
    try:
        read_results(path)
    except ResultsError as error:
        return str(error)
    raise AssertionError("read_results accepted a broken file")


def test_the_error_names_the_path_and_the_line(tmp_path: Path) -> None:
    header = json.dumps(HEADER).encode() + b"\n"
    assert "line 1: not UTF-8 text" in read_error(tmp_path, b"\xff\xfe\n")
    assert "line 2: a 'test' record without 'nodeid'" in read_error(tmp_path, header + b'{"type": "test"}\n')
    assert "line 2: 'collection' record: count \"x\" has the wrong type" in read_error(
        tmp_path, header + b'{"type": "collection", "count": "x"}\n'
    )
    assert "line 3: invalid JSON" in read_error(tmp_path, header + b"\n{nope\n")
    assert "line 1: JSON nested too deeply" in read_error(tmp_path, b"[" * 100_000 + b"\n")
    message = read_error(tmp_path, header + b'{"type": "test", "nodeid": "a", "outcome": "won"}\n')
    assert 'outcome "won" is not one of passed, failed' in message
    assert message.startswith(f"cannot read results file {tmp_path / 'sqlite.jsonl'}: line 2: ")


def test_a_folder_is_not_a_results_file(tmp_path: Path) -> None:
    try:
        read_results(tmp_path)
    except ResultsError as error:
        assert "it is a folder, not a file" in str(error)
    else:
        raise AssertionError("a folder was read as a results file")
