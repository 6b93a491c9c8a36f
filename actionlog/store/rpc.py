"""The wire format between the local CLI and the worker that holds the embedded store.

With the embedded store, only the worker's process can open the data directory, so the CLI
sends it the statements it would have run itself (`actionlog.store.remote.WorkerStore`), and the
worker runs them on its store (`actionlog.web.local`). Statements and their parameters travel as
JSON; values stay parameters (``{name:Type}``) on the other side too. This listener is bound to
127.0.0.1 only and accepts only the key the worker wrote, readable by its user only, into the data
directory: being able to use it means being able to read the store's files anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["AUTH_SCHEME", "CLOCK_PATH", "COMMAND_PATH", "ROWS_PATH", "STREAM_PATH", "Statement"]

AUTH_SCHEME = "Local"
PREFIX = "/local/v1"
COMMAND_PATH = f"{PREFIX}/command"
ROWS_PATH = f"{PREFIX}/rows"
STREAM_PATH = f"{PREFIX}/stream"
CLOCK_PATH = f"{PREFIX}/clock"
_FORMATS = frozenset({"CSV", "JSONEachRow", "TabSeparated", "JSONCompactEachRow"})


@dataclass(frozen=True)
class Statement:
    """One statement to run on the worker's store.

    Attributes:
        sql: the statement, with ``{name:Type}`` placeholders.
        params: the placeholders' values (JSON values: strings, numbers, lists of them).
        fmt: for a stream, the ClickHouse output format.
    """

    sql: str
    params: dict[str, Any]
    fmt: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"sql": self.sql, "params": self.params, "fmt": self.fmt}

    @classmethod
    def from_json(cls, data: Any, *, stream: bool = False) -> Statement:
        """Check a request body.

        Raises:
            ValueError: not a statement of the expected shape.
        """
        if not isinstance(data, dict):
            raise ValueError("the body must be a JSON object")
        sql, params, fmt = data.get("sql"), data.get("params", {}), data.get("fmt", "")
        if not isinstance(sql, str) or not sql.strip():
            raise ValueError("sql must be a non-empty string")
        if not isinstance(params, dict) or not all(isinstance(k, str) for k in params):
            raise ValueError("params must be an object")
        if not isinstance(fmt, str) or (stream and fmt not in _FORMATS):
            raise ValueError(f"fmt must be one of {', '.join(sorted(_FORMATS))}")
        return cls(sql, params, fmt)
