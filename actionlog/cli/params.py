"""The report filters as click options, and click's values as the report parameter mapping.

The option names come from `actionlog.query.filters` (`MULTI_KEYS`, the single-valued keys), so
the CLI and the HTTP endpoint accept exactly the same parameters under the same names.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from actionlog.core.errors import BadParameter
from actionlog.query.filters import MULTI_KEYS

__all__ = ["check_output", "filter_options", "report_params"]

_HELP = {
    "panorama": "Panorama id or name (case-insensitive). Repeatable.",
    "content": "Content id. Repeatable.",
    "learner": "Learner id or email (case-insensitive). Repeatable.",
    "type": "Action type. Repeatable.",
    "source": "Action source (aliases accepted). Repeatable.",
    "course-group": "Course group id. Repeatable.",
    "content-type": "Content type (case-insensitive). Repeatable.",
}


def _dest(key: str) -> str:
    """The Python name click gives an option (``course-group`` -> ``course_group``)."""
    return key.replace("-", "_") + ("_" if key == "type" else "")


def filter_options(f: Any) -> Any:
    """The report filters (shared by report and export)."""
    options = [
        click.option("--from", "from_", metavar="DATE|DATETIME", help="YYYY-MM-DD (whole day, in --tz) or RFC 3339."),
        click.option("--to", "to", metavar="DATE|DATETIME", help="YYYY-MM-DD (inclusive) or RFC 3339 (exclusive)."),
        *(click.option(f"--{key}", _dest(key), multiple=True, help=_HELP[key]) for key in MULTI_KEYS),
        click.option("--format", "fmt", default="csv", show_default=True, help="csv, json or ndjson."),
        click.option("--tz", default="UTC", show_default=True, help="IANA time zone of dates and timestamps."),
        click.option(
            "--csv-formula-guard/--no-csv-formula-guard",
            default=True,
            show_default=True,
            help="Prefix CSV cells that a spreadsheet would run as a formula with a quote (OWASP).",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def report_params(kw: dict[str, Any], limit: str | None = None) -> dict[str, list[str]]:
    """Click's values as the mapping `parse_report_params` takes (names as in the HTTP API)."""
    params: dict[str, list[str]] = {}
    singles = {"from": kw.get("from_"), "to": kw.get("to"), "format": kw.get("fmt"), "tz": kw.get("tz")}
    for name, value in singles.items():
        if value is not None:
            params[name] = [value]
    if limit is not None:
        params["limit"] = [limit]
    params["csv-formula-guard"] = ["true" if kw.get("csv_formula_guard", True) else "false"]
    for key in MULTI_KEYS:
        values: Sequence[str] = kw.get(_dest(key)) or ()
        if values:
            params[key] = list(values)
    return params


def check_output(output: Path) -> None:
    """Refuse an ``--output`` that cannot be written, before any I/O (exit 2)."""
    parent = output.expanduser().absolute().parent
    if output.expanduser().is_dir():
        raise BadParameter("output", f"{str(output)!r} is a directory")
    if not parent.is_dir():
        raise BadParameter("output", f"directory {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise BadParameter("output", f"directory {str(parent)!r} is not writable")
