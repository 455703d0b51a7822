"""The ready SQL of docs/analytics.md runs on the schema the migrations build."""

import re
import uuid

import pytest
from analytics_support import rollup_store
from events_support import ROOT, consent_row

from core import jsoncodec

QUERIES = re.findall(r"```sql\n(.*?)```", (ROOT / "docs" / "analytics.md").read_text(), re.S)


@pytest.fixture(scope="module")
def store(chdb_root):
    for store in rollup_store(chdb_root):
        rows = [consent_row("demo", event_id=str(uuid.uuid4())) for _ in range(3)]
        lines = b"".join(jsoncodec.compact(r) + b"\n" for r in rows)
        store.insert_json("consent_events", lines, "docs")
        yield store


def test_the_page_has_ready_queries():
    assert len(QUERIES) >= 8


@pytest.mark.parametrize("sql", QUERIES, ids=[q.split("\n")[0][:40] for q in QUERIES])
def test_each_ready_query_runs(store, sql):
    store.query(sql.strip().rstrip(";"))  # raises on an unknown table, column or function
