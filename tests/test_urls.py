"""Passwords never shown: every URL form and malformed variant, masked and parsed; connection failures classified."""

from __future__ import annotations

import json
from urllib.parse import quote, quote_plus

import pytest

from harness.config import Target
from harness.errors import BackendUnavailableError, MalformedUrlError
from harness.probe import ServerInfo, classify_failure, failure_hint
from harness.urls import mask_url, parse_target_url, redact, url_secrets
from harness.vendors import (
    AUTH_FAILED,
    OTHER_FAILURE,
    REFUSED,
    TIMED_OUT,
    UNKNOWN_DATABASE,
    UNKNOWN_HOST,
    vendor_for_target,
)

# A password with every character a URL gives meaning to, a space and a non-ASCII letter.
AWKWARD = "p@ss:w/rd%23 #ö?x"
SIMPLE = "S3cretPW_xyz"
HOST = "127.0.0.1"


def encoded(password: str) -> str:
    return quote(password, safe="")


def spellings(password: str) -> set[str]:
    """The password as written and in every spelling output could carry it."""
    forms = {password, encoded(password), quote(password), quote_plus(password)}
    forms |= {json.dumps(form)[1:-1] for form in forms}
    return {form for form in forms if form}


def fragments(password: str, size: int = 4) -> set[str]:
    """Every piece of ``size`` characters of every spelling: none may show, not just the whole."""
    return {form[i : i + size] for form in spellings(password) for i in range(len(form) - size + 1)} | {
        form for form in spellings(password) if len(form) < size
    }


def assert_hidden(text: str, password: str | None) -> None:
    if not password:
        return
    shown = sorted(piece for piece in fragments(password) if piece in text)
    assert not shown, f"{shown} of the password shown in {text!r}"


