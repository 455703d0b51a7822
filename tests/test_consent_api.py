"""The consent API end to end, on real SQL and the chdb engine."""

import json
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from factories import ORIGIN, POLICY, clickhouse_rows, decision, post_decision, random_hex

from consent.models import ConsentRecord, NewRecord, SiteRow
from consent.schemas import DecisionOut, decision_json
from core.db import db


def _records(app) -> int:
    with app.app_context():
        return db.session.scalar(db.select(db.func.count()).select_from(ConsentRecord))


def test_accept_all_is_recorded_with_proof_and_an_event(app, client):
    response = post_decision(client, headers={"X-Country-Code": "DE"}, page="/pricing")

    assert response.status_code == 201
    body = response.get_json()
    assert len(body["consent_id"]) == 32
    assert body["action"] == "accept_all"
    assert body["choices"] == {
        "necessary": True,
        "preferences": True,
        "analytics": True,
        "marketing": True,
    }
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(days=179) < expires - datetime.now(UTC) <= timedelta(days=180)
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert response.headers["Vary"] == "Origin"

    with app.app_context():
        record = db.session.scalars(db.select(ConsentRecord)).one()
        site = app.extensions["sites"].get("demo")
        assert record.seq == 1
        assert record.texts_hash == site.texts_hash("en")
        assert (record.region, record.region_rule, record.region_model) == ("DE", "gdpr", "opt-in")
        assert record.page_origin == ORIGIN
        assert record.page_path == "/pricing"
        assert record.ip_prefix == "127.0.0.0/24"
        assert (record.dnt, record.gpc) == (False, False)

    rows = clickhouse_rows(app, "SELECT kind, action, site, region, granted FROM consent_events")
    assert rows == [
        (
            "decision",
            "accept_all",
            "demo",
            "DE",
            ["necessary", "preferences", "analytics", "marketing"],
        )
    ]


def test_reject_custom_and_session_lifetime(client):
    reject = post_decision(client, choices={}).get_json()
    assert reject["action"] == "reject_all"
    assert reject["choices"] == {
        "necessary": True,
        "preferences": False,
        "analytics": False,
        "marketing": False,
    }

    custom = post_decision(client, choices={"analytics": True}, lifetime="session").get_json()
    assert custom["action"] == "custom"
    assert custom["lifetime"] == "session"
    assert custom["expires_at"] is None


def test_necessary_cannot_be_refused(client):
    body = post_decision(client, choices={"necessary": False}).get_json()
    assert body["choices"]["necessary"] is True


def test_later_decisions_reuse_the_consent_id_and_history_is_kept(app, client):
    first = post_decision(client).get_json()
    second = post_decision(client, consent_id=first["consent_id"], choices={}).get_json()
    assert second["consent_id"] == first["consent_id"]

    withdrawn = client.delete(f"/api/v1/consents/{first['consent_id']}", headers={"Origin": ORIGIN})
    assert withdrawn.status_code == 200
    assert withdrawn.get_json()["action"] == "withdraw"

    state = client.get(f"/api/v1/consents/{first['consent_id']}").get_json()
    assert state["action"] == "withdraw"
    assert state["choices"]["analytics"] is False
    assert [r["action"] for r in state["history"]] == ["accept_all", "reject_all", "withdraw"]
    assert [r["seq"] for r in state["history"]] == [1, 2, 3]
    assert state["history"][1]["prev_hash"] == state["history"][0]["hash"]
    assert state["expired"] is False
    assert state["outdated"] is False

    actions = clickhouse_rows(
        app, "SELECT action FROM consent_events WHERE kind = 'decision' ORDER BY ts"
    )
    assert [a for (a,) in actions] == ["accept_all", "reject_all", "withdraw"]


def test_an_unknown_consent_id_gets_a_new_server_made_id(client):
    chosen = random_hex()
    body = post_decision(client, consent_id=chosen).get_json()
    assert body["consent_id"] != chosen


