"""The demo's Email tab: the page, its minting, its guards, and the events it shows.

Over the real stores (SQLite or PostgreSQL, and chdb): what the tab mints is checked by
following its pixel and links through the real hit endpoints, and what it shows by the
events that reached ClickHouse.
"""

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from email_hits_support import BROWSER, age, api_key, mint
from factories import clickhouse_rows
from sqlalchemy import func, select

from consentry import demo_email
from core.db import db
from pixel import tokens
from pixel.models import Message, Suppression

SAME = {"Origin": "http://localhost"}
PERSON = {"User-Agent": BROWSER}
KEYS_FROM = "SECRET_KEYS"
NEWSLETTER_LINKS = {
    "Shop the December roasts": "http://127.0.0.1:8000/?utm_source=newsletter"
    "&utm_campaign=demo-newsletter#beans",
    "Watch how we roast": "http://127.0.0.1:8000/#roastery",
    "Privacy": "http://127.0.0.1:8000/sites/demo/cookies",
}


class Anchors(HTMLParser):
    """Every element's tag and attributes, and each anchor's text."""

    def __init__(self, html: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.anchors: list[tuple[dict, str]] = []
        self._anchor: tuple[dict, list[str]] | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "a":
            self._anchor = (dict(attrs), [])

    def handle_data(self, data):
        if self._anchor is not None:
            self._anchor[1].append(data)

    def handle_endtag(self, tag):
        if tag == "a" and self._anchor is not None:
            attrs, text = self._anchor
            self.anchors.append((attrs, " ".join("".join(text).split())))
            self._anchor = None


def _mint(client, headers=SAME):
    return client.post("/demo/email/mint", json={}, headers=headers)


def _reset(client, consent="granted"):
    response = client.post("/demo/email/recipient", json={"consent": consent}, headers=SAME)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _path(url: str) -> str:
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == "http://127.0.0.1:8000"  # the public URL
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _events(client, *watch: str) -> dict:
    response = client.get("/demo/email/events", query_string={"w": list(watch)})
    assert response.status_code == 200, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    return response.get_json()


def _messages(app) -> int:
    """How many messages were minted for a recipient (aggregate ones have a second row)."""
    with app.app_context():
        return db.session.scalar(
            select(func.count()).select_from(Message).where(Message.recipient_id.is_not(None))
        )


def _shipped(app) -> None:
    clickhouse_rows(app, "SELECT 1")  # flushes the spool into ClickHouse


# --- the page ------------------------------------------------------------------------------


def test_the_tab_renders_with_its_controls_and_no_inline_script(client):
    response = client.get("/demo/email")
    assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy  # no inline script, no other host
    assert "frame-ancestors 'none'" in policy
    # Read as http://localhost, while minted URLs name http://127.0.0.1:8000: allowed too.
    assert "img-src 'self' data: http://127.0.0.1:8000;" in policy
    page = Anchors(response.get_data(as_text=True))
    scripts = [attrs for tag, attrs in page.tags if tag == "script"]
    assert scripts == [{"src": "/static/demo/email.js", "defer": None}]
    ids = {attrs.get("id") for _, attrs in page.tags}
    assert {"email-mint", "email-open", "email-unsubscribe", "email-reset", "email-events"} <= ids
    (frame,) = [attrs for tag, attrs in page.tags if tag == "iframe"]
    # No scripts and no access to this page from the email; links open in a new tab.
    assert frame["sandbox"] == "allow-popups allow-popups-to-escape-sandbox"
    body = next(attrs for tag, attrs in page.tags if tag == "body")
    assert body["data-mint"] == "/demo/email/mint"
    assert body["data-events"] == "/demo/email/events"
    assert "ada@example.com" in response.get_data(as_text=True)


def test_the_shop_links_to_the_tab_and_each_tab_marks_itself(client):
    for path, current in (("/", "Shop & banner"), ("/demo/email", "Email")):
        page = Anchors(client.get(path).get_data(as_text=True))
        tabs = {text: attrs for attrs, text in page.anchors if text in ("Shop & banner", "Email")}
        assert tabs["Email"]["href"] == "/demo/email"
        assert tabs["Shop & banner"]["href"] == "/"
        assert [t for t, attrs in tabs.items() if attrs.get("aria-current") == "page"] == [current]


def test_the_tab_says_so_when_read_under_the_public_url(make_app):
    app = make_app(PUBLIC_URL="http://localhost")
    response = app.test_client().get("/demo/email")
    assert "img-src 'self' data:;" in response.headers["Content-Security-Policy"]
    assert "CONSENTRY_PUBLIC_URL" not in response.get_data(as_text=True)


# --- minting -------------------------------------------------------------------------------


def test_minting_renders_the_newsletter_with_a_pixel_and_tracked_links(app, client):
    _reset(client, "granted")
    response = _mint(client)
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    answer = response.get_json()
    assert answer["tracking"] == "individual"
    assert answer["suppressed"] is False
    keys = app.config[KEYS_FROM]
    page = Anchors(answer["html"])
    (pixel,) = [attrs for tag, attrs in page.tags if tag == "img"]
    assert pixel["src"] == answer["pixel_url"]
    assert tokens.read_message(keys, tokens.OPEN, _path(pixel["src"])[3:-4]) == answer["message_id"]
    assert answer["html"].index(answer["pixel_url"]) < answer["html"].rindex("</body>")
    wrapped = {}
    for attrs, text in page.anchors:
        href = attrs["href"]
        if href.startswith("http://127.0.0.1:8000/c/"):
            click = tokens.read_click(keys, _path(href)[3:])
            assert click is not None
            assert click.message_id == answer["message_id"]
            wrapped[text] = click.url
    assert wrapped == NEWSLETTER_LINKS | {"": None}  # the three links, and the honeypot
    by_text = {text: attrs["href"] for attrs, text in page.anchors}
    assert by_text["hello@nordlicht.example"] == "mailto:hello@nordlicht.example"
    assert by_text["Unsubscribe or stop open tracking"] == answer["unsubscribe_url"]
    assert answer["headers"] == {
        "List-Unsubscribe": f"<{answer['unsubscribe_url']}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "List-Id": "<newsletter.demo.127.0.0.1>",
    }
    assert [link["text"] for link in answer["links"]] == list(NEWSLETTER_LINKS)
    # The tracked links lead where the newsletter's links did, through the real endpoint.
    for link in answer["links"]:
        followed = client.get(_path(link["url"]), headers=PERSON)
        assert followed.status_code == 302
        assert followed.headers["Location"] == NEWSLETTER_LINKS[link["text"]]


def test_an_open_and_a_click_arrive_as_the_sample_recipients_events(app, client):
    _reset(client, "granted")
    answer = _mint(client).get_json()
    age(app, answer["message_id"])  # opened an hour after the send: a person
    assert client.get(_path(answer["pixel_url"]), headers=PERSON).status_code == 200
    client.get(_path(answer["links"][0]["url"]), headers=PERSON)
    _shipped(app)
    events = _events(client)["events"]
    seen = [(e["kind"], e["agent_class"], e["message_id"]) for e in events]
    message = answer["message_id"]
    assert seen == [
        ("click", "human", message),
        ("open", "human", message),
        ("sent", None, message),
    ]
    click = events[0]
    assert click["url"] == NEWSLETTER_LINKS["Shop the December roasts"]
    assert (click["names_recipient"], click["tracking"]) == (True, "individual")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", click["ts"])


def test_after_a_one_click_unsubscribe_opens_log_nothing_and_minting_is_suppressed(app, client):
    _reset(client, "granted")
    answer = _mint(client).get_json()
    age(app, answer["message_id"])
    one_click = client.post(
        _path(answer["unsubscribe_url"]), data={"List-Unsubscribe": "One-Click"}
    )
    assert one_click.status_code == 200
    client.get(_path(answer["pixel_url"]), headers=PERSON)  # a later open
    _shipped(app)
    shown = _events(client)
    assert [e["kind"] for e in shown["events"]] == ["unsubscribe", "sent"]
    assert shown["events"][0]["method"] == "one_click"
    assert shown["dropped"] == {"opted_out": 1}
    assert shown["recipient"]["unsubscribed"] == ["newsletter"]

    again = _mint(client).get_json()
    assert (again["suppressed"], again["tracking"], again["pixel_url"]) == (True, "none", None)
    assert "<img" not in again["html"]
    assert "/c/" not in again["html"]
    assert again["links"] == []


def test_a_reset_lifts_the_unsubscribe_and_sets_the_tracking_consent(app, client):
    _reset(client, "granted")
    answer = _mint(client).get_json()
    client.post(_path(answer["unsubscribe_url"]), data={"List-Unsubscribe": "One-Click"})
    standing = _reset(client, "denied")
    assert standing == {
        "recipient": "ada",
        "email": "ada@example.com",
        "consent": "denied",
        "unsubscribed": [],
        "tracking_optout": True,
    }
    denied = _mint(client).get_json()
    assert (denied["suppressed"], denied["tracking"], denied["pixel_url"]) == (False, "none", None)
    _shipped(app)
    # Its sent event names nobody; the page that minted it follows it by its watch token.
    assert denied["message_id"] not in {e["message_id"] for e in _events(client)["events"]}
    shown = _events(client, denied["watch"])["events"]
    sent = [(e["kind"], e["tracking"], e["names_recipient"]) for e in shown if e["kind"] == "sent"]
    assert sent[0] == ("sent", "none", False)
    assert _reset(client, "unknown")["tracking_optout"] is False
    assert _mint(client).get_json()["tracking"] == "aggregate"  # consent is required here
    with app.app_context():
        lifted = db.session.scalars(select(Suppression.lifted_at)).all()
    assert len(lifted) == 2  # kept in the feed, as lifted
    assert all(lifted)


# --- guards ----------------------------------------------------------------------------------

CROSS_ORIGIN = {
    "another origin": {"Origin": "https://evil.example"},
    "another port": {"Origin": "http://localhost:8001"},
    "an opaque origin": {"Origin": "null"},
    "a cross-site fetch without Origin": {"Sec-Fetch-Site": "cross-site"},
    "no origin at all": {},
}


@pytest.mark.parametrize("headers", CROSS_ORIGIN.values(), ids=CROSS_ORIGIN.keys())
@pytest.mark.parametrize("path", ["/demo/email/mint", "/demo/email/recipient"])
def test_the_demo_routes_refuse_cross_origin_posts_and_write_nothing(app, client, path, headers):
    response = client.post(path, json={"consent": "denied"}, headers=headers)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "cross_origin"
    assert _messages(app) == 0
    assert _events(client)["recipient"]["consent"] == "unknown"  # Ada is not even stored


def test_a_same_origin_fetch_without_origin_header_is_accepted(client):
    response = client.post("/demo/email/mint", json={}, headers={"Sec-Fetch-Site": "same-origin"})
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/demo/email/recipient", {"consent": "maybe"}, 422, "invalid"),
        ("/demo/email/recipient", {"consent": "granted", "recipient": "bob"}, 422, "invalid"),
        ("/demo/email/mint", {"recipient": "bob"}, 422, "invalid"),
    ],
)
def test_bad_bodies_get_a_json_error_and_write_nothing(app, client, path, body, status, code):
    response = client.post(path, json=body, headers=SAME)
    assert (response.status_code, response.get_json()["error"]["code"]) == (status, code)
    assert _messages(app) == 0


