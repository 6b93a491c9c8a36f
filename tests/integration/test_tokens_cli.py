"""`actionlog tokens create|list|revoke` on the embedded store, as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from actionlog.access.tokens import looks_like_token

pytestmark = pytest.mark.integration


def run(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CLICKHOUSE_URL": f"chdb://{tmp / 'chdb'}"}
    return subprocess.run(
        [sys.executable, "-m", "actionlog", "tokens", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_create_list_revoke(tmp_path: Path) -> None:
    admin = run(tmp_path, "create", "--name", "ops", "--admin")
    assert admin.returncode == 0, admin.stderr
    token = admin.stdout.strip()
    assert admin.stdout.count("\n") == 1 and looks_like_token(token)
    client = run(tmp_path, "create", "--name", "acme", "--panorama", "p-7", "--panorama", "p-8")
    assert client.returncode == 0, client.stderr
    assert client.stdout.strip() != token

    listed = run(tmp_path, "list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split("\t") == ["name", "role", "panoramas", "created", "last used"]
    rows = {line.split("\t")[0]: line.split("\t") for line in lines[1:]}
    assert rows["ops"][1:3] == ["admin", "-"] and rows["acme"][1:3] == ["panorama", "p-7,p-8"]
    assert rows["ops"][4] == "never"
    assert token not in listed.stdout and client.stdout.strip() not in listed.stdout

    revoked = run(tmp_path, "revoke", "acme")
    assert (revoked.returncode, revoked.stdout.strip()) == (0, "revoked acme")
    assert "acme" not in run(tmp_path, "list").stdout
    assert "acme" in run(tmp_path, "list", "--all").stdout
    again = run(tmp_path, "revoke", "acme")
    assert (again.returncode, again.stdout.strip()) == (0, "acme was revoked already")
    # A revoked name may be given to a new token.
    assert run(tmp_path, "create", "--name", "acme", "--panorama", "p-9").returncode == 0


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["create", "--name", "x"], "--admin or at least one --panorama"),
        (["create", "--name", "x", "--admin", "--panorama", "p-1"], "--admin or at least one --panorama"),
        (["create", "--name", "bad name", "--admin"], "not a token name"),
        (["create", "--name", "x", "--panorama", ""], "non-empty panorama"),
        (["revoke", "nobody"], "no token is named"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(tmp_path: Path, args: list[str], needle: str) -> None:
    res = run(tmp_path, *args)
    assert res.returncode == 2, res.stderr
    assert needle in res.stderr and res.stderr.count("\n") == 1 and res.stdout == ""


def test_a_name_in_use_is_refused(tmp_path: Path) -> None:
    assert run(tmp_path, "create", "--name", "dup", "--admin").returncode == 0
    res = run(tmp_path, "create", "--name", "dup", "--admin")
    assert res.returncode == 2 and "revoke it first" in res.stderr and res.stdout == ""
