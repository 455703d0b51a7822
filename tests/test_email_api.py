"""The email API over the real stores: minting (one, a batch, into HTML), modes, suppression, auth.

Suppressions are written straight into the table here: the pages that record them (one-click
unsubscribe, the preference page) are another part's, and minting only reads them.
"""

import json
import re
from datetime import UTC, datetime

import pytest
from factories import clickhouse_rows
from sqlalchemy import func, insert, select

from consentry import create_app
from core.config import ConfigError
from core.db import db
from core.keys import create_key
from pixel import identity, tokens
from pixel.models import Message, Recipient, Suppression

EVENTS = (
    "SELECT kind, message_id, recipient, tracking, campaign, list, site, "
    "toString(sent_at) FROM email_events ORDER BY ts, message_id"
)
HTML = (
    '<html><body><p><a href="https://shop.example.com/sale">Sale</a> '
    '<a href="mailto:help@shop.example.com">Help</a></p>'
    '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p></body></html>'
)


@pytest.fixture
def key(app):
    with app.app_context():
        return create_key("mailer")


@pytest.fixture
def auth(key):
    return {"Authorization": f"Bearer {key}"}


def _post(client, auth, path="/api/v1/messages", **body):
    return client.post(path, json={"campaign": "dec", **body}, headers=auth)


def _keys(app) -> list[str]:
    return app.config["SECRET_KEYS"]


def _count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def _message(app, message_id: str) -> Message | None:
    with app.app_context():
        row = db.session.get(Message, message_id)
        if row is not None:
            db.session.expunge(row)
        return row


def _suppress(app, **fields) -> None:
    row = {
        "site": "demo",
        "kind": "unsubscribe",
        "list": "default",
        "method": "one_click",
        "created_at": datetime.now(UTC),
    } | fields
    with app.app_context():
        db.session.execute(insert(Suppression).values(row))
        db.session.commit()


def _tracked_id(answer: dict) -> str | None:
    """The id the pixel carries, read back from its signed URL as the pixel endpoint will."""
    if answer["pixel_url"] is None:
        return None
    token = re.fullmatch(r"http://127\.0\.0\.1:8000/o/(.+)\.gif", answer["pixel_url"])[1]
    return tokens.read_message(KEYS, tokens.OPEN, token)


KEYS = ["test-signing-key-0123456789abcdef"]  # conftest's


# --- one message ----------------------------------------------------------------------


def test_a_message_answers_its_mode_pixel_unsubscribe_url_and_headers(make_app):
    app = make_app(EMAIL_TRACKING_CONSENT="not_required")
    client = app.test_client()
    with app.app_context():
        auth = {"Authorization": f"Bearer {create_key('mailer')}"}
    response = _post(client, auth, recipient="crm-1", email="ann@example.com", list="news")
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    answer = response.get_json()
    assert set(answer) == {
        "message_id",
        "tracking",
        "suppressed",
        "pixel_url",
        "pixel_html",
        "unsubscribe_url",
        "headers",
    }
    message_id = answer["message_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", message_id)
    assert answer["tracking"] == "individual"
    assert answer["suppressed"] is False
    assert _tracked_id(answer) == message_id
    assert answer["pixel_html"].startswith(f'<img src="{answer["pixel_url"]}" width="1"')
    unsubscribe = re.fullmatch(r"http://127\.0\.0\.1:8000/u/(.+)", answer["unsubscribe_url"])
    assert tokens.read_message(KEYS, tokens.UNSUBSCRIBE, unsubscribe[1]) == message_id
    assert answer["headers"] == {
        "List-Unsubscribe": f"<{answer['unsubscribe_url']}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "List-Id": "<news.demo.127.0.0.1>",
    }
    assert "ann" not in json.dumps(answer)
    assert "crm-1" not in json.dumps(answer)

    stored = _message(app, message_id)
    assert (stored.site, stored.campaign, stored.list, stored.tracking) == (
        "demo",
        "dec",
        "news",
        "individual",
    )
    assert stored.sent_at is not None
    with app.app_context():
        recipient = db.session.get(Recipient, stored.recipient_id)
        assert recipient.external_id == "crm-1"
        assert recipient.email == "ann@example.com"
        assert recipient.email_hash == identity.email_hash(KEYS, "ann@example.com")
        pseudonym = recipient.pseudonym
    rows = clickhouse_rows(app, EVENTS)
    assert [r[:7] for r in rows] == [
        ("sent", message_id, pseudonym, "individual", "dec", "news", "demo")
    ]
    assert rows[0][7] != ""  # sent_at, for "seconds since send" on the hit path


