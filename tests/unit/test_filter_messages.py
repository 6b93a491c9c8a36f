"""A refused report parameter is one line that says which parameter, echoes the value as given
(shortened to 40 characters and an ellipsis) and says why."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from actionlog.core.errors import BadParameter
from actionlog.query.filters import parse_report_params

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def refusal(params: dict[str, list[str]], default_days: int | None = 30) -> BadParameter:
    with pytest.raises(BadParameter) as info:
        parse_report_params(params, now=NOW, default_days=default_days)
    assert "\n" not in str(info.value)
    assert str(info.value) == f"invalid --{info.value.param}: {info.value.why}"
    return info.value


@pytest.mark.parametrize(
    ("params", "param", "why"),
    [
        ({"from": ["2026-13-01"]}, "from", "'2026-13-01' is not a valid date"),
        ({"from": ["2026-11-01T00:00+24:00"]}, "from", "'2026-11-01T00:00+24:00' is not a valid date and time"),
        ({"from": ["2027-01-01"]}, "from", "'2027-01-01' is in the future"),
        ({"from": ["2026-11-05"], "to": ["2026-11-01"]}, "from", "'2026-11-05' is not before --to '2026-11-01'"),
        ({"format": ["xml"]}, "format", "'xml' is not one of csv, json, ndjson"),
        ({"csv-formula-guard": ["maybe"]}, "csv-formula-guard", "'maybe' is not true, false, 1 or 0"),
        ({"limit": ["0"]}, "limit", "'0' is not a positive integer"),
        ({"source": ["teleport"]}, "source", "unknown source 'teleport'"),
        (
            {"type": ["nope"]},
            "type",
            "unknown action type 'nope' (one of: enrollment, status_change, revoked_access, certificate_grant)",
        ),
        ({"learner": [""]}, "learner", "must not be empty"),
        ({"tz": ["UTC", "UTC"]}, "tz", "may be given only once"),
        ({"bogus": ["1"]}, "bogus", "unknown parameter"),
    ],
)
def test_which_and_why(params: dict[str, list[str]], param: str, why: str) -> None:
    refused = refusal(params)
    assert (refused.param, refused.why) == (param, why)


def test_a_long_value_is_shortened() -> None:
    assert refusal({"format": ["x" * 41]}).why == f"{'x' * 40 + '…'!r} is not one of csv, json, ndjson"
    assert refusal({"format": ["x" * 40]}).why == f"{'x' * 40!r} is not one of csv, json, ndjson"


def test_a_to_at_the_earliest_instant_is_named() -> None:
    refused = refusal({"to": ["1900-01-01T00:00Z"]}, default_days=None)
    assert (refused.param, refused.why) == ("to", "'1900-01-01T00:00Z' is not after 1900-01-01T00:00:00+00:00")
