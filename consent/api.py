"""The consent API: site config, decisions, state and withdrawal, receipts, chain checks."""

import hashlib
import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import TypeVar

from flask import Blueprint, current_app, request
from pydantic import BaseModel

from consent import chain, cors, idempotency, records
from consent.consent_cookie import decision_cookie, same_host
from consent.models import ConsentRecord, NewRecord
from consent.receipts import issue_receipt, mismatches, read_receipt
from consent.schemas import (
    CONSENT_ID,
    ChainOut,
    ConsentStateOut,
    DecisionIn,
    DecisionOut,
    ImpressionIn,
    ReceiptCheckIn,
    ReceiptCheckOut,
    RecordOut,
    decision_json,
)
from consent.site_config import COOKIE_NAME, pick_language, resolve_config
from consent.sites import Site
from core.auth import require_api_key
from core.errors import BadRequest, NotFound
from core.requests import parse_body
from core.times import as_utc

M = TypeVar("M", bound=BaseModel)

bp = Blueprint("consent_api", __name__, url_prefix="/api/v1")
cors.install(bp)

_CONSENT_ID = re.compile(CONSENT_ID)


def _site(site_id: str) -> Site:
    site = current_app.extensions["sites"].get(site_id)
    if site is None:
        raise NotFound(f"no site {site_id!r}", code="unknown_site")
    return site


def _events():
    return current_app.extensions["events"]


def _visit(site: Site, origin: str | None) -> records.Visit:
    return records.read_visit(
        site,
        origin,
        request.headers,
        request.remote_addr,
        current_app.config["REGION_HEADERS"],
        datetime.now(UTC),
    )


def _consent_id(value: str) -> str:
    if not _CONSENT_ID.fullmatch(value):
        raise BadRequest("a consent id is 32 lowercase hex characters", code="invalid_consent_id")
    return value


def _json(model, status: int = 200):
    return _json_bytes(model.model_dump_json(), status)


def _json_bytes(body: bytes | str, status: int = 200):
    response = current_app.response_class(body, status=status, mimetype="application/json")
    # Each answer built here holds a consent id, a receipt or a chain report: no cache
    # (shared or the browser's) may keep one. add(): a third of the cost of headers=.
    response.headers.add("Cache-Control", "no-store")
    return response


@bp.get("/sites/<site_id>/config")
def get_site_config(site_id: str):
    """Return the banner config resolved for this visitor's region, language and signals."""
    site = _site(site_id)
    cors.check_origin(site)
    visit = _visit(site, None)
    requested = [request.args["lang"]] if request.args.get("lang") else []
    requested += [tag for tag, _ in request.accept_languages]
    config = resolve_config(site, visit.region, pick_language(site, requested), visit.signals)
    body = config.model_dump_json()
    response = current_app.response_class(body, mimetype="application/json")
    response.set_etag(hashlib.sha256(body.encode()).hexdigest()[:32])
    # Revalidated on every load (a 304 costs little): a policy-version bump or a new
    # category reaches every visitor at once instead of after a cache lifetime.
    response.cache_control.private = True
    response.cache_control.no_cache = True
    response.vary.update(
        ["Accept-Language", "DNT", "Sec-GPC", *current_app.config["REGION_HEADERS"]]
    )
    return response.make_conditional(request)


@bp.post("/sites/<site_id>/impressions")
def record_impression(site_id: str):
    """Count one showing of the banner (anonymous, for consent rates)."""
    site = _site(site_id)
    origin = cors.check_origin(site)
    impression = parse_body(ImpressionIn)
    visit = _visit(site, origin)
    if impression.signals:
        signals = visit.signals.merge(impression.signals.dnt, impression.signals.gpc)
        visit = replace(visit, signals=signals)
    language = impression.language if impression.language in site.texts else site.default_language
    # A full spool raises SpoolFull, which renders as 503 spool_full.
    _events().emit("consent_events", records.impression_event(site, language, visit))
    return "", 204


