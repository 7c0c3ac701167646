"""pytest-django fixtures the harness replaces; registered by harness.pytest_plugin after pytest-django's
own, so these win (only when the plugin has a target).

Test database names are already unique to the run and to the xdist worker: pytest-django's xdist
and tox suffixes (``_gw0`` after the run token) would hide them from the run's sweep. With
--portability-reuse-db, the kept test databases' names and keepdb are set here: Django is set up
by now, so their signature can be computed.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def django_db_modify_db_settings_parallel_suffix(request: pytest.FixtureRequest) -> None:
    from harness.pytest_plugin import use_kept_databases

    use_kept_databases(request.config)


@pytest.fixture(scope="session")
def django_db_keepdb(request: pytest.FixtureRequest, django_db_modify_db_settings: None) -> bool:
    from harness.pytest_plugin import STATE_KEY

    state = request.config.stash.get(STATE_KEY, None)
    kept = state is not None and state.kept is not None
    return kept or bool(request.config.getvalue("reuse_db"))
