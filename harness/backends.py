"""The status of each backend in a run: what it is, whether it ran, and its counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.results import OUTCOMES, WorkerResults

RAN, NOT_REACHABLE, DRIVER_MISSING, CRASHED, TIMED_OUT, SETUP_FAILED = (
    "ran",
    "not reachable",
    "driver missing",
    "crashed",
    "timed out",
    "setup failed",
)


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


def status_from_results(results: WorkerResults, status: str | None = None, reason: str = "") -> BackendStatus:
    """Describe a backend from what its results file says."""
    header = results.header
    if status is None:
        status = SETUP_FAILED if results.setup_failures else RAN
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
