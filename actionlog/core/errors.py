"""Exceptions of actionlog. Everything we raise on purpose derives from ActionlogError."""

from __future__ import annotations


class ActionlogError(Exception):
    """Root of every error actionlog raises on purpose."""


class ConfigError(ActionlogError):
    """A setting (environment variable) has an unusable value."""


class BadParameter(ActionlogError):
    """A report/export parameter given by a user is invalid.

    Attributes:
        param: the parameter's name as the user spells it (``from``, ``source``, ...).
        why: one human sentence saying what is wrong.
    """

    def __init__(self, param: str, why: str) -> None:
        super().__init__(f"invalid --{param}: {why}")
        self.param = param
        self.why = why


class StoreError(ActionlogError):
    """ClickHouse failed or cannot be reached.

    Attributes:
        code: the server's numeric error code when it gave one, else None.
    """

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class StoreUnavailable(StoreError):
    """The store cannot be reached at all (connection refused, data dir held by another process)."""


class QueryLimitExceeded(StoreError):
    """A report query hit one of its limits (time or memory, ``ACTIONLOG_CLICKHOUSE_QUERY_MAX_*``)."""


class BrokerUnavailable(ActionlogError):
    """Kafka cannot be reached."""


class ExportLocked(ActionlogError):
    """Another run of the same export job holds the job's lock."""


class Unauthorized(ActionlogError):
    """No valid credential: a token or session that is missing, unknown, revoked or expired."""


class Forbidden(ActionlogError):
    """A valid caller asked for something outside its scope (a panorama that is not its own)."""


class Conflict(ActionlogError):
    """The request contradicts the current state (a token name already in use)."""
