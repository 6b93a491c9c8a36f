"""Reading typed values from an environment mapping: each bad value is a `ConfigError` naming
the variable (the CLI turns it into exit 2 and one line). Only settings classes use this."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from actionlog.core.errors import ConfigError
from actionlog.core.secret import Secret

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def text(env: Mapping[str, str], name: str, default: str) -> str:
    """The stripped value, or ``default`` when unset or blank."""
    value = env.get(name, "").strip()
    return value or default


def integer(env: Mapping[str, str], name: str, default: int, minimum: int = 1, maximum: int | None = None) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise ConfigError(f"{name}={value} must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name}={value} must be at most {maximum}")
    return value


def number(env: Mapping[str, str], name: str, default: float, *, allow_zero: bool = False) -> float:
    """A finite number (usually of seconds): positive, or with ``allow_zero`` not negative."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ConfigError(f"{name}={raw!r} is not a finite number")
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"{name}={raw} must be {'zero or positive' if allow_zero else 'positive'}")
    return value


def optional_number(env: Mapping[str, str], name: str, *, maximum: float) -> float | None:
    """A number in ``0..maximum``, or None when unset."""
    raw = env.get(name, "").strip()
    if not raw:
        return None
    value = number(env, name, 0.0, allow_zero=True)
    if value > maximum:
        raise ConfigError(f"{name}={raw} must be between 0 and {maximum:g}")
    return value


def flag(env: Mapping[str, str], name: str, default: bool = False) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean (1/0, true/false, yes/no, on/off)")


def identifier(env: Mapping[str, str], name: str, default: str) -> str:
    value = text(env, name, default)
    if not IDENT.fullmatch(value):
        raise ConfigError(f"{name}={value!r} is not a plain identifier ([A-Za-z_][A-Za-z0-9_]*)")
    return value


def choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = text(env, name, default).lower()
    if value not in choices:
        raise ConfigError(f"{name}={value!r} must be one of {', '.join(choices)}")
    return value


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def secret(env: Mapping[str, str], name: str) -> Secret | None:
    """The value as a `Secret` (kept as given, spaces included), or None when unset or empty."""
    value = env.get(name, "")
    return Secret(value) if value else None


def optional_file(env: Mapping[str, str], name: str) -> Path | None:
    """An existing, readable regular file (absolute path), or None when unset.

    Raises:
        ConfigError: the path is not a readable file.
    """
    raw = env.get(name, "").strip()
    if not raw:
        return None
    path = Path(raw).expanduser().absolute()
    if not path.exists():
        raise ConfigError(f"{name}={raw}: no such file")
    if not path.is_file():
        raise ConfigError(f"{name}={raw}: not a regular file")
    if not os.access(path, os.R_OK):
        raise ConfigError(f"{name}={raw}: not readable by this user")
    return path
