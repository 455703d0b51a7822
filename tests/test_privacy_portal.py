"""The privacy portal end to end: request -> mail over real SMTP -> link -> export, once.

A real SMTP server (aiosmtpd) runs in the test process; the SQL store and the chdb
ClickHouse engine are the suite's own.
"""

import json
import re

import pytest
from privacy_support import confirm_token, form_token, seed, smtp_server
from sqlalchemy import select

from core.db import db
from privacy.models import AuditEntry


@pytest.fixture
def smtp():
    controller, inbox = smtp_server()
    yield controller, inbox
    controller.stop()


@pytest.fixture
def portal_app(make_app, smtp):
    controller, _ = smtp
    return make_app(
        SMTP_URL=f"smtp://{controller.hostname}:{controller.port}",
        PRIVACY_RATE_LIMIT="100 per minute",
        PUBLIC_URL="http://localhost",
    )


def _ask(client, **form) -> object:
    token = form_token(client)
    return client.post("/privacy", data={"form_token": token, **form})


def test_export_holds_exactly_the_subjects_data_and_downloads_once(portal_app, smtp):
    _, inbox = smtp
    client = portal_app.test_client()
    _, people = seed(portal_app, client)
    ann, bob = people["ann"], people["bob"]

    asked = _ask(client, kind="access", email="ann@example.com", consent_id=ann.consent_id)
    assert asked.status_code == 200
    assert "Check your inbox" in asked.text
    to, path = inbox.next_link()
    assert to == ["ann@example.com"]

    token = confirm_token(client, path)
    done = client.post(path, data={"form_token": token})
    assert done.status_code == 200, done.text
    json_url = re.search(r'href="(/privacy/export/[^"]+)" download', done.text).group(1)
    html_url = re.search(r'href="(/privacy/export/[^"]+)">', done.text).group(1)

    download = client.get(json_url)
    assert download.status_code == 200
    assert "attachment" in download.headers["Content-Disposition"]
    doc = json.loads(download.data)
    text = download.data.decode()
    # Exactly Ann's: her messages, her recipient row, her consent records and events.
    assert {m["message_id"] for m in doc["email"]["messages"]} == set(ann.message_ids)
    assert [r["recipient"] for r in doc["email"]["recipients"]] == [ann.recipient]
    assert {e["message_id"] for e in doc["email"]["events"]} == set(ann.message_ids)
    assert {e["kind"] for e in doc["email"]["events"]} == {"sent"}
    assert {r["consent_id"] for r in doc["website_consent"]["records"]} == {ann.consent_id}
    assert all(r["receipt"] for r in doc["website_consent"]["records"])
    assert len(doc["website_consent"]["events"]) >= 1
    assert {(x["list"], x["unsubscribed"]) for x in doc["email"]["lists"]} == {("default", False)}
    # Nobody else's: none of Bob's ids or his address appear anywhere in the document.
    for other in (bob.email, bob.recipient, bob.consent_id, *bob.message_ids):
        assert other not in text

    with portal_app.app_context():
        audited = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "export"))
        assert [(a.actor, a.detail) for a in audited] == [("subject", {"format": "json"})]
    again = client.get(json_url)
    assert again.status_code == 409
    assert client.post(path, data={"form_token": token}).status_code == 409
    view = client.get(html_url)
    assert view.status_code == 200
    assert ann.message_ids[0] in view.text
    assert client.get(html_url).status_code == 409


def test_the_answer_is_the_same_for_known_and_unknown_addresses(portal_app, smtp):
    _, inbox = smtp
    client = portal_app.test_client()
    seed(portal_app, client)
    known = _ask(client, kind="access", email="bob@example.org")
    unknown = _ask(client, kind="access", email="nobody@example.net")
    assert (known.status_code, known.text) == (unknown.status_code, unknown.text)
    # The same work behind both: each address is sent a link.
    assert inbox.next_link()[0] == ["bob@example.org"]
    assert inbox.next_link()[0] == ["nobody@example.net"]
