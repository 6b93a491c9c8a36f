"""Why a Kafka client could not connect. aiokafka logs the reason of each failed connection (a
certificate that does not verify, refused SASL credentials) and then raises only "Unable to
bootstrap"; `explained` puts the logged reason into the one line a command prints."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["Failures", "explained"]


class Failures(logging.Handler):
    """Keeps the last warning or error the Kafka client logged.

    Attributes:
        last: its message, or "" when none was logged.
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.last = ""

    def emit(self, record: logging.LogRecord) -> None:
        self.last = " ".join(record.getMessage().split())

    def describe(self, exc: BaseException) -> str:
        """``exc`` and, when the client logged one, the reason behind it."""
        return f"{exc} (last error: {self.last})" if self.last and self.last not in str(exc) else str(exc)


@contextmanager
def explained() -> Iterator[Failures]:
    """Collect what aiokafka logs while the block runs (its logging is not changed otherwise)."""
    logger = logging.getLogger("aiokafka")
    failures = Failures()
    logger.addHandler(failures)
    try:
        yield failures
    finally:
        logger.removeHandler(failures)
