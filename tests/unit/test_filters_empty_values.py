"""A parameter given empty (``format=``, ``csv-formula-guard=``) is refused with a sentence that
shows the empty value as given, quoted, not as something else."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from actionlog.core.errors import BadParameter
from actionlog.query.filters import parse_report_params


@pytest.mark.parametrize(
    ("param", "why"),
    [
        ("format", "'' is not one of csv, json, ndjson"),
        ("csv-formula-guard", "'' is not true, false, 1 or 0"),
    ],
)
def test_an_empty_value_is_shown_as_empty(param: str, why: str) -> None:
    with pytest.raises(BadParameter) as caught:
        parse_report_params({param: [""]}, now=datetime(2026, 11, 28, tzinfo=UTC))
    assert (caught.value.param, caught.value.why) == (param, why)
