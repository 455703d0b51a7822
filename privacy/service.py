"""What the portal and the API do with a request, as plain functions of their inputs.

Views read the form or the link and call these with the keys, mailer, event store and
``now`` they were given; nothing here touches ``flask.request``.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from consent.records import latest_record
from core.db import db, write_transaction
from events import Pipeline
from events.clickhouse import ClickHouseStore
from pixel import identity
from pixel.recipients import set_tracking
from privacy import holdings, ledger, links
from privacy.mailer import Letter, Mailer
from privacy.models import REQUEST_KINDS, PrivacyRequest
from privacy.texts import MAIL, WORDS

EMAIL_RE = re.compile(r"[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+")
CONSENT_ID_RE = re.compile(r"[0-9a-f]{32}")
MAX_EMAIL = 320


class FormError(Exception):
    """The form is wrong; ``key`` names the words (privacy.texts) that tell the person how."""

    def __init__(self, key: str, field: str):
        super().__init__(key)
        self.key = key
        self.field = field


def valid_email(value: str) -> bool:
    return len(value) <= MAX_EMAIL and EMAIL_RE.fullmatch(value) is not None


def read_form(form: Mapping[str, str], keys: list[str], language: str) -> ledger.NewRequest:
    """Check a portal form and return the request it asks for; FormError names what is wrong."""
    kind = form.get("kind", "")
    if kind not in REQUEST_KINDS:
        raise FormError("bad_kind", "kind")
    email = form.get("email", "").strip()
    if not valid_email(email):
        raise FormError("bad_email", "email")
    new_email = form.get("new_email", "").strip() or None
    if kind == "correction" and (new_email is None or not valid_email(new_email)):
        raise FormError("bad_new_email", "new_email")
    if kind != "correction":
        new_email = None
    consent_id = form.get("consent_id", "").strip().lower() or None
    if consent_id is not None:
        if not CONSENT_ID_RE.fullmatch(consent_id):
            raise FormError("bad_consent_id", "consent_id")
        # A consent id is a 128-bit bearer secret, so saying it is unknown reveals nothing.
        if latest_record(consent_id) is None:
            raise FormError("unknown_consent_id", "consent_id")
    return ledger.NewRequest(
        kind=kind,
        email=email,
        email_hash=identity.email_hash(keys, email),
        consent_id=consent_id,
        new_email=new_email,
        language=language,
    )


@dataclass(frozen=True)
class Outlet:
    """Where a request's mail goes and how its links are made."""

    mailer: Mailer
    keys: list[str]
    public_url: str


def submit(new: ledger.NewRequest, outlet: Outlet, now: datetime) -> PrivacyRequest:
    """Log a request (or find its unverified twin) and mail its verification link.

    Known and unknown addresses take the same path: a row, a letter. The answer never
    says whether we hold anything for the address.
    """
    request = ledger.pending_twin(new)
    if request is None:
        request = ledger.open_request(new, now)
    else:
        ledger.note(request.id, "resent", ledger.SUBJECT, None, now)
    send_verification(request, outlet, now)
    return request


def send_verification(request: PrivacyRequest, outlet: Outlet, now: datetime) -> None:
    """Mail a fresh 24-hour link for ``request`` and record it (committing the request)."""
    if request.email is None:
        raise ledger.RequestStateError("the request has no address to write to")
    token = links.sign(outlet.keys, links.VERIFY, request.id, now)
    subject, body = MAIL[request.language]
    kind = WORDS[request.language][request.kind]
    link = f"{outlet.public_url}/privacy/verify/{token}"
    outlet.mailer.send(Letter(request.email, subject, body.format(kind=kind, link=link)), now)
    request.mailed_at = now
    ledger.note(request.id, "mailed", ledger.SYSTEM, None, now)
    db.session.commit()


def export(request: PrivacyRequest, keys: list[str], store: ClickHouseStore, now: datetime) -> dict:
    """Build the subject's export document from SQL and ClickHouse."""
    subject = holdings.subject_of(request)
    found = holdings.find(subject, keys)
    events = {
        "email_events": holdings.email_events(store, found.email),
        "consent_events": holdings.consent_events(store, subject.consent_id),
    }
    return holdings.document(subject, found, events, keys, request, now)


def opt_out_tracking(
    request: PrivacyRequest, keys: list[str], events: Pipeline, now: datetime
) -> int:
    """Deny open and click tracking for every recipient with the subject's address.

    Through the email half's own function, so the opt-out is a suppression and an event
    like any other; then the request is complete. Returns how many recipients it covered.
    """
    found = holdings.find(holdings.subject_of(request), keys)
    rows = []
    with write_transaction() as conn:
        for recipient in found.email.recipients:
            _state, event = set_tracking(
                conn, keys, recipient.site, recipient.external_id, "denied", "page", now
            )
            rows.append(event)
    for event in rows:
        if event is not None:
            events.emit("email_events", event)
    ledger.move(request, "completed", ledger.SUBJECT, now, text=f"{len(rows)} recipient(s)")
    return len(rows)
