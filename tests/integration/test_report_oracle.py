"""The report against an oracle: generated events landed in chDB, every row computed again in Python.

About 3,000 events from a fixed seed (every catalog Type/Source pair, panoramas whose names differ
only in case, mixed-case emails stored lower-cased as ingest does, titles full of CSV and formula
traps, instants on DST-change days and on the edges of the ranges asked for) are inserted into a
fresh embedded store, some of them twice: the later copy has a different title (and for a few also
a different panorama, learner, content type and course group), and the first landed copy must win.

For a matrix of filter combinations the report's body (``query.run.report_chunks``, the code path
the CLI and the HTTP endpoint share) is parsed back and compared with rows this module filters,
sorts and formats itself, in CSV, JSON and NDJSON. A few combinations also run through the real CLI
(``python -m actionlog report``) as a subprocess, which must print the very same bytes.

One chDB data path per process: the module's store is opened lazily and closed before the CLI runs.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from actionlog.core.catalog import SOURCES_BY_TYPE
from actionlog.core.scope import Scope
from actionlog.core.settings import ClickHouseSettings
from actionlog.query.filters import parse_report_params
from actionlog.query.report import report_chunks
from actionlog.store.clickhouse import ClickHouseStore
from testkit.rows import land

pytestmark = pytest.mark.integration

SEED = 20_261_103
N_EVENTS = 3_000
MS = 1
SECOND = 1_000
DAY = 86_400_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FIXED_NOW = datetime(2026, 11, 10, 12, 0, 0, 250_000, tzinfo=UTC)  # .250: "now" is cut to the ms
SPAN_START = datetime(2026, 9, 12, tzinfo=UTC)  # 60 days: both autumn DST changes (Paris, New York)
SPAN_DAYS = 60
WIDE = {"from": ["2026-09-01"], "to": ["2026-11-30"]}

HEADER = ["Email", "Panorama Name", "Content Type", "Content Title", "Type", "Source", "Timestamp"]
KEYS = ["email", "panorama_name", "content_type", "content_title", "type", "source", "timestamp"]
GUARDED = {"email", "panorama_name", "content_type", "content_title"}

PAIRS = [(t, s) for t, sources in SOURCES_BY_TYPE.items() for s in sources]
# id, name; the main site has neither. p-1/p-2 differ only in case; p-6 is *named* like p-1's id.
PANORAMAS = [
    ("", ""),
    ("p-1", "Acme Academy"),
    ("p-2", "ACME academy"),
    ("p-3", "Été Corp"),
    ("p-4", '=HYPERLINK("http://x")'),
    ("p-5", 'Quote "Q", Inc.'),
    ("p-6", "p-1"),
    ("p-7", "مدرسة 🎓"),
]
PANORAMA_WEIGHTS = [6, 2, 2, 2, 1, 1, 1, 1]
RAW_EMAILS = [
    "Ada.Lovelace@Example.COM",
    "GRACE.hopper@Navy.MIL",
    "alan.TURING@example.org",
    "José.Émile@Exemple.FR",
    "+Plus.Sign@Example.com",
    "-Dash.First@Example.com",
    "=Equals@Example.com",
    *(f"Learner{i}.Name@Domain{i % 5}.Example" for i in range(33)),
]
LEARNERS = [(f"u-{i:03d}", raw.lower()) for i, raw in enumerate(RAW_EMAILS)]  # stored as ingest does
CONTENT_TYPES = ["course", "video", "webinar", "learning_path", "évaluation", "@live", "-draft"]  # lower-cased
COURSE_GROUPS = ["", "", "", "g-1", "g-2", "G-1", "grp 3"]
SPECIAL_TITLES = [
    "Intro, part 1",
    'She said "hi", then left',
    '"fully quoted"',
    "two\nlines",
    "windows\r\nline, with comma",
    "Ünïcödé 漢字 🙂 🎓 👩‍💻",
    "שלום עולם — مرحبا",
    "=SUM(A1:A9)",
    "+1 555 0100",
    "-42",
    "@mention",
    "\tTabbed",
    "\rCarriage",
    "'already quoted",
    "trailing space ",
    "",
    "a\u2028b\u2029c",
    "back\\slash\\",
    "'; DROP TABLE actionlog.content_actions_log; --",
    "comma,at,end,",
]
WORDS = ["safety", "python", "ethics", "excel", "cloud", "onboarding", "privacy", "finance"]


def ms_of(text: str) -> int:
    """Epoch milliseconds of an RFC 3339 instant written with an offset."""
    delta = datetime.fromisoformat(text) - EPOCH
    return delta.days * DAY + delta.seconds * SECOND + delta.microseconds // 1000


def instant(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


NOW_MS = ms_of(FIXED_NOW.isoformat())  # 2026-11-10T12:00:00.250Z
# Instants on the edges of the ranges the matrix asks for (each used by a few events, so ties too).
EDGES = [
    *("2026-10-24T21:59:59.999Z", "2026-10-24T22:00:00.000Z"),  # Paris 2026-10-25 starts (CEST)
    *("2026-10-25T22:59:59.999Z", "2026-10-25T23:00:00.000Z"),  # ... and ends (CET): 25 hours
    *("2026-10-25T00:59:59.999Z", "2026-10-25T01:00:00.000Z"),  # Paris falls back
    *("2026-10-24T23:59:59.999Z", "2026-10-25T00:00:00.000Z"),  # UTC midnight
    *("2026-10-25T01:00:00.001Z",),
    *("2026-11-01T03:59:59.999Z", "2026-11-01T04:00:00.000Z"),  # New York 2026-11-01 starts (EDT)
    *("2026-11-02T04:59:59.999Z", "2026-11-02T05:00:00.000Z"),  # ... and ends (EST): 25 hours
    *("2026-11-01T05:59:59.999Z", "2026-11-01T06:00:00.000Z"),  # New York falls back
    *("2026-10-11T12:00:00.249Z", "2026-10-11T12:00:00.250Z"),  # now - 30 days
    *("2026-11-10T12:00:00.250Z", "2026-11-10T12:00:00.251Z"),  # now (included), just after
    *("2026-09-30T22:00:00.000Z", "2026-10-15T16:30:00.500Z"),  # the +02:00 / -04:00 case
]


@dataclass(frozen=True)
class Event:
    event_id: str
    occurred_ms: int
    action_type: str
    source: str
    learner_id: str
    email: str
    panorama_id: str
    panorama_name: str
    content_id: str
    content_type: str
    content_title: str
    course_group_id: str
    ingested_ms: int


@dataclass(frozen=True)
class Landing:
    originals: list[Event]  # what the report must show: one row per event
    blocks: list[list[Event]]  # the inserts, in order (each a part of its own)


def generate() -> Landing:
    rng = random.Random(SEED)
    ids: set[str] = set()

    def new_id() -> str:
        while True:
            eid = rng.choice(["evt-", "EVT-", "", "0", "e_"]) + f"{rng.getrandbits(40):010x}"
            if eid not in ids:
                ids.add(eid)
                return eid

    span_ms = ms_of(SPAN_START.isoformat())
    times = [ms_of(text) for text in EDGES for _ in range(3)]
    events: list[Event] = []
    for i in range(N_EVENTS):
        action_type, source = PAIRS[i] if i < len(PAIRS) else rng.choice(PAIRS)
        if i < len(times):
            occurred = times[i]
        elif events and rng.random() < 0.05:
            occurred = rng.choice(events).occurred_ms  # ties: ordered by event_id
        else:
            occurred = span_ms + rng.randrange(SPAN_DAYS * DAY)
        panorama_id, panorama_name = rng.choices(PANORAMAS, PANORAMA_WEIGHTS)[0]
        learner_id, email = rng.choice(LEARNERS)
        title = rng.choice(SPECIAL_TITLES) if rng.random() < 0.3 else f"Lesson {i}: {rng.choice(WORDS)}"
        events.append(
            Event(
                event_id=new_id(),
                occurred_ms=occurred,
                action_type=action_type,
                source=source,
                learner_id=learner_id,
                email=email,
                panorama_id=panorama_id,
                panorama_name=panorama_name,
                content_id=f"c-{rng.randrange(40)}",
                content_type=rng.choice(CONTENT_TYPES),
                content_title=title,
                course_group_id=rng.choice(COURSE_GROUPS),
                ingested_ms=occurred + rng.randrange(SECOND, 600 * SECOND),
            )
        )
    assert {(e.action_type, e.source) for e in events} == set(PAIRS) and len(PAIRS) == 54

    # A small block of its own, all on the main site with one learner, whose later copies move to
    # p-1 / u-001 / video / g-1: filters must see the surviving (first) copy, never the later one.
    solo = [
        replace(
            e,
            panorama_id="",
            panorama_name="",
            learner_id="u-solo",
            email="solo@example.com",
            content_type="course",
            course_group_id="",
        )
        for e in events[-12:]
    ]
    events[-12:] = solo
    rest = events[:-12]
    dup_of = rng.sample(rest, 60)
    dups = [
        replace(e, content_title=f"LATER COPY {e.content_title}", ingested_ms=e.ingested_ms + 3_600 * SECOND)
        for e in dup_of
    ]
    solo_dups = [
        replace(
            e,
            content_title="LATER COPY (moved)",
            panorama_id="p-1",
            panorama_name="Acme Academy",
            learner_id="u-001",
            email=LEARNERS[1][1],
            content_type="video",
            course_group_id="g-1",
            ingested_ms=e.ingested_ms + 1,
        )
        for e in solo
    ]
    half = len(rest) // 2
    return Landing(originals=events, blocks=[rest[:half], solo, rest[half:], dups, solo_dups])


LANDING = generate()


# ------------------------------------------------------------------------------- the oracle


def zone_of(name: str) -> tzinfo | None:
    """None for UTC (timestamps end in Z); the spellings used by the matrix only."""
    return None if name in ("UTC", "Etc/UTC", "utc") else ZoneInfo({"europe/paris": "Europe/Paris"}.get(name, name))


def bound_ms(text: str, zone: tzinfo | None, *, upper: bool) -> int:
    """A --from/--to value as epoch ms: a date is a whole day in ``zone``, to inclusive."""
    if len(text) == 10:
        day = datetime.fromisoformat(text).date() + timedelta(days=1 if upper else 0)
        local = datetime(day.year, day.month, day.day, tzinfo=zone or UTC)
        return ms_of(local.isoformat())
    return ms_of(text)


def fold(value: str) -> str:
    return value.lower()


def canonical(value: str) -> str:
    return value.lower().replace("-", "_")


def expected_events(params: Mapping[str, Sequence[str]], now_ms: int = NOW_MS) -> list[Event]:
    zone = zone_of(params.get("tz", ["UTC"])[0])
    frm, to = params.get("from", [None])[0], params.get("to", [None])[0]
    end = bound_ms(to, zone, upper=True) if to else now_ms + 1
    start = bound_ms(frm, zone, upper=False) if frm else now_ms - 30 * DAY
    wanted = {key: list(values) for key, values in params.items()}

    def keep(e: Event) -> bool:
        checks = {
            "panorama": lambda v: e.panorama_id == v or fold(e.panorama_name) == fold(v),
            "learner": lambda v: e.learner_id == v or fold(e.email) == fold(v),
            "content": lambda v: e.content_id == v,
            "type": lambda v: e.action_type == canonical(v),
            "source": lambda v: e.source == canonical(v),
            "course-group": lambda v: e.course_group_id == v,
            "content-type": lambda v: fold(e.content_type) == fold(v),
        }
        if not start <= e.occurred_ms < end:
            return False
        return all(any(map(check, wanted[key])) for key, check in checks.items() if key in wanted)

    rows = sorted(filter(keep, LANDING.originals), key=lambda e: (-e.occurred_ms, e.event_id))
    limit = params.get("limit")
    return rows[: int(limit[0])] if limit else rows


def timestamp(ms: int, zone: tzinfo | None) -> str:
    if zone is None:
        return instant(ms).strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"
    return instant(ms).astimezone(zone).isoformat(timespec="milliseconds")


def expected_objects(params: Mapping[str, Sequence[str]], *, csv_guard: bool = False) -> list[dict[str, str]]:
    zone = zone_of(params.get("tz", ["UTC"])[0])
    out = []
    for e in expected_events(params):
        obj = {
            "email": e.email,
            "panorama_name": e.panorama_name,
            "content_type": e.content_type,
            "content_title": e.content_title,
            "type": e.action_type,
            "source": e.source,
            "timestamp": timestamp(e.occurred_ms, zone),
        }
        if csv_guard:
            obj = {
                k: "'" + v if k in GUARDED and v[:1] in ("=", "+", "-", "@", "\t", "\r") else v for k, v in obj.items()
            }
        out.append(obj)
    return out


# ------------------------------------------------------------------------------- the store


class Lab:
    """The module's landed store: opened on demand, closed before a CLI subprocess needs the path."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.settings = ClickHouseSettings(url=f"chdb://{path}")
        self._store: ClickHouseStore | None = None

    def store(self) -> ClickHouseStore:
        if self._store is None:
            self._store = ClickHouseStore(self.settings).connect()
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def report(self, params: Mapping[str, Sequence[str]]) -> bytes:
        filters = parse_report_params({k: list(v) for k, v in params.items()}, now=FIXED_NOW)
        return b"".join(report_chunks(self.store(), filters, Scope.everything()))


