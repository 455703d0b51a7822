"""The public portal: ask for a request, confirm it from the mailed link, download an export.

GET never changes anything (mail scanners fetch links): following the mailed link shows
a page whose button confirms. Forms carry a token that must equal a cookie of the same
browser (double submit): another site can make a browser post, but cannot read or set
our cookie.
"""

import hmac
import json
import logging
import secrets
import smtplib
from datetime import UTC, datetime
from urllib.parse import unquote

from flask import Blueprint, current_app, make_response, render_template, request
from werkzeug.wrappers import Response

from core.errors import BadRequest, Unavailable
from core.times import as_utc
from pixel import identity
from privacy import erasure, ledger, links, service
from privacy.models import PrivacyRequest
from privacy.texts import KIND_KEYS, LANGUAGES, WORDS, pick_language

bp = Blueprint("privacy", __name__)
log = logging.getLogger(__name__)

FORM_COOKIE = "consentry_form"
CONSENT_COOKIE = "consentry"
# What each bad link is answered with: a page, never a 500.
LINK_STATUS = {"invalid": 400, "expired": 410, "used": 409}


def _language() -> str:
    asked = [request.args["lang"]] if request.args.get("lang") else []
    asked += [request.form["lang"]] if request.form.get("lang") else []
    return pick_language(asked + [tag for tag, _ in request.accept_languages])


def _cookie_consent_id() -> str:
    """The consent id in this browser's ``consentry`` cookie, read here, never sent to a page."""
    raw = request.cookies.get(CONSENT_COOKIE, "")
    try:
        value = json.loads(unquote(raw))
    except ValueError:
        return ""
    consent_id = value.get("consent_id") if isinstance(value, dict) else None
    if isinstance(consent_id, str) and service.CONSENT_ID_RE.fullmatch(consent_id):
        return consent_id
    return ""


def _page(template: str, status: int = 200, **context) -> Response:
    language = context.pop("language", None) or _language()
    token = request.cookies.get(FORM_COOKIE) or secrets.token_urlsafe(24)
    response = make_response(
        render_template(
            template,
            words=WORDS[language],
            language=language,
            languages=LANGUAGES,
            kinds=KIND_KEYS,
            form_token=token,
            **context,
        ),
        status,
    )
    response.headers["Cache-Control"] = "no-store"
    response.set_cookie(
        FORM_COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        secure=request.is_secure,
        path="/privacy",
    )
    return response


def _check_form_token() -> None:
    cookie = request.cookies.get(FORM_COOKIE, "")
    sent = request.form.get("form_token", "")
    if not cookie or not hmac.compare_digest(cookie.encode(), sent.encode()):
        raise BadRequest(WORDS[_language()]["bad_form"], code="bad_form_token")


def _outlet() -> service.Outlet:
    cfg = current_app.config
    return service.Outlet(
        current_app.extensions["privacy_mailer"], cfg["SECRET_KEYS"], cfg["PUBLIC_URL"]
    )


def erasure_scope() -> erasure.Scope:
    return erasure.Scope(
        sites=list(current_app.extensions["sites"].sites),
        consent_records=current_app.config["PRIVACY_ERASE_CONSENT_RECORDS"],
    )


def address_key() -> str:
    """The rate limit's key for the address a form names: its keyed hash."""
    address = request.form.get("email", "").strip()[: service.MAX_EMAIL]
    return "address:" + identity.email_hash(current_app.config["SECRET_KEYS"], address)


@bp.get("/privacy")
def show_portal():
    """Show the request form; from the banner's link, with this browser's consent id."""
    consent_id = _cookie_consent_id() if request.args.get("from") == "banner" else ""
    return _page(
        "privacy/portal.html",
        values={"consent_id": consent_id, "kind": request.args.get("kind", "")},
    )


@bp.post("/privacy")
def submit_request():
    """Log a request and mail its verification link; the same answer for any address."""
    _check_form_token()
    language = _language()
    try:
        new = service.read_form(request.form, current_app.config["SECRET_KEYS"], language)
    except service.FormError as e:
        values = {k: request.form.get(k, "") for k in ("kind", "email", "new_email", "consent_id")}
        return _page("privacy/portal.html", 422, error=e.key, field=e.field, values=values)
    try:
        service.submit(new, _outlet(), datetime.now(UTC))
    except (OSError, smtplib.SMTPException) as e:
        ledger.rollback()  # no request without its mail
        log.error("privacy mail could not be sent: %s", e)
        raise Unavailable("We could not send the confirmation mail. Please try again later.") from e
    return _page("privacy/sent.html", language=language)


