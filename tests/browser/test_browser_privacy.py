"""The portal in a real browser: a visitor from the banner asks for their data, opens the
mailed link from the outbox, confirms, downloads the export; axe finds nothing serious.

On the browser tests' live app and Chromium (tests/browser/conftest.py); one Playwright
per process, so this lives with them.
"""

import json
from pathlib import Path

from axe_playwright_python.sync_playwright import Axe
from factories import post_decision
from playwright.sync_api import expect

from privacy.mailer import read_outbox

SERIOUS = ("serious", "critical")


def serious(page) -> list[dict]:
    results = Axe().run(page)
    return [
        {"id": v["id"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in results.response["violations"]
        if v["impact"] in SERIOUS
    ]


def test_a_visitor_walks_the_portal(consentry, page, tmp_path):
    app, base = consentry.app, consentry.url
    consent_id = post_decision(app.test_client()).json["consent_id"]
    cookie = f"%7B%22consent_id%22%3A%22{consent_id}%22%2C%22site%22%3A%22demo%22%7D"
    page.context.add_cookies([{"name": "consentry", "value": cookie, "url": base}])

    page.goto(f"{base}/privacy?from=banner&lang=en")
    assert page.get_by_label("Consent id of this browser").input_value() == consent_id
    assert serious(page) == []
    page.screenshot(path=str(tmp_path / "privacy-portal.png"), full_page=True)

    page.get_by_label("Get a copy of my data").check()
    page.get_by_label("Your email address").fill("portal-visitor@example.com")
    page.get_by_role("button", name="Send request").click()
    expect(page.get_by_role("heading")).to_have_text("Check your inbox")
    assert serious(page) == []

    outbox = read_outbox(Path(app.config["DATA_DIR"]) / "outbox")
    (mail,) = [m for m in outbox if m.to == "portal-visitor@example.com"]
    link = next(word for word in mail.body.split() if "/privacy/verify/" in word)
    page.goto(link)
    assert serious(page) == []
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading")).to_have_text("Request confirmed")
    assert serious(page) == []

    with page.expect_download() as download:
        page.get_by_role("link", name="Download (JSON)").click()
    document = json.loads(Path(download.value.path()).read_text())
    assert document["subject"] == {"email": "portal-visitor@example.com", "consent_id": consent_id}
    assert [r["consent_id"] for r in document["website_consent"]["records"]] == [consent_id]

    view = page.get_by_role("link", name="View as a web page")
    view_url = base + view.get_attribute("href")
    view.click()
    expect(page.locator("main")).to_contain_text(consent_id)
    assert serious(page) == []
    page.screenshot(path=str(tmp_path / "privacy-export.png"), full_page=True)
    page.goto(view_url)
    expect(page.get_by_role("heading")).to_have_text("This link has already been used.")
