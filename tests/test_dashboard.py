"""The dashboard: login (session, CSRF, a uniform failure), the users commands, and a known
scenario whose exact numbers the pages, the report API and the CLI must all show.

The known scenario goes through the real parts end to end: messages minted through the
email API, opened and clicked through the pixel and link endpoints (classified by their
User-Agent), unsubscribed by the RFC 8058 one-click POST, decisions and impressions
through the consent API; everything spooled, shipped into this test's database in the
session's chdb engine, rolled up, and read back. Each message's send time is moved back in
the SQL store first (as the hit tests do), so its hits come N whole days after the send.

Email (individual tracking):
  autumn-sale, 4 messages:
    a1 sent today:      a person opens (Apple Mail), a person clicks -> opened, engaged, clicked
    a2 sent 2 days ago: Apple MPP opens, then a person opens       -> opened, engaged, at day 2
    a3 sent today:      a security gateway (Barracuda) opens        -> opened by a machine only
    a4 sent today:      one-click unsubscribe
    sent 4, unique opens 3 (75.0%), machine share 1/3 (33.3%), engagement 2/4 (50.0%),
    click rate 1/4 (25.0%), unsubscribe rate 1/4 (25.0%).
    Curve: day 0 opened 50.0% (a1, a3), engaged 25.0%; day 1 the same; day 2 opened 75.0%,
    engaged 50.0%.
  winter-news, 2 messages:
    w1 sent yesterday:  Gmail's image proxy opens (for a person)    -> opened, engaged, day 1
    w2 sent today:      an HTTP library follows a link, no open     -> clicked, not engaged
    sent 2, unique opens 1 (50.0%), machine share 0.0%, engagement 50.0%, click 50.0%,
    unsubscribe 0.0%. Curve: day 0 opened 0.0%, day 1 opened and engaged 50.0%.
Consent (today):
  demo: 4 impressions; accept all, accept all, reject all  -> 50.0% / 25.0% / 0.0% custom,
        no action 1 (25.0%), consent rate 50.0%.
  shop: 2 impressions; one custom (analytics yes, marketing no) -> custom 50.0%,
        no action 50.0%, consent rate 50.0%; opt-in analytics 100.0%, marketing 0.0%.
"""

import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from email_hits_support import BROWSER, GMAIL_PROXY, api_key, links, mint, pixel_path
from events_support import closed_port_url
from factories import ORIGIN, decision
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update
from two_sites import SHOP_ORIGIN, TWO_SITES, post, shop_decision

from core.db import db
from dashboard import users
from pixel.models import Message

PASSWORD = "correct horse battery staple"
APPLE_MAIL = (  # Apple Mail on a Mac opened by its reader (not the MPP proxy's bare UA)
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
)
GATEWAY = "Mozilla/5.0 (compatible; Barracuda Sentinel)"
LIBRARY = "python-httpx/0.27.0"
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def _token(page: str) -> str:
    match = CSRF_RE.search(page)
    assert match, "the form carries a CSRF token"
    return match[1]


@pytest.fixture
def analyst(app):
    with app.app_context():
        users.create_user("ana", PASSWORD)
    return "ana"


def _login(client, name: str = "ana", password: str = PASSWORD, follow: bool = False):
    token = _token(client.get("/dashboard/login").text)
    return client.post(
        "/dashboard/login",
        data={"name": name, "password": password, "csrf_token": token},
        follow_redirects=follow,
    )


# ---- login ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/dashboard/", "/dashboard/consent"])
def test_pages_need_a_login(client, path):
    answer = client.get(path)
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/dashboard/login?next=")


def test_a_login_opens_the_dashboard_with_a_safe_session_cookie(client, analyst):
    answer = _login(client)
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/dashboard/"
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith("consentry_dashboard=")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Path=/dashboard" in cookie
    assert "Secure" not in cookie  # PUBLIC_URL is http here
    page = client.get("/dashboard/")
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert "No campaigns sent in this range" in page.text


