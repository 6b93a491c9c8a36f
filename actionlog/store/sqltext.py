"""Pieces of SQL text that are ours, never a user's: quoted identifiers and SETTINGS clauses.

User values never become SQL text anywhere in actionlog: they travel as ClickHouse query
parameters (``{name:Type}``). The only names that reach SQL text are the configured database
and table names, which settings already checked to be plain identifiers; `quote_identifier`
checks again and backtick-quotes them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["qualified", "quote_identifier", "settings_clause"]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def quote_identifier(name: str, what: str = "identifier") -> str:
    """Backtick-quote a configured database or table name after checking it.

    Raises:
        ValueError: ``name`` is not ``[A-Za-z_][A-Za-z0-9_]*``.
    """
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"{what} {name!r} is not a plain identifier ([A-Za-z_][A-Za-z0-9_]*)")
    return f"`{name}`"


def qualified(database: str, table: str) -> str:
    """```database`.`table```, both checked."""
    return f"{quote_identifier(database, 'database')}.{quote_identifier(table, 'table')}"


def settings_clause(pairs: Iterable[tuple[str, str]]) -> str:
    """``name = value, ...`` of our own constant settings (no keyword)."""
    return ", ".join(f"{name} = {value}" for name, value in pairs)