OWN_COLUMNS = (
    "event_id",
    "action_type",
    "source",
    "learner_id",
    "email",
    "panorama_id",
    "panorama_name",
    "content_id",
    "content_type",
    "content_title",
    "course_group_id",
)


def insert(store: ClickHouseStore, events: Sequence[Event]) -> None:
    rows = [
        {"occurred_at": e.occurred_ms, "ingested_at": e.ingested_ms, **{c: getattr(e, c) for c in OWN_COLUMNS}}
        for e in events
    ]
    land(store, rows)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = Lab(tmp_path_factory.mktemp("oracle") / "chdb")
    store = lab.store()
    for block in LANDING.blocks:
        insert(store, block)
    try:
        yield lab
    finally:
        lab.close()


# ------------------------------------------------------------------------------- the matrix


@dataclass(frozen=True)
class Case:
    name: str
    params: dict[str, list[str]]
    empty: bool = False  # the oracle must find no row (else at least one)


def case(name: str, wide: bool = True, empty: bool = False, **params: str | list[str]) -> Case:
    lists = {k.rstrip("_").replace("_", "-"): [v] if isinstance(v, str) else list(v) for k, v in params.items()}
    return Case(name, {**(WIDE if wide else {}), **lists}, empty)


CASES = [
    case("all-utc"),
    case("all-paris", tz="Europe/Paris"),
    case("all-etc-utc-spelling", tz="Etc/UTC"),
    case("all-zone-other-case", tz="europe/paris"),
    case("day-utc-dst-day", wide=False, from_="2026-10-25", to="2026-10-25"),
    case("day-paris-25h", wide=False, from_="2026-10-25", to="2026-10-25", tz="Europe/Paris"),
    case("day-new-york-25h", wide=False, from_="2026-11-01", to="2026-11-01", tz="America/New_York"),
    case("week-new-york", wide=False, from_="2026-10-20", to="2026-10-26", tz="America/New_York"),
    case("rfc3339-2ms", wide=False, from_="2026-10-25T00:59:59.999Z", to="2026-10-25T01:00:00.001Z"),
    case(
        "rfc3339-offsets-paris",
        wide=False,
        from_="2026-10-01T00:00:00+02:00",
        to="2026-10-15T12:30:00.500-04:00",
        tz="Europe/Paris",
    ),
    case("rfc3339-from-date-to-ny", wide=False, from_="2026-10-03T10:00:00Z", to="2026-10-10", tz="America/New_York"),
    case("default-30-days", wide=False),
    case("only-from", wide=False, from_="2026-11-08"),
    case("panorama-by-id", panorama="p-1"),  # p-1 by id, and p-6 whose *name* is "p-1"
    case("panorama-by-name-other-case", panorama="aCME ACADEMY"),  # both p-1 and p-2
    case("panorama-id-is-case-sensitive", panorama="P-1"),  # only p-6, by name
    case("panorama-unicode-name", panorama="ÉTÉ corp"),
    case("panorama-repeated", panorama=["p-3", 'quote "q", inc.', "مدرسة 🎓"]),
    case("panorama-formula-name", panorama='=hyperlink("http://x")', tz="America/New_York"),
    case("panorama-prefix-is-no-match", panorama="Acme", empty=True),
    case("learner-by-id", learner="u-002"),
    case("learner-by-email-other-case", learner="ADA.LOVELACE@EXAMPLE.COM"),
    case("learner-unicode-email", learner="JOSÉ.ÉMILE@EXEMPLE.fr"),
    case("learner-repeated", learner=["u-004", "-DASH.FIRST@example.com", "=equals@EXAMPLE.com"]),
    case("learner-moved-in-later-copy", learner="u-001"),
    case("learner-only-in-solo-block", learner="SOLO@example.com"),
    case("content-repeated", content=["c-7", "c-8", "c-99"]),
    case("type-alias", type_="Status-Change"),
    case("type-repeated", type_=["revoked_access", "CERTIFICATE-GRANT"]),
    case("source-seed-spelling", source="Gift-Course-Purchase"),
    case("source-repeated", source=["Manager_grant_completed", "manager-course-enrollment"]),
    case("course-group", course_group="g-1"),
    case("course-group-repeated-case-sensitive", course_group=["G-1", "grp 3"]),
    case("content-type-other-case", content_type="VIDEO"),
    case("content-type-repeated-unicode", content_type=["ÉVALUATION", "Learning_Path", "@LIVE"]),
    case("and-type-source-content-type", type_="enrollment", source="SSO", content_type="Course"),
    case("and-panorama-learner", panorama=["p-1", "p-2"], learner=[u for u, _ in LEARNERS[:20]]),
    case("and-nothing-in-common", type_="enrollment", source="course_completed", empty=True),
    case("limit-1", limit="1"),
    case("limit-25-ny-type", limit="25", tz="America/New_York", type_="enrollment"),
    case("limit-beyond-rows", limit="100000", content_type="webinar"),
    case(
        "everything",
        wide=False,
        from_="2026-09-20",
        to="2026-11-05",
        tz="Europe/Paris",
        panorama=["Acme academy", "p-3", "p-0"],
        type_=["enrollment", "status_change"],
        content_type=["course", "video", "WEBINAR"],
        course_group=["g-1", "g-2"],
        limit="40",
    ),
]


