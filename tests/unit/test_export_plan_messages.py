"""The one line a user reads when the export refuses a job name or ``--limit``: which parameter,
why, and the name as given (shortened to 40 characters)."""

from __future__ import annotations

import pytest

from actionlog.core.errors import BadParameter
from actionlog.query.export import plan as ex

RULE = "is not a job name (1-100 of A-Z a-z 0-9 . _ -, not starting with . _ -)"


@pytest.mark.parametrize(
    ("job", "shown"),
    [
        ("a b", "'a b'"),
        ("x" * 39 + "/", repr("x" * 39 + "/")),  # 40 characters: shown whole
        ("x" * 40 + "/", repr("x" * 40 + "…")),  # 41: the first 40 and an ellipsis
        ("x" * 101, repr("x" * 40 + "…")),
    ],
)
def test_a_bad_job_name_is_named_in_the_message(job: str, shown: str) -> None:
    with pytest.raises(BadParameter) as info:
        ex.validate_job(job)
    assert str(info.value) == f"invalid --job: {shown} {RULE}"


def test_the_export_says_why_it_refuses_limit() -> None:
    with pytest.raises(BadParameter) as info:
        ex.parse_export_params({"limit": ["5"]})
    assert str(info.value) == "invalid --limit: is not supported by export: every row of the window is delivered"
