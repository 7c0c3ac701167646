"""What a database product does, chosen by the product and version a server really reports.

A target (``mysql``, ``postgresql@15``) says how to reach a server; what the server then does is a
fact of its *product* (a ``mysql`` target that reaches MariaDB gets MariaDB's facts) and *version*.
Each product module declares a :class:`Product` subclass. A fact is a plain value, or a
:class:`Versions` range meaning "true on these versions" (in the spirit of Django's
``features.py`` and SQLAlchemy's ``testing/exclusions.py``). Facts Django already knows are not
declared here: :data:`DJANGO_FACTS` are read from Django's own ``connection.features`` and
``connection.ops`` for that product and version, without connecting.

``facts_for("MariaDB", "10.11.6")`` gives a :class:`ServerFacts`; its attributes are the
product's facts resolved for that version, and Django's.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import import_module
from typing import Any, ClassVar

Version = tuple[int, ...]


def parse_version(text: Any) -> Version:
    """``"10.11.6-MariaDB-0+deb12u1"`` → (10, 11, 6); ``"18.1 (Debian ...)"`` → (18, 1); ``""`` → ()."""
    match = re.match(r"\d+(\.\d+)*", str(text or "").strip())
    return tuple(int(part) for part in match.group(0).split(".")) if match else ()


@dataclass(frozen=True)
class Versions:
    """The versions ``since <= v < before`` (either end open): where a fact holds."""

    since: str | None = None
    before: str | None = None

    def __contains__(self, version: Version) -> bool:
        if self.since is not None and version < parse_version(self.since):
            return False
        return self.before is None or version < parse_version(self.before)

    def __str__(self) -> str:
        if self.since and self.before:
            return f"{self.since} to before {self.before}"
        if self.since:
            return f"{self.since}+"
        return f"before {self.before}" if self.before else "every version"


ALWAYS = Versions()


def since(version: str) -> Versions:
    return Versions(since=version)


def before(version: str) -> Versions:
    return Versions(before=version)


# What the harness reads from Django for a product and version: fact name → (object, attribute).
# "ops" attributes are methods called without arguments.
DJANGO_FACTS: dict[str, tuple[str, str]] = {
    "max_name_length": ("ops", "max_name_length"),  # longest identifier; None: no limit
    "nulls_first_ascending": ("features", "order_by_nulls_first"),
    "supports_index_on_text_field": ("features", "supports_index_on_text_field"),
    "supports_expression_indexes": ("features", "supports_expression_indexes"),
    "supports_partial_indexes": ("features", "supports_partial_indexes"),
    "can_rollback_ddl": ("features", "can_rollback_ddl"),
    "has_native_uuid_field": ("features", "has_native_uuid_field"),
    "can_return_columns_from_insert": ("features", "can_return_columns_from_insert"),
    "minimum_database_version": ("features", "minimum_database_version"),
}


class Product:
    """Facts of one database product. Subclasses set the class attributes and register by ``name``."""

    registry: ClassVar[dict[str, type[Product]]] = {}

    # The product's name as the probe reports it ("MariaDB"), and Django's ENGINE that talks to it.
    name: ClassVar[str]
    engine: ClassVar[str]

    # How a longer identifier than max_name_length (Django's) is counted and treated.
    identifier_unit: ClassVar[str] = "characters"
    identifier_overflow: ClassVar[str] = "rejects"
    # Does `=` on strings ignore case under the default collation?
    case_insensitive_equality: ClassVar[bool] = False
    # Does `=` on VARCHAR ignore trailing spaces (PAD SPACE collations)?
    ignores_trailing_spaces: ClassVar[bool] = False
    # The regular-expression dialect of its REGEXP / ~ operator.
    regex_dialect: ClassVar[str] = ""
    # Does dividing two integer columns truncate to an integer?
    integer_division: ClassVar[bool] = True
    # Does a schema change fail in a transaction that already wrote rows under deferred constraints
    # ("cannot ALTER TABLE because it has pending trigger events")?
    schema_change_after_writes_fails: ClassVar[bool] = False
    # Error code (SQLSTATE, MySQL number, SQLite name) → what it means and the portable way.
    error_hints: ClassVar[dict[Any, str]] = {}
    # Errors without a code (raised while Django converts rows): a fragment of the message → hint.
    message_hints: ClassVar[dict[str, str]] = {}

    # Index keys: the largest in bytes (None: no limit worth linting), what a VARCHAR character
    # counts for, the bytes of fixed-size column types, and the field types that cannot be keyed
    # without a prefix length (where Django's supports_index_on_text_field is False).
    max_key_bytes: ClassVar[int | None] = None
    key_bytes_per_char: ClassVar[int] = 4
    fixed_key_bytes: ClassVar[dict[str, int]] = {}
    unkeyable_field_types: ClassVar[frozenset[str]] = frozenset()
    # Is a UNIQUE constraint of any length (TEXT columns, keys over max_key_bytes) enforced with a hash of the
    # values, as MariaDB does since 10.4 (not for a primary key)?
    long_unique_constraints: ClassVar[Versions | bool] = False
    # May a TEXT/BLOB/JSON column have a literal default?
    literal_default_on_text: ClassVar[Versions | bool] = True

    # Raw SQL: the constructs of harness.vendors.sql this product lacks (or treats otherwise), by the
    # versions that lack them; the functions of harness.vendors.sql.UNEVEN_FUNCTIONS it has.
    sql_lacking: ClassVar[dict[str, Versions]] = {}
    functions: ClassVar[dict[str, Versions]] = {}
    # Collation names it knows (full-match patterns, by the versions that know them), and
    # whether those names compare case-insensitively.
    collations: ClassVar[tuple[tuple[str, Versions], ...]] = ()
    collation_names_case_insensitive: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            Product.registry[cls.name.lower()] = cls

    @classmethod
    def version_of_library(cls) -> Version | None:
        """The version when the product is a library in this process (SQLite), else None."""
        return None

    @classmethod
    def django_server_state(cls, version: Version) -> tuple[dict[str, Any], dict[str, Any]]:
        """What Django would read from a server of this version: (connection attributes, features attributes)."""
        return {}, {}

    # --- Schema introspection: how this product reports what is the same thing elsewhere -------------

    @classmethod
    def introspected_column_type(cls, description: Any, field_class: str, size: Any) -> str | None:
        """The portable type of a column where this product's introspection says it otherwise, else None."""
        return None

    @classmethod
    def normalise_default(cls, value: str) -> str | None:
        """A literal column default as every product spells it (None: no default)."""
        return value

    @classmethod
    def conditional_index_names(cls, connection: Any, cursor: Any, table: str) -> set[str]:
        """Indexes that are partial (or otherwise conditional): introspection shows them as plain ones."""
        return set()


