"""Keeping erased learners out of the table, where rows land (docs/privacy.md).

Before a batch lands, its rows of erased learners are dropped (their offsets still commit: they
are not lost, they are refused on purpose). Only while the suppression list is not empty are the
bodies read (their learner id and email, `actionlog.core.avro.learner_of`), so the fast path stays
as it is for a store that never erased anyone.

The race with an erasure: the list is re-read AFTER each insert was acknowledged. An erasure
writes its hashes before it deletes; so a batch filtered with the old list and landed meanwhile
is either older than the erasure's delete (which removes it) or sees the new list here, and the
sink deletes the rows of the newly erased learners it just landed.
"""

from __future__ import annotations

import logging

from actionlog.core.avro import AvroCodec, learner_of
from actionlog.core.metrics import Metrics
from actionlog.core.privacy import Suppressed, email_hash, id_hash
from actionlog.core.settings import Settings
from actionlog.sink.batch import Batch
from actionlog.store.clickhouse import ClickHouseStore
from actionlog.store.erasure import (
    Learner,
    delete_learner,
    ensure_privacy_schema,
    load_suppressions,
    suppression_version,
)

__all__ = ["SinkSuppression"]

log = logging.getLogger(__name__)

_MAX_VERDICTS = 200_000
"""Learners whose verdict the sink remembers (cleared when full, and whenever the list changes)."""


class SinkSuppression:
    """The sink's copy of the suppression list, and the two checks around an insert.

    Args:
        settings: process settings (database, table, the erasure key).
        store: the sink's own store client (blocking; call from a thread).
        codec: the log's codec (its layout is what `learner_of` reads).
        metrics: ``actionlog_sink_suppressed`` counts the rows kept out.
    """

    def __init__(self, settings: Settings, store: ClickHouseStore, codec: AvroCodec, metrics: Metrics) -> None:
        self.database = settings.clickhouse.database
        self.table = settings.clickhouse.table
        key = settings.privacy.erasure_key
        self.key = key.reveal().encode() if key is not None else None
        self.store = store
        self.codec = codec
        self.metrics = metrics
        self.version = -1
        self.suppressed = Suppressed(b"", frozenset())
        self._verdicts: dict[tuple[str, str], bool] = {}

    def refresh(self) -> bool:
        """Re-read the list if it changed; whether it did.

        Raises:
            ConfigError: the list is not empty and ``ACTIONLOG_ERASURE_KEY`` is not set.
        """
        if self.version < 0:
            ensure_privacy_schema(self.store, self.database)
        elif suppression_version(self.store, self.database) == self.version:
            return False
        self.version, self.suppressed = load_suppressions(self.store, self.database, self.key)
        self._verdicts.clear()
        return True

    def _erased(self, body: bytes) -> bool:
        learner = learner_of(body)
        if learner is None:
            return False
        verdict = self._verdicts.get(learner)
        if verdict is None:  # learners recur: each is hashed once per list
            if len(self._verdicts) >= _MAX_VERDICTS:
                self._verdicts.clear()
            verdict = self._verdicts[learner] = self.suppressed.erased(*learner)
        return verdict

    def filter(self, batch: Batch) -> int:
        """Drop the batch's rows of erased learners (before it lands); how many went."""
        if not self.suppressed:
            return 0
        gone = batch.drop(self._erased)
        if gone:
            self.metrics.sink_suppressed.inc(gone)
            log.info("kept %d rows of erased learners out of the table", gone)
        return gone

    def after_landing(self, batch: Batch) -> int:
        """After an insert: if the list changed meanwhile, delete the rows just landed of the
        learners it now holds; how many rows of theirs the table held. The batch's rows are only
        looked at when the list changed."""
        if not self.refresh() or not self.suppressed:
            return 0
        bodies = batch.rows()
        key, hashes = self.suppressed.key, self.suppressed.hashes
        # Each learner of the batch once (learners recur); None is not ours to judge.
        learners = {learner for learner in map(learner_of, bodies) if learner is not None}
        ids = {i for i, _ in learners if i and id_hash(key, i) in hashes}
        emails = {e for _, e in learners if e and email_hash(key, e) in hashes}
        if not ids and not emails:
            return 0
        counts = delete_learner(
            self.store, self.database, self.table, Learner(tuple(sorted(ids)), tuple(sorted(emails)))
        )
        gone = counts.get(self.table, 0)
        self.metrics.sink_suppressed.inc(gone)
        log.warning("removed %d rows of learners erased while their batch was landing", gone)
        return gone
