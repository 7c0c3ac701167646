"""Database URLs: parsing them into Django settings, and the one place that knows how to hide a password.

Every URL or error text shown to a user goes through :func:`mask_url` or :func:`redact`.

Masking does not trust the URL to be well formed: the userinfo is everything between the
scheme's ``//`` and the *last* ``@`` (a raw password may hold ``@``, ``:``, ``/``, ``?``,
``#`` or spaces). In a well-formed URL the user stays visible (``app:***@host``); when the
scheme is broken (``postgres//``, ``postgres:/``, none at all) no part of the userinfo is
shown (``postgres//***@host``).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

import dj_database_url

from harness.errors import ConfigError, MalformedUrlError, UnknownTargetError
from harness.vendors import Vendor, vendor_for_target

dj_database_url.register("mariadb", "django.db.backends.mysql")

DEFAULT_DATABASE_NAME = "portability"
URL_FORM = "SCHEME://[USER[:PASSWORD]@]HOST[:PORT]/NAME"
MASK = "***"

# A scheme as RFC 3986 spells it, and what follows it (only "://" is well formed).
_SCHEME = re.compile(r"\s*(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)(?P<sep>://|//|:/|:)")
# Characters urllib ends the host part at: a raw one in the userinfo breaks the parse.
_AUTHORITY_ENDS = frozenset("/?#")
# `password=...` in a libpq-style DSN (quoted or not) that an error may quote.
# Cheap forms of the tests below, for text that is mostly innocent (a results file): no IGNORECASE and
# a literal start let the regex engine skip ahead.
_AFTER_SEPARATOR_TO_AT = re.compile(r"://\S*@")
_PASSWORD_ASSIGNED = re.compile(r"password\s*=")
_DSN_PASSWORD = re.compile(r"(?P<key>\bpassword\s*=\s*)(?:'(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


@lru_cache(maxsize=1)
def _known_schemes() -> tuple[str, ...]:
    return tuple(sorted({scheme for vendor in Vendor.registry.values() for scheme in vendor.url_schemes}))


@lru_cache(maxsize=1)
def _url_head() -> re.Pattern[str]:
    """Where a URL starts inside text: any ``scheme://``, or a known scheme with a broken separator."""
    known = "|".join(re.escape(scheme) for scheme in sorted(_known_schemes(), key=len, reverse=True))
    return re.compile(rf"(?<![A-Za-z0-9+.\-])(?:[A-Za-z][A-Za-z0-9+.\-]*://|(?:{known})(?://|:/|:))")


@lru_cache(maxsize=1)
def _url_in_text() -> re.Pattern[str]:
    """A URL's head and userinfo in free text, where the userinfo ends at the last ``@`` before a space."""
    return re.compile(rf"(?P<head>{_url_head().pattern})(?P<userinfo>\S*)@")


def _split_scheme(url: str) -> tuple[str, str, bool]:
    """(head, rest, well formed) of a string that should be a URL: ``head`` is its scheme and separator
    as written ('' when it has none)."""
    match = _SCHEME.match(url)
    if match is None:
        return "", url, False
    if match.group("sep") == "://":
        return match.group(0), url[match.end() :], True
    if match.group("scheme").lower() in _known_schemes():
        return match.group(0), url[match.end() :], False
    # "app:pw@host": what looks like a scheme may be the user; treat the whole text as userinfo.
    return "", url, False


def _locate(text: str) -> tuple[str, str, bool]:
    """(everything up to the userinfo, the rest, well formed) of a URL anywhere in ``text``
    (``--url`` items, messages that quote one); with no scheme in sight the userinfo starts at the start."""
    match = _url_head().search(text)
    if match is None:
        return "", text, False
    return text[: match.end()], text[match.end() :], match.group(0).endswith("://")


def _mask_userinfo(userinfo: str, well_formed: bool) -> str:
    """The userinfo to show: the user of a well-formed URL, never any part of a password."""
    user, colon, password = userinfo.partition(":")
    if not colon:
        # No password; but a user with "@" in it is more likely a mangled user:password.
        return userinfo if "@" not in userinfo and well_formed else MASK
    if not well_formed or "@" in user:
        return MASK
    return f"{user}:{MASK if password else ''}"


def mask_url(url: str) -> str:
    """Return the URL with any password replaced by ``***`` (the whole userinfo when the URL is broken).

    ``url`` may be a URL, or one line that holds one (``TARGET URL``, a message): the userinfo runs
    from the scheme to the string's last ``@``.
    """
    head, rest, well_formed = _locate(url)
    userinfo, at, tail = rest.rpartition("@")
    if not at:
        return url
    return f"{head}{_mask_userinfo(userinfo, well_formed)}@{tail}"


def _may_hold_url(text: str) -> bool:
    """Whether ``_url_head`` could match: a cheap test that spares most lines the regex scan."""
    return "://" in text or any(scheme in text for scheme in _known_schemes())


