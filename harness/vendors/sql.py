"""The raw-SQL vocabulary that differs between products: each construct once, by name.

Which product lacks which construct (and from which version) is a fact of the product
(``Product.sql_lacking`` / ``Product.functions``); here are only the patterns that find a
construct in SQL text (string literals blanked to '' and comments removed, matched
case-insensitively) and what to call it in a message.
"""

from __future__ import annotations

# name → (pattern, what it is)
SQL_CONSTRUCTS: dict[str, tuple[str, str]] = {
    "double_quoted_identifier": (
        r'"[^"\s]+"',
        "double-quoted identifiers (strings on MySQL/MariaDB unless ANSI_QUOTES)",
    ),
    "backtick_identifier": (r"`[^`]+`", "backtick-quoted identifiers"),
    "create_extension": (r"\bCREATE\s+EXTENSION\b", "CREATE EXTENSION (PostgreSQL only)"),
    "double_colon_cast": (r"(\w|\)|')::\w", ":: casts (PostgreSQL only; use CAST(x AS type))"),
    "ilike": (r"\bILIKE\b", "ILIKE (PostgreSQL only)"),
    "serial": (r"\b(SMALL|BIG)?SERIAL\b", "SERIAL types (PostgreSQL; BIGINT UNSIGNED on MySQL)"),
    "auto_increment": (r"\bAUTO_INCREMENT\b", "AUTO_INCREMENT (MySQL/MariaDB only)"),
    "autoincrement": (r"\bAUTOINCREMENT\b", "AUTOINCREMENT (SQLite only)"),
    "engine_option": (r"\bENGINE\s*=", "ENGINE= table options (MySQL/MariaDB only)"),
    "create_index_if_not_exists": (
        r"\bCREATE\s+(UNIQUE\s+)?INDEX\s+IF\s+NOT\s+EXISTS\b",
        "CREATE INDEX IF NOT EXISTS (not MySQL)",
    ),
    # ON t ((expr)): an expression key part in its own parentheses (MySQL 8.0.13+, not MariaDB).
    "parenthesised_index_expression": (
        r"\bCREATE\s+(UNIQUE\s+)?INDEX\b[^;]*?\bON\s+[\w\"`.]+\s*\(\s*\(",
        "functional index key parts (MySQL needs ((expr)) and 8.0.13+, MariaDB has none)",
    ),
    # ON t (lower(x)): a function call as a key part, without the extra parentheses MySQL needs.
    "function_index_key": (
        r"\bCREATE\s+(UNIQUE\s+)?INDEX\b[^;]*?\bON\s+[\w\"`.]+\s*\(\s*\w+\s*\(",
        "functional index key parts (MySQL needs ((expr)) and 8.0.13+, MariaDB has none)",
    ),
    "drop_index_without_on": (
        r"\bDROP\s+INDEX\s+(?![^;]*\bON\b)",
        "DROP INDEX without ON table (MySQL/MariaDB require it)",
    ),
    "drop_index_on": (r"\bDROP\s+INDEX\b[^;]*\bON\b", "DROP INDEX ... ON table (MySQL/MariaDB only)"),
    "concurrently": (r"\bCONCURRENTLY\b", "CONCURRENTLY (PostgreSQL only, and only outside a transaction)"),
    "returning": (r"\bRETURNING\b", "RETURNING (not MySQL; SQLite 3.35+, MariaDB 10.5+)"),
    "on_conflict": (r"\bON\s+CONFLICT\b", "ON CONFLICT (PostgreSQL/SQLite only)"),
    "on_duplicate_key": (r"\bON\s+DUPLICATE\s+KEY\b", "ON DUPLICATE KEY (MySQL/MariaDB only)"),
    "insert_ignore": (r"\bINSERT\s+IGNORE\b", "INSERT IGNORE (MySQL/MariaDB only)"),
    "insert_or_ignore": (r"\bINSERT\s+OR\s+(IGNORE|REPLACE)\b", "INSERT OR IGNORE/REPLACE (SQLite only)"),
    "replace_into": (r"\bREPLACE\s+INTO\b", "REPLACE INTO (not PostgreSQL)"),
    "regexp_operator": (r"\bN?REGEXP\b|\bRLIKE\b", "REGEXP (not PostgreSQL; use ~)"),
    "tilde_regex": (r"[\w)'\"]\s*!?~\*?\s*['\w(]", "~ regex match operator (PostgreSQL only)"),
    "pipe_concatenation": (r"\|\|", "|| concatenation (logical OR on MySQL/MariaDB; use CONCAT)"),
    "truncate": (r"\bTRUNCATE\b", "TRUNCATE (SQLite has none; use DELETE FROM)"),
    "alter_column": (r"\bALTER\s+COLUMN\b", "ALTER COLUMN (SQLite cannot alter columns)"),
    "alter_column_type": (
        r"\bALTER\s+COLUMN\s+[\w\"`]+\s+(SET\s+DATA\s+)?TYPE\b",
        "ALTER COLUMN ... TYPE (PostgreSQL only)",
    ),
    "alter_column_not_null": (
        r"\bALTER\s+COLUMN\b[^;]*\b(SET|DROP)\s+NOT\s+NULL\b",
        "ALTER COLUMN SET/DROP NOT NULL (PostgreSQL)",
    ),
    "modify_column": (r"\bMODIFY\s+(COLUMN\s+)?[\w`]", "MODIFY COLUMN (MySQL/MariaDB only)"),
    "unsigned": (r"\bUNSIGNED\b", "UNSIGNED integer types (not PostgreSQL)"),
    "mysql_column_types": (
        r"\b(TINYINT|MEDIUMINT|LONGTEXT|MEDIUMTEXT|TINYTEXT|LONGBLOB|DATETIME)\b",
        "MySQL column types",
    ),
    "postgresql_column_types": (r"\b(JSONB|BYTEA|TIMESTAMPTZ|INET|CIDR|TSVECTOR)\b", "PostgreSQL column types"),
    # Every product writes these in its own dialect: no product "has" them portably.
    "routine": (
        r"\bCREATE\s+(OR\s+REPLACE\s+)?(FUNCTION|PROCEDURE|TRIGGER)\b",
        "functions/procedures/triggers are written in each vendor's own dialect",
    ),
}

# Function names some products lack (lower case). Functions every product has (COALESCE, LOWER,
# UPPER, LENGTH, ABS, ROUND, ...) are not listed; which product has which is Product.functions.
UNEVEN_FUNCTIONS: frozenset[str] = frozenset(
    {
        "now",
        "gen_random_uuid",
        "uuid_generate_v4",
        "uuid",
        "random",
        "rand",
        "datetime",
        "strftime",
        "julianday",
        "unixepoch",
        "date_trunc",
        "to_char",
        "to_tsvector",
        "generate_series",
        "array_agg",
        "string_agg",
        "date_format",
        "str_to_date",
        "unix_timestamp",
        "curdate",
        "group_concat",
        "ifnull",
        "concat",
        "char_length",
        "md5",
    }
)