def test_a_form_post_from_this_origin_is_refused(app, client):
    # What a form can send (another site's too): not JSON, so not accepted.
    response = client.post("/demo/email/mint", data={"x": "1"}, headers=SAME)
    assert response.status_code == 415
    assert response.get_json()["error"]["code"] == "unsupported_media_type"
    assert _messages(app) == 0


def test_writes_are_rate_limited(app, client):
    for _ in range(12):
        assert _mint(client).status_code == 201
    refused = _mint(client)
    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "too_many_requests"
    assert _messages(app) == 12


def test_a_bucket_refills_at_its_rate():
    now = [0.0]
    bucket = demo_email.Bucket(rate=0.5, burst=2, clock=lambda: now[0])
    assert [bucket.take() for _ in range(3)] == [True, True, False]
    now[0] = 1.9
    assert bucket.take() is False
    now[0] = 2.0
    assert bucket.take() is True


def test_without_the_demo_site_the_routes_are_off(app, client):
    del app.extensions["sites"].sites["demo"]
    assert _mint(client).status_code == 404
    assert client.get("/demo/email/events").status_code == 404
    assert _messages(app) == 0


# --- what the events endpoint shows --------------------------------------------------------


def test_the_events_are_the_sample_recipients_only(app, client):
    """Another recipient's events on the same site and campaign never show, nor their ids."""
    _reset(client, "granted")
    ada = _mint(client).get_json()
    auth = api_key(app)
    granted = client.post(
        "/api/v1/recipients/bob/tracking?site=demo", json={"consent": "granted"}, headers=auth
    )
    assert granted.status_code == 200
    other = mint(
        client,
        auth,
        recipient="bob",
        campaign="demo-newsletter",
        site="demo",
        list="newsletter",
        email="bob@example.com",
    )
    for answer in (ada, other):
        age(app, answer["message_id"])
        client.get(_path(answer["pixel_url"]), headers=PERSON)
    _shipped(app)
    assert clickhouse_rows(app, "SELECT count() FROM email_events WHERE kind = 'open'") == [(2,)]
    assert other["tracking"] == "individual"  # its events name Bob's message id
    keys = app.config[KEYS_FROM]
    forged = [
        other["message_id"],  # a bare id
        tokens.sign_message(keys, tokens.OPEN, other["message_id"]),  # another salt
    ]
    shown = _events(client, *forged)["events"]
    assert {e["message_id"] for e in shown} == {ada["message_id"]}
    assert [e["kind"] for e in shown] == ["open", "sent"]


