"""The error taxonomy. Domain code raises these; the bus maps them to ack / nack / dead letter in one place.

- :class:`RetryableError`: the work may succeed later (database down, NATS timeout): nack with a delay.
- :class:`PermanentError`: the message can never succeed (bad JSON, unknown trigger): dead-letter it
  with a machine-readable ``reason`` and terminate.
"""

from __future__ import annotations

from collections.abc import Sequence


class AttuneError(Exception):
    """Base of every error this project raises on purpose."""


class ConfigError(AttuneError):
    """Bad configuration; the message is one line naming the setting. Entry points exit with code 2."""


class ServerSetupError(ConfigError):
    """A server Attune needs is unreachable or set up in a way Attune cannot use (a wrong password,
    NATS without JetStream, TimescaleDB not preloaded or too old, a role without privileges…).
    The message is one line naming the cause and the fix; entry points exit with code 2."""


class RetryableError(AttuneError):
    """A transient failure: retry after ``delay`` seconds (``None`` = the consumer's backoff)."""

    def __init__(self, message: str, *, delay: float | None = None) -> None:
        super().__init__(message)
        self.delay = delay


class PermanentError(AttuneError):
    """Input that can never be processed. ``reason`` is a short token used in ``<p>.dlq.<reason>``."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class DatabaseUnavailableError(RetryableError):
    """PostgreSQL cannot be reached (the message names host, port and database, never the password)."""


class DatabaseUnreachableError(DatabaseUnavailableError, ServerSetupError):
    """PostgreSQL stayed unreachable for the whole wait at start: a setup problem, not an outage."""


class MigrationError(AttuneError):
    """A migration cannot be applied, or an applied one was changed."""


class SchemaMismatchError(AttuneError):
    """A repository's columns do not match its table, or the database is not migrated."""


class TimescaleRequiredError(ServerSetupError):
    """``timescale.required`` is set but TimescaleDB cannot be used (missing, not preloaded, too old)."""


class DefinitionError(AttuneError):
    """An invalid definition (a rule, an action's parameters schema, …). ``errors`` lists every
    ``(field, message)`` (field ``(root)`` for the whole document); ``source`` names the file it
    came from, if any. ``str()`` is one ``source:field: message`` line per error."""

    def __init__(self, errors: Sequence[tuple[str, str]], *, source: str | None = None) -> None:
        self.errors = list(errors)
        self.source = source
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        prefix = f"{self.source}:" if self.source else ""
        return [f"{prefix}{field}: {message}" for field, message in self.errors]


class TemplateRenderError(PermanentError):
    """A template (an action parameter of a rule) failed to render; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__("template_error", f"{field}: {message}")
        self.field = field
        self.message = message


class ParameterError(PermanentError):
    """Parameters do not satisfy an action's schema. ``field`` and ``message`` describe the first
    problem (``field`` is a path like ``hosts[0].name``, ``(root)`` for the object as a whole);
    ``errors`` lists every ``(field, message)``."""

    def __init__(self, errors: Sequence[tuple[str, str]]) -> None:
        self.errors = list(errors)
        self.field, self.message = self.errors[0]
        super().__init__("invalid_parameters", "; ".join(f"{f}: {m}" for f, m in self.errors))
