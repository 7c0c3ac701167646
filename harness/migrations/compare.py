"""Migration results of several backends → findings: failures, irreversible steps, schema differences."""

from __future__ import annotations

from typing import Any

from harness.findings import Finding
from harness.migrations import RUN_SYNCDB
from harness.results import WorkerResults

REAPPLY_HINT = (
    "reversing it did not undo what applying it did (e.g. the migration adds operations while it applies, which "
    "a later unapply does not see): make the reverse undo exactly what the apply does; declare the operations in "
    "`operations` and run vendor-specific ones in a RunPython/RunSQL that checks schema_editor.connection.vendor"
)
# The steps of the reverse-and-apply-again check, as the evidence names them.
STEP_LABELS = (("reverse", "reverse"), ("reapply", "apply again"))
LEFT_APPLIED_HINT = (
    "this backend's DDL is not transactional: the operations listed stayed applied, so re-running the migration "
    "will fail until they are undone by hand; split schema changes so each migration can fail cleanly"
)


def migration_findings(results: list[WorkerResults]) -> list[Finding]:
    """Every migration_failure, migration_irreversible, schema_divergence and missing_migration."""
    findings = _failures(results) + _irreversible(results)
    findings += _schema(results)
    findings += _missing(results)
    return findings


def _steps(result: WorkerResults, phase: str) -> list[dict[str, Any]]:
    return [step for step in result.other.get("migration", []) if step["phase"] == phase and step.get("checked")]


def _failures(results: list[WorkerResults]) -> list[Finding]:
    by_migration: dict[str, dict[str, dict[str, Any]]] = {}
    facts = {result.target: result.server_facts() for result in results}
    for result in results:
        for step in _steps(result, "apply"):
            by_migration.setdefault(step["migration"], {})[result.target] = step
    blocked = _blocked_by_failure(results)
    findings = []
    for migration, steps in by_migration.items():
        failed = {target: step for target, step in steps.items() if step["status"] == "failed"}
        if not failed:
            continue
        first = next(iter(failed.values()))
        evidence = {target: _step_evidence(step) for target, step in steps.items()}
        hints = [
            facts[target].error_hints.get((step.get("error") or {}).get("code"), "") for target, step in failed.items()
        ]
        if any(step.get("left_applied") for step in failed.values()):
            hints.append(LEFT_APPLIED_HINT)
        operation = (first.get("error") or {}).get("operation")
        not_applied = {target: blocked[target][migration] for target in failed if blocked[target].get(migration)}
        applies_on = sorted(set(steps) - set(failed))
        subject = (
            f"{RUN_SYNCDB} (the tables of {', '.join(first.get('apps', []))}, apps without migrations)"
            if migration == RUN_SYNCDB
            else migration
        )
        message = f"{subject}{f' ({operation})' if operation else ''} fails to apply on {', '.join(sorted(failed))}"
        message += f" but applies on {', '.join(applies_on)}" if applies_on else ""
        for target, later in sorted(not_applied.items()):
            shown = ", ".join(later[:3]) + (", …" if len(later) > 3 else "")
            message += f"; {len(later)} later migration(s) not applied on {target}: {shown}"
        findings.append(
            Finding(
                kind="migration_failure",
                location={"path": first.get("path"), "line": None},
                message=message,
                backends=evidence,
                details={
                    "migration": migration,
                    "phase": "apply",
                    "operation": operation,
                    "left_applied": {t: s.get("left_applied", []) for t, s in failed.items() if s.get("left_applied")},
                    "not_applied": not_applied,
                    "hint": "; ".join(hint for hint in hints if hint),
                },
            )
        )
    return findings


def _blocked_by_failure(results: list[WorkerResults]) -> dict[str, dict[str, list[str]]]:
    """Per target: each failed migration → the later migrations left unapplied because of it."""
    blocked: dict[str, dict[str, list[str]]] = {}
    for result in results:
        mine = blocked.setdefault(result.target, {})
        for step in result.other.get("migration", []):
            if step["phase"] == "apply" and step["status"] == "skipped" and step.get("blocked_by"):
                mine.setdefault(step["blocked_by"], []).append(step["migration"])
    return blocked


def _step_evidence(step: dict[str, Any]) -> dict[str, Any]:
    """One step of one backend as evidence: its outcome and what the server said."""
    error = step.get("error") or {}
    message = step.get("detail", "")
    if error:
        code = f" [{error['code']}]" if error.get("code") is not None else ""
        message = f"{error.get('class', '')}{code}: {error.get('message', '')}".lstrip(": ")
    if step.get("left_applied"):
        message += f"; left applied: {', '.join(step['left_applied'])}"
    evidence = {"outcome": step["status"], "message": message}
    if step.get("sql"):
        evidence["sql"] = "\n".join(step["sql"])
    return evidence


