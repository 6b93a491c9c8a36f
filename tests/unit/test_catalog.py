"""The Type/Source catalog against the seed report, and the Avro enums against the catalog."""

from __future__ import annotations

import json
import re
from importlib.resources import files
from pathlib import Path

import pytest

from actionlog.core.catalog import (
    ALL_SOURCES,
    SOURCES_BY_TYPE,
    TYPES,
    canonical,
    find_source,
    find_type,
    lookup_source,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "catalog.md"
#: The seed report this project reproduces, when it is at hand (outside this repository).
SEED = Path(__file__).resolve().parents[3] / "shared" / "spec" / "seed-content-actions-log-report.txt"
_TYPE_LINE = re.compile(r"If Type equals (\w+)")
_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


def _pairs(path: Path) -> list[tuple[str, str]]:
    """(Type, Source as spelled) pairs of a text in the seed's "Field Values" layout.

    A Source is a line holding one token (after an optional "- ") between an "If Type equals X"
    line and the next one.
    """
    pairs: list[tuple[str, str]] = []
    current: str | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        header = _TYPE_LINE.search(line)
        if header:
            current = header.group(1)
            continue
        token = line.strip().removeprefix("- ")
        if current is not None and _TOKEN.fullmatch(token):
            pairs.append((current, token))
    return pairs


@pytest.fixture(scope="module")
def seed_pairs() -> list[tuple[str, str]]:
    """The pairs of docs/catalog.md, the repository's own copy of the seed's field values."""
    return _pairs(DOC)


def test_the_documented_catalog_is_the_seed() -> None:
    if not SEED.exists():
        pytest.skip(f"the seed report is not at hand ({SEED}): docs/catalog.md stands in for it")
    assert _pairs(DOC) == _pairs(SEED)


def test_seed_has_54_pairs_and_catalog_too(seed_pairs: list[tuple[str, str]]) -> None:
    assert len(seed_pairs) == 54
    assert sum(len(v) for v in SOURCES_BY_TYPE.values()) == 54


def test_counts_per_type() -> None:
    assert {t: len(s) for t, s in SOURCES_BY_TYPE.items()} == {
        "enrollment": 23,
        "status_change": 14,
        "revoked_access": 9,
        "certificate_grant": 8,
    }


def test_types_in_seed_order(seed_pairs: list[tuple[str, str]]) -> None:
    assert tuple(dict.fromkeys(t for t, _ in seed_pairs)) == TYPES
    assert tuple(SOURCES_BY_TYPE) == TYPES


def test_every_seed_source_is_accepted_for_its_type(seed_pairs: list[tuple[str, str]]) -> None:
    for action_type, spelled in seed_pairs:
        expected = spelled.lower().replace("-", "_")
        assert lookup_source(action_type, spelled) == expected, (action_type, spelled)
        assert find_source(spelled) == expected


def test_catalog_is_the_seed_in_order_and_canonical(seed_pairs: list[tuple[str, str]]) -> None:
    for action_type in TYPES:
        spelled = [s for t, s in seed_pairs if t == action_type]
        assert SOURCES_BY_TYPE[action_type] == tuple(s.lower().replace("-", "_") for s in spelled)
    for sources in SOURCES_BY_TYPE.values():
        assert len(set(sources)) == len(sources)
        for source in sources:
            assert re.fullmatch(r"[a-z]+(_[a-z]+)*", source), source


def test_seed_spelling_oddities_are_canonicalized(seed_pairs: list[tuple[str, str]]) -> None:
    spelled = {s for _, s in seed_pairs}
    assert {"gift-course-purchase", "Manager_grant_completed"} <= spelled
    assert "gift_course_purchase" in SOURCES_BY_TYPE["enrollment"]
    assert "manager_grant_completed" in SOURCES_BY_TYPE["status_change"]


def test_all_sources_distinct_first_seen() -> None:
    seen: list[str] = []
    for action_type in TYPES:
        for source in SOURCES_BY_TYPE[action_type]:
            if source not in seen:
                seen.append(source)
    assert tuple(seen) == ALL_SOURCES
    assert len(ALL_SOURCES) == len(set(ALL_SOURCES))
    # Sources shared between types are listed once.
    assert ALL_SOURCES.count("sso") == 1
    assert "reschedule" in SOURCES_BY_TYPE["enrollment"]
    assert "reschedule" in SOURCES_BY_TYPE["revoked_access"]


def _enum(schema: dict, field: str) -> dict:
    (entry,) = [f for f in schema["fields"] if f["name"] == field]
    return entry["type"]


def test_avro_enums_agree_with_catalog() -> None:
    schema = json.loads(files("schemas").joinpath("content_action.avsc").read_text(encoding="utf-8"))
    action_type = _enum(schema, "action_type")
    source = _enum(schema, "source")
    assert action_type["name"] == "ActionType"
    assert action_type["symbols"] == [*TYPES, "unknown"]
    assert action_type["default"] == "unknown"
    assert source["name"] == "Source"
    assert source["symbols"] == [*ALL_SOURCES, "unknown"]
    assert source["default"] == "unknown"


@pytest.mark.parametrize(
    ("action_type", "raw", "expected"),
    [
        ("enrollment", "gift-course-purchase", "gift_course_purchase"),
        ("enrollment", "Gift-Course-Purchase", "gift_course_purchase"),
        ("enrollment", "GIFT_COURSE-PURCHASE", "gift_course_purchase"),
        ("status_change", "Manager_grant_completed", "manager_grant_completed"),
        ("status_change", "manager-grant-completed", "manager_grant_completed"),
        ("status_change", "ENROLLMENT", "enrollment"),
        ("revoked_access", "SSO", "sso"),
        ("certificate_grant", "Api", "api"),
        ("certificate_grant", "a-p-i", None),
        ("certificate_grant", "sso", None),  # a Source of other types, not this one
        ("enrollment", "course_completed", None),
        ("enrollment", " sso", None),  # whitespace is not stripped
        ("enrollment", "sso ", None),
        ("enrollment", "sso\n", None),
        ("enrollment", "", None),
        ("enrollment", "course purchase", None),
        ("enrollment", "course__purchase", None),
        ("enrollment", "ſso", None),  # non-ASCII never matches, even if it case-folds to ASCII
        ("status_change", "manager_grant_\u212aompleted", None),  # Kelvin sign lower-cases to "k"
        ("no_such_type", "sso", None),
        ("Enrollment", "sso", None),  # the Type is an exact name
    ],
)
def test_lookup_source(action_type: str, raw: str, expected: str | None) -> None:
    assert lookup_source(action_type, raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Course-Purchase", "course_purchase"),
        ("license_deletion", "license_deletion"),
        ("PASSED-EXAM", "passed_exam"),
        ("nope", None),
        (" api", None),
        ("", None),
        ("ÀPI", None),
    ],
)
def test_find_source(raw: str, expected: str | None) -> None:
    assert find_source(raw) == expected


def test_canonical_only_rewrites() -> None:
    assert canonical("Gift-Course-Purchase") == "gift_course_purchase"
    assert canonical("Not-In-Catalog") == "not_in_catalog"
    assert canonical(" a-b ") == " a_b "


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("enrollment", "enrollment"),
        ("Revoked-Access", "revoked_access"),
        ("STATUS_CHANGE", "status_change"),
        ("certificate grant", None),
        ("enrollmenſ", None),
        ("", None),
    ],
)
def test_find_type(raw: str, expected: str | None) -> None:
    assert find_type(raw) == expected
