"""Sealed counts (analytics.sealing): a report takes a (campaign, send day)'s numbers from
its seal only while the key's states are those the seal was made from; any other key is
counted from its states. So sealing changes how long a report takes, never a number.

The property test of tests/test_analytics_email.py seals after randomly drawn batches and
compares every report with a brute-force recount; these tests pin the contract itself.
"""

import shutil
import uuid
from datetime import date, timedelta

import pytest
from analytics_support import at, empty, insert_batches, rollup_store
from events_support import SCHEMA_DIR, chdb_url, closed_port_url, wait_for

from analytics import sealing
from analytics.corrections import RollupRefresher
from analytics.rollups import ReportQuery, open_rates
from events import schema
from events.clickhouse import ClickHouseStore

TABLES = ("email_events", "email_reclassified", "email_daily", "email_age_daily", sealing.SEALED)
FIRST_DAY = date(2026, 11, 1)
MONTH = ReportQuery(FIRST_DAY, FIRST_DAY + timedelta(days=29))
SPRING = ("spring", FIRST_DAY)
SUMMER = ("summer", FIRST_DAY + timedelta(days=1))


@pytest.fixture(scope="module")
def store(chdb_root):
    yield from rollup_store(chdb_root)


def sent_and_opened(key, messages: int, opens: int, agent: str = "human") -> list[dict]:
    """``messages`` messages of a campaign sent on its day, the first ``opens`` opened."""
    campaign, day = key
    offset = (day - FIRST_DAY).days
    rows = []
    for m in range(messages):
        message = f"{campaign}-{m}-{uuid.uuid4().hex[:6]}"
        kinds = ["sent", "open"] if m < opens else ["sent"]
        for kind in kinds:
            rows.append({
                "event_id": str(uuid.uuid4()), "ts": at(offset, 60 if kind == "open" else 0),
                "kind": kind, "site": "demo", "campaign": campaign, "list": "default",
                "message_id": message, "recipient": "", "tracking": "individual",
                "sent_at": at(offset, 0), "agent_class": agent if kind == "open" else "",
            })  # fmt: skip
    return rows


def numbers(store) -> dict[str, tuple[int, int, int]]:
    """(sent, unique opens, human opens) per campaign over the month."""
    return {
        row["campaign"]: (row["sent"], row["unique_opens"], row["human_opens"])
        for row in open_rates(store, MONTH)
    }


def test_a_seal_is_taken_only_while_its_key_is_unchanged(store):
    empty(store, TABLES)
    insert_batches(store, "email_events", [sent_and_opened(SPRING, 4, 2)], [])
    insert_batches(store, "email_events", [sent_and_opened(SUMMER, 3, 3, "apple_mpp")], [])
    assert sorted(sealing.unsealed(store)) == [SPRING, SUMMER]
    counted = numbers(store)
    assert counted == {"spring": (4, 2, 2), "summer": (3, 3, 0)}

    assert sealing.seal(store) == 2
    assert sealing.unsealed(store) == []
    assert sealing.seal(store) == 0  # nothing changed since
    assert numbers(store) == counted

    # A seal whose changes value is the key's is trusted as it stands (that is what makes
    # the report fast): planted here with other numbers, the report shows them.
    (changes,) = store.query(
        "SELECT changes FROM email_daily_sealed FINAL WHERE campaign = 'spring'"
    )[0]
    plant = "INSERT INTO email_daily_sealed (campaign, send_day, changes, sent, sealed_at) "
    store.command(plant + "VALUES ('spring', {d:Date}, {c:UInt64}, 99, now64(6))",
                  {"d": FIRST_DAY, "c": changes})  # fmt: skip
    assert numbers(store)["spring"] == (99, 0, 0)
    # One more event of the key: its states moved on, the planted seal no longer counts.
    insert_batches(store, "email_events", [sent_and_opened(SPRING, 1, 1)], [])
    assert sealing.unsealed(store) == [SPRING]
    assert numbers(store) == {"spring": (5, 3, 3), "summer": (3, 3, 0)}
    # A replayed batch adds rows (with new changes values) but no number.
    insert_batches(store, "email_events", [sent_and_opened(SUMMER, 0, 0)], [])
    assert sealing.seal(store) == 1
    assert numbers(store) == {"spring": (5, 3, 3), "summer": (3, 3, 0)}
    # A seal made from other states (say, by a process that read before the last insert)
    # is not taken either.
    store.command(plant + "VALUES ('summer', {d:Date}, 12345, 77, now64(6))", {"d": SUMMER[1]})
    assert sealing.unsealed(store) == [SUMMER]
    assert numbers(store)["summer"] == (3, 3, 0)


