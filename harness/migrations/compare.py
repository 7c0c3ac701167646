"""Migration results of several backends → findings: failures, irreversible steps, schema differences."""

from __future__ import annotations

from typing import Any

from harness.findings import Finding
from harness.results import WorkerResults

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
    findings = []
    for migration, steps in by_migration.items():
        failed = {target: step for target, step in steps.items() if step["status"] == "failed"}
        if not failed:
            continue
        first = next(iter(failed.values()))
        evidence = {}
        for target, step in steps.items():
            error = step.get("error") or {}
            message = step.get("detail", "")
            if error:
                code = f" [{error['code']}]" if error.get("code") is not None else ""
                message = f"{error.get('class', '')}{code}: {error.get('message', '')}"
            if step.get("left_applied"):
                message += f"; left applied: {', '.join(step['left_applied'])}"
            evidence[target] = {"outcome": step["status"], "message": message, "sql": "\n".join(step.get("sql", []))}
        hints = [
            facts[target].error_hints.get((step.get("error") or {}).get("code"), "") for target, step in failed.items()
        ]
        if any(step.get("left_applied") for step in failed.values()):
            hints.append(LEFT_APPLIED_HINT)
        operation = (first.get("error") or {}).get("operation")
        findings.append(
            Finding(
                kind="migration_failure",
                location={"path": first.get("path"), "line": None},
                message=f"{migration}{f' ({operation})' if operation else ''} fails on {', '.join(sorted(failed))}"
                + (
                    f" but applies on {', '.join(sorted(set(steps) - set(failed)))}" if set(steps) - set(failed) else ""
                ),
                backends=evidence,
                details={
                    "migration": migration,
                    "operation": operation,
                    "left_applied": {t: s.get("left_applied", []) for t, s in failed.items() if s.get("left_applied")},
                    "hint": "; ".join(hint for hint in hints if hint),
                },
            )
        )
    return findings


def _irreversible(results: list[WorkerResults]) -> list[Finding]:
    by_migration: dict[str, dict[str, dict[str, Any]]] = {}
    for result in results:
        for phase in ("reverse", "reapply"):
            for step in _steps(result, phase):
                if step["status"] in ("irreversible", "failed"):
                    by_migration.setdefault(step["migration"], {})[result.target] = step
    findings = []
    for migration, steps in by_migration.items():
        first = next(iter(steps.values()))
        operation = (first.get("error") or {}).get("operation")
        what = "re-applying it after reversal fails" if first["phase"] == "reapply" else "it cannot be reversed"
        findings.append(
            Finding(
                kind="migration_irreversible",
                location={"path": first.get("path"), "line": None},
                message=f"{migration}: {what} on {', '.join(sorted(steps))}" + (f" ({operation})" if operation else ""),
                backends={
                    target: {"outcome": step["status"], "message": (step.get("error") or {}).get("message", "")}
                    for target, step in steps.items()
                },
                details={"migration": migration, "operation": operation, "phase": first["phase"]},
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
    return [
        Finding(
            kind="schema_divergence",
            location=None,
            message=difference.message,
            backends={target: {"outcome": "", "message": state} for target, state in difference.per_target.items()},
            details={"table": difference.table, "subject": difference.subject},
        )
        for difference in schema_differences(schemas, expected)
    ]


def _missing(results: list[WorkerResults]) -> list[Finding]:
    seen: dict[str, list[str]] = {}
    for result in results:
        for record in result.other.get("missing_migration", []):
            seen.setdefault(record["app"], record["operations"])
    return [
        Finding(
            kind="missing_migration",
            location=None,
            message=f"app {app}: the models changed without a migration: {'; '.join(operations)}",
            backends={},
            details={"app": app, "operations": operations, "hint": f"run `manage.py makemigrations {app}`"},
        )
        for app, operations in sorted(seen.items())
    ]


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
