"""Which source files are the project's own code, and which belong to Python, libraries or the harness."""

from __future__ import annotations

import os
import sysconfig
from functools import cache


@cache
def library_prefixes() -> tuple[str, ...]:
    """Folders whose files are never the project's code: stdlib, site-packages, the harness itself."""
    paths = {sysconfig.get_paths()[name] for name in ("stdlib", "platstdlib", "purelib", "platlib")}
    harness_dir = os.path.dirname(os.path.abspath(__file__))
    return tuple(os.path.join(os.path.abspath(path), "") for path in paths | {harness_dir})


def is_library_path(path: str) -> bool:
    return os.path.abspath(path).startswith(library_prefixes()) or "site-packages" in path