def test_an_aggregate_pixel_shows_only_to_the_page_that_minted_it(app, client):
    answer = _mint(client).get_json()  # consent unknown, and required: aggregate
    assert answer["tracking"] == "aggregate"
    tracked = tokens.read_message(
        app.config[KEYS_FROM], tokens.OPEN, _path(answer["pixel_url"])[3:-4]
    )
    assert tracked != answer["message_id"]
    age(app, tracked)  # the anonymous row is what the pixel names
    client.get(_path(answer["pixel_url"]), headers=PERSON)
    _shipped(app)
    assert _events(client)["events"] == []  # nothing names Ada
    shown = _events(client, answer["watch"])["events"]
    assert [(e["kind"], e["names_recipient"], e["tracking"]) for e in shown] == [
        ("open", False, "aggregate"),
        ("sent", False, "aggregate"),
    ]


def test_with_clickhouse_down_the_events_answer_503_and_minting_still_works(make_app, tmp_path):
    from events_support import closed_port_url

    make_app()  # the first app migrates both stores; the next one finds ClickHouse down
    app = make_app(CLICKHOUSE_URL=closed_port_url(), DATA_DIR=str(tmp_path / "down"))
    client = app.test_client()
    assert _mint(client).status_code == 201  # the sent event waits in the spool
    response = client.get("/demo/email/events")
    assert response.status_code == 503
    error = response.get_json()["error"]
    assert error == {"code": "events_unavailable", "message": "the event store is not answering"}


def test_an_oversized_body_gets_a_json_413_and_writes_nothing(app, client):
    response = client.post("/demo/email/recipient", json={"consent": "x" * 20_000}, headers=SAME)
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"
    assert _events(client)["recipient"]["consent"] == "unknown"


def test_refusals_before_a_view_runs_get_the_apps_error_page(client):
    # As on every path outside /api/ (core.errors): the demo's views alone answer JSON.
    for response in (client.options("/demo/email/mint"), client.get("/demo/email/mint")):
        assert response.status_code in (403, 405)
        assert response.mimetype == "text/html"
