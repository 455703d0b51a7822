"""Builders for request bodies and records, so tests state only what they vary."""

import secrets

POLICY = "2026-11-01"
ORIGIN = "http://localhost:5173"


def decision(**overrides) -> dict:
    body = {
        "site": "demo",
        "choices": {"preferences": True, "analytics": True, "marketing": True},
        "lifetime": "persistent",
        "policy_version": POLICY,
        "language": "en",
    }
    body.update(overrides)
    return body


def post_decision(client, headers=None, **overrides):
    return client.post(
        "/api/v1/consents",
        json=decision(**overrides),
        headers={"Origin": ORIGIN, **(headers or {})},
    )


def clickhouse_rows(app, sql: str, **parameters) -> list[tuple]:
    """Ship everything spooled, then query this test's ClickHouse database."""
    pipeline = app.extensions["events"]
    assert pipeline.flush(timeout=30), pipeline.health()
    return pipeline.clickhouse.query(sql, parameters=parameters)


def random_hex() -> str:
    return secrets.token_hex(16)
