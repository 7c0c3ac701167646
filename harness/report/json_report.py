"""The JSON report (``--json``); its schema is documented in docs/report-schema.md."""

from __future__ import annotations

import json
import time
from pathlib import Path

from harness import __version__
from harness.backends import COMPLETE, NEVER_STARTED, BackendStatus
from harness.compare import Comparison

REPORT_SCHEMA_VERSION = 1


def build_report(
    backends: list[BackendStatus], comparison: Comparison, exit_code: int, hash_seed: int | None = None
) -> dict:
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "tool": {"name": "portability", "version": __version__},
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "exit_code": exit_code,
        # True when a backend's results stop before its run finished (interrupted, lost, timed out, crashed).
        "partial": any(backend.status not in COMPLETE | NEVER_STARTED for backend in backends),
        "hash_seed": hash_seed,
        "backends": [backend.to_dict() for backend in backends],
        "tests": [
            {"nodeid": nodeid, "outcomes": {backend: result.outcome for backend, result in row.items()}}
            for nodeid, row in sorted(comparison.matrix.items())
        ],
        "findings": [finding.to_dict() for finding in comparison.findings],
        "warnings": comparison.warnings,
    }


def write(path: Path, report: dict) -> None:
    # json.dump writes as it encodes: json.dumps would hold the whole text (and its pieces) at once.
    with path.open("w") as handle:
        json.dump(report, handle, indent=2)
        handle.write("\n")