def test_by_default_unknown_consent_is_counted_only_in_aggregate(app, client, auth):
    answer = _post(client, auth, recipient="crm-1", email="ann@example.com").get_json()
    assert answer["tracking"] == "aggregate"
    anonymous_id = _tracked_id(answer)
    assert anonymous_id is not None
    assert anonymous_id != answer["message_id"]
    # The pixel's row names no recipient; the recipient's row does, and no column joins them.
    anonymous = _message(app, anonymous_id)
    assert anonymous.recipient_id is None
    assert (anonymous.campaign, anonymous.site, anonymous.tracking) == ("dec", "demo", "aggregate")
    assert anonymous.sent_at is not None
    assert _message(app, answer["message_id"]).recipient_id is not None
    rows = clickhouse_rows(app, EVENTS)
    assert [r[:4] for r in rows] == [("sent", anonymous_id, "", "aggregate")]


def test_render_puts_pixel_and_tracked_links_into_the_email(app, client, auth):
    client.post("/api/v1/recipients/crm-1/tracking", json={"consent": "granted"}, headers=auth)
    response = _post(client, auth, "/api/v1/messages/render", recipient="crm-1", html=HTML)
    assert response.status_code == 201
    answer = response.get_json()
    assert answer["tracking"] == "individual"
    html = answer["html"]
    assert html.count(answer["pixel_html"]) == 1
    assert html.index(answer["pixel_html"]) == html.index("</body>") - len(answer["pixel_html"])
    links = re.findall(r'href="([^"]+)"', html)
    sale, mailto, unsubscribe, honeypot = links
    assert mailto == "mailto:help@shop.example.com"
    assert unsubscribe == answer["unsubscribe_url"]
    base = "http://127.0.0.1:8000/c/"
    assert tokens.read_click(KEYS, sale.removeprefix(base)) == tokens.Click(
        answer["message_id"], "https://shop.example.com/sale"
    )
    assert tokens.read_click(KEYS, honeypot.removeprefix(base)) == tokens.Click(
        answer["message_id"], None
    )


def test_render_in_aggregate_mode_signs_links_with_the_anonymous_id(app, client, auth):
    answer = _post(client, auth, "/api/v1/messages/render", recipient="r", html=HTML).get_json()
    sale = re.findall(r'href="([^"]+)"', answer["html"])[0]
    click = tokens.read_click(KEYS, sale.removeprefix("http://127.0.0.1:8000/c/"))
    assert click.message_id == _tracked_id(answer) != answer["message_id"]


# --- no pixel for who said no ---------------------------------------------------------


def _assert_untracked(client, auth, recipient: str, suppressed: bool, **body) -> dict:
    answer = _post(client, auth, recipient=recipient, **body).get_json()
    assert answer["tracking"] == "none"
    assert answer["suppressed"] is suppressed
    assert answer["pixel_url"] is None
    assert answer["pixel_html"] is None
    assert answer["unsubscribe_url"].startswith("http://127.0.0.1:8000/u/")
    rendered = _post(
        client, auth, "/api/v1/messages/render", recipient=recipient, html=HTML, **body
    )
    html = rendered.get_json()["html"]
    assert "<img" not in html
    assert "/c/" not in html  # links as they were, no honeypot either
    assert html == HTML.replace("{{ unsubscribe_url }}", rendered.get_json()["unsubscribe_url"])
    return answer


def test_a_recipient_unsubscribed_from_the_list_gets_no_pixel_and_no_sent_event(app, client, auth):
    _post(client, auth, recipient="crm-1", email="ann@example.com")  # known before
    _suppress(app, recipient="crm-1", list="default")
    before = clickhouse_rows(app, "SELECT count() FROM email_events")[0][0]
    _assert_untracked(client, auth, "crm-1", suppressed=True)
    # Another list of the same site is not covered by a list-level unsubscribe.
    other = _post(client, auth, recipient="crm-1", list="offers").get_json()
    assert other["tracking"] == "aggregate"
    assert clickhouse_rows(app, "SELECT count() FROM email_events")[0][0] == before + 1


