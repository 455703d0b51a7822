"""Security scanners as users of other tools meet them, end to end through HTTP.

Each pattern is classified with its reason and logged, never dropped: an open and a click
seconds after the send, every link clicked at once, HEAD requests on links, a click on the
hidden honeypot link (which marks the message's earlier hits in the same burst). Gmail's
proxy stays a human-triggered open throughout. Real chdb and SQL store.
"""

import pytest
from email_hits_support import (
    BROWSER,
    GMAIL_PROXY,
    age,
    api_key,
    assert_gif,
    drops,
    links,
    mint,
    pixel_path,
)
from factories import clickhouse_rows

from pixel.bursts import BurstTracker

APPLE_MAIL = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
)
SAFE_LINKS = "40.107.218.12"  # Exchange Online Protection (gophish #973)
CLASSES = (
    "SELECT event_id, kind, url, agent_class, agent_reasons FROM email_events "
    "WHERE kind IN ('open', 'click') ORDER BY ts"
)


@pytest.fixture
def app(make_app):
    return make_app(EMAIL_TRACKING_CONSENT="not_required")


@pytest.fixture
def auth(app):
    return api_key(app)


def _classes(app) -> list[tuple[str, str, str, list[str]]]:
    """Each logged hit's kind, URL, class and reasons; a reclassified one with its correction.

    Sorted: two hits in one millisecond have the same ``ts``, so ClickHouse's order is
    not the requests' order; every test tells its hits apart by kind, URL and class.
    """
    corrections = dict(
        clickhouse_rows(app, "SELECT toString(event_id), agent_reason FROM email_reclassified")
    )
    found = []
    for event_id, kind, url, agent_class, reasons in clickhouse_rows(app, CLASSES):
        corrected = corrections.pop(str(event_id), None)
        if corrected is not None:
            found.append((kind, url, f"{agent_class}->security_scanner", [corrected]))
        else:
            found.append((kind, url, agent_class, reasons))
    assert corrections == {}, "a correction names an event that was never logged"
    return sorted(found)


def _get(client, path, user_agent=BROWSER, address="198.51.100.7", method="GET"):
    return client.open(
        path,
        method=method,
        headers={"User-Agent": user_agent},
        environ_base={"REMOTE_ADDR": address},
    )


def test_an_open_and_a_click_seconds_after_the_send_are_a_scan(app, client, auth):
    answer = mint(client, auth)
    age(app, answer["message_id"], seconds=0)  # sent now: the hits below come within 2 s
    assert_gif(_get(client, pixel_path(answer)))
    assert _get(client, links(answer)["Sale"]).status_code == 302
    assert _classes(app) == sorted(
        [
            ("open", "", "security_scanner", ["within_2s_of_send"]),
            ("click", "https://shop.example.com/sale", "security_scanner", ["within_2s_of_send"]),
        ]
    )
    assert drops(app) == {}


def test_gmails_proxy_seconds_after_the_send_stays_a_human_triggered_open(app, client, auth):
    answer = mint(client, auth)
    assert_gif(_get(client, pixel_path(answer), GMAIL_PROXY, address="66.249.84.1"))
    assert _classes(app) == [("open", "", "mail_proxy", ["gmail_image_proxy"])]


def test_every_link_clicked_at_once_is_a_scan(app, client, auth):
    answer = mint(client, auth)
    age(app, answer["message_id"])
    for text in ("Sale", "New", "Blog"):
        assert _get(client, links(answer)[text]).status_code == 302
    assert _classes(app) == sorted(
        [
            (
                "click",
                "https://shop.example.com/sale",
                "human->security_scanner",
                ["burst:all_links"],
            ),
            (
                "click",
                "https://shop.example.com/new",
                "human->security_scanner",
                ["burst:all_links"],
            ),
            ("click", "https://blog.example.com/post", "security_scanner", ["burst:all_links"]),
        ]
    )


def test_one_link_clicked_twice_is_a_person(app, client, auth):
    answer = mint(client, auth)
    age(app, answer["message_id"])
    for _ in range(3):
        _get(client, links(answer)["Sale"])
    assert [c[2] for c in _classes(app)] == ["human", "human", "human"]


def test_a_head_on_a_link_is_a_scan_and_still_redirects(app, client, auth):
    answer = mint(client, auth)
    age(app, answer["message_id"])
    response = _get(client, links(answer)["Sale"], method="HEAD")
    assert response.status_code == 302
    assert response.headers["Location"] == "https://shop.example.com/sale"
    assert _classes(app) == sorted(
        [("click", "https://shop.example.com/sale", "security_scanner", ["head_request"])]
    )


def test_the_honeypot_marks_the_scanners_burst_but_not_gmails_open(app, client, auth):
    answer = mint(client, auth)
    age(app, answer["message_id"])
    assert_gif(_get(client, pixel_path(answer), GMAIL_PROXY, address="66.249.84.1"))
    assert_gif(_get(client, pixel_path(answer), APPLE_MAIL))
    assert _get(client, links(answer)["Sale"]).status_code == 302
    assert _get(client, links(answer)["honeypot"]).status_code == 200
    assert _get(client, links(answer)["New"]).status_code == 302
    assert _classes(app) == sorted(
        [
            ("open", "", "mail_proxy", ["gmail_image_proxy"]),
            ("open", "", "human->security_scanner", ["burst:honeypot_link"]),
            (
                "click",
                "https://shop.example.com/sale",
                "human->security_scanner",
                ["burst:honeypot_link"],
            ),
            ("click", "", "security_scanner", ["honeypot_link"]),
            ("click", "https://shop.example.com/new", "security_scanner", ["burst:honeypot_link"]),
        ]
    )


def test_a_click_after_the_burst_is_over_is_a_person_again(app, client, auth):
    now = [1000.0]
    app.extensions["pixel.hits"].bursts = BurstTracker(clock=lambda: now[0])
    answer = mint(client, auth)
    age(app, answer["message_id"])
    _get(client, links(answer)["honeypot"])
    now[0] += 30
    _get(client, links(answer)["Sale"])
    assert [c[1:] for c in _classes(app)] == [
        ("", "security_scanner", ["honeypot_link"]),
        ("https://shop.example.com/sale", "human", ["ua:browser"]),
    ]


def test_a_scanner_network_and_apples_prefetch_are_named(app, client, auth):
    answer = mint(client, auth)
    age(app, answer["message_id"])
    assert_gif(_get(client, pixel_path(answer), "Mozilla/5.0", address="17.58.0.1"))
    assert _get(client, links(answer)["Sale"], address=SAFE_LINKS).status_code == 302
    assert _get(client, links(answer)["Sale"], "python-requests/2.32.3").status_code == 302
    assert _classes(app) == sorted(
        [
            ("open", "", "apple_mpp", ["apple_mpp_ua"]),
            (
                "click",
                "https://shop.example.com/sale",
                "security_scanner",
                ["known_scanner:microsoft"],
            ),
            ("click", "https://shop.example.com/sale", "bot", ["ua:library:python-requests"]),
        ]
    )


def test_a_head_on_the_pixel_is_counted_not_logged(app, client, auth):
    answer = mint(client, auth)
    assert_gif(_get(client, pixel_path(answer), method="HEAD"), head=True)
    assert _classes(app) == []
    assert drops(app) == {("email_open", "head"): 1}
