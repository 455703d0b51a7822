"""The recipient's pages over the real stores: RFC 8058 one-click, the page's choices, scanners.

Every state change is read back three ways: the SQL suppressions and recipient rows, the
events in ClickHouse (chdb), and a message minted afterwards (what the sender sees).
"""

import re
import threading

import pytest
from factories import clickhouse_rows
from sqlalchemy import func, select

from core.config import ConfigError
from core.db import db
from core.keys import create_key
from pixel import identity, tokens
from pixel.models import Recipient, Suppression
from pixel.page_texts import PAGES_FILE, load_page_texts, mask_address

KEYS = ["test-signing-key-0123456789abcdef"]  # conftest's
ONE_CLICK = "List-Unsubscribe=One-Click"
CHOICE_EVENTS = (
    "SELECT kind, method, list, message_id, recipient, campaign, site FROM email_events "
    "WHERE kind IN ('unsubscribe', 'tracking_optout') ORDER BY ts"
)
TEXTS = load_page_texts()


@pytest.fixture
def app(make_app):
    # Individual mode unless a test says otherwise: the pixel shows what minting decided.
    return make_app(EMAIL_TRACKING_CONSENT="not_required")


@pytest.fixture
def auth(app):
    with app.app_context():
        return {"Authorization": f"Bearer {create_key('mailer')}"}


def _mint(client, auth, recipient="r1", email="jane.doe@example.com", **body) -> dict:
    body = {"campaign": "dec", "recipient": recipient, "list": "news", **body}
    if email is not None:
        body["email"] = email
    response = client.post("/api/v1/messages", json=body, headers=auth)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _path(answer: dict) -> str:
    return re.fullmatch(r"http://127\.0\.0\.1:8000(/u/.+)", answer["unsubscribe_url"])[1]


def _suppressions(app) -> list[tuple]:
    with app.app_context():
        query = select(
            Suppression.kind,
            Suppression.list,
            Suppression.recipient,
            Suppression.method,
            Suppression.message_id,
            Suppression.lifted_at,
        ).order_by(Suppression.id)
        return [tuple(row) for row in db.session.execute(query)]


def _consent(app, recipient="r1") -> tuple[str, str | None]:
    with app.app_context():
        row = db.session.execute(
            select(Recipient.tracking_consent, Recipient.tracking_method).where(
                Recipient.external_id == recipient
            )
        ).one()
        return tuple(row)


def _multipart(fields: dict[str, str]) -> tuple[bytes, str]:
    """A multipart/form-data body as a mailbox provider writes it (CRLF, one boundary)."""
    boundary = "----consentry-test-8058"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    ]
    body = "".join(parts) + f"--{boundary}--\r\n"
    return body.encode(), f"multipart/form-data; boundary={boundary}"


def _post(client, path, encoding="urlencoded", fields=None, **kwargs):
    fields = {"List-Unsubscribe": "One-Click"} if fields is None else fields
    if encoding == "multipart":
        body, content_type = _multipart(fields)
    else:
        body = "&".join(f"{name}={value}" for name, value in fields.items()).encode()
        content_type = "application/x-www-form-urlencoded"
    return client.post(path, data=body, content_type=content_type, **kwargs)


def _assert_plain_200(response) -> None:
    """RFC 8058 §3.2: answered in the request, no redirect, nothing to keep."""
    assert response.status_code == 200
    assert "Location" not in response.headers
    assert "Set-Cookie" not in response.headers
    assert response.headers["Cache-Control"] == "no-store"
    assert response.mimetype == "text/html"


# --- RFC 8058 one-click ---------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_one_click_unsubscribes_from_the_messages_list_once(app, auth, encoding):
    client = app.test_client()
    answer = _mint(client, auth)
    assert answer["headers"]["List-Unsubscribe-Post"] == ONE_CLICK
    # The provider's own client: no cookie jar, no Authorization, nothing but the body.
    provider = app.test_client(use_cookies=False)

    first = _post(provider, _path(answer), encoding)
    _assert_plain_200(first)
    assert TEXTS["en"].done_list.format(list="news") in first.get_data(as_text=True)
    again = _post(provider, _path(answer), encoding)
    _assert_plain_200(again)

    message_id = answer["message_id"]
    assert _suppressions(app) == [("unsubscribe", "news", "r1", "one_click", message_id, None)]
    pseudonym = identity.pseudonym(KEYS, "demo", "r1")
    assert clickhouse_rows(app, CHOICE_EVENTS) == [
        ("unsubscribe", "one_click", "news", message_id, pseudonym, "dec", "demo")
    ]
    # What the sender sees next: this list suppressed, another list not.
    assert _mint(client, auth)["suppressed"] is True
    other = _mint(client, auth, list="offers")
    assert (other["suppressed"], other["tracking"]) == (False, "individual")


