"""Where the rows live: ``CLICKHOUSE_URL`` and ``ACTIONLOG_CLICKHOUSE_*``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from actionlog.core import env as e
from actionlog.core.errors import ConfigError


@dataclass(frozen=True)
class ClickHouseSettings:
    """``url`` is ``chdb://PATH`` (embedded engine, data under PATH; a relative PATH is relative to
    the working directory) or ``http(s)://user:password@host:port/database``. The database comes
    from the URL's path when it has one, else ``ACTIONLOG_CLICKHOUSE_DATABASE``.

    Attributes:
        insert_timeout: seconds before an insert is abandoned (and retried).
        read_timeout: seconds to wait for an answer to a read (and between two pieces of a
            streamed one), separate from the insert timeout.
        query_max_seconds: a report query runs at most this long (``max_execution_time``;
            the time a slow reader takes counts).
        query_max_memory: a report query uses at most this many bytes (``max_memory_usage``).
    """

    url: str = "chdb://data/chdb"
    database: str = "actionlog"
    table: str = "content_actions_log"
    insert_timeout: float = 30.0
    read_timeout: float = 300.0
    query_max_seconds: float = 900.0
    query_max_memory: int = 2 << 30

    def __repr__(self) -> str:
        return (
            f"ClickHouseSettings(url={self.safe_url!r}, database={self.database!r}, "
            f"table={self.table!r}, insert_timeout={self.insert_timeout!r}, read_timeout={self.read_timeout!r}, "
            f"query_max_seconds={self.query_max_seconds!r}, query_max_memory={self.query_max_memory!r})"
        )

    __str__ = __repr__

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ClickHouseSettings:
        url = e.text(env, "CLICKHOUSE_URL", cls.url)
        database = e.identifier(env, "ACTIONLOG_CLICKHOUSE_DATABASE", cls.database)
        parts = urlsplit(url)
        if parts.scheme == "chdb":
            if not url[len("chdb://") :]:
                raise ConfigError("CLICKHOUSE_URL=chdb:// needs a path, e.g. chdb://data/chdb")
        elif parts.scheme in ("http", "https"):
            if not parts.hostname:
                raise ConfigError(f"CLICKHOUSE_URL has no host: {e.mask_url(url)}")
            db = unquote(parts.path.strip("/"))
            if db:
                if not e.IDENT.fullmatch(db):
                    raise ConfigError(f"CLICKHOUSE_URL database {db!r} is not a plain identifier")
                database = db
        else:
            raise ConfigError(f"CLICKHOUSE_URL must start with chdb://, http:// or https://, not {e.mask_url(url)}")
        return cls(
            url=url,
            database=database,
            table=e.identifier(env, "ACTIONLOG_CLICKHOUSE_TABLE", cls.table),
            insert_timeout=e.number(env, "ACTIONLOG_CLICKHOUSE_INSERT_TIMEOUT", cls.insert_timeout),
            read_timeout=e.number(env, "ACTIONLOG_CLICKHOUSE_READ_TIMEOUT", cls.read_timeout),
            query_max_seconds=e.number(env, "ACTIONLOG_CLICKHOUSE_QUERY_MAX_SECONDS", cls.query_max_seconds),
            query_max_memory=e.integer(
                env, "ACTIONLOG_CLICKHOUSE_QUERY_MAX_MEMORY", cls.query_max_memory, minimum=1 << 20
            ),
        )

    @property
    def embedded(self) -> bool:
        return self.url.startswith("chdb://")

    @property
    def chdb_path(self) -> Path:
        """Absolute data directory of the embedded engine."""
        return Path(self.url[len("chdb://") :]).expanduser().absolute()

    @property
    def safe_url(self) -> str:
        return e.mask_url(self.url)
