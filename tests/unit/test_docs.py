"""The repository documents itself: every setting in .env.example and docs/operations.md, README
small enough to read, and no citation of a document that is not in the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VARIABLE = re.compile(r"\b(ACTIONLOG_[A-Z_]+[A-Z]|KAFKA_BOOTSTRAP_SERVERS|CLICKHOUSE_URL)\b")


def settings_variables() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "actionlog" / "core").rglob("*.py"):
        found |= set(VARIABLE.findall(path.read_text(encoding="utf-8")))
    return found


def test_the_settings_read_some_variables() -> None:
    assert {"KAFKA_BOOTSTRAP_SERVERS", "CLICKHOUSE_URL", "ACTIONLOG_HTTP_PORT"} <= settings_variables()


@pytest.mark.parametrize("document", [".env.example", "docs/operations.md"])
def test_every_setting_is_documented(document: str) -> None:
    text = (ROOT / document).read_text(encoding="utf-8")
    missing = sorted(v for v in settings_variables() if v not in text)
    assert not missing, f"{document} does not mention {missing}"


def test_no_variable_is_read_outside_the_settings() -> None:
    readers = []
    for path in (ROOT / "actionlog").rglob("*.py"):
        if "core" in path.relative_to(ROOT / "actionlog").parts[:1]:
            continue
        text = path.read_text(encoding="utf-8")
        if re.search(r"os\.environ|os\.getenv", text):
            readers.append(str(path.relative_to(ROOT)))
    assert not readers, readers


def test_the_readme_is_an_entry_point() -> None:
    assert len((ROOT / "README.md").read_bytes()) <= 12 * 1024


def test_links_between_documents_resolve() -> None:
    broken = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#:]+\.md)(?:#[^)]*)?\)", doc.read_text(encoding="utf-8")):
            if not (doc.parent / target).exists():
                broken.append(f"{doc.name} -> {target}")
    assert not broken, broken


def test_nothing_cites_a_contract_outside_the_repository() -> None:
    cited = []
    for path in [*ROOT.glob("actionlog/**/*.py"), *ROOT.glob("docs/*.md"), ROOT / "README.md"]:
        if re.search(r"CONTRACT|shared/spec", path.read_text(encoding="utf-8")):
            cited.append(str(path.relative_to(ROOT)))
    assert not cited, cited
