"""Deterministic generators of realistic upstream events (the catalog's mix), for tests and benches."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson

from actionlog.core.catalog import SOURCES_BY_TYPE

WORDS = [
    "intro",
    "advanced",
    "safety",
    "compliance",
    "leadership",
    "onboarding",
    "python",
    "data",
    "privacy",
    "security",
    "sales",
    "negotiation",
    "excel",
    "cloud",
    "kubernetes",
    "agile",
    "scrum",
    "ethics",
    "wellbeing",
    "finance",
    "accounting",
    "design",
]
CONTENT_TYPES = ("course", "webinar", "video", "learning_path", "assessment", "microlearning")
PAIRS: tuple[tuple[str, str], ...] = tuple((t, s) for t, ss in SOURCES_BY_TYPE.items() for s in ss)


@dataclass(frozen=True)
class Generated:
    action_type: str
    event: dict[str, Any]
    occurred_ms: int

    @property
    def event_id(self) -> str:
        return str(self.event["event_id"])

    def encode(self) -> bytes:
        return orjson.dumps(self.event)


def events(
    n: int, *, seed: int = 7, days: int = 30, end: datetime | None = None, panoramas: int = 20, learners: int = 5000
) -> Iterator[Generated]:
    """``n`` valid events spread over ``days`` days before ``end``, every Type/Source pair in turn."""
    rng = random.Random(seed)
    end = end or datetime(2026, 11, 28, tzinfo=UTC)
    span_ms = days * 86_400_000
    end_ms = int(end.timestamp() * 1000)
    for i in range(n):
        action_type, source = PAIRS[i % len(PAIRS)]
        occurred_ms = end_ms - rng.randrange(span_ms)
        if rng.random() < 0.3:
            occurred: Any = occurred_ms
        else:
            offset = timedelta(minutes=rng.choice((0, 60, -300, 330, 540, -180)))
            local = datetime.fromtimestamp(occurred_ms / 1000, tz=timezone(offset))
            occurred = local.isoformat(timespec="milliseconds")
        p = rng.randrange(panoramas + 1)
        title_words = rng.randint(2, 12)
        learner = rng.randrange(learners)
        event: dict[str, Any] = {
            "event_id": str(uuid.UUID(int=rng.getrandbits(128))),
            "occurred_at": occurred,
            "source": source,
            "learner": {"id": f"u-{learner}", "email": f"Learner.{learner}@Example.com"},
            "panorama": None if p == 0 else {"id": f"p-{p}", "name": f"Panorama {p}, Inc."},
            "content": {
                "id": f"c-{rng.randrange(2000)}",
                "type": rng.choice(CONTENT_TYPES),
                "title": " ".join(rng.choice(WORDS) for _ in range(title_words)).capitalize(),
                "course_group_id": f"g-{rng.randrange(50)}",
            },
        }
        if source.startswith("manager"):
            event["actor"] = {"id": f"m-{rng.randrange(100)}", "email": "manager@example.com"}
        yield Generated(action_type, event, occurred_ms)


def contract_event(**overrides: Any) -> dict[str, Any]:
    """The documented example event (docs/input.md), a fresh copy, with top-level ``overrides``.

    ``event_id="random"`` gives a fresh UUID (for tests that publish it more than once per run).
    """
    event: dict[str, Any] = {
        "event_id": "0b6f3c1e-3f0a-4a55-9d2e-6a1f0c9b7d21",
        "occurred_at": "2026-11-03T14:05:06.123+01:00",
        "source": "course_purchase",
        "learner": {"id": "u-1029", "email": "Ada.Lovelace@Example.com"},
        "panorama": {"id": "p-7", "name": "Acme Academy"},
        "content": {"id": "c-42", "type": "course", "title": 'Intro to "Safety", Part 1', "course_group_id": "g-9"},
        "actor": {"id": "m-3", "email": "manager@example.com"},
    }
    event.update(overrides)
    if event["event_id"] == "random":
        event["event_id"] = str(uuid.uuid4())
    return event


DELETE = object()
"""A value for `with_paths` that removes the key."""


def with_paths(event: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``event`` (changed in place) with dotted paths set to values; `DELETE` removes a key."""
    for path, value in changes.items():
        *parents, last = path.split(".")
        target = event
        for key in parents:
            target = target[key]
        if value is DELETE:
            del target[last]
        else:
            target[last] = value
    return event