def _irreversible(results: list[WorkerResults]) -> list[Finding]:
    """A migration that cannot be reversed, or that reverses but then cannot be applied again."""
    phases: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}  # migration → target → phase → step
    for result in results:
        for phase in ("reverse", "reapply"):
            for step in _steps(result, phase):
                phases.setdefault(step["migration"], {}).setdefault(result.target, {})[phase] = step
    findings = []
    for migration, by_target in phases.items():
        broken = {
            target: steps
            for target, steps in by_target.items()
            if any(step["status"] in ("irreversible", "failed") for step in steps.values())
        }
        if not broken:
            continue
        cannot_reverse = sorted(t for t, steps in broken.items() if steps["reverse"]["status"] != "reversed")
        cannot_reapply = sorted(set(broken) - set(cannot_reverse))
        first = next(iter(broken.values()))
        failing_step = first["reverse"] if first["reverse"]["status"] != "reversed" else first["reapply"]
        operation = (failing_step.get("error") or {}).get("operation")
        what = []
        if cannot_reverse:
            what.append(f"it cannot be reversed on {', '.join(cannot_reverse)}")
        if cannot_reapply:
            what.append(f"it reverses on {', '.join(cannot_reapply)} but applying it again then fails")
        evidence = {}
        for target, steps in by_target.items():
            shown = [(label, _step_evidence(steps[phase])) for phase, label in STEP_LABELS if phase in steps]
            outcome = next((e["outcome"] for _, e in shown if e["outcome"] in ("irreversible", "failed")), "reversed")
            evidence[target] = {
                "outcome": outcome,
                "message": "; ".join(f"{label}: {e['message'] or e['outcome']}" for label, e in shown),
            }
        findings.append(
            Finding(
                kind="migration_irreversible",
                location={"path": failing_step.get("path"), "line": None},
                message=f"{migration}: {'; '.join(what)}" + (f" ({operation})" if operation else ""),
                backends=evidence,
                details={
                    "migration": migration,
                    "operation": operation,
                    "phase": "reverse" if cannot_reverse else "reapply",
                    **({} if cannot_reverse else {"hint": REAPPLY_HINT}),
                    "steps": {
                        target: {phase: step["status"] for phase, step in steps.items()}
                        for target, steps in by_target.items()
                    },
                },
            )
        )
    return findings


def _schema(results: list[WorkerResults]) -> list[Finding]:
    from harness.migrations.schema import schema_differences

    schemas, expected = {}, None
    for result in results:
        [record] = result.other.get("schema", [None])[:1] or [None]
        if record is None:
            continue
        schemas[result.target] = tables_from_json(record["tables"])
        expected = expected or tables_from_json(record["expected"])
    if not schemas:
        return []
    # Compare only what applied everywhere: a failed migration is reported once (PM101), not per table.
    not_applied = {
        table for result in results for record in result.other.get("not_applied", []) for table in record["tables"]
    }
    unmodelled = {
        table: sorted(target for target, tables in schemas.items() if table in tables)
        for table in set().union(*schemas.values())
        if expected is not None and table not in expected and table not in not_applied
    }
    left_out = not_applied | set(unmodelled)
    schemas = {
        target: {t: info for t, info in tables.items() if t not in left_out} for target, tables in schemas.items()
    }
    if expected is not None:
        expected = {t: info for t, info in expected.items() if t not in left_out}
    findings = [
        Finding(
            kind="schema_divergence",
            location=None,
            message=difference.message,
            backends={target: {"outcome": "", "message": state} for target, state in difference.per_target.items()},
            details={"table": difference.table, "subject": difference.subject},
        )
        for difference in schema_differences(schemas, expected)
    ]
    if unmodelled:
        findings.append(_unmodelled_tables_finding(unmodelled, list(schemas)))
    return findings


def _unmodelled_tables_finding(unmodelled: dict[str, list[str]], targets: list[str]) -> Finding:
    listed = "; ".join(f"{table} ({', '.join(where)})" for table, where in sorted(unmodelled.items()))
    return Finding(
        kind="unmodelled_table",
        location=None,
        message=f"{len(unmodelled)} table(s) no model declares, left out of the schema comparison: {listed}",
        backends={
            target: {
                "outcome": "",
                "message": ", ".join(t for t, where in sorted(unmodelled.items()) if target in where) or "-",
            }
            for target in targets
        },
        details={"tables": unmodelled},
    )


def _missing(results: list[WorkerResults]) -> list[Finding]:
    seen: dict[str, dict[str, Any]] = {}
    for result in results:
        for record in result.other.get("missing_migration", []):
            seen.setdefault(record["app"], record)
    owned = {app: record["operations"] for app, record in seen.items() if record.get("owned", True)}
    others = {app: record["operations"] for app, record in seen.items() if not record.get("owned", True)}
    findings = [
        Finding(
            kind="missing_migration",
            location=None,
            message=f"app {app}: the models changed without a migration: {'; '.join(operations)}",
            backends={},
            details={"app": app, "operations": operations, "hint": f"run `manage.py makemigrations {app}`"},
        )
        for app, operations in sorted(owned.items())
    ]
    if others:
        listed = "; ".join(f"{app}: {', '.join(operations)}" for app, operations in sorted(others.items()))
        findings.append(
            Finding(
                kind="missing_migration",
                location=None,
                message=f"apps the project does not own differ from their migrations at run time ({listed}): the "
                "project's dependencies change their models (e.g. add fields); only those packages can add a "
                "migration",
                backends={},
                details={
                    "apps": sorted(others),
                    "operations": others,
                    "severity": "note",
                    "hint": "nothing to do in this project; if the changed tables matter, the package that patches "
                    "them documents how to migrate them",
                },
            )
        )
    return findings


def tables_from_json(tables: dict[str, Any]) -> dict[str, Any]:
    """Rebuild the schema model of harness.migrations.schema from a results file."""
    from harness.migrations.schema import ColumnInfo, ConstraintInfo, TableInfo

    rebuilt = {}
    for name, table in tables.items():
        constraints = frozenset(
            ConstraintInfo(
                **{
                    **constraint,
                    "columns": tuple(constraint["columns"]),
                    "references": tuple(constraint["references"]) if constraint.get("references") else None,
                }
            )
            for constraint in table["constraints"]
        )
        rebuilt[name] = TableInfo(
            name=name, columns=tuple(ColumnInfo(**column) for column in table["columns"]), constraints=constraints
        )
    return rebuilt
