"""CORS for the consent API: only the origins a site configures, never a wildcard."""

from flask import Blueprint, current_app, g, request

from consent.sites import Site
from core.errors import Forbidden

ALLOWED_METHODS = "GET, POST, DELETE, OPTIONS"
ALLOWED_HEADERS = "Content-Type, Idempotency-Key"
PREFLIGHT_MAX_AGE = "600"


def check_origin(site: Site) -> str | None:
    """Refuse a browser request from an origin the site does not list; remember a good one."""
    origin = request.headers.get("Origin")
    if origin is None:
        return None  # not a cross-origin browser request (curl, a server, a same-origin GET)
    if not site.allows_origin(origin):
        raise Forbidden(f"origin {origin!r} is not allowed for site {site.id!r}", code="bad_origin")
    g.cors_origin = origin
    return origin


def install(bp: Blueprint) -> None:
    """Answer preflights and add CORS headers to the blueprint's responses."""

    # App-wide: the app answers OPTIONS only as a preflight of this API, so Flask's
    # automatic answer (200 with Allow, to anyone, on any route) is never given.
    @bp.before_app_request
    def answer_preflight():
        if request.method != "OPTIONS":
            return None
        if request.blueprint != bp.name:
            raise Forbidden(
                "OPTIONS is only answered to a CORS preflight of the consent API",
                code="bad_origin",
            )
        origin = request.headers.get("Origin", "")
        # A preflight carries no body, so no site: allow what any configured site allows;
        # the request itself is then checked against its own site.
        if not current_app.extensions["sites"].any_allows_origin(origin):
            raise Forbidden(f"origin {origin!r} is not allowed", code="bad_origin")
        g.cors_origin = origin
        response = current_app.response_class(status=204)
        response.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
        response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        response.headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
        return response

    @bp.after_request
    def add_cors_headers(response):
        # Plain header writes: ``response.vary`` parses and re-renders a header set, and
        # ``headers.get`` of a missing header raises and catches, on every API response.
        headers = response.headers
        headers["Vary"] = ", ".join([*headers.getlist("Vary"), "Origin"])
        origin = g.get("cors_origin")
        if origin:
            headers["Access-Control-Allow-Origin"] = origin
        return response