def test_a_replayed_batch_unseals_its_key_and_changes_no_number(store):
    empty(store, TABLES)
    batch = sent_and_opened(SPRING, 3, 1)
    insert_batches(store, "email_events", [batch], [])
    sealing.seal(store)
    insert_batches(store, "email_events", [batch], [])  # shipped twice, new token
    assert sealing.unsealed(store) == [SPRING]
    assert numbers(store) == {"spring": (3, 1, 1)}
    sealing.seal(store)
    assert numbers(store) == {"spring": (3, 1, 1)}


def test_a_recount_of_corrections_unseals_its_key(store):
    empty(store, TABLES)
    events = sent_and_opened(SPRING, 2, 2)
    insert_batches(store, "email_events", [events], [])
    sealing.seal(store)
    assert numbers(store) == {"spring": (2, 2, 2)}
    opened = next(e for e in events if e["kind"] == "open")
    correction = {"event_id": opened["event_id"], "ts": opened["ts"], "campaign": "spring",
                  "message_id": opened["message_id"], "agent_class": "security_scanner",
                  "agent_reason": "burst:honeypot_link"}  # fmt: skip
    insert_batches(store, "email_reclassified", [[correction]], [])
    RollupRefresher(store, SCHEMA_DIR, today=lambda: FIRST_DAY)([correction])
    assert sealing.unsealed(store) == [SPRING]
    assert numbers(store) == {"spring": (2, 2, 1)}
    sealing.seal(store)
    assert numbers(store) == {"spring": (2, 2, 1)}


def test_keys_are_read_in_chunks(store, monkeypatch):
    # Many stale keys are named to the engine a few at a time (bound arrays).
    monkeypatch.setattr(sealing, "_CHUNK", 2)
    empty(store, TABLES)
    keys = [(f"c{n}", FIRST_DAY + timedelta(days=n)) for n in range(5)]
    insert_batches(store, "email_events", [sent_and_opened(k, 2, 1) for k in keys], [])
    expected = {f"c{n}": (2, 1, 1) for n in range(5)}
    assert numbers(store) == expected
    assert sealing.seal(store) == 5
    assert numbers(store) == expected
    assert sealing.unsealed(store) == []


class CountingStore:
    """A store that counts the queries it is asked (commands pass through)."""

    def __init__(self, store: ClickHouseStore):
        self.store = store
        self.queries = 0

    def query(self, sql: str, parameters: dict | None = None) -> list[tuple]:
        self.queries += 1
        return self.store.query(sql, parameters)

    def command(self, sql: str, parameters: dict | None = None) -> object:
        return self.store.command(sql, parameters)