@dataclass(frozen=True)
class ServerFacts:
    """A product's facts at one version. Attributes resolve :class:`Versions` facts to booleans."""

    product: type[Product]
    version: Version
    django: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.product.name

    @property
    def version_text(self) -> str:
        return ".".join(map(str, self.version))

    def __getattr__(self, fact: str) -> Any:
        if fact.startswith("__"):
            raise AttributeError(fact)
        if fact in DJANGO_FACTS:
            return self.django.get(fact)
        value = getattr(self.product, fact)
        return self.version in value if isinstance(value, Versions) else value

    def lacks_sql(self, construct: str) -> bool:
        versions = self.product.sql_lacking.get(construct)
        return versions is not None and self.version in versions

    def has_function(self, function: str) -> bool:
        versions = self.product.functions.get(function)
        return versions is not None and self.version in versions

    def knows_collation(self, collation: str) -> bool:
        flags = re.IGNORECASE if self.product.collation_names_case_insensitive else 0
        return any(
            self.version in versions and re.fullmatch(pattern, collation, flags)
            for pattern, versions in self.product.collations
        )


def product_named(name: str) -> type[Product]:
    try:
        return Product.registry[name.lower()]
    except KeyError:
        raise LookupError(f"no facts for the database product {name!r}") from None


@cache
def facts_for(product: str, version: str | Version | None = None) -> ServerFacts:
    """The facts of ``product`` at ``version``; without a version, at the oldest one Django supports
    (a library such as SQLite: the one loaded here)."""
    kind = product_named(product)
    parsed = version if isinstance(version, tuple) else parse_version(version)
    if not parsed:
        parsed = kind.version_of_library() or _minimum_version(kind)
    return ServerFacts(kind, parsed, django_facts(kind, parsed))