# (id, target, URL, password as written in it, what parses (None) or the error says, pieces still shown)
OK = None
CASES = [
    # -- every URL form, password percent-encoded
    (
        "postgres-port",
        "postgresql",
        f"postgres://app:{encoded(AWKWARD)}@{HOST}:5432/db",
        AWKWARD,
        OK,
        ["app", HOST, "5432", "db"],
    ),
    (
        "postgresql-no-port",
        "postgresql",
        f"postgresql://app:{encoded(AWKWARD)}@{HOST}/db",
        AWKWARD,
        OK,
        ["app", HOST, "/db"],
    ),
    (
        "postgres-query",
        "postgresql",
        f"postgres://app:{encoded(AWKWARD)}@{HOST}:5432/db?sslmode=disable&connect_timeout=5",
        AWKWARD,
        OK,
        [HOST, "5432", "sslmode=disable"],
    ),
    ("postgres-lower-hex", "postgresql", f"postgres://app:{encoded(AWKWARD).lower()}@{HOST}/db", AWKWARD, OK, [HOST]),
    ("mysql", "mysql", f"mysql://root:{encoded(AWKWARD)}@{HOST}:3307/db", AWKWARD, OK, ["root", HOST, "3307", "db"]),
    (
        "mariadb-scheme",
        "mariadb",
        f"mariadb://root:{encoded(AWKWARD)}@db.example.com/db",
        AWKWARD,
        OK,
        ["db.example.com"],
    ),
    ("mysql-for-mariadb", "mariadb", f"mysql://root:{encoded(AWKWARD)}@{HOST}:3306/db", AWKWARD, OK, [HOST, "3306"]),
    ("password-only", "postgresql", f"postgres://:{SIMPLE}@{HOST}:5432/db", SIMPLE, OK, [HOST, "5432"]),
    ("user-only", "postgresql", f"postgres://app@{HOST}:5432/db", None, OK, ["postgres://app@127.0.0.1:5432/db"]),
    ("empty-password", "postgresql", f"postgres://app:@{HOST}/db", None, OK, ["app:@127.0.0.1/db"]),
    # -- raw passwords a URL can still carry
    ("raw-at-colon", "postgresql", f"postgres://app:p@ss:w@{HOST}:5432/db", "p@ss:w", OK, ["app", HOST, "5432"]),
    ("raw-space", "postgresql", f"postgres://app:pa ss wd9@{HOST}/db", "pa ss wd9", OK, [HOST]),
    ("raw-non-ascii", "mariadb", f"mysql://root:pässwörd@{HOST}/db", "pässwörd", OK, [HOST]),
    ("raw-percent", "postgresql", f"postgres://app:pa%ss%wd9@{HOST}/db", "pa%ss%wd9", OK, [HOST]),
    ("raw-at-mysql", "mariadb", f"mysql://root:r@@t:pw@{HOST}:3306/db", "r@@t:pw", OK, [HOST, "3306"]),
    # -- raw passwords a URL cannot carry: refused, still hidden
    (
        "raw-awkward",
        "postgresql",
        f"postgres://app:{AWKWARD}@{HOST}:5432/db",
        AWKWARD,
        "percent-encode",
        [HOST, "5432"],
    ),
    ("raw-slash", "mariadb", f"mysql://root:pa/ss9x@{HOST}/db", "pa/ss9x", "percent-encode", [HOST]),
    ("raw-hash", "postgresql", f"postgres://app:pa#ss9x@{HOST}/db", "pa#ss9x", "percent-encode", [HOST]),
    ("raw-question", "postgresql", f"postgres://app:pa?ss9x@{HOST}/db", "pa?ss9x", "percent-encode", [HOST]),
    # -- malformed URLs
    ("no-colon-after-scheme", "postgresql", f"postgres//app:{SIMPLE}@{HOST}/x", SIMPLE, "'://'", ["postgres//", HOST]),
    ("single-slash", "postgresql", f"postgres:/app:{SIMPLE}@{HOST}/x", SIMPLE, "'://'", ["postgres:/", HOST]),
    ("no-slashes", "postgresql", f"postgres:app:{SIMPLE}@{HOST}/x", SIMPLE, "'://'", [HOST]),
    ("no-colon-awkward", "postgresql", f"postgres//app:{encoded(AWKWARD)}@{HOST}/x", AWKWARD, "'://'", [HOST]),
    ("no-scheme", "postgresql", f"app:{SIMPLE}@{HOST}:5432/x", SIMPLE, "no scheme", [HOST, "5432"]),
    ("no-scheme-awkward", "mariadb", f"root:{AWKWARD}@{HOST}/x", AWKWARD, "no scheme", [HOST]),
    ("target-and-space", "postgresql", f"postgresql postgres://app:{SIMPLE}@{HOST}/x", SIMPLE, "no scheme", [HOST]),
    ("missing-host", "postgresql", f"postgres://app:{SIMPLE}@/x", SIMPLE, "no host", ["app:***@/x"]),
    ("missing-host-port", "mariadb", f"mysql://root:{encoded(AWKWARD)}@:3306/x", AWKWARD, "no host", ["3306"]),
    ("bad-port", "postgresql", f"postgres://app:{SIMPLE}@{HOST}:abc/x", SIMPLE, "'abc'", [HOST, "abc"]),
    ("port-out-of-range", "postgresql", f"postgres://app:{SIMPLE}@{HOST}:99999/x", SIMPLE, "port '99999'", [HOST]),
    ("bad-port-awkward", "mariadb", f"mysql://root:{encoded(AWKWARD)}@{HOST}:3o6/x", AWKWARD, "'3o6'", [HOST]),
    ("unknown-scheme", "postgresql", f"redis://app:{SIMPLE}@{HOST}/x", SIMPLE, "'redis'", ["redis://app:***@", HOST]),
    ("wrong-target-scheme", "mariadb", f"postgres://app:{encoded(AWKWARD)}@{HOST}/x", AWKWARD, "'postgres'", [HOST]),
    ("sqlite-with-password", "sqlite", f"postgres://app:{SIMPLE}@{HOST}/x", SIMPLE, "'postgres'", [HOST]),
    ("bad-ipv6", "postgresql", f"postgres://app:{SIMPLE}@[::1/x", SIMPLE, "malformed URL", ["[::1/x"]),
    (
        "surrounding-spaces",
        "postgresql",
        f"  postgres://app:{SIMPLE}@{HOST}/x ",
        SIMPLE,
        OK,
        ["postgres://app:***@", HOST],
    ),
]


