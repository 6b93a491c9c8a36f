"""Integration fixtures: a pipeline namespace of its own per test (topics, groups, store, port)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from testkit.pipeline import Pipeline


@pytest.fixture
def env(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Pipeline]:
    """A fresh pipeline namespace; its workers are stopped at the end of the test."""
    pipeline = Pipeline(kafka_bootstrap, tmp_path)
    yield pipeline
    pipeline.stop_workers()
