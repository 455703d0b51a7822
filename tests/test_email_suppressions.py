"""The suppressions feed over the real stores: cursor paging, filters, writers in between.

Suppressions are made the ways recipients and sending systems make them: one-click posts,
the preference page, and the tracking-consent API.
"""

import re
import threading
import time
from datetime import UTC, datetime

import pytest
from factories import clickhouse_rows
from sqlalchemy import text

from core.db import db, write_transaction
from core.keys import create_key
from pixel import identity, preferences
from pixel.suppressions import decode_cursor, encode_cursor

KEYS = ["test-signing-key-0123456789abcdef"]  # conftest's
UTC_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


@pytest.fixture
def auth(app):
    with app.app_context():
        return {"Authorization": f"Bearer {create_key('mailer')}"}


def _mint(client, auth, recipient, list_name="news") -> dict:
    body = {"campaign": "dec", "recipient": recipient, "list": list_name}
    response = client.post("/api/v1/messages", json=body, headers=auth)
    assert response.status_code == 201
    return response.get_json()


def _path(answer: dict) -> str:
    return answer["unsubscribe_url"].removeprefix("http://127.0.0.1:8000")


def _one_click(client, auth, recipient, list_name="news") -> None:
    path = _path(_mint(client, auth, recipient, list_name))
    response = client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200


def _page(client, auth, recipient, choice, list_name="news") -> None:
    path = _path(_mint(client, auth, recipient, list_name))
    assert client.post(path, data={"choice": choice}).status_code == 200


def _deny(client, auth, recipient, consent="denied") -> None:
    response = client.post(
        f"/api/v1/recipients/{recipient}/tracking", json={"consent": consent}, headers=auth
    )
    assert response.status_code == 200


def _feed(client, auth, **query) -> dict:
    response = client.get("/api/v1/suppressions", query_string=query, headers=auth)
    assert response.status_code == 200, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    return response.get_json()


def _read_all(client, auth, limit, since=None, **query) -> tuple[list[list[dict]], str]:
    """Page through the feed; return the pages and the last cursor."""
    pages = []
    while True:
        args = {"limit": limit, **query} | ({"since": since} if since else {})
        answer = _feed(client, auth, **args)
        if not answer["suppressions"]:
            assert answer["more"] is False
            assert since is None or answer["next"] == since
            return pages, answer["next"]
        pages.append(answer["suppressions"])
        assert answer["next"] == answer["suppressions"][-1]["cursor"]
        since = answer["next"]
        if not answer["more"]:
            return pages, since


def _what(items: list[dict]) -> list[tuple]:
    return [(i["kind"], i["list"], i["recipient"], i["method"]) for i in items]


def _record_mixture(client, auth) -> list[tuple]:
    """Thirteen suppressions of every kind, list and method; what the feed should list."""
    expected = []
    for n in range(5):
        _one_click(client, auth, f"news-{n}")
        expected.append(("unsubscribe", "news", f"news-{n}", "one_click"))
        if n % 2 == 0:
            _deny(client, auth, f"api-{n}")
            expected.append(("tracking_optout", "*", f"api-{n}", "api"))
    for n in range(3):
        _one_click(client, auth, f"offers-{n}", "offers")
        expected.append(("unsubscribe", "offers", f"offers-{n}", "one_click"))
    _page(client, auth, "all-0", "all", "offers")
    expected.append(("unsubscribe", "*", "all-0", "page"))
    _page(client, auth, "quiet-0", "tracking")
    expected.append(("tracking_optout", "*", "quiet-0", "page"))
    assert len(expected) == 13
    return expected


# --- paging -----------------------------------------------------------------------------


def test_the_feed_pages_through_every_suppression_once_in_order(app, client, auth):
    expected = _record_mixture(client, auth)
    pages, last = _read_all(client, auth, limit=4)
    assert [len(page) for page in pages] == [4, 4, 4, 1]
    items = [item for page in pages for item in page]
    assert _what(items) == expected
    ids = [decode_cursor(item["cursor"]) for item in items]
    assert ids == sorted(set(ids))  # increasing: no repeats
    # Past the end: nothing, and the same cursor to come back with.
    answer = _feed(client, auth, since=last)
    assert answer == {"suppressions": [], "next": last, "more": False}
    # One page of all of them says there is no more; a page one short says there is.
    assert _feed(client, auth, limit=13)["more"] is False
    assert _feed(client, auth, limit=12)["more"] is True


def test_without_a_cursor_and_with_no_suppressions_the_feed_is_empty(client, auth):
    assert _feed(client, auth) == {
        "suppressions": [],
        "next": encode_cursor(0),
        "more": False,
    }


@pytest.mark.parametrize(
    ("list_name", "lists"),
    [
        ("news", {"news", "*"}),
        ("offers", {"offers", "*"}),
        ("weekly", {"*"}),  # no unsubscribes of its own: every-list ones and opt-outs
    ],
)
def test_a_list_gets_what_applies_to_it(app, client, auth, list_name, lists):
    expected = _record_mixture(client, auth)
    pages, _ = _read_all(client, auth, limit=3, list=list_name)
    items = [item for page in pages for item in page]
    assert _what(items) == [e for e in expected if e[1] in lists]
    assert {"tracking_optout"} <= {i["kind"] for i in items}


def test_suppressions_added_between_pages_are_read_once_and_none_is_skipped(app, client, auth):
    for n in range(5):
        _one_click(client, auth, f"early-{n}")
    first = _feed(client, auth, limit=3)
    assert first["more"] is True
    # Writers in between: a one-click, an API opt-out, a page choice.
    _one_click(client, auth, "late-0")
    _deny(client, auth, "late-1")
    _page(client, auth, "late-2", "all")
    pages, _ = _read_all(client, auth, limit=3, since=first["next"])
    items = first["suppressions"] + [item for page in pages for item in page]
    assert [i["recipient"] for i in items] == [
        *(f"early-{n}" for n in range(5)),
        "late-0",
        "late-1",
        "late-2",
    ]


