"""Helpers of the privacy tests: an SMTP server in the test process, seeded subjects."""

import queue
import re
import socket
from dataclasses import dataclass
from email import message_from_bytes, policy
from urllib.parse import urlsplit

from aiosmtpd.controller import Controller
from factories import post_decision

from core.keys import create_key

LINK_RE = re.compile(r"https?://\S+/privacy/verify/\S+")


class Inbox:
    """An aiosmtpd handler: each message received is put on a queue tests wait on."""

    def __init__(self):
        self.received: queue.Queue = queue.Queue()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        message = message_from_bytes(envelope.content, policy=policy.default)
        self.received.put((envelope.rcpt_tos, message))
        return "250 OK"

    def next_link(self, timeout: float = 10.0) -> tuple[list[str], str]:
        """Wait for the next message; return its recipients and the verification path."""
        to, message = self.received.get(timeout=timeout)
        body = message.get_body(preferencelist=("plain",)).get_content()
        url = LINK_RE.search(body).group(0)
        return to, url[url.index("/privacy/") :]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def smtp_server():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    return controller, inbox


@dataclass
class Person:
    email: str
    recipient: str
    consent_id: str
    message_ids: list[str]
    pixel_paths: list[str]  # each message's pixel, as a mail client fetches it


def seed(app, client) -> tuple[dict, dict[str, Person]]:
    """Two people on one site with overlapping campaigns, tracked individually, each with a
    website consent id; returns the API auth header and the people by name."""
    with app.app_context():
        auth = {"Authorization": f"Bearer {create_key('seeder')}"}
    people = {}
    campaigns = {"ann": ["c-shared", "c-ann"], "bob": ["c-shared", "c-bob"]}
    for name, email in (("ann", "Ann@Example.com"), ("bob", "bob@example.org")):
        recipient = f"crm-{name}"
        granted = client.post(
            f"/api/v1/recipients/{recipient}/tracking", json={"consent": "granted"}, headers=auth
        )
        assert granted.status_code == 200, granted.json
        ids, pixels = [], []
        for campaign in campaigns[name]:
            minted = client.post(
                "/api/v1/messages",
                json={"campaign": campaign, "recipient": recipient, "email": email},
                headers=auth,
            )
            assert minted.status_code == 201, minted.json
            assert minted.json["tracking"] == "individual"
            ids.append(minted.json["message_id"])
            pixels.append(urlsplit(minted.json["pixel_url"]).path)
        decided = post_decision(client)
        assert decided.status_code == 201
        people[name] = Person(email, recipient, decided.json["consent_id"], ids, pixels)
    return auth, people


def form_token(client) -> str:
    """Open the portal once so the browser holds the form cookie; return the token."""
    page = client.get("/privacy")
    assert page.status_code == 200
    return re.search(r'name="form_token" value="([^"]+)"', page.text).group(1)


def confirm_token(client, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    return re.search(r'name="form_token" value="([^"]+)"', page.text).group(1)