def test_simultaneous_one_click_posts_record_one_unsubscribe(app, auth):
    client = app.test_client()
    path = _path(_mint(client, auth))
    start = threading.Barrier(6)
    statuses = []

    def post():
        provider = app.test_client(use_cookies=False)
        start.wait()
        statuses.append(_post(provider, path).status_code)

    threads = [threading.Thread(target=post) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 6
    assert len(_suppressions(app)) == 1
    assert len(clickhouse_rows(app, CHOICE_EVENTS)) == 1


def test_one_click_wins_over_a_choice_in_the_same_body(app, auth):
    client = app.test_client()
    path = _path(_mint(client, auth))
    response = _post(client, path, fields={"choice": "all", "List-Unsubscribe": "One-Click"})
    _assert_plain_200(response)
    assert [(kind, lst, method) for kind, lst, _, method, _, _ in _suppressions(app)] == [
        ("unsubscribe", "news", "one_click")
    ]


def test_an_aggregate_messages_unsubscribe_names_the_recipients_message_not_the_pixels(
    make_app,
):
    app = make_app()  # consent required, unknown: aggregate
    client = app.test_client()
    with app.app_context():
        auth = {"Authorization": f"Bearer {create_key('mailer')}"}
    answer = _mint(client, auth)
    assert answer["tracking"] == "aggregate"
    pixel_token = re.search(r"/o/(.+)\.gif$", answer["pixel_url"])[1]
    anonymous_id = tokens.read_message(KEYS, tokens.OPEN, pixel_token)
    _assert_plain_200(_post(client, _path(answer)))
    ((kind, method, _, message_id, *_),) = clickhouse_rows(app, CHOICE_EVENTS)
    assert (kind, method, message_id) == ("unsubscribe", "one_click", answer["message_id"])
    assert message_id != anonymous_id
    sent = clickhouse_rows(app, "SELECT message_id, recipient FROM email_events WHERE kind='sent'")
    assert sent == [(anonymous_id, "")]


# --- scanners: GET and HEAD never change anything ------------------------------------


SCANNER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",  # Safe Links looks like this
    "Mozilla/5.0 (compatible; Barracuda Sentinel)",
    "python-requests/2.32.3",
    "curl/8.5.0",
]


def test_a_scanner_that_only_gets_and_heads_changes_nothing(app, auth):
    client = app.test_client()
    answer = _mint(client, auth)
    path = _path(answer)
    scanner = app.test_client(use_cookies=False)
    for n in range(40):
        agent = {"User-Agent": SCANNER_AGENTS[n % len(SCANNER_AGENTS)]}
        got = scanner.get(path, headers=agent)
        assert got.status_code == 200
        assert "Set-Cookie" not in got.headers
        head = scanner.head(path, headers=agent)
        assert (head.status_code, head.data) == (200, b"")
        # Query strings that look like a one-click body, or like the page's choices.
        for query in ("List-Unsubscribe=One-Click", "choice=all", "choice=tracking"):
            assert scanner.get(f"{path}?{query}", headers=agent).status_code == 200
            assert scanner.head(f"{path}?{query}", headers=agent).status_code == 200
        scanner.options(path)  # a preflight's answer is CORS's business; it changes nothing

    assert _suppressions(app) == []
    assert _consent(app) == ("unknown", None)
    assert clickhouse_rows(app, CHOICE_EVENTS) == []
    again = _mint(client, auth)
    assert (again["suppressed"], again["tracking"]) == (False, "individual")


