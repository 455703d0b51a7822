"""The signed links of a request: verify it (24 hours), download its export (once).

Both carry the request id and when they were issued; the age is checked here against an
injected ``now`` rather than by itsdangerous's timed serializer, so tests freeze time and
the limit is one number. Each purpose has its own salt: a verification link is no download
link. A bad, foreign or expired token is "no data", never an error of ours.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from core import signing

VERIFY = "privacy-verify"
EXPORT = "privacy-export"
LINK_LIFETIME = timedelta(hours=24)
EXPORT_FORMATS = ("json", "html")


@dataclass(frozen=True)
class LinkData:
    request_id: str
    issued_at: datetime
    format: str | None = None


class LinkError(Exception):
    """A link is not ours, or no longer valid; the message says which, for the page."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def sign(
    keys: list[str], purpose: str, request_id: str, now: datetime, fmt: str | None = None
) -> str:
    """Sign a link for ``request_id`` issued at ``now`` (an export link for one format)."""
    data: dict = {"r": request_id, "t": int(now.timestamp())}
    if fmt is not None:
        data["f"] = fmt
    token = signing.serializer(keys, purpose).dumps(data)
    return token.decode() if isinstance(token, bytes) else token


def read(keys: list[str], purpose: str, token: str, now: datetime) -> LinkData:
    """Return what a link names; raise LinkError ``invalid`` or ``expired``."""
    data = signing.load(keys, purpose, token) if len(token) < 512 else None
    if not isinstance(data, dict) or not isinstance(data.get("r"), str):
        raise LinkError("invalid")
    issued = data.get("t")
    if not isinstance(issued, int) or isinstance(issued, bool):
        raise LinkError("invalid")
    issued_at = datetime.fromtimestamp(issued, now.tzinfo)
    if not timedelta(0) - timedelta(minutes=5) <= now - issued_at <= LINK_LIFETIME:
        raise LinkError("expired")
    fmt = data.get("f")
    if purpose == EXPORT and fmt not in EXPORT_FORMATS:
        raise LinkError("invalid")
    return LinkData(data["r"], issued_at, fmt)
