"""The operators' API: the request log (list, show, complete, reject, re-send), the outbox,
the audit log. Every call needs an API key; the key's name is the actor recorded."""

from datetime import UTC, datetime
from pathlib import Path

from flask import Blueprint, current_app, g, request
from sqlalchemy import select

from core import jsoncodec
from core.auth import require_api_key
from core.db import db
from core.errors import Conflict, NotFound, Unprocessable
from core.requests import parse_body
from privacy import erasure, ledger, service
from privacy.mailer import read_outbox
from privacy.models import (
    REQUEST_KINDS,
    REQUEST_STATUSES,
    AuditEntry,
    PrivacyRequest,
    RequestAction,
)
from privacy.portal import erasure_scope
from privacy.schemas import (
    AuditOut,
    CompleteIn,
    OutboxOut,
    RejectIn,
    RequestDetailOut,
    RequestListOut,
    RequestOut,
)

bp = Blueprint("privacy_api", __name__, url_prefix="/api/v1/privacy")
LIST_LIMIT = 500


def _json(model, status: int = 200):
    response = current_app.response_class(
        jsoncodec.compact(model.model_dump(mode="json")), status=status, mimetype="application/json"
    )
    response.headers["Cache-Control"] = "no-store"  # addresses and personal data
    return response


def _actor() -> str:
    return f"api-key:{g.api_key.name}"


def _request_out(found: PrivacyRequest, now: datetime) -> dict:
    fields = {name: getattr(found, name) for name in RequestOut.model_fields if name != "overdue"}
    return fields | {"overdue": ledger.overdue(found, now)}


def _detail(found: PrivacyRequest, now: datetime):
    actions = db.session.scalars(
        select(RequestAction).where(RequestAction.request_id == found.id).order_by(RequestAction.id)
    ).all()
    return RequestDetailOut.model_validate(_request_out(found, now) | {"actions": list(actions)})


def _found(request_id: str) -> PrivacyRequest:
    found = ledger.find(request_id)
    if found is None:
        raise NotFound(f"no privacy request {request_id!r}", code="unknown_request")
    return found


@bp.get("/requests")
@require_api_key
def list_requests():
    """List requests, newest first, optionally of one status and kind."""
    query = select(PrivacyRequest).order_by(PrivacyRequest.created_at.desc()).limit(LIST_LIMIT)
    for name, allowed, column in (
        ("status", REQUEST_STATUSES, PrivacyRequest.status),
        ("kind", REQUEST_KINDS, PrivacyRequest.kind),
    ):
        value = request.args.get(name)
        if value is not None:
            if value not in allowed:
                raise Unprocessable(f"{name} must be one of {', '.join(allowed)}", code="invalid")
            query = query.where(column == value)
    now = datetime.now(UTC)
    found = db.session.scalars(query).all()
    return _json(RequestListOut.model_validate({"requests": [_request_out(f, now) for f in found]}))


@bp.get("/requests/<request_id>")
@require_api_key
def show_request(request_id: str):
    """Show one request with every action taken on it."""
    return _json(_detail(_found(request_id), datetime.now(UTC)))


@bp.post("/requests/<request_id>/complete")
@require_api_key
def complete_request(request_id: str):
    """Complete a verified request (a deletion is carried out now) with an optional note."""
    body = parse_body(CompleteIn)  # first: a bad body is refused whatever the id
    found = _found(request_id)
    now = datetime.now(UTC)
    if found.status != "verified":
        raise Conflict(
            f"the request is {found.status}; only a verified one completes", code="not_verified"
        )
    try:
        if found.kind == "deletion":
            keys = current_app.config["SECRET_KEYS"]
            events = current_app.extensions["events"]
            erasure.carry_out(found, keys, events, erasure_scope(), _actor(), now)
        else:
            ledger.move(found, "completed", _actor(), now, text=body.note)
    except ledger.RequestStateError as e:
        raise Conflict(str(e), code="request_moved") from e
    return _json(_detail(found, now))


@bp.post("/requests/<request_id>/reject")
@require_api_key
def reject_request(request_id: str):
    """Reject an open request, giving the reason the subject will be told."""
    body = parse_body(RejectIn)
    found = _found(request_id)
    now = datetime.now(UTC)
    try:
        ledger.move(found, "rejected", _actor(), now, text=body.reason)
    except ledger.RequestStateError as e:
        raise Conflict(str(e), code="request_closed") from e
    return _json(_detail(found, now))


@bp.post("/requests/<request_id>/resend")
@require_api_key
def resend_verification(request_id: str):
    """Mail a new verification link for a request nobody has confirmed yet."""
    found = _found(request_id)
    if found.status != "received":
        raise Conflict(
            f"the request is {found.status}; only an unverified one is re-sent", code="not_pending"
        )
    now = datetime.now(UTC)
    cfg = current_app.config
    outlet = service.Outlet(
        current_app.extensions["privacy_mailer"], cfg["SECRET_KEYS"], cfg["PUBLIC_URL"]
    )
    ledger.note(found.id, "resend_asked", _actor(), None, now)
    service.send_verification(found, outlet, now)
    return _json(_detail(found, now))


@bp.get("/outbox")
@require_api_key
def show_outbox():
    """The newest mail written to the outbox (when no SMTP server is configured)."""
    items = read_outbox(Path(current_app.config["DATA_DIR"]) / "outbox")
    return _json(OutboxOut.model_validate({"messages": items}))


@bp.get("/audit")
@require_api_key
def show_audit_log():
    """The newest entries of the audit log: exports, erasures, new API keys."""
    entries = db.session.scalars(
        select(AuditEntry).order_by(AuditEntry.id.desc()).limit(LIST_LIMIT)
    ).all()
    return _json(AuditOut.model_validate({"entries": list(entries)}))