# --- the page's choices ---------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
@pytest.mark.parametrize(
    ("choice", "kind", "listed", "news", "offers"),
    [
        # news and offers: (suppressed, tracking) of a message minted afterwards
        ("list", "unsubscribe", "news", (True, "none"), (False, "individual")),
        ("all", "unsubscribe", "*", (True, "none"), (True, "none")),
        ("tracking", "tracking_optout", "*", (False, "none"), (False, "none")),
    ],
)
def test_each_page_choice_does_exactly_its_thing(
    app, auth, encoding, choice, kind, listed, news, offers
):
    client = app.test_client()
    answer = _mint(client, auth)
    path = _path(answer)

    response = _post(client, path, encoding, fields={"choice": choice})
    _assert_plain_200(response)
    done = {
        "list": TEXTS["en"].done_list.format(list="news"),
        "all": TEXTS["en"].done_all.format(site="Consentry demo"),
        "tracking": TEXTS["en"].done_tracking,
    }[choice]
    assert done in response.get_data(as_text=True)
    _assert_plain_200(_post(client, path, encoding, fields={"choice": choice}))  # a repeat

    message_id = answer["message_id"]
    recorded = _suppressions(app)
    assert [(k, lst, rid, method) for k, lst, rid, method, _, _ in recorded] == [
        (kind, listed, "r1", "page")
    ]
    assert _consent(app) == (("denied", "page") if choice == "tracking" else ("unknown", None))
    pseudonym = identity.pseudonym(KEYS, "demo", "r1")
    assert clickhouse_rows(app, CHOICE_EVENTS) == [
        (
            kind,
            "page",
            listed if kind == "unsubscribe" else "",
            message_id,
            pseudonym,
            "dec",
            "demo",
        )
    ]
    for list_name, expected in (("news", news), ("offers", offers)):
        minted = _mint(client, auth, list=list_name)
        assert (minted["suppressed"], minted["tracking"]) == expected, list_name
        assert (minted["pixel_url"] is None) == (expected[1] == "none")


def test_the_page_shows_what_is_in_force(app, auth):
    client = app.test_client()
    path = _path(_mint(client, auth))
    page = client.get(path).get_data(as_text=True)
    assert TEXTS["en"].state_list not in page
    _post(client, path, fields={"choice": "tracking"})
    _post(client, path, fields={"choice": "list"})
    page = client.get(path).get_data(as_text=True)
    assert TEXTS["en"].state_list in page
    assert TEXTS["en"].state_tracking in page
    _post(client, path, fields={"choice": "all"})
    page = client.get(path).get_data(as_text=True)
    assert TEXTS["en"].state_all.format(site="Consentry demo") in page
    assert [(k, lst) for k, lst, *_ in _suppressions(app)] == [
        ("tracking_optout", "*"),
        ("unsubscribe", "news"),
        ("unsubscribe", "*"),
    ]


def test_an_unsubscribe_from_all_covers_a_later_one_click_on_the_list(app, auth):
    client = app.test_client()
    path = _path(_mint(client, auth))
    _post(client, path, fields={"choice": "all"})
    _assert_plain_200(_post(client, path))
    assert [(k, lst, method) for k, lst, _, method, _, _ in _suppressions(app)] == [
        ("unsubscribe", "*", "page")
    ]
    assert len(clickhouse_rows(app, CHOICE_EVENTS)) == 1


def test_an_address_unsubscribed_under_another_id_is_already_unsubscribed(app, auth):
    client = app.test_client()
    _post(client, _path(_mint(client, auth, recipient="crm-1")), fields={"choice": "all"})
    # The sending system's new id for the same person (the address, in another case).
    path = _path(_mint(client, auth, recipient="crm-2", email="Jane.Doe@EXAMPLE.com"))
    assert TEXTS["en"].state_all.format(site="Consentry demo") in client.get(path).get_data(
        as_text=True
    )
    _assert_plain_200(_post(client, path))
    assert len(_suppressions(app)) == 1


# --- what changes nothing: invalid tokens, no body, unknown choices ---------------------


def _other_kind_token(answer: dict) -> str:
    return "/u/" + tokens.sign_message(KEYS, tokens.OPEN, answer["message_id"])


NOTHING_CASES = {
    # name: (path from the minted answer, request keyword arguments)
    "garbage token": (lambda a: "/u/not-a-token", {"fields": None}),
    "tampered token": (lambda a: _path(a)[:-2] + "xx", {"fields": None}),
    "cut token": (lambda a: _path(a)[:40], {"fields": None}),
    "open token": (_other_kind_token, {"fields": None}),
    "other key": (
        lambda a: "/u/" + tokens.sign_message(["another-key"], tokens.UNSUBSCRIBE, a["message_id"]),
        {"fields": None},
    ),
    "unknown message": (
        lambda a: "/u/" + tokens.sign_message(KEYS, tokens.UNSUBSCRIBE, "0" * 32),
        {"fields": None},
    ),
    "no body": (_path, {"fields": {}}),
    "unknown choice": (_path, {"fields": {"choice": "everything"}}),
    "wrong one-click value": (_path, {"fields": {"List-Unsubscribe": "Yes"}}),
    "multipart without the field": (_path, {"encoding": "multipart", "fields": {"x": "1"}}),
}