def test_the_periodic_sealer_works_through_a_backlog_a_few_keys_a_run(store):
    empty(store, TABLES)
    keys = [(f"c{n}", FIRST_DAY + timedelta(days=n)) for n in range(5)]
    insert_batches(store, "email_events", [sent_and_opened(k, 2, 1) for k in keys], [])
    counting = CountingStore(store)
    sealer = sealing.Sealer(counting, per_run=2)
    # The latest send days first; while keys may be left, again after the next round.
    assert sealer() == 0.0
    assert sealing.unsealed(store) == keys[2::-1]
    assert sealer() == 0.0
    assert sealing.unsealed(store) == keys[:1]
    assert sealer() is None
    assert sealing.unsealed(store) == []
    # Nothing changed since: two small queries, nothing else.
    asked = counting.queries
    assert sealer() is None
    assert counting.queries == asked + 2
    # Seals gone (a restored backup without them, say): the next run seals again.
    store.command(f"TRUNCATE TABLE {sealing.SEALED}")
    assert [sealer(), sealer(), sealer()] == [0.0, 0.0, None]
    assert sealing.unsealed(store) == []
    # A new open of one key: the next run seals it.
    insert_batches(store, "email_events", [sent_and_opened(keys[1], 1, 1)], [])
    assert sealing.unsealed(store) == [keys[1]]
    assert sealer() is None
    assert sealing.unsealed(store) == []
    assert numbers(store)["c1"] == (3, 2, 2)


def test_rows_rolled_up_before_0008_are_counted_and_sealed(chdb_root, tmp_path):
    # Rows of email_daily from before the changes column have 0 there; the back-fill of
    # 0008 gives their keys new values, except a key whose raw events are gone (expired),
    # which keeps 0: it must read as unsealed (no seal to match), then seal as any other.
    store = ClickHouseStore(chdb_url(chdb_root, f"t_{uuid.uuid4().hex[:12]}"))
    early = tmp_path / "schema"
    early.mkdir()
    for path in sorted(SCHEMA_DIR.glob("000[1-7]_*.sql")):
        shutil.copy(path, early)
    try:
        schema.upgrade(store, early)
        insert_batches(store, "email_events", [sent_and_opened(SPRING, 3, 2)], [])
        store.command("TRUNCATE TABLE email_events")  # spring's raw events expired
        insert_batches(store, "email_events", [sent_and_opened(SUMMER, 2, 1)], [])
        assert schema.upgrade(store, SCHEMA_DIR) == ["0008_email_daily_sealed"]
        assert sorted(sealing.unsealed(store)) == [SPRING, SUMMER]
        assert numbers(store) == {"spring": (3, 2, 2), "summer": (2, 1, 1)}
        assert sealing.seal(store) == 2
        assert numbers(store) == {"spring": (3, 2, 2), "summer": (2, 1, 1)}
        # The view made again by 0008 rolls up new events, with their changes values.
        insert_batches(store, "email_events", [sent_and_opened(SUMMER, 1, 0)], [])
        assert sealing.unsealed(store) == [SUMMER]
        assert numbers(store) == {"spring": (3, 2, 2), "summer": (3, 1, 1)}
    finally:
        store.command(f"DROP DATABASE IF EXISTS {store.database}")
        store.close()


def test_the_shipper_seals_what_changed(make_app):
    app = make_app()
    pipeline = app.extensions["events"]
    for row in sent_and_opened(SPRING, 2, 1):
        pipeline.emit("email_events", row)
    assert pipeline.flush(timeout=30)
    wait_for(
        lambda: not sealing.unsealed(pipeline.clickhouse),
        timeout=4 * sealing.SEAL_SECONDS,
        failure="the shipper did not seal the new key",
    )
    assert pipeline.health()["tasks"]["seal_email_rollup"]["last_error"] is None
    (row,) = open_rates(pipeline.clickhouse, MONTH)
    assert (row["sent"], row["unique_opens"]) == (2, 1)


def test_nothing_is_sealed_on_a_cluster(make_app):
    # A key's rows sit on several shards there, which FINAL does not merge.
    embedded = make_app()  # the first app migrates its store
    assert "seal_email_rollup" in embedded.extensions["events"].health()["tasks"]
    server = make_app(CLICKHOUSE_URL=closed_port_url())
    assert "seal_email_rollup" in server.extensions["events"].health()["tasks"]
    cluster = make_app(CLICKHOUSE_URL=closed_port_url(), CLICKHOUSE_CLUSTER="events")
    assert "seal_email_rollup" not in cluster.extensions["events"].health()["tasks"]