def _linked(token: str, now: datetime) -> PrivacyRequest:
    try:
        data = links.read(current_app.config["SECRET_KEYS"], links.VERIFY, token, now)
    except links.LinkError as e:
        raise _LinkRefused(e.reason) from e
    found = ledger.find(data.request_id)
    if found is None:
        raise _LinkRefused("invalid")
    if found.status == "expired":
        raise _LinkRefused("expired")
    if found.status != "received" or (
        found.mailed_at is not None
        and as_utc(found.mailed_at).timestamp() - data.issued_at.timestamp() > 1
    ):
        # Followed already, or a newer link was sent: only the newest link works, once.
        raise _LinkRefused("used")
    return found


class _LinkRefused(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@bp.errorhandler(_LinkRefused)
def refuse_link(error: _LinkRefused):
    return _page(
        "privacy/message.html", LINK_STATUS[error.reason], title=WORDS[_language()][error.reason]
    )


@bp.get("/privacy/verify/<token>")
def show_confirmation(token: str):
    """Show what the link confirms, with the button that confirms it."""
    found = _linked(token, datetime.now(UTC))
    return _page("privacy/confirm.html", language=found.language, found=found, token=token)


@bp.post("/privacy/verify/<token>")
def confirm_request(token: str):
    """Verify the request and carry out what needs no operator."""
    _check_form_token()
    now = datetime.now(UTC)
    found = _linked(token, now)
    try:
        ledger.move(found, "verified", ledger.SUBJECT, now)
    except ledger.RequestStateError as e:
        raise _LinkRefused("used") from e
    words = WORDS[found.language]
    keys = current_app.config["SECRET_KEYS"]
    if found.kind == "access":
        urls = {
            fmt: f"/privacy/export/{links.sign(keys, links.EXPORT, found.id, now, fmt)}"
            for fmt in links.EXPORT_FORMATS
        }
        return _page("privacy/done.html", language=found.language, found=found, urls=urls)
    if found.kind == "deletion":
        try:
            erasure.carry_out(
                found, keys, current_app.extensions["events"], erasure_scope(), ledger.SUBJECT, now
            )
        except Exception as e:  # a store is down: the verified request waits for an operator
            log.error("erasure of request %s failed, left for an operator: %s", found.id, e)
            ledger.rollback()
            ledger.note(found.id, "erasure_failed", ledger.SYSTEM, type(e).__name__, now)
            ledger.commit()
            deadline = as_utc(found.deadline_at).date().isoformat()
            message = words["received_by"].format(deadline=deadline)
            return _page("privacy/done.html", language=found.language, found=found, message=message)
        return _page(
            "privacy/done.html", language=found.language, found=found, message=words["completed"]
        )
    if found.kind == "tracking_optout":
        service.opt_out_tracking(found, keys, current_app.extensions["events"], now)
        return _page(
            "privacy/done.html", language=found.language, found=found, message=words["completed"]
        )
    deadline = as_utc(found.deadline_at).date().isoformat()
    return _page(
        "privacy/done.html", language=found.language, found=found,
        message=words["received_by"].format(deadline=deadline),
    )  # fmt: skip


@bp.get("/privacy/export/<token>")
def download_export(token: str):
    """Hand out the export once per format: JSON to download, or a page to read."""
    now = datetime.now(UTC)
    try:
        data = links.read(current_app.config["SECRET_KEYS"], links.EXPORT, token, now)
    except links.LinkError as e:
        raise _LinkRefused(e.reason) from e
    found = ledger.find(data.request_id)
    if found is None or found.kind != "access":
        raise _LinkRefused("invalid")
    if found.status != "verified":
        raise _LinkRefused("used")
    events = current_app.extensions["events"]
    events.flush(timeout=5)
    # Built before the link is spent: if a store fails, the link still works later.
    document = service.export(found, current_app.config["SECRET_KEYS"], events.clickhouse, now)
    if not ledger.claim_download(found, data.format or "json", now):
        raise _LinkRefused("used")
    ledger.audit("export", ledger.SUBJECT, found.id, {"format": data.format}, now)
    ledger.note(found.id, f"downloaded_{data.format}", ledger.SUBJECT, None, now)
    ledger.commit()
    if found.export_json_at is not None and found.export_html_at is not None:
        ledger.move(found, "completed", ledger.SYSTEM, now, text="export downloaded")
    if data.format == "html":
        return _page("privacy/export.html", language=found.language, doc=document)
    response = current_app.response_class(
        json.dumps(document, indent=2, ensure_ascii=False), mimetype="application/json"
    )
    response.headers["Content-Disposition"] = (
        f'attachment; filename="consentry-export-{found.id}.json"'
    )
    response.headers["Cache-Control"] = "no-store"
    return response
