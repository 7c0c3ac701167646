"""Drop the test databases a run created, and only those.

Every test database name the harness makes ends with the run's unique token
(see :func:`harness.databases.unique_test_database_name`), so a database is dropped only
when its name starts with ``test_`` and ends with that token.
"""

from __future__ import annotations

from harness.config import Target

# The LIKE pattern of the test databases one run created on one target.
TEST_DATABASE_PATTERN = "test\\_%\\_{token}"


def leftover_test_databases(target: Target, token: str, timeout: float = 5.0) -> list[str]:
    """List the test databases with this run's token still on the target's server."""
    vendor = target.vendor
    if not vendor.is_server:
        return []
    connection = vendor.connect(target.database, timeout)
    try:
        cursor = connection.cursor()
        cursor.execute(vendor.list_databases_query, [TEST_DATABASE_PATTERN.format(token=token)])
        names = [row[0] for row in cursor.fetchall()]
        cursor.close()
    finally:
        connection.close()
    return [name for name in names if name.startswith("test_") and name.endswith(f"_{token}")]


def drop_leftover_test_databases(target: Target, token: str, timeout: float = 5.0) -> list[str]:
    """Drop what :func:`leftover_test_databases` finds; return the names dropped."""
    names = leftover_test_databases(target, token, timeout)
    if not names:
        return []
    vendor = target.vendor
    connection = vendor.connect(target.database, timeout)
    try:
        cursor = connection.cursor()
        for name in names:
            cursor.execute(f"DROP DATABASE IF EXISTS {vendor.quote_template.format(name)}")
        cursor.close()
    finally:
        connection.close()
    return names
