"""The dashboard in Chromium: the login, the pages and their charts, no request to any other
origin, no serious axe finding, and screenshots (tests/browser/screenshots/, not committed).

The session's live Consentry gets two weeks of made-up traffic, through its event pipeline
into its chdb database: three campaigns (sent ten days ago, opens spread over the days
after) and two sites (banner answers each day) under names no other browser test uses.
The exact numbers of a known scenario are tests/test_dashboard.py's; here the charts must
carry data and the pages must work and read well.
"""

import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from dashboard import users

SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
PASSWORD = "a long browser test password"
CAMPAIGNS = {"nov-newsletter": 600, "black-friday": 400, "welcome-series": 150}
SITES = {"atelier": (0.48, 0.12, 0.22), "bookshop": (0.35, 0.08, 0.40)}  # accept, custom, reject
SERIOUS = ("serious", "critical")


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.000")


def _email_traffic(emit, rng: random.Random, today: datetime) -> None:
    sent = today - timedelta(days=10)
    for campaign, count in CAMPAIGNS.items():
        for n in range(count):
            message = uuid.uuid4().hex
            base = {
                "campaign": campaign,
                "site": "demo",
                "list": "default",
                "message_id": message,
                "recipient": f"p{n}",
                "tracking": "individual",
                "sent_at": _stamp(sent),
            }

            def event(kind: str, days: float, agent: str = "", base=base) -> None:
                moment = sent + timedelta(days=days)
                emit({**base, "kind": kind, "agent_class": agent, "ts": _stamp(moment)})

            event("sent", 0)
            if rng.random() < 0.35:
                event("open", 0.01, "apple_mpp")
            if rng.random() < 0.04:
                event("open", 0.001, "security_scanner")
            if rng.random() < 0.38:
                day = min(rng.expovariate(0.7), 9.5)
                event("open", day, rng.choice(["human", "human", "mail_proxy"]))
                if rng.random() < 0.25:
                    event("click", day + 0.01, "human")
            if rng.random() < 0.012:
                event("unsubscribe", rng.uniform(0, 5))


def _consent_traffic(emit, rng: random.Random, today: datetime) -> None:
    for site, (accept, custom, reject) in SITES.items():
        for back in range(14, -1, -1):
            day = today - timedelta(days=back)
            for _ in range(rng.randint(70, 130)):
                moment = _stamp(day + timedelta(seconds=rng.randint(0, 3600)))
                common = {"site": site, "ts": moment, "language": "en", "policy_version": "1",
                          "region": "EU", "region_rule": "gdpr", "region_model": "opt-in",
                          "dnt": 0, "gpc": 0, "page_origin": f"https://{site}.example"}  # fmt: skip
                emit({**common, "kind": "impression"})
                roll = rng.random()
                if roll < accept:
                    action, granted = "accept_all", ["preferences", "analytics", "marketing"]
                elif roll < accept + custom:
                    action = "custom"
                    granted = [c for c, p in (("preferences", 0.8), ("analytics", 0.5),
                                              ("marketing", 0.15)) if rng.random() < p]  # fmt: skip
                elif roll < accept + custom + reject:
                    action, granted = "reject_all", []
                else:
                    continue  # no action: shown, never answered
                denied = [c for c in ("preferences", "analytics", "marketing") if c not in granted]
                emit({**common, "kind": "decision", "action": action,
                      "consent_id": uuid.uuid4().hex, "granted": ["necessary", *granted],
                      "denied": denied, "lifetime": "persistent"})  # fmt: skip


@pytest.fixture(scope="module")
def analyst(consentry) -> str:
    """A user, and two weeks of traffic shipped into the live server's ClickHouse."""
    app = consentry.app
    with app.app_context():
        users.create_user("browser-analyst", PASSWORD)
    pipeline = app.extensions["events"]
    rng = random.Random(7)
    today = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0)
    _email_traffic(lambda row: pipeline.emit("email_events", row), rng, today)
    _consent_traffic(lambda row: pipeline.emit("consent_events", row), rng, today)
    assert pipeline.flush(timeout=60), "the spool did not drain into ClickHouse"
    return "browser-analyst"


