"""End to end: `portability migrations` on the test projects of real packages (pinned sdists, cached).

Each project is checked on SQLite, PostgreSQL and MariaDB with the same settings. What it reports at
level error must be exactly its verified real breaks, with the phase that broke; there must be no
schema divergence (PM103: each one seen on these projects was a cascade or an introspection quirk),
and lint warnings come one per rule and migration.

* django-guardian 3.5.2: testapp.0010_textpkmodel keys a TEXT column; MariaDB refuses it (error 1170):
  PM101 on mariadb, and the lint rule PM305 that predicts it.
* django-import-export 4.4.3: core.0004_bookwithchapters adds a PostgreSQL-only CreateModel to itself in
  apply(); unapplying it later sees no operation and leaves the table, so applying it again fails on
  PostgreSQL ("relation already exists"): PM102, phase reapply. Its PostgreSQL-only tables are one
  PM105 note.
* django-modeltranslation 0.20.6: nothing at level error; its translated fields on auth.Group are one
  PM104 note (auth is not the project's app).
* django-model-utils 5.0.0: nothing at all.

Marked ``realsuite`` (a quick local run leaves them out with ``-m "not realsuite"``; CI runs them).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.e2e.test_realsuites import (
    DJANGO_GUARDIAN,
    DJANGO_IMPORT_EXPORT,
    DJANGO_MODEL_UTILS,
    DJANGO_MODELTRANSLATION,
    fetch_or_skip,
    portability_on_suite,
)
from tests.thirdparty import SuiteSpec

pytestmark = [pytest.mark.e2e, pytest.mark.realsuite]

# Per project: (code, migration, phase, backends) of every finding at level error.
REAL_BREAKS: dict[str, set[tuple[str, str, str | None, tuple[str, ...]]]] = {
    DJANGO_GUARDIAN.package: {
        ("PM101", "testapp.0010_textpkmodel", "apply", ("mariadb",)),
        ("PM305", "testapp.0010_textpkmodel", None, ("mariadb",)),
    },
    DJANGO_IMPORT_EXPORT.package: {("PM102", "core.0004_bookwithchapters", "reapply", ("postgresql",))},
    DJANGO_MODELTRANSLATION.package: set(),
    DJANGO_MODEL_UTILS.package: set(),
}
PROJECTS = (DJANGO_GUARDIAN, DJANGO_IMPORT_EXPORT, DJANGO_MODELTRANSLATION, DJANGO_MODEL_UTILS)


def check_migrations(spec: SuiteSpec, workdir: Path) -> dict:
    return portability_on_suite("migrations", spec, fetch_or_skip(spec), workdir, timeout=15 * 60)


def real_break(finding: dict) -> tuple[str, str, str | None, tuple[str, ...]]:
    details = finding["details"]
    migration = details.get("migration") or finding["message"].split(":", 1)[0]
    concerned = finding["backends"]
    if finding["code"] == "PM102":
        concerned = {t: e for t, e in concerned.items() if e["outcome"] in ("failed", "irreversible")}
    elif finding["code"] == "PM101":
        concerned = {t: e for t, e in concerned.items() if e["outcome"] == "failed"}
    return finding["code"], migration, details.get("phase"), tuple(sorted(concerned))


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Each project's report, made when a test first asks."""
    made: dict[str, dict] = {}

    class Reports(dict):
        def __missing__(self, spec: SuiteSpec) -> dict:
            made[spec.package] = check_migrations(spec, tmp_path_factory.mktemp(spec.package))
            self[spec] = made[spec.package]
            return made[spec.package]

    return Reports()


@pytest.mark.parametrize("spec", PROJECTS, ids=lambda spec: spec.package)
def test_errors_are_exactly_the_real_breaks_with_their_phase(reports, spec: SuiteSpec) -> None:
    report = reports[spec]
    errors = {real_break(finding) for finding in report["findings"] if finding["level"] == "error"}
    assert errors == REAL_BREAKS[spec.package], [f["message"] for f in report["findings"] if f["level"] == "error"]
    assert all(backend["status"] == "ran" for backend in report["backends"]), report["backends"]


@pytest.mark.parametrize("spec", PROJECTS, ids=lambda spec: spec.package)
def test_no_schema_divergence_and_lint_one_finding_per_rule_and_migration(reports, spec: SuiteSpec) -> None:
    report = reports[spec]
    assert [f["message"] for f in report["findings"] if f["code"] == "PM103"] == []
    lint = Counter(
        (finding["code"], finding["message"].split(":", 1)[0])
        for finding in report["findings"]
        if finding["kind"] == "migration_lint"
    )
    assert [key for key, count in lint.items() if count > 1] == []


def test_import_exports_postgresql_only_tables_are_one_note(reports) -> None:
    [note] = [f for f in reports[DJANGO_IMPORT_EXPORT]["findings"] if f["code"] == "PM105"]
    assert note["level"] == "note"
    assert note["details"]["tables"] == {
        "core_bookwithchapters": ["postgresql"],
        "core_bookwithchapternumbers": ["postgresql"],
    }


def test_modeltranslations_fields_on_auth_are_a_note_not_a_missing_migration(reports) -> None:
    missing = [f for f in reports[DJANGO_MODELTRANSLATION]["findings"] if f["code"] == "PM104"]
    assert [(f["level"], f["details"].get("apps")) for f in missing] == [("note", ["auth"])]


def test_guardians_default_auto_field_change_is_one_warning(reports) -> None:
    [change] = [f for f in reports[DJANGO_GUARDIAN]["findings"] if f["code"] == "PM313"]
    assert change["level"] == "warning"
    assert "primary key of 10 model(s) from AutoField to BigAutoField" in change["message"]
