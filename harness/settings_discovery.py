"""Find the settings module a project's manage.py would use, without running manage.py.

``django-admin startproject`` writes ``os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")``
into manage.py; that call is found by parsing the file. Only a string literal counts: anything
computed would need manage.py to run, and running a project's code to configure the harness is not safe.
"""

from __future__ import annotations

import ast
from pathlib import Path

MANAGE_PY = "manage.py"
SETTINGS_VARIABLE = "DJANGO_SETTINGS_MODULE"


def settings_from_manage_py(project_dir: Path) -> str | None:
    """The settings module manage.py sets as a literal, or None (no manage.py, unreadable, not found)."""
    path = project_dir / MANAGE_PY
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return None
    for node in ast.walk(tree):
        value = _setdefault_value(node) if isinstance(node, ast.Call) else _assigned_value(node)
        if value:
            return value
    return None


def _setdefault_value(call: ast.Call) -> str | None:
    """``os.environ.setdefault("DJANGO_SETTINGS_MODULE", "x")`` (or ``environ.setdefault``) -> "x"."""
    func = call.func
    if not (isinstance(func, ast.Attribute) and func.attr == "setdefault" and _is_environ(func.value)):
        return None
    if len(call.args) != 2 or call.keywords or _literal(call.args[0]) != SETTINGS_VARIABLE:
        return None
    return _literal(call.args[1])


def _assigned_value(node: ast.AST) -> str | None:
    """``os.environ["DJANGO_SETTINGS_MODULE"] = "x"`` -> "x"."""
    if not isinstance(node, ast.Assign) or len(node.targets) != 1:
        return None
    target = node.targets[0]
    if isinstance(target, ast.Subscript) and _is_environ(target.value) and _literal(target.slice) == SETTINGS_VARIABLE:
        return _literal(node.value)
    return None


def _is_environ(node: ast.expr) -> bool:
    if isinstance(node, ast.Attribute):
        return node.attr == "environ" and isinstance(node.value, ast.Name) and node.value.id == "os"
    return isinstance(node, ast.Name) and node.id == "environ"


def _literal(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.strip():
        return node.value.strip()
    return None