def test_impressions_are_counted_in_clickhouse(app, client):
    response = client.post(
        "/api/v1/sites/demo/impressions",
        json={"language": "de", "page": "/"},
        headers={"Origin": ORIGIN, "Sec-GPC": "1"},
    )
    assert response.status_code == 204
    rows = clickhouse_rows(app, "SELECT kind, language, gpc FROM consent_events")
    assert rows == [("impression", "de", 1)]


@pytest.mark.parametrize(
    ("headers", "signals", "expected"),
    [
        ({}, None, (False, False)),
        ({"DNT": "1"}, None, (True, False)),
        ({"Sec-GPC": "1"}, None, (False, True)),
        ({"DNT": "1", "Sec-GPC": "1"}, None, (True, True)),
        ({"DNT": "0", "Sec-GPC": "0"}, None, (False, False)),
        ({}, {"gpc": True}, (False, True)),
        ({}, {"dnt": True, "gpc": False}, (True, False)),
    ],
)
def test_dnt_and_gpc_are_stored_on_the_record_and_the_event(
    app, client, headers, signals, expected
):
    overrides = {"choices": {}} | ({"signals": signals} if signals else {})
    body = post_decision(client, headers=headers, **overrides).get_json()
    state = client.get(f"/api/v1/consents/{body['consent_id']}").get_json()
    record = state["history"][0]
    assert (record["dnt"], record["gpc"]) == expected
    rows = clickhouse_rows(app, "SELECT dnt, gpc FROM consent_events")
    assert rows == [tuple(int(v) for v in expected)]


def test_gpc_action_needs_the_signal_and_refuses_everything(client):
    refused = post_decision(client, choices={}, action="gpc")
    assert refused.status_code == 422
    assert refused.get_json()["error"]["code"] == "no_signal"

    honoured = post_decision(client, headers={"Sec-GPC": "1"}, choices={}, action="gpc")
    assert honoured.status_code == 201
    assert honoured.get_json()["action"] == "gpc"


def test_concurrent_decisions_keep_one_unbroken_chain(app):
    from concurrent.futures import ThreadPoolExecutor

    def decide(_):
        return post_decision(app.test_client()).get_json()["record_id"]

    # Enough threads that decisions arrive while others commit and share their commits.
    with ThreadPoolExecutor(max_workers=8) as pool:
        answered = list(pool.map(decide, range(64)))
    with app.app_context():
        stored = db.session.execute(
            db.select(ConsentRecord.record_id, ConsentRecord.seq).order_by(ConsentRecord.seq)
        ).all()
        assert [seq for _, seq in stored] == list(range(1, 65))
        assert sorted(record_id for record_id, _ in stored) == sorted(answered)
        from consent.chain import verify_chain

        assert verify_chain("demo").valid
    assert clickhouse_rows(app, "SELECT count(), uniqExact(event_id) FROM consent_events") == [
        (64, 64)
    ]


def test_a_site_added_since_the_last_upgrade_gets_its_chain_row(app, client):
    with app.app_context():
        db.session.execute(db.delete(SiteRow))
        db.session.commit()
    assert post_decision(client).status_code == 201
    with app.app_context():
        row = db.session.get(SiteRow, "demo")
        assert row.chain_seq == 1
        assert row.chain_head == db.session.scalars(db.select(ConsentRecord.hash)).one()


# --- bad input: a clear 4xx and nothing written ---------------------------------------

BIG = "x" * (17 * 1024)

