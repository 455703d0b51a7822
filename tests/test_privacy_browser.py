"""The portal in a real browser: a visitor from the banner asks for their data, opens the
mailed link from the outbox, confirms, downloads the export; axe finds nothing serious.

Debian's Chromium driven by Playwright (a test dependency the browser tests bring).
"""

import json
import threading
from pathlib import Path

import pytest
from factories import post_decision
from werkzeug.serving import make_server

from privacy.mailer import read_outbox

sync_api = pytest.importorskip("playwright.sync_api", reason="the browser tests' Playwright")
axe_api = pytest.importorskip("axe_playwright_python.sync_playwright")

CHROMIUM = Path("/usr/bin/chromium")
SERIOUS = ("serious", "critical")


@pytest.fixture
def served(make_app):
    app = make_app(PRIVACY_RATE_LIMIT="100 per minute")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    app.config["PUBLIC_URL"] = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app, app.config["PUBLIC_URL"]
    server.shutdown()
    thread.join()
    server.server_close()


@pytest.fixture
def page():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing (apt-get install chromium)", pytrace=False)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        context = browser.new_context(accept_downloads=True)
        context.set_default_timeout(10_000)
        yield context.new_page()
        browser.close()


def serious(page) -> list[dict]:
    results = axe_api.Axe().run(page)
    return [
        {"id": v["id"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in results.response["violations"]
        if v["impact"] in SERIOUS
    ]


def test_a_visitor_walks_the_portal(served, page, tmp_path):
    app, base = served
    consent_id = post_decision(app.test_client()).json["consent_id"]
    cookie = f"%7B%22consent_id%22%3A%22{consent_id}%22%2C%22site%22%3A%22demo%22%7D"
    page.context.add_cookies([{"name": "consentry", "value": cookie, "url": base}])

    page.goto(f"{base}/privacy?from=banner&lang=en")
    assert page.get_by_label("Consent id of this browser").input_value() == consent_id
    assert serious(page) == []
    page.screenshot(path=str(tmp_path / "privacy-portal.png"), full_page=True)

    page.get_by_label("Get a copy of my data").check()
    page.get_by_label("Your email address").fill("visitor@example.com")
    page.get_by_role("button", name="Send request").click()
    sync_api.expect(page.get_by_role("heading")).to_have_text("Check your inbox")
    assert serious(page) == []

    (mail,) = read_outbox(Path(app.config["DATA_DIR"]) / "outbox")
    assert mail.to == "visitor@example.com"
    link = next(word for word in mail.body.split() if "/privacy/verify/" in word)
    page.goto(link)
    assert serious(page) == []
    page.get_by_role("button", name="Confirm").click()
    sync_api.expect(page.get_by_role("heading")).to_have_text("Request confirmed")
    assert serious(page) == []

    with page.expect_download() as download:
        page.get_by_role("link", name="Download (JSON)").click()
    document = json.loads(Path(download.value.path()).read_text())
    assert document["subject"] == {"email": "visitor@example.com", "consent_id": consent_id}
    assert [r["consent_id"] for r in document["website_consent"]["records"]] == [consent_id]

    view = page.get_by_role("link", name="View as a web page")
    view_url = base + view.get_attribute("href")
    view.click()
    sync_api.expect(page.locator("main")).to_contain_text(consent_id)
    assert serious(page) == []
    page.screenshot(path=str(tmp_path / "privacy-export.png"), full_page=True)
    page.goto(view_url)
    sync_api.expect(page.get_by_role("heading")).to_have_text("This link has already been used.")