def _foreign_requests(page: Page, origin: str) -> list[str]:
    """Every request the page makes that is not to ``origin`` (collected as it goes)."""
    seen: list[str] = []
    page.on(
        "request",
        lambda r: None if r.url.startswith((origin + "/", "data:")) else seen.append(r.url),
    )
    return seen


def _serious(page: Page) -> list[dict]:
    results = Axe().run(page)
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in results.response["violations"]
        if v["impact"] in SERIOUS
    ]


def _log_in(page: Page, url: str, password: str = PASSWORD) -> None:
    page.get_by_label("User name").fill("browser-analyst")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_the_dashboard_in_a_browser(page, consentry, analyst):
    foreign = _foreign_requests(page, consentry.url)
    page.goto(consentry.url + "/dashboard/")
    expect(page).to_have_url(f"{consentry.url}/dashboard/login?next=%2Fdashboard%2F")
    assert _serious(page) == []

    _log_in(page, consentry.url, password="not the right one")
    expect(page.locator("#login-error")).to_have_text("Wrong user name or password.")
    _log_in(page, consentry.url)
    expect(page).to_have_url(consentry.url + "/dashboard/")
    expect(page.get_by_role("heading", name="Email campaigns")).to_be_visible()

    # The campaigns, largest first, and the open curve of the first: one point per day.
    rows = page.locator("tbody tr[data-campaign]")
    expect(rows).to_have_count(3)
    assert rows.first.get_attribute("data-campaign") == "nov-newsletter"
    expect(rows.first.locator('[data-cell="sent"]')).to_have_text("600")
    chart = page.locator("#curve svg.chart")
    expect(chart).to_be_visible()
    engaged = chart.locator('[data-series="Engaged"] circle').evaluate_all(
        "cs => cs.map(c => Number(c.dataset.value))"
    )
    assert len(engaged) >= 5
    assert engaged == sorted(engaged)
    assert 0 < engaged[-1] < 1
    assert chart.locator("title").first.text_content().startswith("Open and engagement curve")
    assert _serious(page) == []
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "dashboard-campaigns.png", full_page=True)

    # Another campaign, chosen from the table.
    page.get_by_role("link", name="black-friday").click()
    expect(page.locator("#curve h2")).to_have_text("Open curve: black-friday")

    page.get_by_role("link", name="Website consent").click()
    expect(page.get_by_role("heading", name="Website consent")).to_be_visible()
    page.get_by_role("link", name="atelier").click()
    bars = page.locator("#site svg.chart").first
    shares = bars.locator("rect.segment[data-value]").evaluate_all(
        "rs => rs.map(r => Number(r.dataset.value))"
    )
    assert len(shares) >= 15 * 4  # four answers a day, fifteen days
    assert page.locator("#site rect.segment.g-none[data-value]").count() == 15
    categories = page.locator("#site svg.chart").nth(1).locator("rect.bar[data-value]")
    expect(categories).to_have_count(3)
    assert _serious(page) == []
    page.screenshot(path=SCREENSHOTS / "dashboard-consent.png", full_page=True)

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(consentry.url + "/dashboard/login")
    page.goto(consentry.url + "/dashboard/consent")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    assert foreign == []


def test_the_dashboard_on_a_phone(visitor, consentry, analyst):
    page = visitor(viewport={"width": 375, "height": 812}).page()
    page.goto(consentry.url + "/dashboard/login")
    _log_in(page, consentry.url)
    expect(page.locator("#curve svg.chart")).to_be_visible()
    # Wide tables scroll inside their card; the page itself does not scroll sideways.
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 375
    assert _serious(page) == []
    page.screenshot(path=SCREENSHOTS / "dashboard-phone.png", full_page=True)
