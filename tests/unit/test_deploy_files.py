"""The deployment files can't run here (no Docker engine): what can be checked, is."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_compose_publishes_on_loopback_only_and_holds_no_password() -> None:
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    published = re.findall(r'^\s*-\s*"([^"]+:\d+)"\s*$', text, re.M)
    assert published and all(p.startswith("127.0.0.1:") for p in published), published
    assert "${CLICKHOUSE_PASSWORD:?" in text
    assert not re.search(r"^\s*CLICKHOUSE_PASSWORD:\s*[^$\s]", text, re.M)  # a value, not ${...}
    assert not re.search(r"://[^:/\s]+:(?!\$)[^@\s]+@", text)  # no literal user:password@ in a URL


def test_the_image_runs_as_a_user_without_privileges() -> None:
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines()]
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")


def test_env_files_are_never_committed() -> None:
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").split()
    assert ".env" in ignored
