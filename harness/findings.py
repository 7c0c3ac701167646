"""One model for everything the harness reports, with stable codes users can ignore by."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.errors import EXIT_FINDINGS, EXIT_SAME

# SARIF's levels, lowest first: `--fail-on LEVEL` fails on that level and every one above it.
NOTE, WARNING, ERROR = "note", "warning", "error"
LEVELS = (NOTE, WARNING, ERROR)
DEFAULT_FAIL_ON = WARNING


@dataclass(frozen=True)
class FindingKind:
    code: str
    kind: str
    level: str
    summary: str
    hint: str


# Every kind of finding, by name. Codes never change meaning; later issues add kinds here.
KINDS: dict[str, FindingKind] = {
    kind.kind: kind
    for kind in (
        FindingKind(
            "PT101",
            "outcome_divergence",
            ERROR,
            "a test passes on some backends and fails or errors on others",
            "the failure message per backend names the query or assertion that behaves differently",
        ),
        FindingKind(
            "PT103",
            "collection_error",
            ERROR,
            "a test module fails to import on some or every backend; pytest then runs no test there",
            "the error per backend names the file and line; `python -m pytest --collect-only FILE` shows it in full "
            "(`-- --continue-on-collection-errors` runs the other modules' tests anyway)",
        ),
        FindingKind(
            "PT104",
            "collection_divergence",
            NOTE,
            "a backend collected a different set of tests than the others (tests defined or parametrized per backend)",
            "expected when a project defines backend-specific tests; otherwise check what decides the test list",
        ),
        FindingKind(
            "PT105",
            "unexpected_success",
            WARNING,
            "a declared difference no longer happens: the test behaves on a declared backend as on the others",
            "remove the declaration (the @pytest.mark.portability marker or the [tool.portability.expected] entry)",
        ),
        FindingKind(
            "PT106",
            "unused_declaration",
            WARNING,
            "a declared difference or ignore entry matches nothing in the run",
            "remove it, or fix the test id, code or location it names",
        ),
        FindingKind(
            "PT107",
            "baseline_resolved",
            NOTE,
            "findings of the baseline no longer happen",
            "refresh the baseline: `portability run --json report.json` then `portability baseline report.json`",
        ),
        FindingKind(
            "PT201",
            "query_error",
            WARNING,
            "an ORM query raises on some backends and runs on others",
            "the error code per backend says what the backend refused; write the query in the portable ORM form",
        ),
        FindingKind(
            "PT202",
            "result_divergence",
            WARNING,
            "the same ORM query returns different rows on different backends",
            "compare the rows side by side; the likely cause names the vendor behaviour behind it",
        ),
        FindingKind(
            "PT203",
            "order_divergence",
            WARNING,
            "the same rows come back in a different order and the code depends on that order",
            "add an order_by() that makes the order total (end it with the primary key)",
        ),
        FindingKind(
            "PT204",
            "unordered_order_divergence",
            NOTE,
            "a query without an ORDER BY returns its rows in another order on some backend while the tests pass "
            "(a list page whose order differs in production); reported once per call site",
            "add an order_by() that makes the order total (end it with the primary key)",
        ),
        FindingKind(
            "PM101",
            "migration_failure",
            ERROR,
            "a migration fails on some backends",
            "run `manage.py sqlmigrate APP NAME` against that backend to see the SQL it refuses",
        ),
        FindingKind(
            "PM102",
            "migration_irreversible",
            ERROR,
            "a migration cannot be reversed (or re-applied after reversal) on some backends",
            "give RunPython a reverse_code and RunSQL a reverse_sql (RunPython.noop / RunSQL.noop if nothing to undo)",
        ),
        FindingKind(
            "PM103",
            "schema_divergence",
            WARNING,
            "after migrating, the schema differs between backends or from what the models declare",
            "a constraint or index the backend silently skips, or raw SQL run on one backend only; see the per-backend "
            "state",
        ),
        FindingKind(
            "PM104",
            "missing_migration",
            WARNING,
            "models changed without a migration",
            "run `manage.py makemigrations`",
        ),
        FindingKind(
            "PM105",
            "unmodelled_table",
            NOTE,
            "tables that no model declares exist after migrating (created by raw SQL or a migration's own code, "
            "often on purpose for one vendor); they are left out of the schema comparison",
            "nothing to do if the table is meant to exist only there; otherwise declare a model (managed = False) "
            "for it",
        ),
        FindingKind(
            "PM300",
            "migration_lint",
            WARNING,
            "a static lint rule on a migration (the finding's code names the rule)",
            "silence a rule per migration or per code in [tool.portability] migrations_ignore",
        ),
        FindingKind(
            "PT102",
            "setup_failure",
            ERROR,
            "the test database could not be created or migrated on a backend",
            "run the failing migration alone against that backend (`manage.py migrate APP NAME`) to see the full error",
        ),
    )
}


@dataclass
class Finding:
    """A reported difference, with the evidence per backend."""

    kind: str
    message: str
    backends: dict[str, dict[str, Any]]
    test: str | None = None
    location: dict[str, Any] | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def code(self) -> str:
        return self.details.get("code") or KINDS[self.kind].code

    @property
    def level(self) -> str:
        """The kind's level, unless the finding carries its own (a lint rule's `severity`)."""
        return self.details.get("severity") or KINDS[self.kind].level

    @property
    def hint(self) -> str:
        return self.details.get("hint") or KINDS[self.kind].hint

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {"code": self.code, "level": self.level, **data, "hint": self.hint}


def reaches(level: str, threshold: str) -> bool:
    """Is ``level`` at or above ``threshold`` (error > warning > note)?"""
    return LEVELS.index(level) >= LEVELS.index(threshold)


def findings_exit_code(findings: Iterable[Finding], fail_on: str) -> int:
    """The exit code of run, migrations and report: 1 when a finding reaches --fail-on, else 0."""
    return EXIT_FINDINGS if any(reaches(finding.level, fail_on) for finding in findings) else EXIT_SAME
