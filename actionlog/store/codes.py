"""What a ClickHouse error means for the rows of an insert: wait and retry, or look for a row the
store refuses (docs/guarantees.md, "Sink").

The sink retries, for ever, what heals by itself: the store out of reach or slow, too many parts,
memory, disk, a table being repaired, credentials being fixed. It splits the block when the error
is about the block, not the store: a row the store refuses, or too many partitions in one block.
An error it does not know is retried a few times (`UNKNOWN_RETRIES`), then treated as a refusal,
so that no unknown error can stop landing for ever (a wrong guess only sets rows aside, from
where ``actionlog set-aside replay`` brings them back).
"""

from __future__ import annotations

from enum import Enum

from actionlog.core.errors import StoreError, StoreUnavailable
from actionlog.core.seams import InjectedFault

__all__ = ["LIMIT_CODES", "UNKNOWN_RETRIES", "Verdict", "classify", "too_many_partitions"]


class Verdict(Enum):
    RETRY = "retry"
    """The store, not the rows: try the same block again after a pause."""
    SPLIT = "split"
    """The rows, or their number: land what can be landed in smaller blocks."""
    UNKNOWN = "unknown"
    """Not known either way: retried `UNKNOWN_RETRIES` times, then split."""


#: Attempts of a block that fails with an error of unknown meaning before it is split.
UNKNOWN_RETRIES = 5

#: Errors that heal: network, timeouts, load, parts, memory, disk, replicas, a missing or
#: read-only table, credentials.
_TRANSIENT = frozenset(
    {
        3,  # UNEXPECTED_END_OF_FILE (connection cut)
        23,  # CANNOT_READ_FROM_ISTREAM
        24,  # CANNOT_WRITE_TO_OSTREAM
        60,  # UNKNOWN_TABLE (dropped: the operator re-creates it)
        81,  # UNKNOWN_DATABASE
        159,  # TIMEOUT_EXCEEDED
        160,  # TOO_SLOW
        164,  # READONLY
        173,  # CANNOT_ALLOCATE_MEMORY
        192,  # UNKNOWN_USER
        194,  # REQUIRED_PASSWORD
        202,  # TOO_MANY_SIMULTANEOUS_QUERIES
        203,  # NO_FREE_CONNECTION
        209,  # SOCKET_TIMEOUT
        210,  # NETWORK_ERROR
        236,  # ABORTED
        241,  # MEMORY_LIMIT_EXCEEDED
        242,  # TABLE_IS_READ_ONLY
        243,  # NOT_ENOUGH_SPACE
        252,  # TOO_MANY_PARTS (but see _TOO_MANY_PARTITIONS)
        279,  # ALL_CONNECTION_TRIES_FAILED
        285,  # TOO_FEW_LIVE_REPLICAS
        319,  # UNKNOWN_STATUS_OF_INSERT
        394,  # QUERY_WAS_CANCELLED
        425,  # SYSTEM_ERROR
        439,  # CANNOT_SCHEDULE_TASK
        497,  # ACCESS_DENIED
        516,  # AUTHENTICATION_FAILED
        999,  # KEEPER_EXCEPTION
        1000,  # POCO_EXCEPTION (network)
    }
)
#: Errors about the rows themselves: the store will never take them as they are.
_REFUSED = frozenset(
    {
        6,  # CANNOT_PARSE_TEXT
        26,  # CANNOT_PARSE_QUOTED_STRING
        27,  # CANNOT_PARSE_INPUT_ASSERTION_FAILED
        32,  # ATTEMPT_TO_READ_AFTER_EOF
        33,  # CANNOT_READ_ALL_DATA
        38,  # CANNOT_PARSE_DATE
        41,  # CANNOT_PARSE_DATETIME
        53,  # TYPE_MISMATCH
        69,  # ARGUMENT_OUT_OF_BOUND
        70,  # CANNOT_CONVERT_TYPE
        72,  # CANNOT_PARSE_NUMBER
        117,  # INCORRECT_DATA
        128,  # TOO_LARGE_ARRAY_SIZE
        131,  # TOO_LARGE_STRING_SIZE
        153,  # ILLEGAL_DIVISION
        321,  # VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
        349,  # CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN
        395,  # FUNCTION_THROW_IF_VALUE_IS_NON_ZERO
        407,  # DECIMAL_OVERFLOW
        469,  # VIOLATED_CONSTRAINT
    }
)
_STD_EXCEPTION = 1001
_TOO_MANY_PARTITIONS = "partitions for single insert block"

#: Codes of a query that hit its time or memory limit (a report too big for its limits).
LIMIT_CODES = frozenset({159, 160, 241, 396})  # ..., TOO_MANY_ROWS_OR_BYTES


def too_many_partitions(exc: BaseException) -> bool:
    """The store refused a block for the number of table partitions it touches (not its rows)."""
    return isinstance(exc, StoreError) and exc.code == 252 and _TOO_MANY_PARTITIONS in str(exc).lower()


def classify(exc: BaseException) -> Verdict:
    """What to do about an insert that raised ``exc``."""
    if isinstance(exc, TimeoutError | OSError | StoreUnavailable | InjectedFault):
        return Verdict.RETRY
    if not isinstance(exc, StoreError):
        return Verdict.UNKNOWN
    code = exc.code
    text = str(exc).lower()
    if too_many_partitions(exc):
        return Verdict.SPLIT
    if code in _REFUSED or (code == _STD_EXCEPTION and "avro::" in text):
        return Verdict.SPLIT
    if code in _TRANSIENT:
        return Verdict.RETRY
    return Verdict.UNKNOWN