def test_the_matrix_is_meaningful() -> None:
    """The oracle itself: enough cases, each non-empty unless meant to be, and the traps present."""
    assert len(CASES) >= 30
    assert len({c.name for c in CASES}) == len(CASES)
    for c in CASES:
        assert (expected_events(c.params) == []) == c.empty, c.name
    everything = expected_events(case("x").params)
    assert len(everything) == N_EVENTS  # every event once, the later copies never
    titles = {e.content_title for e in everything}
    assert set(SPECIAL_TITLES) <= titles and not any(t.startswith("LATER COPY") for t in titles)
    ny_day = expected_events(case("x", wide=False, from_="2026-11-01", to="2026-11-01", tz="America/New_York").params)
    assert ms_of("2026-11-02T04:59:59.999Z") in {e.occurred_ms for e in ny_day}  # the 25th hour
    assert len(expected_events(case("x", limit="1").params)) == 1


def parse_csv(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))


@pytest.mark.parametrize("c", CASES, ids=lambda c: c.name)
def test_csv(lab: Lab, c: Case) -> None:
    body = lab.report({**c.params, "format": ["csv"]})
    assert body.startswith(",".join(HEADER).encode() + b"\r\n")
    rows = parse_csv(body)
    assert rows[0] == HEADER
    assert rows[1:] == [[o[k] for k in KEYS] for o in expected_objects(c.params, csv_guard=True)]


