"""Everything the harness knows about databases, one module per vendor.

* harness.vendors.base: how a target is reached and managed (registered by target name), and
  target names (``postgresql``, ``postgresql@15``).
* harness.vendors.facts: what a product does at a version (``facts_for(product, version)``),
  with Django's own features read for it.
* harness.vendors.sql: the raw-SQL constructs that differ, by name.
* harness.vendors.sqlite / postgresql / mysql / mariadb: each vendor's target and product facts.
"""

from harness.vendors import mariadb, mysql, postgresql, sqlite  # noqa: F401 (they register themselves)
from harness.vendors.base import (
    AUTH_FAILED,
    OTHER_FAILURE,
    REFUSED,
    TARGET_NAME,
    TIMED_OUT,
    UNKNOWN_DATABASE,
    UNKNOWN_HOST,
    Vendor,
    driver_error_code,
    driver_error_codes,
    is_target_name,
    known_targets,
    target_label,
    target_order,
    vendor_for_target,
)
from harness.vendors.facts import ServerFacts, facts_for, facts_of_connection, facts_of_server

__all__ = [
    "AUTH_FAILED",
    "OTHER_FAILURE",
    "REFUSED",
    "TARGET_NAME",
    "TIMED_OUT",
    "UNKNOWN_DATABASE",
    "UNKNOWN_HOST",
    "ServerFacts",
    "Vendor",
    "driver_error_code",
    "driver_error_codes",
    "facts_for",
    "facts_of_connection",
    "facts_of_server",
    "is_target_name",
    "known_targets",
    "target_label",
    "target_order",
    "vendor_for_target",
]
