"""Database URLs: parsing them into Django settings, and the one place that knows how to hide a password.

Every URL or error text shown to a user goes through :func:`mask_url` or :func:`redact`.
"""

from __future__ import annotations

import re
from typing import Any

import dj_database_url

from harness.errors import MalformedUrlError
from harness.vendors import vendor_for_target

dj_database_url.register("mariadb", "django.db.backends.mysql")

DEFAULT_DATABASE_NAME = "portability"

_PASSWORD_IN_URL = re.compile(r"(?P<head>://[^:/@?#]*):(?P<password>[^@/?#]*)@")


def mask_url(url: str) -> str:
    """Return the URL with any password replaced by ``***``."""
    return _PASSWORD_IN_URL.sub(lambda m: f"{m.group('head')}:***@", url)


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """Replace every secret (and any password in a URL) in free text by ``***``."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return mask_url(text) if "://" in text else text



def parse_target_url(target: str, url: str) -> dict[str, Any]:
    """Parse a database URL into Django settings, checking it fits the target."""
    vendor = vendor_for_target(target)
    masked = mask_url(url)
    scheme, sep, _ = url.partition("://")
    if not sep:
        raise MalformedUrlError(
            target=target, url=masked, reason="expected SCHEME://[USER[:PASSWORD]@]HOST[:PORT]/NAME"
        )
    if scheme not in vendor.url_schemes:
        raise MalformedUrlError(
            target=target,
            url=masked,
            reason=f"scheme {scheme!r} does not fit this target; use {vendor.url_schemes[0]}://",
        )
    try:
        database = dj_database_url.parse(url)
    except (ValueError, dj_database_url.ParseError) as error:
        reason = " ".join(str(error).split()).rstrip(".") or type(error).__name__
        raise MalformedUrlError(target=target, url=masked, reason=reason) from None
    if database["ENGINE"] != vendor.engine:
        raise MalformedUrlError(target=target, url=masked, reason=f"this URL selects {database['ENGINE']}")
    if vendor.is_server:
        if not database.get("HOST"):
            raise MalformedUrlError(target=target, url=masked, reason="no host given")
        database["NAME"] = database.get("NAME") or DEFAULT_DATABASE_NAME
    return database
