"""Unit tests of query.output: framing ClickHouse chunks into report bodies."""

from __future__ import annotations

import csv
import io
import itertools
import json
import random
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actionlog.query.filters import ReportFilters, parse_report_params
from actionlog.query.framing import CSV_HEADER, Framer, RowCounter, content_type, download_filename

KEYS = ("email", "panorama_name", "content_type", "content_title", "type", "source", "timestamp")
ROWS = [
    ("=a@b.c", "Acme Academy", "course", 'Intro to "Safety", Part 1', "enrollment", "sso", "2026-11-03T13:05:06.123Z"),
    (
        "b@b.c",
        "",
        "video",
        'multi\nline\r\ntitle, with "quotes"',
        "status_change",
        "course_started",
        "2026-11-03T13:05:06.000Z",
    ),
    ("c@b.c", "Été 漢字 🙂", "webinar", "", "revoked_access", "course_deletion", "2026-11-02T00:00:00.999Z"),
    ("d@b.c", '"', "x", '"', "certificate_grant", "public", "2026-11-01T23:59:59.001Z"),
]


def clickhouse_csv(rows: list[tuple[str, ...]]) -> bytes:
    """What ClickHouse's CSV output looks like: every value quoted, CRLF row ends."""
    lines = (",".join('"' + v.replace('"', '""') + '"' for v in row) + "\r\n" for row in rows)
    return "".join(lines).encode()


def clickhouse_jsoneachrow(rows: list[tuple[str, ...]]) -> bytes:
    lines = (json.dumps(dict(zip(KEYS, row, strict=True)), ensure_ascii=False) + "\n" for row in rows)
    return "".join(lines).encode()


RAW = {"csv": clickhouse_csv, "json": clickhouse_jsoneachrow, "ndjson": clickhouse_jsoneachrow}


def frame(fmt: str, chunks: list[bytes]) -> tuple[bytes, int]:
    framer = Framer(fmt)
    parts = [framer.start()]
    parts += [framer.feed(chunk) for chunk in chunks]
    parts.append(framer.finish())
    return b"".join(parts), framer.rows


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


# ---------------------------------------------------------------- bodies


def test_csv_body_is_header_then_rows() -> None:
    body, rows = frame("csv", [clickhouse_csv(ROWS)])
    assert body.startswith(CSV_HEADER)
    assert CSV_HEADER == b"Email,Panorama Name,Content Type,Content Title,Type,Source,Timestamp\r\n"
    parsed = list(csv.reader(io.StringIO(body.decode(), newline="")))
    assert parsed[0] == ["Email", "Panorama Name", "Content Type", "Content Title", "Type", "Source", "Timestamp"]
    assert [tuple(r) for r in parsed[1:]] == ROWS
    assert rows == len(ROWS)


def test_json_body_is_one_array() -> None:
    body, rows = frame("json", [clickhouse_jsoneachrow(ROWS)])
    assert body.startswith(b"[\n{") and body.endswith(b"}\n]\n")
    assert body.count(b"},\n{") == len(ROWS) - 1
    assert json.loads(body) == [dict(zip(KEYS, row, strict=True)) for row in ROWS]
    assert rows == len(ROWS)


def test_json_single_row() -> None:
    body, _ = frame("json", [clickhouse_jsoneachrow(ROWS[:1])])
    assert body == b"[\n" + clickhouse_jsoneachrow(ROWS[:1])[:-1] + b"\n]\n"


def test_ndjson_body_is_unchanged() -> None:
    raw = clickhouse_jsoneachrow(ROWS)
    body, rows = frame("ndjson", [raw])
    assert body == raw
    assert [json.loads(line) for line in body.splitlines()] == [dict(zip(KEYS, r, strict=True)) for r in ROWS]
    assert rows == len(ROWS)


@pytest.mark.parametrize(("fmt", "want"), [("csv", CSV_HEADER), ("json", b"[]\n"), ("ndjson", b"")])
@pytest.mark.parametrize("chunks", [[], [b""], [b"", b""]])
def test_empty_result(fmt: str, want: bytes, chunks: list[bytes]) -> None:
    body, rows = frame(fmt, chunks)
    assert body == want
    assert rows == 0
    if fmt == "json":
        assert json.loads(body) == []