def test_the_cookie_is_secure_behind_https(make_app):
    app = make_app(PUBLIC_URL="https://consent.example")
    with app.app_context():
        users.create_user("ana", PASSWORD)
    answer = _login(app.test_client())
    assert "Secure" in answer.headers["Set-Cookie"]


def test_the_login_goes_back_to_the_page_asked_for_but_never_elsewhere(client, analyst):
    token = _token(client.get("/dashboard/login").text)
    data = {"name": "ana", "password": PASSWORD, "csrf_token": token}
    answer = client.post("/dashboard/login?next=/dashboard/consent%3Fsite%3Dshop", data=data)
    assert answer.headers["Location"] == "/dashboard/consent?site=shop"
    client.post("/dashboard/logout", data={"csrf_token": _token(client.get("/dashboard/").text)})
    for target in ("https://evil.example/", "//evil.example/dashboard", "/dashboard//evil"):
        token = _token(client.get("/dashboard/login").text)
        data["csrf_token"] = token
        answer = client.post(f"/dashboard/login?next={target}", data=data)
        assert answer.headers["Location"] == "/dashboard/", target
        client.post(
            "/dashboard/logout", data={"csrf_token": _token(client.get("/dashboard/").text)}
        )


def test_a_wrong_password_and_an_unknown_name_fail_alike(client, analyst):
    wrong = _login(client, password="not the password at all")
    unknown = _login(client, name="nobody")
    assert wrong.status_code == unknown.status_code == 200
    assert "Wrong user name or password." in wrong.text
    strip = re.compile(r'value="[^"]*"')  # the CSRF token and the name typed differ
    assert strip.sub("", wrong.text) == strip.sub("", unknown.text)
    assert client.get("/dashboard/").status_code == 302


def test_a_failed_login_does_the_same_work_for_an_unknown_name(client, analyst, monkeypatch):
    # One scrypt check either way (a dummy hash for an unknown name): the time taken does
    # not tell whether the account exists.
    checked = []
    real = users.check_password_hash
    monkeypatch.setattr(users, "check_password_hash", lambda h, p: checked.append(h) or real(h, p))
    _login(client, password="not the password at all")
    _login(client, name="nobody")
    wrong, unknown = checked
    assert wrong != unknown  # ana's own hash, then the dummy
    assert wrong.split("$")[0] == unknown.split("$")[0]  # same method and cost


def _failed_logins_until_refused(client, names) -> list[int]:
    return [_login(client, name=n, password="not the password at all").status_code for n in names]


def test_failed_logins_are_rate_limited_per_address(make_app):
    app = make_app(DASHBOARD_LOGIN_RATE_LIMIT="3 per minute")
    with app.app_context():
        users.create_user("ana", PASSWORD)
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "192.0.2.30"
    # A real login is not a failure: it is never counted.
    for _ in range(4):
        assert _login(client).status_code == 302
        client.post(
            "/dashboard/logout", data={"csrf_token": _token(client.get("/dashboard/").text)}
        )
    # Two failures, then the right password still works before the limit.
    assert _failed_logins_until_refused(client, ["ana", "nobody"]) == [200, 200]
    assert _login(client).status_code == 302
    client.post("/dashboard/logout", data={"csrf_token": _token(client.get("/dashboard/").text)})
    # The third failure reaches the limit: now even the right password waits.
    assert _failed_logins_until_refused(client, ["ana"]) == [200]
    refused = _login(client)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert client.get("/dashboard/").status_code == 302  # no session was opened
    # Another address is not held back.
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "192.0.2.31"
    assert _login(other).status_code == 302


def test_the_limit_answers_alike_for_a_known_and_an_unknown_name(make_app):
    app = make_app(DASHBOARD_LOGIN_RATE_LIMIT="1 per minute")
    with app.app_context():
        users.create_user("ana", PASSWORD)
    answers = {}
    for n, name in enumerate(["ana", "nobody"]):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"192.0.2.{40 + n}"
        codes = _failed_logins_until_refused(client, [name, name])
        answers[name] = (codes, _login(client, name=name))
    (known_codes, known), (unknown_codes, unknown) = answers["ana"], answers["nobody"]
    assert known_codes == unknown_codes == [200, 429]
    assert known.status_code == unknown.status_code == 429
    assert known.text == unknown.text