@pytest.mark.parametrize(
    ("target", "url", "password", "error", "shown"), [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_password_never_shown(target, url, password, error, shown):
    masked = mask_url(url)
    assert_hidden(masked, password)
    for piece in shown:
        assert piece in masked, f"{piece!r} not in {masked!r}"
    if error is None:
        database = parse_target_url(target, url)
        item = Target(name=target, url=url, url_source="--url", database=database)
        assert_hidden(item.masked_url, password)
        # Any text quoting the password (a driver error, a log, a JSON line) loses it, in every spelling.
        for form in spellings(password or ""):
            text = f"failed for {form!r}: {json.dumps({'password': form})} at {url}"
            assert_hidden(redact(text, item.secrets), password)
        return
    with pytest.raises(MalformedUrlError) as raised:
        parse_target_url(target, url)
    message = str(raised.value)
    assert_hidden(message, password)
    assert error in message, message
    assert f"malformed URL for target {target!r}" in message
    for piece in shown:
        assert piece in message, f"{piece!r} not in {message!r}"


def test_there_are_enough_cases():
    assert len(CASES) >= 25
    assert {case[2].split(":")[0] for case in CASES} >= {"postgres", "postgresql", "mysql", "mariadb"}


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"postgres://app:{SIMPLE}@{HOST}:5432/db", "postgres://app:***@127.0.0.1:5432/db"),
        (f"postgres://app:p@ss@{HOST}/db", "postgres://app:***@127.0.0.1/db"),
        (f"postgres://app:{AWKWARD}@{HOST}/db", "postgres://app:***@127.0.0.1/db"),
        (f"postgres//app:{SIMPLE}@{HOST}/db", "postgres//***@127.0.0.1/db"),
        (f"app:{SIMPLE}@{HOST}/db", "***@127.0.0.1/db"),
        (f"postgres://:{SIMPLE}@{HOST}/db", "postgres://:***@127.0.0.1/db"),
        (f"postgres://app@{HOST}/db", f"postgres://app@{HOST}/db"),
        ("sqlite://:memory:", "sqlite://:memory:"),
        ("notaurl", "notaurl"),
    ],
)
def test_mask_url_keeps_what_helps(url, expected):
    assert mask_url(url) == expected


def test_redact_masks_every_url_in_free_text_and_dsn_passwords():
    text = (
        f"one postgres://app:{SIMPLE}@h1/x, two 'mysql://root:p@ss@h2:3306/y' and "
        f"postgres//app:{SIMPLE}@h3/z; dsn host=h4 password='{SIMPLE} x' user=app"
    )
    redacted = redact(text)
    assert SIMPLE not in redacted and "p@ss" not in redacted and "ss@h2" not in redacted
    for piece in ("postgres://app:***@h1/x", "mysql://root:***@h2:3306/y", "postgres//***@h3/z", "password=*** user"):
        assert piece in redacted, redacted


def test_redact_finds_a_password_with_spaces_before_masking_urls():
    url = f"postgres://app:{AWKWARD}@{HOST}/db"
    redacted = redact(f"error at {url} now", url_secrets(url))
    assert redacted == f"error at postgres://app:***@{HOST}/db now"


def test_url_secrets_of_a_broken_url_cover_the_whole_userinfo():
    assert set(url_secrets(f"postgres//app:{SIMPLE}@{HOST}/x")) >= {SIMPLE, f"app:{SIMPLE}"}
    assert url_secrets(f"postgres://app@{HOST}/x") == ()


# ---------------------------------------------------------------- connection failures


def pg_error(message: str) -> Exception:
    import psycopg2

    return psycopg2.OperationalError(message)


def mysql_error(code: int, message: str) -> Exception:
    import MySQLdb

    return MySQLdb.OperationalError(code, message)