@pytest.mark.parametrize("c", CASES, ids=lambda c: c.name)
def test_json(lab: Lab, c: Case) -> None:
    body = lab.report({**c.params, "format": ["json"]})
    rows = json.loads(body.decode("utf-8"))
    assert isinstance(rows, list)
    assert [list(r) for r in rows] == [KEYS] * len(rows)  # the keys, in this order
    assert rows == expected_objects(c.params)


@pytest.mark.parametrize("c", CASES, ids=lambda c: c.name)
def test_ndjson(lab: Lab, c: Case) -> None:
    body = lab.report({**c.params, "format": ["ndjson"]})
    want = expected_objects(c.params)
    assert body.endswith(b"\n") or want == []
    lines = body.split(b"\n")
    assert lines[-1] == b""
    rows = [json.loads(line) for line in lines[:-1]]
    assert [list(r) for r in rows] == [KEYS] * len(rows)
    assert rows == want


def test_formula_guard_off_keeps_cells_as_they_are(lab: Lab) -> None:
    c = case("guard-off", panorama=["p-4"], learner=["+plus.sign@example.com"])
    rows = parse_csv(lab.report({**c.params, "csv-formula-guard": ["false"]}))
    assert rows[1:] == [[o[k] for k in KEYS] for o in expected_objects(c.params)]
    assert rows[1:] and all(r[1] == '=HYPERLINK("http://x")' or r[0].startswith("+") for r in rows[1:])