def test_the_login_needs_its_csrf_token(client, analyst):
    client.get("/dashboard/login")
    answer = client.post("/dashboard/login", data={"name": "ana", "password": PASSWORD})
    assert answer.status_code == 400
    assert "CSRF" in answer.text
    forged = client.post(
        "/dashboard/login", data={"name": "ana", "password": PASSWORD, "csrf_token": "x" * 40}
    )
    assert forged.status_code == 400
    assert client.get("/dashboard/").status_code == 302


def test_logout_needs_its_csrf_token_and_ends_the_session(client, analyst):
    _login(client)
    assert client.post("/dashboard/logout").status_code == 400
    assert client.get("/dashboard/").status_code == 200  # still logged in
    token = _token(client.get("/dashboard/").text)
    answer = client.post("/dashboard/logout", data={"csrf_token": token})
    assert answer.status_code == 302
    assert client.get("/dashboard/").status_code == 302
    assert client.get("/dashboard/logout").status_code == 405  # never a GET


def test_a_stolen_cookie_dies_with_a_new_password_or_a_deleted_user(app, client, analyst):
    _login(client)
    with app.app_context():
        user = users.find_user("ana")
        user.password_hash = users.generate_password_hash("another long password")
        from core.db import db

        db.session.commit()
    assert client.get("/dashboard/").status_code == 302


def test_other_paths_get_no_session_cookie(client, analyst):
    _login(client)
    answer = client.get("/healthz")
    assert "Set-Cookie" not in answer.headers


def test_without_clickhouse_the_page_says_so(make_app):
    make_app()  # the first app migrates both stores; the second one's ClickHouse is gone
    app = make_app(CLICKHOUSE_URL=closed_port_url())
    with app.app_context():
        users.create_user("ana", PASSWORD)
    client = app.test_client()
    _login(client)
    answer = client.get("/dashboard/")
    assert answer.status_code == 503
    assert "The event store (ClickHouse) is not answering" in answer.text


def test_passwords_are_stored_hashed(app, analyst):
    with app.app_context():
        stored = users.find_user("ana").password_hash
    assert PASSWORD not in stored
    assert stored.startswith(("scrypt:", "pbkdf2:"))


# ---- users CLI -----------------------------------------------------------------------


def test_users_are_created_listed_and_deleted_from_the_cli(app, runner):
    made = runner.invoke(args=["users", "create", "Bo", "--password-stdin"], input=PASSWORD + "\n")
    assert made.exit_code == 0, made.output
    assert "Created dashboard user 'bo'" in made.output
    prompted = runner.invoke(args=["users", "create", "cy"], input=f"{PASSWORD}1\n{PASSWORD}1\n")
    assert prompted.exit_code == 0, prompted.output
    listed = runner.invoke(args=["users", "list"])
    assert [line.split("\t")[0] for line in listed.output.splitlines()] == ["bo", "cy"]
    assert "last login never" in listed.output
    with app.app_context():
        assert users.authenticate("bo", PASSWORD) is not None
        assert users.authenticate("cy", PASSWORD + "1") is not None
    assert runner.invoke(args=["users", "delete", "bo"]).exit_code == 0
    gone = runner.invoke(args=["users", "delete", "bo"])
    assert gone.exit_code == 1
    assert "no user named 'bo'" in gone.output
    assert runner.invoke(args=["users", "list"]).output.startswith("cy\t")


@pytest.mark.parametrize(
    ("name", "password", "message"),
    [
        ("ana", "short", "a password is 12 to 1024 characters"),
        ("an a", PASSWORD, "a user name is 1 to 64"),
        ("", PASSWORD, "a user name is 1 to 64"),
        ("dup", PASSWORD, "a user named 'dup' exists"),
    ],
)
def test_bad_users_are_refused_with_a_message(app, runner, name, password, message):
    with app.app_context():
        users.create_user("dup", PASSWORD)
    answer = runner.invoke(args=["users", "create", name, "--password-stdin"], input=password)
    assert answer.exit_code == 1
    assert message in answer.output


