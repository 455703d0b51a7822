"""Helpers for the hit tests: mint through the API, read tokens back, age a send, count drops."""

import re
from datetime import UTC, datetime, timedelta

from factories import clickhouse_rows
from sqlalchemy import insert, update

from core.db import db
from core.keys import create_key
from pixel.hits import GIF
from pixel.models import Message, Suppression

GIF_HEADERS = {
    "Content-Type": "image/gif",
    "Content-Length": "43",
    "Cache-Control": "no-store, no-cache, must-revalidate, max-age=0, private",
    "Pragma": "no-cache",
    "Expires": "0",
    "X-Robots-Tag": "noindex",
    # Every response of the app carries these two (consentry.SECURITY_HEADERS).
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}
EMAIL = (
    "<html><body><p>Hello,</p>"
    '<p><a href="https://shop.example.com/sale">Sale</a></p>'
    '<p><a href="https://shop.example.com/new">New</a></p>'
    '<p><a href="https://blog.example.com/post">Blog</a></p>'
    '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p></body></html>'
)
HONEYPOT_STYLE = "display:none"
BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
GMAIL_PROXY = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)
EVENTS = (
    "SELECT kind, message_id, recipient, tracking, agent_class, agent_reasons, url, "
    "user_agent, ip_prefix, campaign FROM email_events WHERE kind IN ('open', 'click') "
    "ORDER BY ts, kind DESC"  # an open before the click of the same millisecond
)


def api_key(app) -> dict:
    with app.app_context():
        return {"Authorization": f"Bearer {create_key('mailer')}"}


def mint(client, auth, recipient="crm-1", **body) -> dict:
    response = client.post(
        "/api/v1/messages/render",
        json={"campaign": "dec", "recipient": recipient, "html": EMAIL, **body},
        headers=auth,
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def pixel_path(answer: dict) -> str:
    return "/o/" + re.fullmatch(r"http://127\.0\.0\.1:8000/o/(.+)", answer["pixel_url"])[1]


def links(answer: dict) -> dict[str, str]:
    """The tracked links of a rendered email: its URL's path -> the tracked path.

    The honeypot (the hidden anchor) is under the key ``honeypot``.
    """
    found = {}
    for match in re.finditer(
        r'<a href="http://127\.0\.0\.1:8000(/c/[^"]+)"([^>]*)>', answer["html"]
    ):
        path, rest = match.groups()
        if HONEYPOT_STYLE in rest:
            found["honeypot"] = path
        else:
            text = answer["html"][match.end() :].split("<", 1)[0]
            found[text] = path
    return found


def tracked_id(answer: dict) -> str:
    """The id the pixel carries (the anonymous one in aggregate mode)."""
    from pixel import tokens

    token = pixel_path(answer)[3:-4]
    return tokens.read_message(["test-signing-key-0123456789abcdef"], tokens.OPEN, token)


def age(app, message_id: str, seconds: float = 3600) -> None:
    """Move a message's send back in time (a person opens mail minutes after it is sent)."""
    sent_at = datetime.now(UTC) - timedelta(seconds=seconds)
    with app.app_context():
        db.session.execute(update(Message).where(Message.id == message_id).values(sent_at=sent_at))
        db.session.commit()


def suppress(app, **fields) -> None:
    row = {
        "site": "demo",
        "kind": "unsubscribe",
        "list": "default",
        "method": "one_click",
        "created_at": datetime.now(UTC),
    } | fields
    with app.app_context():
        db.session.execute(insert(Suppression).values(row))
        db.session.commit()


def hit_events(app) -> list[tuple]:
    return clickhouse_rows(app, EVENTS)


def drops(app) -> dict[tuple[str, str], int]:
    rows = clickhouse_rows(app, "SELECT source, reason, sum(hits) FROM dropped_hits GROUP BY 1, 2")
    return {(source, reason): hits for source, reason, hits in rows}


def assert_gif(response, head: bool = False) -> None:
    """The 43-byte GIF with exactly the pixel's headers (a HEAD: the headers, no body)."""
    assert response.status_code == 200
    assert response.data == (b"" if head else GIF)
    assert dict(response.headers) == GIF_HEADERS