BAD_POSTS = [
    # (name, raw body or dict, content type, headers, status, code)
    ("malformed json", '{"site": "demo",', "application/json", {}, 400, "malformed_json"),
    ("empty body", "", "application/json", {}, 400, "malformed_json"),
    ("not an object", "[1, 2]", "application/json", {}, 422, "invalid"),
    (
        "form encoded",
        "site=demo",
        "application/x-www-form-urlencoded",
        {},
        415,
        "unsupported_media_type",
    ),
    ("unknown field", decision(tracking=True), None, {}, 422, "invalid"),
    (
        "missing choices",
        {k: v for k, v in decision().items() if k != "choices"},
        None,
        {},
        422,
        "invalid",
    ),
    ("choice not a bool", decision(choices={"analytics": "yes"}), None, {}, 422, "invalid"),
    ("choice as number", decision(choices={"analytics": 1}), None, {}, 422, "invalid"),
    ("choices not an object", decision(choices=["analytics"]), None, {}, 422, "invalid"),
    ("lifetime wrong type", decision(lifetime=3), None, {}, 422, "invalid"),
    ("lifetime unknown", decision(lifetime="forever"), None, {}, 422, "invalid"),
    ("site id malformed", decision(site="../etc"), None, {}, 422, "invalid"),
    ("unknown site", decision(site="nosuchsite"), None, {}, 404, "unknown_site"),
    ("unknown category", decision(choices={"tracking": True}), None, {}, 422, "unknown_category"),
    ("unknown language", decision(language="xx"), None, {}, 422, "unknown_language"),
    ("outdated policy", decision(policy_version="2020-01-01"), None, {}, 409, "policy_outdated"),
    ("consent id malformed", decision(consent_id="not-a-consent-id"), None, {}, 422, "invalid"),
    ("page not a path", decision(page="https://evil.example/"), None, {}, 422, "invalid"),
    ("page with a NUL", decision(page="/a\u0000b"), None, {}, 422, "invalid"),
    (
        "accept_all refusing",
        decision(action="accept_all", choices={}),
        None,
        {},
        422,
        "inconsistent_action",
    ),
    ("reject_all granting", decision(action="reject_all"), None, {}, 422, "inconsistent_action"),
    ("unknown action", decision(action="maybe"), None, {}, 422, "invalid"),
    ("dnt without signal", decision(action="dnt", choices={}), None, {}, 422, "no_signal"),
    ("oversized body", decision(page="/" + BIG), None, {}, 413, "payload_too_large"),
    ("bad origin", decision(), None, {"Origin": "https://evil.example"}, 403, "bad_origin"),
    (
        "origin of another scheme",
        decision(),
        None,
        {"Origin": "https://localhost:5173"},
        403,
        "bad_origin",
    ),
]


@pytest.mark.parametrize(
    ("body", "content_type", "headers", "status", "code"),
    [case[1:] for case in BAD_POSTS],
    ids=[case[0] for case in BAD_POSTS],
)
def test_bad_decisions_get_a_clear_error_and_write_nothing(
    app, client, body, content_type, headers, status, code
):
    data = body if isinstance(body, str) else json.dumps(body)
    response = client.post(
        "/api/v1/consents",
        data=data,
        content_type=content_type or "application/json",
        headers={"Origin": ORIGIN, **headers},
    )

    assert response.status_code == status, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert _records(app) == 0
    with app.app_context():
        assert (
            db.session.scalar(db.select(db.func.coalesce(db.func.sum(SiteRow.chain_seq), 0))) == 0
        )
    assert app.extensions["events"].health()["spool"]["backlog_events"] == 0


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("get", "/api/v1/consents/NOT-HEX", 400, "invalid_consent_id"),
        ("delete", "/api/v1/consents/abc", 400, "invalid_consent_id"),
        ("get", "/api/v1/consents/" + "0" * 32, 404, "unknown_consent"),
        ("delete", "/api/v1/consents/" + "0" * 32, 404, "unknown_consent"),
        ("get", "/api/v1/sites/nosuchsite/config", 404, "unknown_site"),
        ("put", "/api/v1/consents", 405, "method_not_allowed"),
        ("get", "/api/v1/nothing-here", 404, "not_found"),
        ("get", "/api/v1/sites/demo/chain", 401, "unauthorized"),
    ],
)
def test_bad_paths_get_json_errors(app, client, method, path, status, code):
    response = getattr(client, method)(path, headers={"Origin": ORIGIN})
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code
    assert _records(app) == 0