def test_an_unsubscribe_from_all_lists_covers_every_list(app, client, auth):
    _suppress(app, recipient="crm-1", list="*")
    for list_name in ("default", "offers"):
        _assert_untracked(client, auth, "crm-1", suppressed=True, list=list_name)


def test_a_suppression_matches_the_address_under_another_recipient_id(app, client, auth):
    # An erased recipient leaves only the keyed hash of their address: a new id, same person.
    _suppress(app, email_hash=identity.email_hash(KEYS, "ann@example.com"), list="*")
    _assert_untracked(client, auth, "new-id", suppressed=True, email="Ann@Example.COM")
    assert (
        _post(client, auth, recipient="other", email="bob@example.com").get_json()["suppressed"]
        is False
    )


def test_a_suppression_hashed_under_a_rotated_out_key_still_matches(make_app):
    old = "old-signing-key-0123456789abcdef"
    app = make_app(SECRET_KEYS=[*KEYS, old])
    client = app.test_client()
    with app.app_context():
        auth = {"Authorization": f"Bearer {create_key('mailer')}"}
    _suppress(app, email_hash=identity.email_hash([old], "ann@example.com"), list="*")
    _assert_untracked(client, auth, "crm-9", suppressed=True, email="ann@example.com")


def test_a_lifted_or_other_sites_suppression_does_not_apply(app, client, auth):
    _suppress(app, recipient="crm-1", list="*", lifted_at=datetime.now(UTC))
    _suppress(app, recipient="crm-1", list="*", site="shop")
    assert _post(client, auth, recipient="crm-1").get_json()["tracking"] == "aggregate"


def test_denied_tracking_gets_no_pixel_but_is_still_sent(app, client, auth):
    denied = client.post(
        "/api/v1/recipients/crm-1/tracking", json={"consent": "denied"}, headers=auth
    )
    assert denied.status_code == 200
    answer = _assert_untracked(client, auth, "crm-1", suppressed=False)
    rows = clickhouse_rows(app, EVENTS)
    sent = [r for r in rows if r[0] == "sent"]
    assert (answer["message_id"], "", "none") in [r[1:4] for r in sent]
    assert [r[0] for r in rows].count("tracking_optout") == 1


def test_a_tracking_opt_out_by_address_hash_gets_no_pixel(app, client, auth):
    _suppress(
        app, kind="tracking_optout", list="*", email_hash=identity.email_hash(KEYS, "a@b.example")
    )
    _assert_untracked(client, auth, "crm-2", suppressed=False, email="a@b.example")


def test_tracking_consent_moves_between_the_three_states(app, client, auth):
    def mint() -> str:
        return _post(client, auth, recipient="crm-1", email="ann@example.com").get_json()[
            "tracking"
        ]

    def consent(state: str) -> dict:
        response = client.post(
            "/api/v1/recipients/crm-1/tracking", json={"consent": state}, headers=auth
        )
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "no-store"
        return response.get_json()

    assert mint() == "aggregate"
    answer = consent("denied")
    assert answer["site"] == "demo"
    assert answer["recipient"] == "crm-1"
    assert answer["consent"] == "denied"
    assert answer["method"] == "api"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", answer["changed_at"])
    assert mint() == "none"
    consent("denied")  # again: one opt-out in force, not two
    with app.app_context():
        in_force = select(func.count()).where(Suppression.lifted_at.is_(None))
        assert db.session.scalar(in_force) == 1
    assert consent("granted")["consent"] == "granted"
    assert mint() == "individual"
    with app.app_context():
        assert db.session.scalar(in_force) == 0  # lifted, kept for the feed's history
        assert _count(app, Suppression) == 1
    consent("unknown")
    assert mint() == "aggregate"
    rows = clickhouse_rows(app, "SELECT kind, method, recipient FROM email_events ORDER BY ts")
    optouts = [r for r in rows if r[0] == "tracking_optout"]
    with app.app_context():
        pseudonym = db.session.scalars(select(Recipient.pseudonym)).one()
    assert optouts == [("tracking_optout", "api", pseudonym)] * 2


