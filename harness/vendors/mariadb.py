"""MariaDB: the target, and the facts of the MariaDB server where they differ from MySQL's.

Django talks to both through its mysql backend; whichever server a ``mysql`` or ``mariadb``
target really reaches decides the facts (its version string says "MariaDB").
"""

from __future__ import annotations

from harness.vendors.facts import ALWAYS, before, since
from harness.vendors.mysql import CHARSETS, MySQL, MySQLProduct


class MariaDB(MySQL):
    target = "mariadb"
    report_order = 3
    product = "MariaDB"
    url_schemes = ("mariadb", "mysql", "mysql2")
    default_url = "mysql://root@127.0.0.1:3306/portability"
    start_hint = "docker compose up -d --wait mariadb"


class MariaDBProduct(MySQLProduct):
    name = "MariaDB"
    regex_dialect = "PCRE2"
    # UNIQUE on TEXT or longer than 3072 bytes (MDEV-371): enforced through a hidden hash column.
    long_unique_constraints = since("10.4")
    # A literal default on TEXT/BLOB/JSON since 10.2.1 (Django 5.2 supports 10.5+).
    literal_default_on_text = True
    sql_lacking = {
        # MariaDB has CREATE INDEX IF NOT EXISTS.
        **{
            name: versions
            for name, versions in MySQLProduct.sql_lacking.items()
            if name != "create_index_if_not_exists"
        },
        "parenthesised_index_expression": ALWAYS,  # no functional key parts at all
        "returning": before("10.5"),  # INSERT/DELETE ... RETURNING
    }
    collations = (
        (CHARSETS + r"_(?!0900_|uca1400_)\w+", ALWAYS),
        (CHARSETS + r"_uca1400_\w+", since("10.10")),
        # MySQL 8's utf8mb4_0900_* names, accepted as aliases.
        (CHARSETS + r"_0900_\w+", since("11.4.5")),
        ("binary", ALWAYS),
    )