# The drivers' real messages (psycopg2 2.9 / libpq, mysqlclient on MariaDB Connector/C).
FAILURES = [
    (
        "pg-password",
        "postgresql",
        lambda: pg_error(
            'connection to server at "h", port 5 failed: FATAL:  password authentication failed for user "postgres"\n'
        ),
        AUTH_FAILED,
    ),
    (
        "pg-hba",
        "postgresql",
        lambda: pg_error('FATAL:  no pg_hba.conf entry for host "10.0.0.2", user "app", database "x", no encryption'),
        AUTH_FAILED,
    ),
    ("pg-no-password", "postgresql", lambda: pg_error("fe_sendauth: no password supplied"), AUTH_FAILED),
    (
        "pg-role",
        "postgresql",
        lambda: pg_error('connection to server at "h", port 5 failed: FATAL:  role "nobody" does not exist'),
        AUTH_FAILED,
    ),
    (
        "pg-database",
        "postgresql",
        lambda: pg_error('connection to server at "h", port 5 failed: FATAL:  database "postgres" does not exist'),
        UNKNOWN_DATABASE,
    ),
    (
        "pg-refused",
        "postgresql",
        lambda: pg_error(
            'connection to server at "127.0.0.1", port 1 failed: Connection refused\n'
            "\tIs the server running on that host and accepting TCP/IP connections?"
        ),
        REFUSED,
    ),
    (
        "pg-timeout",
        "postgresql",
        lambda: pg_error('connection to server at "127.0.0.1", port 9 failed: timeout expired'),
        TIMED_OUT,
    ),
    (
        "pg-host",
        "postgresql",
        lambda: pg_error('could not translate host name "nohost" to address: Name or service not known'),
        UNKNOWN_HOST,
    ),
    ("pg-other", "postgresql", lambda: pg_error("server closed the connection unexpectedly"), OTHER_FAILURE),
    (
        "my-denied",
        "mariadb",
        lambda: mysql_error(1045, "Access denied for user 'root'@'127.0.0.1' (using password: YES)"),
        AUTH_FAILED,
    ),
    ("my-database", "mysql", lambda: mysql_error(1049, "Unknown database 'nope'"), UNKNOWN_DATABASE),
    ("my-refused-2002", "mariadb", lambda: mysql_error(2002, "Can't connect to server on '127.0.0.1' (115)"), REFUSED),
    (
        "my-refused-2003",
        "mysql",
        lambda: mysql_error(2003, "Can't connect to MySQL server on '127.0.0.1:3307' (111)"),
        REFUSED,
    ),
    (
        "my-connect-timeout",
        "mysql",
        lambda: mysql_error(2003, "Can't connect to MySQL server on '10.1.1.1' (110)"),
        TIMED_OUT,
    ),
    (
        "my-handshake-timeout",
        "mariadb",
        lambda: mysql_error(
            2013, "Lost connection to server at 'handshake: reading initial communication packet', system error: 110"
        ),
        TIMED_OUT,
    ),
    ("my-host", "mariadb", lambda: mysql_error(2005, "Unknown server host 'nohost' (-2)"), UNKNOWN_HOST),
    ("socket-timeout", "postgresql", lambda: TimeoutError("timed out"), TIMED_OUT),
]


@pytest.mark.parametrize(
    ("target", "make_error", "expected"), [case[1:] for case in FAILURES], ids=[case[0] for case in FAILURES]
)
def test_connection_failures_are_classified(target, make_error, expected):
    assert classify_failure(vendor_for_target(target), make_error()) == expected


def target_at(name: str, url: str) -> Target:
    return Target(name=name, url=url, url_source="--url", database=parse_target_url(name, url))


def test_each_failure_class_has_its_own_hint_and_only_refused_says_docker():
    target = target_at("postgresql", f"postgres://app:{encoded(AWKWARD)}@db.local:6543/x")
    hints = {
        failure: failure_hint(target, failure, 2.5)
        for failure in (AUTH_FAILED, UNKNOWN_DATABASE, REFUSED, TIMED_OUT, UNKNOWN_HOST, OTHER_FAILURE)
    }
    assert len(set(hints.values())) == len(hints)
    assert hints[AUTH_FAILED] == "check the user and password in the URL (PORTABILITY_POSTGRESQL_URL or --url)"
    assert hints[REFUSED].startswith(
        "no server answers at db.local:6543: start one (e.g. `docker compose up -d --wait postgresql`"
    )
    assert hints[TIMED_OUT] == "db.local:6543 did not answer within 2 s: a firewall or a stopped VM?"
    assert "'db.local'" in hints[UNKNOWN_HOST]
    assert [failure for failure, hint in hints.items() if "docker" in hint] == [REFUSED]
    for hint in hints.values():
        assert_hidden(hint, AWKWARD)


def test_a_url_without_port_gets_the_vendor_default_in_hints():
    assert "127.0.0.1:3306" in failure_hint(target_at("mariadb", "mysql://root@127.0.0.1/x"), REFUSED, 3)
    assert "127.0.0.1:5432" in failure_hint(target_at("postgresql", "postgres://u@127.0.0.1/x"), TIMED_OUT, 3)


def test_unavailable_error_is_one_line_with_the_class_hint():
    server = ServerInfo(
        "postgresql",
        "postgresql",
        None,
        None,
        False,
        "FATAL: password authentication failed",
        AUTH_FAILED,
        "check the user and password in the URL (PORTABILITY_POSTGRESQL_URL or --url)",
    )
    error = BackendUnavailableError(
        target="postgresql",
        state=server.state,
        url="postgres://app:***@h/x",
        failure=server.failure,
        hint=server.hint,
        reason=server.reason,
    )
    assert str(error) == (
        "requested backend 'postgresql' cannot log in at postgres://app:***@h/x (authentication failed): "
        "check the user and password in the URL (PORTABILITY_POSTGRESQL_URL or --url); "
        "driver: FATAL: password authentication failed"
    )
    assert error.exit_code == 3