@bp.post("/consents")
def create_consent():
    """Record a decision and return its id, expiry and signed receipt."""
    header = request.headers.get("Idempotency-Key")
    key = idempotency.parse_key(header) if header is not None else None
    decision = parse_body(DecisionIn)
    site = _site(decision.site)
    origin = cors.check_origin(site)
    retry = idempotency.request_key(key, decision) if key is not None else None
    decided = records.record_decision(site, decision, _visit(site, origin), _events(), retry)
    body = _decision_json(decided.record)
    response = _json_bytes(body, 201)
    if decided.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    if origin is not None and same_host(origin, request.host):
        secure = request.is_secure or origin.startswith("https://")
        _set_consent_cookie(response, site, DecisionOut.model_validate_json(body), secure)
    return response


def _set_consent_cookie(response, site: Site, answer: DecisionOut, secure: bool) -> None:
    """Set the visitor's ``consentry`` cookie (a page on this host: see consent_cookie)."""
    cookie = decision_cookie(site.id, answer, site.cookie_domain, secure, datetime.now(UTC))
    response.set_cookie(
        COOKIE_NAME,
        cookie.value,
        max_age=cookie.max_age,
        path="/",
        domain=cookie.domain,
        secure=cookie.secure,
        httponly=False,  # the banner reads it
        samesite="Lax",
    )


@bp.get("/consents/<consent_id>")
def get_consent(consent_id: str):
    """Return the current state of a consent id and its full history (the id is the secret)."""
    history = records.history(_consent_id(consent_id))
    if not history:
        raise NotFound("no decisions for this consent id", code="unknown_consent")
    latest = history[-1]
    site = _site(latest.site_id)
    cors.check_origin(site)
    expires = as_utc(latest.expires_at)
    state = _from_record(
        ConsentStateOut,
        latest,
        site=latest.site_id,
        expired=expires is not None and expires <= datetime.now(UTC),
        outdated=latest.policy_version != site.policy_version,
        history=[_from_record(RecordOut, r) for r in history],
    )
    return _json(state)


@bp.delete("/consents/<consent_id>")
def withdraw_consent(consent_id: str):
    """Withdraw every optional category for a consent id (a new record, nothing deleted)."""
    latest = records.latest_record(_consent_id(consent_id))
    if latest is None:
        raise NotFound("no decisions for this consent id", code="unknown_consent")
    site = _site(latest.site_id)
    origin = cors.check_origin(site)
    record = records.withdraw(site, latest, _visit(site, origin), _events())
    return _json_bytes(_decision_json(record))


@bp.post("/receipts/verify")
def verify_receipt():
    """Tell whether a receipt was signed here and still matches its stored record."""
    check = parse_body(ReceiptCheckIn)
    content = read_receipt(current_app.config["SECRET_KEYS"], check.receipt)
    if content is None:
        return _json(
            ReceiptCheckOut(valid=False, matches_record=None, mismatches=None, receipt=None)
        )
    differ = mismatches(content, records.find_record(str(content.get("record_id", ""))))
    return _json(
        ReceiptCheckOut(valid=True, matches_record=not differ, mismatches=differ, receipt=content)
    )


@bp.get("/sites/<site_id>/chain")
@require_api_key
def verify_site_chain(site_id: str):
    """Recompute a site's hash chain and report the first record that breaks it."""
    _site(site_id)
    report = chain.verify_chain(site_id)
    return _json(ChainOut(**report.__dict__))


def _decision_json(record: NewRecord | ConsentRecord) -> bytes:
    return decision_json(record, issue_receipt(current_app.config["SECRET_KEYS"], record))


def _from_record(model: type[M], record: ConsentRecord | NewRecord, **extra) -> M:
    """Build a response model from a record's same-named fields, plus ``extra``."""
    fields = {name: getattr(record, name) for name in model.model_fields if name not in extra}
    return model.model_validate(fields | extra)