def test_minting_without_sending_records_no_sent_event(app, client, auth):
    answer = _post(client, auth, recipient="crm-1", send=False).get_json()
    assert _message(app, answer["message_id"]).sent_at is None
    assert clickhouse_rows(app, "SELECT count() FROM email_events") == [(0,)]


# --- a batch --------------------------------------------------------------------------


def test_a_batch_answers_each_recipient_in_order_with_its_own_mode(app, client, auth):
    _post(client, auth, recipient="b", email="old@example.com")
    _suppress(app, recipient="c", list="*")
    client.post("/api/v1/recipients/d/tracking", json={"consent": "granted"}, headers=auth)
    recipients = [
        {"recipient": "a", "email": "a@example.com"},
        {"recipient": "b", "email": "new@example.com"},
        {"recipient": "c"},
        {"recipient": "d"},
    ]
    response = client.post(
        "/api/v1/messages/batch",
        json={"campaign": "dec", "list": "news", "recipients": recipients},
        headers=auth,
    )
    assert response.status_code == 201
    messages = response.get_json()["messages"]
    assert [(m["recipient"], m["tracking"], m["suppressed"]) for m in messages] == [
        ("a", "aggregate", False),
        ("b", "aggregate", False),
        ("c", "none", True),
        ("d", "individual", False),
    ]
    assert len({m["message_id"] for m in messages}) == 4
    assert all(m["headers"]["List-Id"] == "<news.demo.127.0.0.1>" for m in messages)
    with app.app_context():
        b = db.session.scalars(select(Recipient).where(Recipient.external_id == "b")).one()
        assert b.email == "new@example.com"
        assert b.email_hash == identity.email_hash(KEYS, "new@example.com")
    sent = clickhouse_rows(app, "SELECT count() FROM email_events WHERE campaign = 'dec'")
    assert sent == [(1 + 3,)]  # b's first message, then a, b and d (c is suppressed)


def _batch(count: int, prefix: str = "r") -> dict:
    return {"campaign": "big", "recipients": [{"recipient": f"{prefix}{n}"} for n in range(count)]}


def test_a_batch_of_ten_thousand_is_taken_and_one_more_is_refused(app, client, auth):
    refused = client.post("/api/v1/messages/batch", json=_batch(10_001), headers=auth)
    assert refused.status_code == 422
    assert refused.get_json()["error"]["code"] == "invalid"
    assert "recipients" in refused.get_json()["error"]["message"]
    assert _count(app, Message) == 0
    taken = client.post("/api/v1/messages/batch", json=_batch(10_000), headers=auth)
    assert taken.status_code == 201
    assert len(taken.get_json()["messages"]) == 10_000
    assert _count(app, Recipient) == 10_000
    assert clickhouse_rows(app, "SELECT uniqExact(message_id) FROM email_events") == [(10_000,)]


