"""The ``actionlog`` command: each pipeline stage is a subcommand.

Exit codes: 0 success; 1 the store or broker cannot be reached / failed; 2 bad arguments or
settings (one line saying which and why); 3 another run of the same export job is running.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Sequence

import click

from actionlog.cli import pipeline, privacy, reports, tokens  # noqa: F401  (each module adds its commands to `cli`)
from actionlog.cli.root import EXIT_LOCKED, EXIT_OK, EXIT_UNAVAILABLE, EXIT_USAGE, cli
from actionlog.core.errors import (
    ActionlogError,
    BadParameter,
    BrokerUnavailable,
    ConfigError,
    Conflict,
    ExportLocked,
    StoreError,
)
from actionlog.core.settings import Settings

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: runs the CLI, turning expected errors into one line and an exit code."""
    # Drivers log their own copy of errors we report in one line; the worker configures logging itself.
    for name in ("clickhouse_connect", "aiokafka"):
        logging.getLogger(name).addHandler(logging.NullHandler())
        logging.getLogger(name).propagate = False
    debug = False
    try:
        settings = Settings.from_env()
        debug = settings.debug
        cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="actionlog",
            standalone_mode=False,
            obj={"settings": settings},
        )
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        name = exc.ctx.command_path if exc.ctx else "actionlog"
        _fail(EXIT_USAGE, f"{name}: {exc.format_message()}")
    except click.Abort:
        _fail(130, "aborted")
    except BadParameter as exc:
        _fail(EXIT_USAGE, f"actionlog: {exc}")
    except ConfigError as exc:
        _fail(EXIT_USAGE, f"actionlog: bad setting: {exc}")
    except Conflict as exc:
        _fail(EXIT_USAGE, f"actionlog: {exc}")
    except ExportLocked as exc:
        _fail(EXIT_LOCKED, f"actionlog: {exc}")
    except (StoreError, BrokerUnavailable, ActionlogError, OSError) as exc:
        _fail(EXIT_UNAVAILABLE, f"actionlog: {exc}")
    except KeyboardInterrupt:
        _fail(130, "interrupted")
    except Exception as exc:  # never a traceback for a user; ACTIONLOG_DEBUG=1 shows it
        if debug:
            traceback.print_exc()
        _fail(EXIT_UNAVAILABLE, f"actionlog: unexpected error ({type(exc).__name__}): {exc}")
    sys.exit(EXIT_OK)


def _fail(code: int, line: str) -> None:
    sys.stderr.write(" ".join(line.split()) + "\n")
    sys.exit(code)
