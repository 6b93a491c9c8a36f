"""Keyed hashes of learners (pure): the suppression list never holds an id or an email.

A learner key is hashed with HMAC-SHA256 under ``ACTIONLOG_ERASURE_KEY``, with a kind prefix so an
id never meets an email: ``l:`` + the learner id as given, ``e:`` + the email trimmed and
lower-cased (as the normalizer stores it). Without the key, the hashes cannot be tested against a
list of known emails (a plain hash could).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass

import orjson

__all__ = [
    "Suppressed",
    "email_hash",
    "id_hash",
    "key_check",
    "learner_hashes",
    "learner_of_upstream",
    "looks_like_email",
    "scrub",
]


def _mac(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def id_hash(key: bytes, learner_id: str) -> str:
    """The keyed hash of a learner id."""
    return _mac(key, "l:" + learner_id)


def email_hash(key: bytes, email: str) -> str:
    """The keyed hash of an email (trimmed and lower-cased first)."""
    return _mac(key, "e:" + email.strip().lower())


def key_check(key: bytes) -> str:
    """A keyed hash of a fixed text, kept in the suppression list: a process holding another key
    finds it missing and refuses to run, instead of testing learners against hashes it can never
    match."""
    return _mac(key, "k:actionlog-erasure-key-check")


def learner_hashes(key: bytes, ids: Iterable[str], emails: Iterable[str]) -> list[str]:
    """Hashes of every id and email of a learner, ids first, each once, in a stable order."""
    out = [id_hash(key, i) for i in sorted(set(ids))] + [email_hash(key, m) for m in sorted(set(emails))]
    return list(dict.fromkeys(out))


def looks_like_email(key: str) -> bool:
    """Whether an ``--learner`` key is an email rather than an id (ids never hold ``@``)."""
    return "@" in key


@dataclass(frozen=True)
class Suppressed:
    """The suppression list as a process holds it: the keyed hashes, and how to test a learner.

    Attributes:
        key: the HMAC key.
        hashes: keyed hashes of every erased id and email.
    """

    key: bytes
    hashes: frozenset[str]

    def __bool__(self) -> bool:
        return bool(self.hashes)

    def erased(self, learner_id: str, email: str) -> bool:
        """Whether a row of this learner id or email must not land (or be re-driven)."""
        if not self.hashes:
            return False
        if learner_id and id_hash(self.key, learner_id) in self.hashes:
            return True
        return bool(email) and email_hash(self.key, email) in self.hashes


def learner_of_upstream(raw: bytes | None) -> tuple[str, str]:
    """(learner id, email) of a raw upstream event, as far as it can be read (``""`` when not).

    Dead letters are raw bytes that may not even be JSON; what cannot be read cannot be tested,
    and the sink's own check still stands behind the normalizer.
    """
    try:
        event = orjson.loads(raw or b"")
    except orjson.JSONDecodeError:
        return "", ""
    learner = event.get("learner") if isinstance(event, dict) else None
    if not isinstance(learner, dict):
        return "", ""
    lid, email = learner.get("id"), learner.get("email")
    return (lid if isinstance(lid, str) else ""), (email if isinstance(email, str) else "")


_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_EMAIL = re.compile(r"[^\s'\"<>(),;:]+@[^\s'\"<>(),;:]+")
_COLUMN_VALUES = re.compile(r"Column values:.*", re.DOTALL)
REDACTED = "[redacted]"


def scrub(text: str) -> str:
    """A message of the store or of a library, fit for a log line: the values a row carried (quoted
    literals, ClickHouse's ``Column values: ...``, anything shaped like an email) replaced."""
    text = _COLUMN_VALUES.sub("Column values: " + REDACTED, text)
    text = _QUOTED.sub(REDACTED, text)
    return _EMAIL.sub(REDACTED, text)