def test_a_writer_that_commits_later_is_not_stepped_over(app, client, auth):
    """Two writers at once: the reader between their commits must not pass the first one.

    On PostgreSQL a sequence gives ids at INSERT: without the feed's lock, B takes id 2
    and commits while A (id 1) is still open, a reader moves its cursor to 2, and A's row
    is never read. With the lock, B waits for A's commit before it takes an id.
    """
    with app.app_context():
        dialect = db.engine.dialect.name
    if dialect != "postgresql":
        pytest.skip("SQLite has one writer at a time: ids always commit in order")
    first = _mint(client, auth, "first")
    second_path = _path(_mint(client, auth, "second"))
    answers = []

    def second_writer():
        provider = app.test_client(use_cookies=False)
        answers.append(provider.post(second_path, data={"List-Unsubscribe": "One-Click"}))

    writer = threading.Thread(target=second_writer)
    with app.app_context(), write_transaction() as conn:
        now = datetime.now(UTC)
        preferences.apply_choice(conn, KEYS, first["message_id"], "list", "page", now)
        writer.start()
        _wait_until_waiting_or_done(app, writer)
        between = _feed(client, auth)
    writer.join()
    assert answers[0].status_code == 200
    rest = _feed(client, auth, since=between["next"])
    read = between["suppressions"] + rest["suppressions"]
    assert sorted(i["recipient"] for i in read) == ["first", "second"]


def _wait_until_waiting_or_done(app, thread: threading.Thread) -> None:
    """Return once the thread is done, or is waiting for an advisory lock (PostgreSQL)."""
    deadline = time.monotonic() + 30
    waiting = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
    with app.app_context(), db.engine.connect() as conn:
        while thread.is_alive():
            if conn.execute(waiting).scalar_one():
                return
            conn.rollback()  # a fresh snapshot of pg_locks next time
            assert time.monotonic() < deadline, "the writer neither finished nor waited"
            time.sleep(0.01)


# --- what an item says --------------------------------------------------------------------


def test_an_item_says_what_was_recorded_and_a_lifted_opt_out_keeps_its_place(app, client, auth):
    answer = _mint(client, auth, "crm-7")
    client.post(_path(answer), data={"List-Unsubscribe": "One-Click"})
    _deny(client, auth, "crm-8")
    (unsubscribe, opt_out) = _feed(client, auth)["suppressions"]
    assert unsubscribe == {
        "cursor": unsubscribe["cursor"],
        "kind": "unsubscribe",
        "site": "demo",
        "list": "news",
        "recipient": "crm-7",
        "method": "one_click",
        "message_id": answer["message_id"],
        "created_at": unsubscribe["created_at"],
        "lifted_at": None,
    }
    assert UTC_TIME.match(unsubscribe["created_at"])
    assert (opt_out["kind"], opt_out["method"], opt_out["message_id"]) == (
        "tracking_optout",
        "api",
        None,
    )
    _deny(client, auth, "crm-8", consent="granted")
    (_, lifted) = _feed(client, auth)["suppressions"]
    assert lifted["cursor"] == opt_out["cursor"]
    assert UTC_TIME.match(lifted["lifted_at"])


def test_the_tracking_api_records_an_api_opt_out_event(app, client, auth):
    _deny(client, auth, "crm-9")
    rows = clickhouse_rows(
        app, "SELECT kind, method, recipient, site FROM email_events WHERE kind != 'sent'"
    )
    assert rows == [("tracking_optout", "api", identity.pseudonym(KEYS, "demo", "crm-9"), "demo")]


def test_a_site_filter_names_a_configured_site(app, client, auth):
    _one_click(client, auth, "crm-1")
    assert len(_feed(client, auth, site="demo")["suppressions"]) == 1
    response = client.get("/api/v1/suppressions?site=elsewhere", headers=auth)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "unknown_site"


# --- bad queries ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("since=", "invalid_cursor"),
        ("since=1", "invalid_cursor"),
        ("since=AAAAAAAAAA", "invalid_cursor"),  # 10 characters
        ("since=AAAAAAAAAAE=", "invalid_cursor"),  # padded
        ("since=AAAAAAAAAAF", "invalid_cursor"),  # stray low bits: not what we write
        ("since=__________8", "invalid_cursor"),  # past any row id
        ("since=AAAAAAAAA%2BE", "invalid_cursor"),  # standard base64, not URL-safe
        ("limit=0", "invalid_limit"),
        ("limit=1001", "invalid_limit"),
        ("limit=-1", "invalid_limit"),
        ("limit=ten", "invalid_limit"),
        ("limit=%D9%A3", "invalid_limit"),  # an Arabic-Indic digit is not ASCII
        ("limit=", "invalid_limit"),
        ("list=*", "invalid"),
        ("list=", "invalid"),
        ("site=Demo", "invalid"),
    ],
)
def test_a_bad_query_is_400_and_says_which(client, auth, query, code):
    response = client.get(f"/api/v1/suppressions?{query}", headers=auth)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == code


def test_the_feed_needs_an_api_key(client):
    response = client.get("/api/v1/suppressions")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("row_id", [0, 1, 255, 2**31, 2**63 - 1])
def test_a_cursor_round_trips(row_id):
    cursor = encode_cursor(row_id)
    assert re.fullmatch(r"[A-Za-z0-9_-]{11}", cursor)
    assert decode_cursor(cursor) == row_id