def test_a_mistyped_confirmation_creates_no_user(app, runner):
    answer = runner.invoke(args=["users", "create", "dee"], input=f"{PASSWORD}\nother\n")
    assert answer.exit_code != 0
    with app.app_context():
        assert users.find_user("dee") is None


# ---- the known scenario ----------------------------------------------------------------


def _cells(page: str, key: str, value: str) -> dict[str, str]:
    """The data-cell texts of the table row whose data-<key> is ``value``."""
    row = re.search(rf'<tr[^>]*data-{key}="{re.escape(value)}">(.*?)</tr>', page, re.S)
    assert row, f"a row for {value}"
    cells = re.findall(r'data-cell="(\w+)"[^>]*>(.*?)</td>', row[1], re.S)
    return {name: " ".join(unescape(re.sub(r"<[^>]+>", " ", text)).split()) for name, text in cells}


def _hit(app, kind: str, campaign: str, message: str, agent: str, sent: datetime, days: int):
    """An email event as the hit endpoints emit it, into the real pipeline (for edge cases)."""
    stamp = (sent + timedelta(days=days, minutes=5)).strftime("%Y-%m-%d %H:%M:%S.000")
    app.extensions["events"].emit(
        "email_events",
        {
            "event_id": str(uuid.uuid4()),
            "ts": stamp,
            "kind": kind,
            "site": "demo",
            "campaign": campaign,
            "list": "default",
            "message_id": message,
            "recipient": "",
            "tracking": "individual",
            "sent_at": sent.strftime("%Y-%m-%d %H:%M:%S.000"),
            "agent_class": agent,
        },
    )


@dataclass
class Scenario:
    app: Flask
    client: FlaskClient
    key: str

    def get(self, path: str):
        return self.client.get(path)


def _mail(app, client, auth, campaign: str, recipient: str, days_ago: int) -> dict:
    """Mint one message (its HTML, pixel and links), sent ``days_ago`` whole days before today.

    The send time is today's midnight (UTC) less the days, so a hit now is that many
    calendar days after it, and never within the two seconds a person cannot open in.
    """
    answer = mint(client, auth, recipient=recipient, campaign=campaign)
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    with app.app_context():
        db.session.execute(
            update(Message)
            .where(Message.id == answer["message_id"])
            .values(sent_at=midnight - timedelta(days=days_ago))
        )
        db.session.commit()
    return answer


def _open(client, answer: dict, agent: str) -> None:
    assert client.get(pixel_path(answer), headers={"User-Agent": agent}).status_code == 200


def _click(client, answer: dict, agent: str) -> None:
    answer = client.get(links(answer)["Sale"], headers={"User-Agent": agent})
    assert answer.status_code in (302, 303), answer.status_code


def _unsubscribe(client, answer: dict) -> None:
    path = answer["unsubscribe_url"].removeprefix("http://127.0.0.1:8000")
    assert client.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200


@pytest.fixture
def scenario(make_app):
    app = make_app(SITES_FILE=TWO_SITES, EMAIL_TRACKING_CONSENT="not_required")
    client = app.test_client()
    auth = api_key(app)
    with app.app_context():
        users.create_user("ana", PASSWORD)
    a1, a2, a3, a4 = (_mail(app, client, auth, "autumn-sale", f"r{n}", age)
                      for n, age in enumerate((0, 2, 0, 0), 1))  # fmt: skip
    _open(client, a1, APPLE_MAIL)
    _click(client, a1, BROWSER)
    _open(client, a2, "Mozilla/5.0")
    _open(client, a2, APPLE_MAIL)
    _open(client, a3, GATEWAY)
    _unsubscribe(client, a4)
    w1 = _mail(app, client, auth, "winter-news", "r5", 1)
    w2 = _mail(app, client, auth, "winter-news", "r6", 0)
    _open(client, w1, GMAIL_PROXY)
    _click(client, w2, LIBRARY)

    def impressions(site: str, origin: str, count: int) -> None:
        for _ in range(count):
            answer = client.post(
                f"/api/v1/sites/{site}/impressions",
                json={"language": "en"},
                headers={"Origin": origin},
            )
            assert answer.status_code in (201, 202, 204), answer.text

    impressions("demo", ORIGIN, 4)
    everything = {"preferences": True, "analytics": True, "marketing": True}
    nothing = {"preferences": False, "analytics": False, "marketing": False}
    for choices, action in [(everything, "accept_all"), (everything, "accept_all"),
                            (nothing, "reject_all")]:  # fmt: skip
        assert post(client, decision(choices=choices, action=action)).status_code == 201
    impressions("shop", SHOP_ORIGIN, 2)
    custom = shop_decision(choices={"analytics": True, "marketing": False}, action="custom")
    assert post(client, custom).status_code == 201
    assert app.extensions["events"].flush(timeout=30)
    _login(client)
    return Scenario(app, client, auth["Authorization"].removeprefix("Bearer "))


