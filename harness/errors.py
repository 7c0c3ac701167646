"""One error family; each subclass says what went wrong and what to do next."""

from __future__ import annotations

# Exit codes of the `portability` command (part of its public contract).
EXIT_SAME = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_BACKEND_UNAVAILABLE = 3
# As pytest's ExitCode.NO_TESTS_COLLECTED.
EXIT_NO_TESTS = 5
EXIT_INTERRUPTED = 130


class PortabilityError(Exception):
    """Base error: rendered as one line, mapped to an exit code."""

    message_template = "{detail}"
    exit_code = EXIT_USAGE

    def __init__(self, **fields: object) -> None:
        self.fields = fields
        super().__init__(self.message_template.format(**fields))


class ConfigError(PortabilityError):
    message_template = "{detail}"


class UnknownTargetError(PortabilityError):
    message_template = "unknown target {name!r}: choose from {known}"


class MalformedUrlError(PortabilityError):
    message_template = "malformed URL for target {target!r} ({url}): {reason}"


class DriverMissingError(PortabilityError):
    message_template = "the {driver} driver for target {target!r} is not installed: run `pip install {package}`"


class SettingsError(PortabilityError):
    message_template = "{detail}"


class BackendUnavailableError(PortabilityError):
    # state: "is not reachable", "cannot log in", ...; failure: its class; hint: what to do; reason: the driver's words.
    message_template = "requested backend {target!r} {state} at {url} ({failure}): {hint}; driver: {reason}"
    exit_code = EXIT_BACKEND_UNAVAILABLE


class EmbeddedServerError(PortabilityError):
    message_template = "{detail}"
    exit_code = EXIT_BACKEND_UNAVAILABLE


class ResultsError(PortabilityError):
    message_template = "cannot read results file {path}: {reason}"