@pytest.mark.parametrize(
    "item",
    [f"postgres://app:{SIMPLE}@{HOST}:5432/x?sslmode=disable", f"postgres://app:{SIMPLE[:6]}={SIMPLE[6:]}@{HOST}/x"],
    ids=["query-string", "equals-in-password"],
)
def test_url_item_without_target_name_never_shows_the_password(item):
    from harness.config import resolve_targets
    from harness.errors import PortabilityError

    with pytest.raises(PortabilityError) as raised:
        resolve_targets({}, [item], ["postgresql"])
    assert_hidden(str(raised.value), SIMPLE)


# ---------------------------------------------------------------- which unusable targets are listed


def probe_run(tmp_path, monkeypatch, pyproject: str, backends: str | None = None, urls: tuple[str, ...] = ()):
    from harness.config import env_url_name, load_run_config
    from harness.runner import probe_targets
    from harness.vendors import known_targets

    for name in known_targets():
        monkeypatch.delenv(env_url_name(name), raising=False)
    (tmp_path / "pyproject.toml").write_text(f"[tool.portability]\nprobe_timeout = 1\n{pyproject}")
    config = load_run_config(
        project_dir=str(tmp_path),
        settings="settings",
        backends=backends,
        urls=list(urls),
        jobs=None,
        json_path=None,
        pytest_args=[],
    )
    ready, unavailable = probe_targets(config)
    return config, ready, unavailable


def test_a_default_target_nobody_configured_is_left_out_when_nothing_answers(tmp_path, monkeypatch):
    from tests.servers import free_port

    # mysql keeps its default URL (port 3307: nothing listens there on the test machines).
    port = free_port()
    config, ready, unavailable = probe_run(
        tmp_path,
        monkeypatch,
        'backends = ["sqlite", "postgresql", "mysql"]\n',
        urls=(f"postgresql=postgres://u@127.0.0.1:{port}/x",),
    )
    # Named in [tool.portability] backends: listed, each with its class's hint.
    assert [target.name for target in ready] == ["sqlite"]
    assert set(unavailable) == {"postgresql", "mysql"}
    assert unavailable["mysql"].reason.startswith("connection refused: no server answers at 127.0.0.1:3307")
    assert f"127.0.0.1:{port}" in unavailable["postgresql"].reason

    config, ready, unavailable = probe_run(tmp_path, monkeypatch, "")
    assert "mysql" not in unavailable
    assert "mysql" not in [target.name for target in config.targets]


@pytest.mark.parametrize(
    "value",
    [
        "host=db password=secret port=5432",
        f"password={SIMPLE}",
        "password = 'two words' and more",
        f"postgres://app:{AWKWARD}@{HOST}/db",
        f"dsn postgres://app:{SIMPLE}@{HOST}/db then text",
        f"the password is {AWKWARD}, really",
    ],
)
def test_a_results_line_stays_valid_json_with_every_password_hidden(tmp_path, value):
    """The results file is redacted as JSON: a mask never eats the quote or bracket that ends a value."""
    from harness.results import ResultsWriter

    path = tmp_path / "results.jsonl"
    writer = ResultsWriter(path, url_secrets(f"postgres://app:{AWKWARD}@{HOST}/db"))
    writer.write("query", flush=False, params=[value, "after"], sql=f"SELECT {json.dumps(value)}")
    writer.write("test", nodeid="t", message=value)
    writer.close()
    lines = path.read_text().splitlines()
    records = [json.loads(line) for line in lines]  # raises on a broken line
    assert [record["type"] for record in records] == ["query", "test"]
    assert records[0]["params"][1] == "after"
    text = path.read_text()
    for hidden in ("secret", SIMPLE, AWKWARD, "two words"):
        assert hidden not in text
        assert json.dumps(hidden)[1:-1] not in text


def test_a_results_line_with_nothing_to_hide_is_written_as_encoded(tmp_path):
    from harness.results import ResultsWriter

    path = tmp_path / "results.jsonl"
    writer = ResultsWriter(path)
    fields = {"sql": 'SELECT "auth_user"."password" FROM "auth_user"', "sample": [["a@b.example", 1.5, None]]}
    writer.write("query", **fields)
    writer.close()
    assert path.read_text() == json.dumps({"type": "query", **fields}) + "\n"