def test_the_campaign_table_shows_the_exact_numbers(scenario):
    page = scenario.get("/dashboard/").text
    assert _cells(page, "campaign", "autumn-sale") == {
        "sent": "4",
        "unique_opens": "3 75.0%",
        "machine_share": "33.3% 1 msgs",
        "engagement_rate": "50.0% 2 msgs",
        "click_rate": "25.0% 1 msgs",
        "unsubscribe_rate": "25.0% 1 msgs",
    }
    assert _cells(page, "campaign", "winter-news") == {
        "sent": "2",
        "unique_opens": "1 50.0%",
        "machine_share": "0.0% 0 msgs",
        "engagement_rate": "50.0% 1 msgs",
        "click_rate": "50.0% 1 msgs",
        "unsubscribe_rate": "0.0% 0 msgs",
    }
    # The largest campaign is chosen first: its curve, one point a day since the send.
    assert page.index('data-campaign="autumn-sale"') < page.index('data-campaign="winter-news"')
    opened = re.findall(r'data-series="Opened \(any\)".*?</g>', page, re.S)
    engaged = re.findall(r'data-series="Engaged".*?</g>', page, re.S)
    assert _values(opened[0]) == [0.5, 0.5, 0.75]
    assert _values(engaged[0]) == [0.25, 0.25, 0.5]
    assert "Engaged, day 2: 50.0%" in page


def _values(svg: str) -> list[float]:
    return [round(float(v), 6) for v in re.findall(r'data-value="([0-9.]+)"', svg)]


def test_another_campaign_is_chosen_by_name_and_dates_filter(scenario):
    page = scenario.get("/dashboard/?campaign=winter-news").text
    engaged = re.findall(r'data-series="Engaged".*?</g>', page, re.S)
    assert _values(engaged[0]) == [0.0, 0.5]  # the proxy's open on day 1
    later = (datetime.now(UTC) + timedelta(days=5)).date().isoformat()
    empty = scenario.get(f"/dashboard/?from={later}&to={later}").text
    assert "No campaigns sent in this range" in empty
    odd = scenario.get("/dashboard/?from=yesterday").text
    assert "Those filters were not understood" in odd
    assert 'data-campaign="autumn-sale"' in odd


def test_the_consent_page_shows_the_exact_numbers(scenario):
    page = scenario.get("/dashboard/consent").text
    assert _cells(page, "site", "demo") == {
        "impressions": "4",
        "decisions": "3",
        "accept_all_rate": "50.0% 2",
        "custom_rate": "0.0% 0",
        "reject_all_rate": "25.0% 1",
        "no_action_rate": "25.0% 1",
        "consent_rate": "50.0%",
        "visitor_consent_rate": "50.0% of 4",
        "signal_share": "0.0%",
    }
    assert _cells(page, "site", "shop")["custom_rate"] == "50.0% 1"
    assert _cells(page, "site", "shop")["no_action_rate"] == "50.0% 1"
    # demo had more impressions: its day is drawn, as four shares of one bar.
    bar = dict(re.findall(r'class="segment (g-\w+)"[^>]*data-value="([0-9.]+)"', page))
    assert bar == {"g-accept": "0.500000", "g-reject": "0.250000", "g-none": "0.250000"}

    shop = scenario.get("/dashboard/consent?site=shop").text
    bars = re.findall(r"<title>(\w+): ([0-9.]+%)", shop)
    assert ("analytics", "100.0%") in bars
    assert ("marketing", "0.0%") in bars
    assert "1 of 1 decisions" in shop