def test_a_batch_body_over_its_byte_limit_is_refused_before_it_is_read(app, client, auth):
    body = json.dumps(_batch(9_000, prefix="x" * 700)).encode()
    assert len(body) > 6_400_000
    response = client.post(
        "/api/v1/messages/batch",
        data=body,
        headers={**auth, "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"
    assert _count(app, Recipient) == 0


def test_a_single_message_keeps_the_16_kb_limit(client, auth):
    response = _post(client, auth, recipient="r", campaign="c" * 20_000)
    assert response.status_code == 413


# --- bad input writes nothing ---------------------------------------------------------

BAD = [
    ("malformed JSON", "/api/v1/messages", b'{"campaign": "dec",', 400, "malformed_json"),
    ("duplicate key", "/api/v1/messages",
     b'{"campaign": "a", "campaign": "b", "recipient": "r"}', 400, "duplicate_key"),
    ("no recipient", "/api/v1/messages", {"campaign": "dec"}, 422, "invalid"),
    ("unknown field", "/api/v1/messages", {"campaign": "d", "recipient": "r", "x": 1}, 422,
     "invalid"),
    ("number as id", "/api/v1/messages", {"campaign": "d", "recipient": 42}, 422, "invalid"),
    ("send as text", "/api/v1/messages", {"campaign": "d", "recipient": "r", "send": "yes"},
     422, "invalid"),
    ("empty campaign", "/api/v1/messages", {"campaign": "", "recipient": "r"}, 422, "invalid"),
    ("NUL in id", "/api/v1/messages", {"campaign": "d", "recipient": "r\u0000"}, 422, "invalid"),
    ("id too long", "/api/v1/messages", {"campaign": "d", "recipient": "r" * 256}, 422,
     "invalid"),
    ("not an address", "/api/v1/messages", {"campaign": "d", "recipient": "r", "email": "ann"},
     422, "invalid"),
    ("list with a dot", "/api/v1/messages", {"campaign": "d", "recipient": "r", "list": "a.b"},
     422, "invalid"),
    ("unknown site", "/api/v1/messages", {"campaign": "d", "recipient": "r", "site": "nope"},
     404, "unknown_site"),
    ("batch of none", "/api/v1/messages/batch", {"campaign": "d", "recipients": []}, 422,
     "invalid"),
    ("batch repeats", "/api/v1/messages/batch",
     {"campaign": "d", "recipients": [{"recipient": "r"}, {"recipient": "r"}]}, 422,
     "duplicate_recipient"),
    ("render without html", "/api/v1/messages/render", {"campaign": "d", "recipient": "r"},
     422, "invalid"),
    ("consent not a state", "/api/v1/recipients/r/tracking", {"consent": "yes"}, 422,
     "invalid"),
    ("recipient path too long", "/api/v1/recipients/" + "r" * 256 + "/tracking",
     {"consent": "denied"}, 400, "invalid_recipient"),
    ("tracking for no site", "/api/v1/recipients/r/tracking?site=nope", {"consent": "denied"},
     404, "unknown_site"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "path", "body", "status", "code"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_refused_and_writes_nothing(app, client, auth, name, path, body, status, code):
    if isinstance(body, bytes):
        response = client.post(
            path, data=body, headers={**auth, "Content-Type": "application/json"}
        )
    else:
        response = client.post(path, json=body, headers=auth)
    assert response.status_code == status, response.get_json()
    assert response.get_json()["error"]["code"] == code
    assert _count(app, Recipient) == _count(app, Message) == _count(app, Suppression) == 0
    assert clickhouse_rows(app, "SELECT count() FROM email_events") == [(0,)]


def test_a_body_not_sent_as_json_is_415(client, auth):
    response = client.post(
        "/api/v1/messages", data="campaign=d", headers={**auth, "Content-Type": "text/html"}
    )
    assert response.status_code == 415


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/messages", {"campaign": "d", "recipient": "r"}),
        ("/api/v1/messages/batch", {"campaign": "d", "recipients": [{"recipient": "r"}]}),
        ("/api/v1/messages/render", {"campaign": "d", "recipient": "r", "html": HTML}),
        ("/api/v1/recipients/r/tracking", {"consent": "denied"}),
    ],
)
@pytest.mark.parametrize(
    "authorization", [None, "Bearer", "Bearer csk_000000000000_nope", "Basic dXNlcjpwYXNz"]
)
def test_every_email_operation_needs_an_api_key(app, client, key, path, body, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    response = client.post(path, json=body, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert _count(app, Recipient) == 0


def test_a_full_spool_refuses_minting_before_writing_anything(make_app, tmp_path):
    make_app()  # the test's ClickHouse database exists; this app is not used
    offline = make_app(
        DATA_DIR=str(tmp_path / "offline"),
        CLICKHOUSE_URL="http://127.0.0.1:9/nowhere",
        SPOOL_MAX_BYTES=2000,
    )
    client = offline.test_client()
    with offline.app_context():
        auth = {"Authorization": f"Bearer {create_key('mailer')}"}
    statuses = [_post(client, auth, recipient=f"r{n}").status_code for n in range(12)]
    accepted = statuses.count(201)
    assert 1 <= accepted < 12
    assert statuses == [201] * accepted + [503] * (12 - accepted)
    assert _count(offline, Message) == 2 * accepted  # each with its anonymous row


@pytest.mark.parametrize("value", ["", "optional", "REQUIRED", "yes"])
def test_the_tracking_consent_setting_is_checked_at_start(tmp_path, value):
    with pytest.raises(ConfigError, match=r"^CONSENTRY_EMAIL_TRACKING_CONSENT: "):
        create_app({"DATA_DIR": str(tmp_path), "EMAIL_TRACKING_CONSENT": value})