@pytest.mark.parametrize("case", NOTHING_CASES, ids=list(NOTHING_CASES))
def test_a_post_that_is_not_a_choice_answers_200_and_changes_nothing(app, auth, case):
    client = app.test_client()
    answer = _mint(client, auth)
    make_path, kwargs = NOTHING_CASES[case]
    response = _post(client, make_path(answer), **kwargs)
    _assert_plain_200(response)
    assert TEXTS["en"].done_title not in response.get_data(as_text=True)
    assert _suppressions(app) == []
    assert _consent(app) == ("unknown", None)
    assert clickhouse_rows(app, CHOICE_EVENTS) == []


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"", None),
        (b'{"List-Unsubscribe": "One-Click"}', "application/json"),
        (ONE_CLICK.encode(), "text/plain"),
        (b"--x\r\nbroken", "multipart/form-data; boundary=x"),
        (b"List-Unsubscribe=One-Click", "multipart/form-data"),  # no boundary
        (b"\xff\xfe=\xff", "application/x-www-form-urlencoded"),
    ],
)
def test_a_body_that_is_no_form_changes_nothing(app, auth, body, content_type):
    client = app.test_client()
    path = _path(_mint(client, auth))
    response = client.post(path, data=body, content_type=content_type)
    _assert_plain_200(response)
    assert _suppressions(app) == []
    assert clickhouse_rows(app, CHOICE_EVENTS) == []


def test_a_valid_link_without_a_choice_shows_the_page_again(app, auth):
    client = app.test_client()
    response = _post(client, _path(_mint(client, auth)), fields={})
    page = response.get_data(as_text=True)
    assert TEXTS["en"].nothing_changed in page
    assert 'name="choice"' in page


@pytest.mark.parametrize("path", ["/u/not-a-token", "/u/" + "A" * 80])
def test_a_link_that_is_not_valid_gets_a_plain_404_page(client, path):
    response = client.get(path, headers={"Accept-Language": "fr"})
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert '<html lang="fr"' in page
    assert f"<h1>{TEXTS['fr'].invalid_title}</h1>" in page
    assert response.headers["Cache-Control"] == "no-store"
    assert client.head(path).status_code == 404


def test_a_body_over_the_limit_is_refused_before_it_is_read(app, auth):
    client = app.test_client()
    path = _path(_mint(client, auth))
    response = client.post(
        path,
        data=ONE_CLICK + "&pad=" + "x" * 20_000,
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 413
    assert _suppressions(app) == []


# --- a full spool: the choice still holds -----------------------------------------------


def test_with_the_spool_full_the_unsubscribe_still_holds(make_app, tmp_path):
    make_app()  # the test's ClickHouse database exists; this app is not used
    app = make_app(
        DATA_DIR=str(tmp_path / "offline"),
        CLICKHOUSE_URL="http://127.0.0.1:9/nowhere",
        SPOOL_MAX_BYTES=1500,
        EMAIL_TRACKING_CONSENT="not_required",
    )
    client = app.test_client()
    with app.app_context():
        auth = {"Authorization": f"Bearer {create_key('mailer')}"}
    paths = []
    for n in range(20):
        response = client.post(
            "/api/v1/messages",
            json={"campaign": "dec", "recipient": f"r{n}", "list": "news", "send": False},
            headers=auth,
        )
        paths.append(_path(response.get_json()))
    pipeline = app.extensions["events"]
    for path in paths:
        _assert_plain_200(_post(client, path))
    assert not pipeline.has_room()  # the later events found no room
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(Suppression))
    assert count == 20


# --- language and address -------------------------------------------------------------


def test_the_page_speaks_german_to_a_german_browser(app, auth):
    client = app.test_client()
    path = _path(_mint(client, auth))
    response = client.get(path, headers={"Accept-Language": "de-AT,de;q=0.9,en;q=0.5"})
    page = response.get_data(as_text=True)
    de = TEXTS["de"]
    assert '<html lang="de"' in page
    assert f"<h1>{de.title}</h1>" in page
    assert de.choice_list.format(list="news") in page
    assert de.choice_all.format(site="Consentry demo") in page
    assert de.choice_tracking in page
    assert f"<legend>{de.legend}</legend>" in page
    assert TEXTS["en"].title not in page
    assert response.headers["Vary"] == "Accept-Language"
    done = _post(client, path, fields={"choice": "list"}, headers={"Accept-Language": "de"})
    assert de.done_list.format(list="news") in done.get_data(as_text=True)