def _minimum_version(kind: type[Product]) -> Version:
    try:
        return tuple(_django_wrapper(kind, ()).features.minimum_database_version or ())
    except _driver_missing():
        return ()


@cache
def django_facts(kind: type[Product], version: Version) -> dict[str, Any]:
    """DJANGO_FACTS as Django's backend says them for this product and version ({} without its driver)."""
    try:
        wrapper = _django_wrapper(kind, version)
    except _driver_missing():  # the driver of this backend is not installed: Django cannot say
        return {}
    return _read_django_facts(wrapper)


def _read_django_facts(connection: Any) -> dict[str, Any]:
    """DJANGO_FACTS of a DatabaseWrapper (an open connection, or one told the server's version)."""
    facts = {}
    for fact, (holder, attribute) in DJANGO_FACTS.items():
        value = getattr(getattr(connection, holder), attribute)
        facts[fact] = value() if holder == "ops" else value
    return facts


def _driver_missing() -> tuple[type[Exception], ...]:
    from django.core.exceptions import ImproperlyConfigured

    # Django's backend raises ImproperlyConfigured when its driver cannot be imported.
    return (ImportError, ImproperlyConfigured)


def _django_wrapper(kind: type[Product], version: Version) -> Any:
    """An unconnected DatabaseWrapper of the product's engine that believes the server is ``version``."""
    settings = {**_SETTINGS_DEFAULTS, "ENGINE": kind.engine, "NAME": "portability-facts"}
    wrapper = import_module(f"{kind.engine}.base").DatabaseWrapper(settings)
    connection_state, features_state = kind.django_server_state(version)
    wrapper.__dict__.update(connection_state)
    wrapper.features.__dict__.update(features_state)
    return wrapper


# The keys Django's ConnectionHandler fills in for a DATABASES entry (no settings module is needed).
_SETTINGS_DEFAULTS: dict[str, Any] = {
    "ATOMIC_REQUESTS": False,
    "AUTOCOMMIT": True,
    "CONN_MAX_AGE": 0,
    "CONN_HEALTH_CHECKS": False,
    "OPTIONS": {},
    "TIME_ZONE": None,
    "USER": "",
    "PASSWORD": "",
    "HOST": "",
    "PORT": "",
    "TEST": {},
}


def sqlite_library_version() -> Version:
    return tuple(sqlite3.sqlite_version_info)


def facts_of_server(target: str, product: str | None = None, version: str | None = None) -> ServerFacts:
    """The facts of what a target reached: the product and version its probe or results header
    reported, else what the target's vendor expects at the oldest version Django supports."""
    from harness.vendors.base import vendor_for_target

    expected = vendor_for_target(target).product
    try:
        return facts_for(product or expected, version if product else None)
    except LookupError:  # a product the harness has no facts for: judge it as what the target expects
        return facts_for(expected)


def facts_of_connection(connection: Any) -> ServerFacts:
    """The facts of the server behind an open Django connection, Django's read from it live."""
    if connection.vendor == "postgresql":
        product, version = "PostgreSQL", divmod(connection.pg_version, 10000)
    elif connection.vendor == "mysql":
        product = "MariaDB" if connection.mysql_is_mariadb else "MySQL"
        version = tuple(connection.mysql_version)
    else:
        product, version = "SQLite", sqlite_library_version()
    facts = facts_for(product, version)
    return ServerFacts(facts.product, facts.version, _read_django_facts(connection))