CLI_CASES = {
    "day-paris-25h": "csv",
    "rfc3339-offsets-paris": "json",
    "panorama-by-name-other-case": "ndjson",
    "learner-repeated": "csv",
    "everything": "json",
    "source-seed-spelling": "ndjson",
}


def cli_args(params: Mapping[str, Sequence[str]]) -> list[str]:
    return [f"--{key}={value}" for key, values in params.items() for value in values]


def test_the_cli_prints_the_same_bytes(lab: Lab, tmp_path: Path) -> None:
    cases = {c.name: c for c in CASES}
    runs = [{**cases[name].params, "format": [fmt]} for name, fmt in CLI_CASES.items()]
    bodies = [lab.report(params) for params in runs]
    lab.close()  # the CLI opens the data path itself
    env = {**os.environ, "CLICKHOUSE_URL": lab.settings.url}
    for params, body in zip(runs, bodies, strict=True):
        res = subprocess.run(
            [sys.executable, "-m", "actionlog", "report", *cli_args(params)],
            env=env,
            capture_output=True,
            timeout=120,
            cwd=tmp_path,
        )
        assert res.returncode == 0, res.stderr.decode()
        assert res.stderr == b""
        assert res.stdout == body, params
        want = expected_objects(params, csv_guard=params["format"] == ["csv"])
        if params["format"] == ["csv"]:
            assert parse_csv(res.stdout)[1:] == [[o[k] for k in KEYS] for o in want]
        elif params["format"] == ["json"]:
            assert json.loads(res.stdout) == want
        else:
            assert [json.loads(line) for line in res.stdout.splitlines()] == want