def test_a_disallowed_origin_cannot_read_or_withdraw(client):
    consent_id = post_decision(client).get_json()["consent_id"]
    evil = {"Origin": "https://evil.example"}
    assert client.get(f"/api/v1/consents/{consent_id}", headers=evil).status_code == 403
    assert client.delete(f"/api/v1/consents/{consent_id}", headers=evil).status_code == 403
    state = client.get(f"/api/v1/consents/{consent_id}").get_json()
    assert len(state["history"]) == 1


# --- CORS and site config -------------------------------------------------------------


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("http://localhost:5173", True),
        ("http://127.0.0.1:8080", True),
        ("http://localhost", True),
        ("https://localhost:5173", False),
        ("http://localhost.evil.example:80", False),
        ("http://local\u0000host:80", False),
        ("https://evil.example", False),
        ("null", False),
    ],
)
def test_preflight_allows_only_configured_origins(client, origin, allowed):
    response = client.options(
        "/api/v1/consents",
        headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
    )
    if allowed:
        assert response.status_code == 204
        assert response.headers["Access-Control-Allow-Origin"] == origin
        assert "POST" in response.headers["Access-Control-Allow-Methods"]
    else:
        assert response.status_code == 403
        assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize(
    ("country", "rule", "model"),
    [
        ("DE", "gdpr", "opt-in"),
        ("GB", "gdpr", "opt-in"),
        ("US-CA", "us-state-privacy", "opt-out"),
        ("JP", "rest-of-world", "notice"),
        (None, "strictest-default", "opt-in"),
        ("XX", "strictest-default", "opt-in"),
    ],
)
def test_config_is_resolved_for_the_region(client, country, rule, model):
    headers = {"CF-IPCountry": country} if country else {}
    config = client.get("/api/v1/sites/demo/config", headers=headers).get_json()
    assert config["region"]["rule"] == rule
    assert config["region"]["model"] == model


def test_config_language_signals_and_etag(client):
    response = client.get(
        "/api/v1/sites/demo/config",
        headers={"Accept-Language": "fr-CH, de;q=0.5", "Sec-GPC": "1", "Origin": ORIGIN},
    )
    config = response.get_json()
    assert config["language"] == "fr"
    assert config["texts"]["reject_all"] == "Tout refuser"
    assert config["signals"] == {"dnt": False, "gpc": True, "policy": "strict", "honoured": True}
    assert config["policy_version"] == POLICY
    assert [c["id"] for c in config["categories"]] == [
        "necessary",
        "preferences",
        "analytics",
        "marketing",
    ]
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    vary = [v.strip() for v in response.headers["Vary"].split(",")]
    assert {"Accept-Language", "DNT", "Sec-GPC", "Origin"} <= set(vary)
    assert vary.count("Origin") == 1

    again = client.get(
        "/api/v1/sites/demo/config?lang=fr",
        headers={"If-None-Match": response.headers["ETag"], "Sec-GPC": "1"},
    )
    assert again.status_code == 304

    german = client.get("/api/v1/sites/demo/config?lang=de").get_json()
    assert german["language"] == "de"
    assert german["texts_hash"] != config["texts_hash"]


def test_health_and_gpc_statement(client):
    health = client.get("/healthz")
    assert health.status_code == 200
    body = health.get_json()
    assert body["status"] == "ok"
    assert body["sql"]["ok"] is True
    assert body["clickhouse"]["ok"] is True

    gpc = client.get("/.well-known/gpc.json").get_json()
    assert gpc["gpc"] is True
    datetime.strptime(gpc["lastUpdate"], "%Y-%m-%d")


def test_a_full_spool_refuses_decisions_before_writing_anything(make_app, tmp_path):
    make_app()  # the test's ClickHouse database exists; this app is not used
    offline = make_app(
        DATA_DIR=str(tmp_path / "offline"),
        CLICKHOUSE_URL="http://127.0.0.1:9/nowhere",
        SPOOL_MAX_BYTES=2000,
    )
    client = offline.test_client()
    statuses = [post_decision(client).status_code for _ in range(10)]
    accepted = statuses.count(201)
    assert 1 <= accepted < 10
    assert statuses == [201] * accepted + [503] * (10 - accepted)
    refused = post_decision(client)
    assert refused.get_json()["error"]["code"] == "spool_full"
    assert _records(offline) == accepted
    assert offline.extensions["events"].health()["spool"]["backlog_events"] == accepted


