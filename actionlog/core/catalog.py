"""The catalog of action Types and their Sources, as listed by the seed report.

The seed ("Content Actions Log", Field Values) lists for every Type the Sources an
action of that Type may carry: 54 Type/Source pairs in all. Everything here is in
seed order, in canonical form (lower snake_case). The seed spells two sources
differently (``gift-course-purchase`` and ``Manager_grant_completed``); their
canonical forms are ``gift_course_purchase`` and ``manager_grant_completed``.

Matching rules (used for input events and for the report's ``--source`` filter):

* case is ignored for ASCII letters only, and ``-`` and ``_`` are interchangeable;
* a value holding any non-ASCII character never matches (so look-alikes such as the
  Kelvin sign, which Python lower-cases to ``k``, cannot sneak in);
* surrounding whitespace is **not** stripped: ``" sso"`` is an unknown source.

``ALL_SOURCES`` (distinct sources in first-seen order) is the symbol order of the
Avro ``Source`` enum, which then ends with the default symbol ``unknown``. Adding a
Source means appending it here *and* to the enum's end (never reordering).
"""

from __future__ import annotations

from types import MappingProxyType

__all__ = [
    "ALL_SOURCES",
    "SOURCES_BY_TYPE",
    "TYPES",
    "canonical",
    "find_source",
    "find_type",
    "lookup_source",
]

TYPES: tuple[str, ...] = ("enrollment", "status_change", "revoked_access", "certificate_grant")

SOURCES_BY_TYPE: dict[str, tuple[str, ...]] = {
    "enrollment": (
        "course_purchase",
        "collection_purchase",
        "a_la_carte_collection_purchase",
        "subscription_purchase",
        "subscription_access",
        "registration",
        "gift_course_purchase",
        "gift_collection_purchase",
        "manager_created_user",
        "manager_course_enrollment",
        "manager_bulk_user_creation",
        "redemption_code",
        "gift_redemption_code",
        "registration_code",
        "sso",
        "learning_path_access",
        "client_access",
        "license_access",
        "balance_redemption",
        "reschedule",
        "salesforce_provision",
        "scorm_connect",
        "public",
    ),
    "status_change": (
        "course_started",
        "course_completed",
        "manager_change_not_started",
        "manager_change_completed",
        "recertify_learning_path",
        "manager_grant_started",
        "recertify_course",
        "scorm_started",
        "manager_grant_completed",
        "webinar_attended",
        "manager_change_started",
        "manager_changed_status",
        "manager_grant_not_started",
        "enrollment",
    ),
    "revoked_access": (
        "access_expiration",
        "course_deletion",
        "manager_revoked_access",
        "client_revoked_access",
        "manager_course_enrollment",
        "sso",
        "reschedule",
        "manager_bulk_user_creation",
        "license_deletion",
    ),
    "certificate_grant": (
        "course_completed",
        "passed_exam",
        "manager_grant",
        "api",
        "course_purchase",
        "collection_purchase",
        "manager_course_enrollment",
        "manager_change_completed",
    ),
}

ALL_SOURCES: tuple[str, ...] = tuple(dict.fromkeys(source for t in TYPES for source in SOURCES_BY_TYPE[t]))

# Per type: canonical source -> itself (a dict so that a lookup is one hash probe).
_BY_TYPE: MappingProxyType[str, dict[str, str]] = MappingProxyType(
    {t: {s: s for s in SOURCES_BY_TYPE[t]} for t in TYPES}
)
_ANY: dict[str, str] = {s: s for s in ALL_SOURCES}
_TYPES: dict[str, str] = {t: t for t in TYPES}
_NO_SOURCES: dict[str, str] = {}


def canonical(raw: str) -> str:
    """Return the canonical spelling of a Type or Source value: lower-cased, ``-`` turned into ``_``.

    The result is not checked against the catalog; see `lookup_source` and `find_type` for that.

    Args:
        raw: the value as sent (not stripped).

    Returns:
        ``raw`` lower-cased with every ``-`` replaced by ``_``.
    """
    return raw.lower().replace("-", "_")


def _find(known: dict[str, str], raw: str) -> str | None:
    found = known.get(raw)
    if found is not None:
        return found
    if not raw.isascii():
        return None
    return known.get(canonical(raw))


def lookup_source(action_type: str, raw: str) -> str | None:
    """Return the canonical source if ``raw`` is a valid Source for ``action_type``.

    Args:
        action_type: one of `TYPES` (any other value has no valid source).
        raw: the source as sent.

    Returns:
        The canonical source, or None when it is not in the catalog for that type
        (including non-ASCII values and values with surrounding whitespace).
    """
    return _find(_BY_TYPE.get(action_type, _NO_SOURCES), raw)


def find_source(raw: str) -> str | None:
    """Return the canonical source if ``raw`` is a Source of any type, else None."""
    return _find(_ANY, raw)


def find_type(raw: str) -> str | None:
    """Return the canonical Type if ``raw`` names one (same matching as sources), else None."""
    return _find(_TYPES, raw)