@pytest.mark.parametrize("fmt", ["csv", "json", "ndjson"])
@pytest.mark.parametrize("seed", range(25))
def test_random_split_points_give_the_same_body(fmt: str, seed: int) -> None:
    rng = random.Random(seed)
    rows = [rng.choice(ROWS) for _ in range(rng.randint(1, 60))]
    raw = RAW[fmt](rows)
    whole = frame(fmt, [raw])
    cuts = [rng.randrange(len(raw) + 1) for _ in range(rng.randint(0, 40))]
    assert frame(fmt, split(raw, cuts)) == whole
    assert frame(fmt, [raw[i : i + 1] for i in range(len(raw))]) == whole  # byte by byte
    assert whole[1] == len(rows)


row_text = st.text(alphabet=st.sampled_from('ab,"\n\r é🙂='), max_size=12)


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(st.tuples(*[row_text] * 7), max_size=12),
    fmt=st.sampled_from(["csv", "json", "ndjson"]),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=20),
)
def test_any_split_any_content(rows: list[tuple[str, ...]], fmt: str, cuts: list[int]) -> None:
    raw = RAW[fmt](rows)
    body, counted = frame(fmt, split(raw, cuts))
    assert (body, counted) == frame(fmt, [raw])
    assert counted == len(rows)
    if fmt == "json":
        assert json.loads(body) == [dict(zip(KEYS, row, strict=True)) for row in rows]
    elif fmt == "csv":
        parsed = list(csv.reader(io.StringIO(body.decode(), newline="")))
        assert [tuple(r) for r in parsed[1:]] == rows


def test_row_counter_alone_and_counting_off() -> None:
    raw = clickhouse_csv(ROWS)
    counter = RowCounter("csv")
    assert sum(counter.feed(c) for c in split(raw, [5, 17, 60, 61, 200])) == len(ROWS) == counter.rows
    framer = Framer("csv", count_rows=False)
    framer.feed(raw)
    assert framer.rows == 0


def test_feed_after_finish_is_an_error() -> None:
    framer = Framer("json")
    framer.finish()
    with pytest.raises(RuntimeError):
        framer.feed(b"{}\n")


def test_unknown_format() -> None:
    with pytest.raises(ValueError):
        Framer("xml")


# ---------------------------------------------------------------- headers


@pytest.mark.parametrize(
    ("fmt", "want"),
    [("csv", "text/csv; charset=utf-8"), ("json", "application/json"), ("ndjson", "application/x-ndjson")],
)
def test_content_type(fmt: str, want: str) -> None:
    assert content_type(fmt) == want


NOW = datetime(2026, 11, 28, 15, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("params", "want"),
    [
        ({}, "content-actions-log_2026-10-29_2026-11-28.csv"),
        ({"format": ["json"]}, "content-actions-log_2026-10-29_2026-11-28.json"),
        (
            {"from": ["2026-11-03"], "to": ["2026-11-03"], "format": ["ndjson"]},
            "content-actions-log_2026-11-03_2026-11-03.ndjson",
        ),
        (
            {"from": ["2026-11-03"], "to": ["2026-11-05"], "tz": ["Europe/Paris"]},
            "content-actions-log_2026-11-03_2026-11-05.csv",
        ),
        (
            {"from": ["2026-11-03T00:00:00Z"], "to": ["2026-11-04T00:00:00Z"]},
            "content-actions-log_2026-11-03_2026-11-03.csv",
        ),
        (
            {"from": ["2026-11-03T00:00:00Z"], "to": ["2026-11-04T00:00:00Z"], "tz": ["America/New_York"]},
            "content-actions-log_2026-11-02_2026-11-03.csv",
        ),
    ],
)
def test_download_filename(params: dict[str, list[str]], want: str) -> None:
    filters = parse_report_params(params, now=NOW)
    name = download_filename(filters)
    assert name == want
    assert name.isascii() and all(c.isalnum() or c in "-_." for c in name)


def test_download_filename_of_hand_built_filters() -> None:
    filters = ReportFilters(start=datetime(2026, 1, 1, tzinfo=UTC), end=datetime(2026, 2, 1, tzinfo=UTC))
    assert download_filename(filters) == "content-actions-log_2026-01-01_2026-01-31.csv"