# --- one time format ------------------------------------------------------------------

API_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def _times(value, path="") -> dict[str, object]:
    """Every ``*_at`` value in a JSON answer, by its path."""
    found = {}
    if isinstance(value, dict):
        for key, item in value.items():
            if key.endswith("_at"):
                found[f"{path}.{key}"] = item
            found |= _times(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found |= _times(item, f"{path}[{i}]")
    return found


def test_every_timestamp_in_answers_and_receipts_has_one_format(app, client):
    persistent = post_decision(client).get_json()
    consent_id = persistent["consent_id"]
    session = post_decision(client, consent_id=consent_id, lifetime="session").get_json()
    # A time on a whole second is where isoformat() would leave the fraction out.
    whole = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    with app.app_context():
        db.session.execute(
            db.update(ConsentRecord)
            .where(ConsentRecord.record_id == session["record_id"])
            .values(created_at=whole)
        )
        db.session.commit()
    withdrawn = client.delete(f"/api/v1/consents/{consent_id}", headers={"Origin": ORIGIN})
    state = client.get(f"/api/v1/consents/{consent_id}").get_json()
    receipts = [
        client.post("/api/v1/receipts/verify", json={"receipt": answer["receipt"]}).get_json()
        for answer in (persistent, session, withdrawn.get_json())
    ]

    times = _times(
        {
            "decisions": [persistent, session, withdrawn.get_json()],
            "state": state,
            "receipts": receipts,
        }
    )
    shown = {path: value for path, value in times.items() if value is not None}
    assert {p.rsplit(".", 1)[1] for p in shown} == {"created_at", "expires_at"}
    # Expiries of the persistent decision only (the withdrawal keeps the session lifetime):
    # 3 + 1 in the decisions, the state's creation, 3 + 1 in the history, 3 + 1 in the
    # receipts.
    assert len(shown) == 13
    assert {p: v for p, v in shown.items() if not API_TIME.match(v)} == {}
    assert state["history"][1]["created_at"] == "2026-12-01T09:30:00.000000Z"


def _answer_record(kind, **fields):
    values = {
        "record_id": random_hex(),
        "consent_id": random_hex(),
        "site_id": "demo",
        "action": "custom",
        "choices": {"necessary": True, "zeta": False, "analytics": True},
        "lifetime": "persistent",
        "policy_version": 'v2 ☃ "quoted" \\ \u0007 \U0001f600 </script>',
        "texts_hash": "c" * 64,
        "language": "en",
        "region": "DE",
        "region_rule": "gdpr",
        "region_model": "opt-in",
        "dnt": False,
        "gpc": False,
        "ip_prefix": None,
        "ua_family": None,
        "page_origin": None,
        "page_path": None,
        "created_at": datetime(2026, 12, 1, 8, 30, 0, 123456, tzinfo=UTC),
        "expires_at": datetime(2027, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=-3))),
        "seq": 1,
        "prev_hash": "0" * 64,
        "hash": "a" * 64,
    }
    return kind(**values | fields)


@pytest.mark.parametrize("kind", [NewRecord, ConsentRecord])
@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"lifetime": "session", "expires_at": None, "action": "reject_all"},
        # As SQLite reads a record back: naive UTC times, whole seconds.
        {"created_at": datetime(2026, 12, 1, 8, 30), "expires_at": datetime(2027, 1, 1)},
        {"choices": {}, "policy_version": ""},
    ],
)
def test_a_decisions_answer_is_decision_outs_json(kind, fields):
    record = _answer_record(kind, **fields)
    fields = {name: getattr(record, name) for name in DecisionOut.model_fields if name != "receipt"}
    expected = DecisionOut(**fields, receipt="tok.en").model_dump_json().encode()
    assert decision_json(record, "tok.en") == expected
