"""Retention and back-fill: TTLs follow the config, rollups cover rows stored before them."""

import shutil
import uuid
from datetime import date
from functools import partial

import pytest
from events_support import SCHEMA_DIR, chdb_url, consent_row

from analytics.rollups import ReportQuery, consent_rates
from consentry import create_app
from core import jsoncodec
from core.config import ConfigError
from events import schema
from events.clickhouse import ClickHouseStore
from events.retention import Retention, apply_retention, system_log_statements


@pytest.fixture
def store(chdb_root):
    store = ClickHouseStore(chdb_url(chdb_root, f"t_{uuid.uuid4().hex[:12]}"))
    yield store
    store.command(f"DROP DATABASE IF EXISTS {store.database}")
    store.close()


def _table_sql(store: ClickHouseStore, table: str) -> str:
    return store.query(
        "SELECT create_table_query FROM system.tables WHERE database = {d:String}"
        " AND name = {t:String}",
        {"d": store.database, "t": table},
    )[0][0]


def test_configured_periods_replace_the_defaults_once(store):
    schema.upgrade(store, SCHEMA_DIR)
    assert apply_retention(store, Retention()) == []  # the migrations wrote the defaults
    changed = apply_retention(store, Retention(events_days=90, ua_ip_days=7))
    # three raw tables' row TTLs; 2 + 3 + 1 UA/IP columns (consent, email, page views)
    assert len(changed) == 3 * 1 + 2 + 3 + 1
    consent = _table_sql(store, "consent_events")
    assert "`ip_prefix` String TTL toDateTime(ts) + toIntervalDay(7)" in consent
    engine = consent.split(" ENGINE = ")[1]
    assert " TTL toDateTime(ts) + toIntervalDay(90) SETTINGS " in engine
    email = _table_sql(store, "email_events")
    assert "`user_agent` String TTL toDateTime(ts) + toIntervalDay(7)" in email
    assert "TTL toDateTime(ts) + toIntervalDay(7)" in _table_sql(store, "page_views")
    assert apply_retention(store, Retention(events_days=90, ua_ip_days=7)) == []


def test_the_app_applies_its_configured_retention_at_upgrade(make_app):
    app = make_app(EVENT_RETENTION_DAYS=365, UA_IP_RETENTION_DAYS=14)
    store = app.extensions["events"].clickhouse
    assert "toIntervalDay(14)" in _table_sql(store, "consent_events")
    assert "toIntervalDay(365)" in _table_sql(store, "email_events")


def test_log_tables_of_the_engine_get_a_ttl(store):
    # This chdb build creates no system.*_log table; one shaped like them stands in.
    schema.upgrade(store, SCHEMA_DIR)
    store.command(
        "CREATE TABLE query_log (event_date Date, event_time DateTime, query String)"
        " ENGINE = MergeTree ORDER BY event_time"
    )
    store.command("CREATE TABLE logins (event_date Date) ENGINE = MergeTree ORDER BY event_date")
    (alter,) = system_log_statements(store, 30, database=store.database)
    assert (
        alter
        == f"ALTER TABLE `{store.database}`.`query_log` MODIFY TTL event_date + toIntervalDay(30)"
    )
    store.command(alter)
    assert system_log_statements(store, 30, database=store.database) == []
    assert len(system_log_statements(store, 7, database=store.database)) == 1


def test_the_embedded_engine_has_no_unbounded_system_log(store):
    schema.upgrade(store, SCHEMA_DIR)
    assert system_log_statements(store, 30) == []


def test_rollups_count_the_rows_stored_before_their_migration(store, tmp_path):
    early = tmp_path / "schema"
    early.mkdir()
    for path in sorted(SCHEMA_DIR.glob("000[1-3]_*.sql")):
        shutil.copy(path, early)
    schema.upgrade(store, early)
    decide = partial(consent_row, "shop", ts="2026-11-02 10:00:00.000", action="accept_all")
    rows = [decide(event_id=str(uuid.uuid4()), consent_id=f"{i % 3:032x}") for i in range(7)]
    store.insert_json("consent_events", b"".join(jsoncodec.compact(r) + b"\n" for r in rows), "t1")
    assert schema.upgrade(store, SCHEMA_DIR)[:2] == ["0004_consent_rollups", "0005_email_rollups"]
    day = date(2026, 11, 2)
    (row,) = consent_rates(store, ReportQuery(day, day, "shop"))
    assert (row["decisions"], row["accept_all"], row["visitors"]) == (7, 7, 3)


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("CLICKHOUSE_CLUSTER", "prod; DROP"),
        ("EVENT_RETENTION_DAYS", 0),
        ("UA_IP_RETENTION_DAYS", "x"),
    ],
)
def test_wrong_settings_stop_start_up(tmp_path, setting, value):
    with pytest.raises(ConfigError, match=f"CONSENTRY_{setting}"):
        create_app({"DATA_DIR": str(tmp_path), "SECRET_KEYS": ["k" * 20], setting: value})
