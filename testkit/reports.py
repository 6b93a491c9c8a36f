"""Reading the report back, the way users do (CLI, HTTP)."""

from __future__ import annotations

import csv
import io

from actionlog.query.framing import CSV_HEADER
from testkit.pipeline import Pipeline

__all__ = ["cli_report_rows", "csv_rows"]


def csv_rows(body: bytes) -> list[list[str]]:
    """The data rows of a CSV report body, after checking its header."""
    assert body.startswith(CSV_HEADER), body[:200]
    rows = list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))
    return rows[1:]


def cli_report_rows(pipeline: Pipeline, *args: str) -> list[list[str]]:
    """``actionlog report ... --format csv`` in the pipeline's environment; its rows (exit 0 checked)."""
    res = pipeline.run("report", "--format", "csv", *args)
    assert res.returncode == 0, res.stderr.decode()
    return csv_rows(res.stdout)
