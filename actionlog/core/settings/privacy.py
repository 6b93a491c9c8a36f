"""Privacy: the erasure key and how long data is kept (``ACTIONLOG_ERASURE_KEY``,
``ACTIONLOG_RETENTION_DAYS``); see docs/privacy.md."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from actionlog.core import env as e
from actionlog.core.errors import ConfigError
from actionlog.core.secret import Secret

__all__ = ["ERASURE_KEY", "RETENTION_DAYS", "PrivacySettings", "retention_days"]

ERASURE_KEY = "ACTIONLOG_ERASURE_KEY"
RETENTION_DAYS = "ACTIONLOG_RETENTION_DAYS"
_MAX_DAYS = 36_500


def retention_days(env: Mapping[str, str]) -> int | None:
    """``ACTIONLOG_RETENTION_DAYS``: whole days (1 to 36500), or None when unset (keep everything)."""
    if not env.get(RETENTION_DAYS, "").strip():
        return None
    return e.integer(env, RETENTION_DAYS, 0, minimum=1, maximum=_MAX_DAYS)


@dataclass(frozen=True)
class PrivacySettings:
    """Erasure and retention.

    Attributes:
        erasure_key: the HMAC key of the suppression list (keyed hashes of erased learner ids and
            emails). Kept outside the store on purpose: a copy of the database alone does not say
            who was erased. None: erasing is refused (and so is landing while the list is not empty).
        retention_days: rows whose ``occurred_at`` is older are removed by the table's TTL, and the
            topics the project creates keep records this long; None keeps everything.
    """

    erasure_key: Secret | None = None
    retention_days: int | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> PrivacySettings:
        key = e.secret(env, ERASURE_KEY)
        if key is not None and len(key.reveal()) < 16:
            raise ConfigError(f"{ERASURE_KEY} must be at least 16 characters long")
        return cls(erasure_key=key, retention_days=retention_days(env))

    def key_bytes(self) -> bytes:
        """The erasure key, for HMAC only.

        Raises:
            ConfigError: the key is not set.
        """
        if self.erasure_key is None:
            raise ConfigError(f"{ERASURE_KEY} is not set (the key of the suppression list; see docs/privacy.md)")
        return self.erasure_key.reveal().encode()