@pytest.mark.parametrize(
    ("query", "accept", "language"),
    [
        ("", "", "en"),  # the demo site's default
        ("?lang=fr", "de", "fr"),  # lang wins over the browser
        ("?lang=xx", "es-MX,es;q=0.8", "es"),  # a language without texts is skipped
        ("", "pt-BR,it;q=0.7", "it"),
        ("?lang=nl", "", "nl"),
        ("", "zh-CN", "en"),
    ],
)
def test_the_language_is_lang_then_accept_language_then_the_sites(
    app, auth, query, accept, language
):
    client = app.test_client()
    path = _path(_mint(client, auth))
    page = client.get(path + query, headers={"Accept-Language": accept}).get_data(as_text=True)
    assert f'<html lang="{language}"' in page
    assert f"<h1>{TEXTS[language].title}</h1>" in page


def test_the_page_shows_the_masked_address_and_nothing_more(app, auth):
    client = app.test_client()
    page = client.get(_path(_mint(client, auth))).get_data(as_text=True)
    assert TEXTS["en"].for_address.format(address="j•••@example.com") in page
    assert "jane" not in page
    assert "doe" not in page


def test_without_a_stored_address_the_page_shows_none(app, auth):
    client = app.test_client()
    page = client.get(_path(_mint(client, auth, email=None))).get_data(as_text=True)
    assert "@" not in page
    assert TEXTS["en"].for_address.format(address="") not in page
    assert TEXTS["en"].legend in page


@pytest.mark.parametrize(
    ("address", "masked"),
    [
        ("jane.doe@example.com", "j•••@example.com"),
        ("j@example.com", "j•••@example.com"),
        ('"odd@local"@example.org', '"•••@example.org'),
        ("ünïcode@bücher.example", "ü•••@bücher.example"),
        ("no-at-sign", "•••"),
        ("@example.com", "•••"),
        ("", None),
        (None, None),
    ],
)
def test_mask_address(address, masked):
    assert mask_address(address) == masked


def test_the_page_is_plain_and_accessible(app, auth):
    client = app.test_client()
    response = client.get(_path(_mint(client, auth)))
    page = response.get_data(as_text=True)
    # No host but our own: no scripts, no remote fonts, styles, images or frames.
    assert "<script" not in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["Referrer-Policy"] == "no-referrer"
    # Every radio button has a label; one heading; a focus style.
    ids = re.findall(r'<input type="radio" id="([^"]+)"', page)
    assert len(ids) == 3
    for input_id in ids:
        assert f'<label for="{input_id}">' in page
    assert page.count("<h1>") == 1
    assert ":focus-visible" in page
    # The form posts to this same URL (no action: the capability stays in the URL).
    assert '<form method="post">' in page


# --- the texts file ---------------------------------------------------------------------


def test_every_language_says_everything():
    assert set(TEXTS) == {"en", "de", "fr", "es", "it", "nl"}
    names = {page.name for page in TEXTS.values()}
    assert len(names) == 6


BROKEN_TEXTS = [
    # (text to find, its replacement, the error)
    ("Liste {list} abgemeldet", "Liste abgemeldet", r"de\.done_list names \[\]"),
    ('\nchange = "Auswahl ändern"', "", r"de\.change: Field required"),
    ("Pour {address}", "Pour {adresse}", r"fr\.for_address names \['adresse'\]"),
    ("[en]", "[english]", r"need a \[en\] table"),
    ("[nl]", '[pt]\nname = "Português"\n[nl]', r"pt\.title: Field required"),
    ("Voor {address}", "Voor {address", r"nl\.for_address names"),
]


@pytest.mark.parametrize(("find", "replace", "message"), BROKEN_TEXTS)
def test_a_broken_translation_stops_start_up(tmp_path, find, replace, message):
    text = PAGES_FILE.read_text(encoding="utf-8")
    assert find in text
    broken = tmp_path / "pages.toml"
    broken.write_text(text.replace(find, replace, 1), encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_page_texts(broken)
