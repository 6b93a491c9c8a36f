"""Settings: defaults, env parsing, validation and secret masking."""

from __future__ import annotations

import pytest

from actionlog.core.errors import ConfigError
from actionlog.core.settings import Settings


def test_defaults_follow_the_contract() -> None:
    s = Settings.from_env({})
    assert s.kafka.bootstrap_servers == "localhost:9092"
    assert s.kafka.topics.type_by_topic == {
        "lms.enrollments": "enrollment",
        "lms.status-changes": "status_change",
        "lms.access-revocations": "revoked_access",
        "lms.certificate-grants": "certificate_grant",
    }
    assert (s.kafka.topics.log, s.kafka.topics.dlq) == ("content-actions-log", "content-actions-log.dlq")
    assert (s.clickhouse.database, s.clickhouse.table) == ("actionlog", "content_actions_log")
    assert s.clickhouse.embedded


def test_topic_names_are_configurable() -> None:
    s = Settings.from_env({"ACTIONLOG_TOPIC_ENROLLMENTS": "x.enr", "ACTIONLOG_TOPIC_LOG": "x.log"})
    assert s.kafka.topics.type_by_topic["x.enr"] == "enrollment"
    assert s.kafka.topics.log == "x.log"


def test_server_url_database_and_masked_password() -> None:
    s = Settings.from_env({"CLICKHOUSE_URL": "https://bob:s3cr3t@ch.example:8443/analytics"})
    assert s.clickhouse.database == "analytics"
    assert not s.clickhouse.embedded
    for text in (repr(s), str(s), repr(s.clickhouse), s.clickhouse.safe_url):
        assert "s3cr3t" not in text
    assert "bob:***@" in s.clickhouse.safe_url


def test_chdb_path_is_absolute() -> None:
    s = Settings.from_env({"CLICKHOUSE_URL": "chdb://data/store"})
    assert s.clickhouse.chdb_path.is_absolute()
    assert s.clickhouse.chdb_path.parts[-2:] == ("data", "store")


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"CLICKHOUSE_URL": "mysql://x"}, "CLICKHOUSE_URL"),
        ({"CLICKHOUSE_URL": "chdb://"}, "needs a path"),
        ({"CLICKHOUSE_URL": "http://h:8123/bad-name"}, "identifier"),
        ({"ACTIONLOG_CLICKHOUSE_TABLE": "t; DROP"}, "ACTIONLOG_CLICKHOUSE_TABLE"),
        ({"ACTIONLOG_SINK_BATCH_ROWS": "many"}, "ACTIONLOG_SINK_BATCH_ROWS"),
        ({"ACTIONLOG_SINK_BATCH_ROWS": "0"}, "at least 1"),
        ({"ACTIONLOG_SINK_BATCH_SECONDS": "-1"}, "positive"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        Settings.from_env(env)


def test_bad_url_message_masks_password() -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"CLICKHOUSE_URL": "ftp://u:hunter2@h/x"})
    assert "hunter2" not in str(info.value)