# The table's numbers of the scenario, as the reports state them (unrounded).
AUTUMN = {"sent": 4, "unique_opens": 3, "machine_opens": 1, "engaged": 2, "unique_clicks": 1,
          "unsubscribes": 1, "open_rate": 0.75, "machine_share": 1 / 3,
          "engagement_rate": 0.5, "click_rate": 0.25, "unsubscribe_rate": 0.25}  # fmt: skip
WINTER = {"sent": 2, "unique_opens": 1, "machine_opens": 0, "engaged": 1, "unique_clicks": 1,
          "unsubscribes": 0, "open_rate": 0.5, "machine_share": 0.0,
          "engagement_rate": 0.5, "click_rate": 0.5, "unsubscribe_rate": 0.0}  # fmt: skip


def _by_campaign(document: dict) -> dict[str, dict]:
    return {row["campaign"]: {k: row[k] for k in AUTUMN} for row in document["rows"]}


def test_the_report_api_and_the_cli_give_the_same_numbers(scenario):
    answer = scenario.client.get(
        "/api/v1/reports/open-rates", headers={"Authorization": f"Bearer {scenario.key}"}
    )
    assert answer.status_code == 200
    assert _by_campaign(answer.json) == {"autumn-sale": AUTUMN, "winter-news": WINTER}
    (autumn,) = [r for r in answer.json["rows"] if r["campaign"] == "autumn-sale"]
    assert autumn["unique_opens_by_class"] == {
        "human": 2, "mail_proxy": 0, "apple_mpp": 1, "security_scanner": 1, "bot": 0
    }  # fmt: skip
    printed = scenario.app.test_cli_runner().invoke(
        args=["report", "open-rates", "--format", "json"]
    )
    assert printed.exit_code == 0, printed.output
    assert _by_campaign(json.loads(printed.output)) == {
        "autumn-sale": AUTUMN,
        "winter-news": WINTER,
    }
    consent = scenario.client.get(
        "/api/v1/reports/consent-rates", headers={"Authorization": f"Bearer {scenario.key}"}
    ).json
    demo, shop = sorted(consent["rows"], key=lambda r: r["site"])
    assert (demo["impressions"], demo["accept_all"], demo["reject_all"], demo["no_action"]) == (
        4, 2, 1, 1
    )  # fmt: skip
    assert (shop["custom_rate"], shop["no_action_rate"]) == (0.5, 0.5)
    assert shop["categories"]["analytics"]["opt_in_rate"] == 1.0


def test_names_from_the_api_are_text_in_tables_and_charts(app, client, analyst):
    # A campaign name is whatever the sending system sent: it must never become markup.
    hostile = '<img src=x onerror="alert(1)">&'
    sent = datetime.now(UTC)
    _hit(app, "sent", hostile, "m1", "", sent, 0)
    _hit(app, "open", hostile, "m1", "human", sent, 0)
    assert app.extensions["events"].flush(timeout=30)
    _login(client)
    page = client.get("/dashboard/").text
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;&amp;" in page
    assert 'data-series="Engaged"' in page  # the chart was drawn, with the name escaped


def test_a_campaign_without_opens_explains_its_empty_curve(app, client, analyst):
    _hit(app, "sent", "quiet", "m1", "", datetime.now(UTC), 0)
    assert app.extensions["events"].flush(timeout=30)
    _login(client)
    page = client.get("/dashboard/").text
    assert _cells(page, "campaign", "quiet")["engagement_rate"] == "0.0% 0 msgs"
    assert "No opens or clicks recorded for this campaign yet" in page
    assert "<svg" not in page
