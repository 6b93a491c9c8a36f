"""Dead-letter headers: what is added, what replay strips, what can be read back."""

from __future__ import annotations

import pytest

from actionlog.core.dead_letters import (
    MAX_DETAIL_BYTES,
    DeadLetterInfo,
    dead_letter_headers,
    original_headers,
    parse_dead_letter,
    replay_count,
)
from actionlog.core.record import Rejection

REJECTION = Rejection("invalid_field", "field 'learner.email' is not an email address")
OURS = [
    "actionlog.error.reason",
    "actionlog.error.detail",
    "actionlog.source.topic",
    "actionlog.source.partition",
    "actionlog.source.offset",
]


def headers_for(original: list[tuple[str, bytes]] | None, rejection: Rejection = REJECTION) -> list:
    return dead_letter_headers(original, rejection, topic="lms.enrollments", partition=3, offset=1234567890123)


def test_original_headers_first_unchanged_then_ours() -> None:
    original = [("trace-id", b"\x00\xffbinary"), ("b", b""), ("trace-id", b"second")]
    headers = headers_for(original)
    assert headers[:3] == original
    assert headers[3:] == [
        ("actionlog.error.reason", b"invalid_field"),
        ("actionlog.error.detail", b"field 'learner.email' is not an email address"),
        ("actionlog.source.topic", b"lms.enrollments"),
        ("actionlog.source.partition", b"3"),
        ("actionlog.source.offset", b"1234567890123"),
    ]
    assert original == [("trace-id", b"\x00\xffbinary"), ("b", b""), ("trace-id", b"second")]


@pytest.mark.parametrize("original", [None, []])
def test_no_original_headers(original: list | None) -> None:
    assert [k for k, _ in headers_for(original)] == OURS


def test_mapping_headers_are_accepted() -> None:
    headers = dead_letter_headers({"a": b"1"}, REJECTION, topic="t", partition=0, offset=0)
    assert headers[0] == ("a", b"1")
    assert [k for k, _ in headers[1:]] == OURS


def test_detail_is_cut_to_valid_utf8() -> None:
    detail = "é" * 5000 + "🎓"  # 2 bytes each: the cut falls inside a character half the time
    for extra in ("", "x"):
        headers = dict(headers_for(None, Rejection("invalid_field", extra + detail)))
        value = headers["actionlog.error.detail"]
        assert MAX_DETAIL_BYTES - 3 <= len(value) <= MAX_DETAIL_BYTES
        text = value.decode("utf-8")  # raises if the cut split a character
        assert (extra + detail).startswith(text)


def test_detail_with_lone_surrogate_still_encodes() -> None:
    headers = dict(headers_for(None, Rejection("invalid_field", "bad \ud800 text")))
    assert headers["actionlog.error.detail"].decode("utf-8").startswith("bad ")


def test_refused_again_after_replay_keeps_one_set_of_ours() -> None:
    first = headers_for([("app", b"x"), ("actionlog.replay.count", b"1")])
    again = dead_letter_headers(first, Rejection("unknown_source", "source 'z'"), topic="t2", partition=1, offset=7)
    names = [k for k, _ in again]
    assert names == ["app", "actionlog.replay.count", *OURS]
    assert parse_dead_letter(again) == DeadLetterInfo("unknown_source", "source 'z'", "t2", 1, 7)


def test_original_headers_strips_ours_only_and_keeps_order() -> None:
    headers = [
        ("z", b"1"),
        ("actionlog.error.reason", b"x"),
        ("actionlog.replay.count", b"2"),
        ("actionlog.source.topic", b"t"),
        ("actionlog.errors", b"not ours: no dot after error"),
        ("a", b"2"),
        ("actionlog.error.future-header", b"also ours"),
    ]
    assert original_headers(headers) == [
        ("z", b"1"),
        ("actionlog.replay.count", b"2"),
        ("actionlog.errors", b"not ours: no dot after error"),
        ("a", b"2"),
    ]
    assert original_headers(None) == []
    assert original_headers(iter(headers)) == original_headers(headers)


def test_strip_after_add_gives_back_the_original() -> None:
    original = [("k", b"v"), ("k2", b"v2")]
    assert original_headers(headers_for(original)) == original


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (None, 0),
        ([], 0),
        ([("other", b"5")], 0),
        ([("actionlog.replay.count", b"3")], 3),
        ([("actionlog.replay.count", b" 12 ")], 12),
        ([("actionlog.replay.count", b"1"), ("actionlog.replay.count", b"4")], 4),
        ([("actionlog.replay.count", b"-2")], 0),
        ([("actionlog.replay.count", b"three")], 0),
        ([("actionlog.replay.count", b"1.5")], 0),
        ([("actionlog.replay.count", b"\xff")], 0),
        ([("actionlog.replay.count", b"")], 0),
        ({"actionlog.replay.count": b"7"}, 7),
    ],
)
def test_replay_count(headers: list | dict | None, expected: int) -> None:
    assert replay_count(headers) == expected


def test_parse_round_trip() -> None:
    headers = headers_for([("app", b"x")])
    assert parse_dead_letter(headers) == DeadLetterInfo(
        reason="invalid_field",
        detail="field 'learner.email' is not an email address",
        source_topic="lms.enrollments",
        source_partition=3,
        source_offset=1234567890123,
    )
    assert parse_dead_letter(iter(headers)) == parse_dead_letter(headers)


def test_parse_tolerates_missing_and_garbled_headers() -> None:
    assert parse_dead_letter(None) == DeadLetterInfo(None, None, None, None, None)
    info = parse_dead_letter(
        [
            ("actionlog.error.reason", b"missing_field"),
            ("actionlog.error.detail", b"bad \xff bytes"),
            ("actionlog.source.partition", b"x1"),
            ("actionlog.source.offset", b"--5"),
        ]
    )
    assert info.reason == "missing_field"
    assert info.detail == "bad \ufffd bytes"
    assert info.source_topic is None
    assert info.source_partition is None
    assert info.source_offset is None
