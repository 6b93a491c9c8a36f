"""Which ClickHouse errors the sink retries and which make it cut the block (and, for a single
row, set it aside)."""

from __future__ import annotations

import pytest

from actionlog.core.errors import QueryLimitExceeded, StoreError, StoreUnavailable
from actionlog.core.seams import InjectedFault
from actionlog.store.clickhouse import store_error
from actionlog.store.codes import Verdict, classify, too_many_partitions


class DriverError(Exception):
    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


@pytest.mark.parametrize(
    ("error", "verdict"),
    [
        (TimeoutError(), Verdict.RETRY),  # a hung insert, abandoned
        (ConnectionRefusedError(), Verdict.RETRY),
        (StoreUnavailable("ClickHouse unreachable"), Verdict.RETRY),
        (InjectedFault("injected: insert failed"), Verdict.RETRY),
        (StoreError("Code: 252. Too many parts (300). Merges are processing significantly slower", 252), Verdict.RETRY),
        (StoreError("Code: 241. Memory limit (total) exceeded", 241), Verdict.RETRY),
        (StoreError("Code: 209. Timeout exceeded while reading from socket", 209), Verdict.RETRY),
        (StoreError("Code: 243. Cannot reserve 1.00 MiB, not enough space", 243), Verdict.RETRY),
        (StoreError("Code: 516. Authentication failed", 516), Verdict.RETRY),
        (StoreError("Code: 252. Too many partitions for single INSERT block (more than 100)", 252), Verdict.SPLIT),
        (StoreError("Code: 469. Constraint `c` is violated at row 3", 469), Verdict.SPLIT),
        (StoreError("Code: 117. Incorrect data", 117), Verdict.SPLIT),
        (StoreError("Code: 1001. std::exception. type: avro::Exception, Invalid Avro varint", 1001), Verdict.SPLIT),
        (StoreError("Code: 1001. std::exception. type: std::bad_alloc", 1001), Verdict.UNKNOWN),
        (StoreError("something new", None), Verdict.UNKNOWN),
        (RuntimeError("a driver bug"), Verdict.UNKNOWN),
    ],
)
def test_classify(error: BaseException, verdict: Verdict) -> None:
    assert classify(error) is verdict


def test_too_many_partitions_is_about_the_block_not_too_many_parts() -> None:
    assert too_many_partitions(StoreError("Code: 252. Too many partitions for single INSERT block", 252))
    assert not too_many_partitions(StoreError("Code: 252. Too many parts (300)", 252))


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Code: 159. DB::Exception: Timeout exceeded: elapsed 3089 ms, maximum: 2000 ms. (TIMEOUT_EXCEEDED)", 159),
        ("Code: 241. DB::Exception: Query memory limit exceeded: would use 12.19 MiB (MEMORY_LIMIT_EXCEEDED)", 241),
    ],
)
def test_a_query_over_its_limits_is_its_own_error_naming_the_settings(text: str, code: int) -> None:
    error = store_error(DriverError(text, code))
    assert isinstance(error, QueryLimitExceeded) and error.code == code
    assert "ACTIONLOG_CLICKHOUSE_QUERY_MAX_SECONDS" in str(error)
    assert classify(error) is Verdict.RETRY  # an insert over a limit heals