def _mask_urls_in_text(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        head = match.group("head")
        return f"{head}{_mask_userinfo(match.group('userinfo'), head.endswith('://'))}@"

    return _url_in_text().sub(replace, text)


def _hex(byte: int) -> str:
    """A percent-encoded byte, in either case of hex digit."""
    return "%" + "".join(f"[{d}{d.lower()}]" if d.isalpha() else d for d in f"{byte:02X}")


@lru_cache(maxsize=64)
def _secret_pattern(secret: str) -> re.Pattern[str]:
    """The secret in every spelling it can take in output: raw, percent-encoded (any mix, any hex case),
    ``+`` for a space, and JSON- or repr-escaped."""
    parts = []
    for char in secret:
        options = {re.escape(char), "".join(_hex(byte) for byte in char.encode("utf-8"))}
        for escaped in (json.dumps(char)[1:-1], repr(char)[1:-1]):
            body = escaped.lstrip("\\")
            # An escape may be escaped again (the repr of a JSON line): any number of backslashes.
            options.add(re.escape(escaped) if body == escaped else r"\\+" + re.escape(body))
        if char == " ":
            options.add(r"\+")
        parts.append("(?:" + "|".join(sorted(options, key=len, reverse=True)) + ")")
    return re.compile("".join(parts))


def redact(text: str, secrets: tuple[str, ...] | list[str] = ()) -> str:
    """Hide every password in free text: each secret in any spelling, and the userinfo of any URL."""
    # Secrets first: a URL's masking cuts a password with a space in two, and the pieces would be missed.
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = _secret_pattern(secret).sub(MASK, text)
    if "@" in text and _may_hold_url(text):
        text = _mask_urls_in_text(text)
    if "password" in text.lower():
        text = _DSN_PASSWORD.sub(lambda m: f"{m.group('key')}{MASK}", text)
    return text


# A JSON string literal's body (JSON text never holds a raw newline inside one).
_JSON_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')


def redact_json(text: str, secrets: tuple[str, ...] | list[str] = ()) -> str:
    """redact() for JSON lines (a results file): within each string literal, so that a mask never eats a
    closing quote or bracket. Only a line where a secret, a URL with userinfo or a ``password=`` is found
    is taken apart; any other line is left as it is."""
    if not _suspect(text, secrets):
        return text
    return "\n".join(
        _JSON_STRING.sub(lambda match: f'"{redact(match.group(1), secrets)}"', line)
        if _suspect(line, secrets)
        else line
        for line in text.split("\n")
    )


def _suspect(text: str, secrets: tuple[str, ...] | list[str]) -> bool:
    """Whether redact() could change ``text``; the regexes that scan slowly run only behind cheap tests."""
    if any(secret and _secret_pattern(secret).search(text) for secret in secrets):
        return True
    if "@" in text:
        if "://" in text and _AFTER_SEPARATOR_TO_AT.search(text):
            return True
        if any(scheme in text for scheme in _known_schemes()) and _url_in_text().search(text):
            return True
    return "password" in (lowered := text.lower()) and bool(_PASSWORD_ASSIGNED.search(lowered))


def url_secrets(url: str) -> tuple[str, ...]:
    """What must never be shown of a URL, parseable or not: its password as written (and whole userinfo
    when the URL is broken), and the percent-decoded password."""
    from urllib.parse import unquote

    _, rest, well_formed = _locate(url)
    userinfo, at, _ = rest.rpartition("@")
    if not at:
        return ()
    user, colon, password = userinfo.partition(":")
    found = {password, unquote(password)} if colon else set()
    if not well_formed or "@" in user:
        found |= {userinfo, unquote(userinfo)}
    return tuple(sorted(secret for secret in found if secret))


def parse_target_url(target: str, url: str) -> dict[str, Any]:
    """Parse a database URL into Django settings, checking it fits the target."""
    vendor = vendor_for_target(target)
    url = url.strip()
    masked = mask_url(url)
    canonical = vendor.url_schemes[0]

    def malformed(reason: str) -> MalformedUrlError:
        return MalformedUrlError(target=target, url=masked, reason=reason)

    head, rest, well_formed = _split_scheme(url)
    if not well_formed:
        if head:
            scheme = head.strip().rstrip(":/")
            raise malformed(f"{scheme!r} must be followed by '://': expected {URL_FORM}")
        raise malformed(f"no scheme: expected {URL_FORM} with SCHEME {' or '.join(vendor.url_schemes)}")
    scheme = head.strip()[: -len("://")]
    if scheme not in vendor.url_schemes:
        raise malformed(f"scheme {scheme!r} does not fit this target; use {canonical}://")
    userinfo, at, _ = rest.rpartition("@")
    if at and _AUTHORITY_ENDS & set(userinfo):
        raise malformed(
            "the user or password holds a character a URL cannot carry raw (/, ? or #): percent-encode "
            "them (urllib.parse.quote(password, safe=''))"
        )
    port = _bad_port(rest.rpartition("@")[2])
    if port is not None:
        raise malformed(f"port {port!r} is not a number from 0 to 65535")
    try:
        database = dj_database_url.parse(url)
    except (ValueError, dj_database_url.ParseError) as error:
        # urllib's words may quote a piece of the URL: never a piece of its userinfo.
        reason = " ".join(str(error).split()).rstrip(".") or type(error).__name__
        raise malformed(redact(reason, url_secrets(url))) from None
    if database["ENGINE"] != vendor.engine:
        raise malformed(f"this URL selects {database['ENGINE']}")
    if vendor.is_server:
        if not database.get("HOST"):
            raise malformed("no host given")
        database["NAME"] = database.get("NAME") or DEFAULT_DATABASE_NAME
    return database


def _bad_port(hostinfo: str) -> str | None:
    """The port written after the host (the text after the userinfo), when it is not one."""
    host_and_port = re.split(r"[/?#]", hostinfo, maxsplit=1)[0]
    if host_and_port.startswith("["):
        host_and_port = host_and_port.partition("]")[2]
    _, colon, port = host_and_port.rpartition(":")
    if not colon or not port:
        return None
    return None if port.isascii() and port.isdigit() and int(port) <= 65535 else port


def parse_configured_url(target: str, url: str, source: str) -> dict[str, Any]:
    """parse_target_url, its error saying where the URL came from (--url, an environment variable, pyproject)."""
    try:
        return parse_target_url(target, url)
    except MalformedUrlError as error:
        raise MalformedUrlError(**{**error.fields, "reason": f"{error.fields['reason']} (URL from {source})"}) from None
    except UnknownTargetError as error:
        raise ConfigError(detail=f"{source}: {error}") from None
