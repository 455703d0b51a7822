"""The web beacon: a page view, logged only while its visitor's consent grants analytics.

``GET /b/<site>.gif?cid=<consent_id>&p=<path>`` (SPEC §3.5). The consent half says what a
consent id grants now (:class:`ConsentGrants`, found in ``app.extensions``: the halves
do not import each other); a DNT or GPC signal drops the hit as the site's policy reads
it, as it does for pixels. Page views go to their own ClickHouse table, ``page_views``
(migrations/clickhouse/0006): they are neither a consent decision nor an email event.
The path is stored without its query and fragment (where pages put addresses and
tokens), cut to :data:`MAX_PATH` characters.
"""

import re
import uuid
from datetime import datetime
from typing import Protocol
from urllib.parse import urlsplit

from core.times import utc_text
from core.visitors import ua_family
from events.errors import SpoolFull
from events.protocols import DropReason, EventSink
from pixel.recording import Visit

SOURCE = "web_beacon"
CATEGORY = "analytics"
MAX_PATH = 512
_CONSENT_ID = re.compile(r"[0-9a-f]{32}")


class ConsentGrants(Protocol):
    """The consent half's answer: does this consent id grant this category on this site now?"""

    def __call__(self, site_id: str, consent_id: str, category: str, now: datetime) -> bool: ...


def record_page_view(
    site_id: str,
    signal_policy: str | None,
    consent_id: str,
    page: str,
    visit: Visit,
    *,
    grants: ConsentGrants,
    events: EventSink,
) -> DropReason | None:
    """Spool one page view, or count why not; None when logged.

    ``signal_policy`` is the site's, None for a site the sites file does not have.
    """
    reason = _refusal(site_id, signal_policy, consent_id, visit, grants)
    if reason is not None:
        events.count_drop(reason, SOURCE)
        return reason
    row = {
        "event_id": str(uuid.uuid4()),
        "ts": utc_text(visit.now, sep=" "),
        "site": site_id,
        "consent_id": consent_id,
        "path": page_path(page),
        "ua_family": ua_family(visit.user_agent or ""),
    }
    try:
        events.emit("page_views", row)
    except (SpoolFull, OSError):
        events.count_drop("spool_full", SOURCE)
        return "spool_full"
    return None


def _refusal(
    site_id: str,
    signal_policy: str | None,
    consent_id: str,
    visit: Visit,
    grants: ConsentGrants,
) -> DropReason | None:
    if visit.method == "HEAD":
        return "head"
    if signal_policy is None or not _CONSENT_ID.fullmatch(consent_id):
        return "invalid"
    if visit.signalled(signal_policy):
        return "signal"
    if not grants(site_id, consent_id, CATEGORY, visit.now):
        return "opted_out"
    return None


def page_path(page: str) -> str:
    """The path of a page's address: no scheme, host, query or fragment; at most 512 chars."""
    try:
        path = urlsplit(page).path
    except ValueError:  # an unbalanced IPv6 bracket in what looked like a host
        path = ""
    return ("/" + path.lstrip("/"))[:MAX_PATH]
