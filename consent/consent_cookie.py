"""The ``consentry`` cookie the server sets with a decision, for pages on the API's own host.

Safari caps cookies written by script at 7 days; a cookie the server sets with
``Set-Cookie`` is not capped that way. So when the page that decided is on the API's host
(its ``Origin`` names that host), the decision's answer sets the cookie itself. A page on
another host gets none: the browser would drop it from a CORS answer anyway, and the
banner writes its own.

The value is exactly what the banner writes, ``encodeURIComponent(JSON.stringify(v))``
with the keys in the banner's order, so the banner reads either one the same way.
"""

import json
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, urlsplit

from consent.schemas import DecisionOut

# The characters encodeURIComponent leaves alone besides letters, digits and "-_.~"
# (which quote never escapes).
_URI_COMPONENT_SAFE = "!'()*"


@dataclass(frozen=True)
class ConsentCookie:
    """What the ``Set-Cookie`` of one decision holds (Path=/ and SameSite=Lax always)."""

    value: str
    max_age: int | None  # None: a session cookie, gone when the browser session ends
    domain: str | None
    secure: bool


def same_host(origin: str, host: str) -> bool:
    """Tell whether a page at ``origin`` is on ``host`` (the request's Host: name and port)."""
    return urlsplit(origin).netloc.lower() == host.lower()


def encode_value(content: dict) -> str:
    """Encode as ``encodeURIComponent(JSON.stringify(content))`` does in a browser."""
    text = json.dumps(content, ensure_ascii=False, separators=(",", ":"))
    return quote(text, safe=_URI_COMPONENT_SAFE)


def decision_cookie(
    site_id: str, answer: DecisionOut, cookie_domain: str | None, secure: bool, now: datetime
) -> ConsentCookie:
    """Build the cookie of a decision's answer; a persistent one lives until it expires.

    A replayed answer (Idempotency-Key) gets the same value and the same expiry instant:
    a client retries because the first answer, and its cookie, never arrived.
    """
    shown = answer.model_dump(mode="json")
    content = {
        "consent_id": shown["consent_id"],
        "site": site_id,
        "choices": shown["choices"],
        "lifetime": shown["lifetime"],
        "policy_version": shown["policy_version"],
        "timestamp": shown["created_at"],
    }
    max_age = None
    if answer.expires_at is not None:
        max_age = max(0, int((answer.expires_at - now).total_seconds()))
    return ConsentCookie(encode_value(content), max_age, cookie_domain, secure)
