"""The hit endpoints: the pixel ``/o/<token>.gif``, tracked links ``/c/<token>``, the web
beacon ``/b/<site>.gif`` (SPEC §3.3 to 3.5).

The pixel and the beacon answer the same 43-byte GIF with the same headers whatever
happens: a valid, forged or garbage token, a withdrawn recipient, the SQL store or the
spool down. Everything on the logging side is caught (and logged for operators), nothing
on the GIF side can fail. A click with a token that is not ours answers the app's 404
page, never a redirect: the only URLs ``/c/`` leads to are the ones we signed. A click
that is not logged (withdrawn recipient, DNT/GPC) still redirects: a privacy signal on a
link the recipient chose to follow is no reason to break it.

The honeypot link (the hidden one the render step adds, which only machines follow)
leads nowhere: ``200`` with one line of plain text on our own host, not cached, not
indexed. A redirect would send scanners to a page of the sender's, and an error might
make a gateway flag the whole mail.
"""

import logging
from datetime import UTC, datetime
from urllib.parse import parse_qsl

from flask import Blueprint, Response, current_app, request
from werkzeug.urls import iri_to_uri

from core.errors import NotFound
from pixel import tokens
from pixel.beacon import record_page_view
from pixel.recording import CLICK_SOURCE, HitRecorder, Visit

log = logging.getLogger(__name__)

bp = Blueprint("email_hits", __name__)

# The classic transparent 1x1 GIF89a (FIELD-NOTES).
GIF = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)
GIF_HEADERS = (
    ("Content-Type", "image/gif"),
    ("Cache-Control", "no-store, no-cache, must-revalidate, max-age=0, private"),
    ("Pragma", "no-cache"),
    ("Expires", "0"),
    ("X-Robots-Tag", "noindex"),
)
# Longer tokens are not ours (an open token is 74 characters; a click token carries its
# URL): refused unread, so a flood of huge ones costs nothing to verify.
MAX_TOKEN = 4096
NOT_CACHED = (("Cache-Control", "no-store"), ("X-Robots-Tag", "noindex"))
HONEYPOT_TEXT = b"This link leads nowhere.\n"


def recorder() -> HitRecorder:
    return current_app.extensions["pixel.hits"]


def _gif() -> Response:
    return current_app.response_class(GIF, headers=GIF_HEADERS)


def visit_of(environ: dict) -> Visit:
    """What a hit's request says, read from the WSGI environ at once.

    Not through ``request.headers``: each lookup there goes through werkzeug's
    context-local proxy and header parsing, on the busiest path there is.
    """
    return Visit(
        method=environ["REQUEST_METHOD"],
        user_agent=environ.get("HTTP_USER_AGENT"),
        client_ip=environ.get("REMOTE_ADDR"),
        dnt=environ.get("HTTP_DNT", "").strip() == "1",
        gpc=environ.get("HTTP_SEC_GPC", "").strip() == "1",
        now=datetime.now(UTC),
    )


def _not_logged(what: str, error: Exception) -> None:
    # The GIF or the redirect goes out regardless; operators see why the hit is missing.
    log.warning("%s hit not logged: %s: %s", what, type(error).__name__, error)


# The logging side of each endpoint, shared by its Flask view and its fast-lane handler
# (pixel.lane): it never raises, whatever the token, the stores or the request hold.


def log_open(hits: HitRecorder, token: str, environ: dict) -> None:
    """Log a pixel hit as an open if the recipient allows it, or count why not."""
    try:
        # An overlong token is no token: not even read (a HEAD is still counted as one).
        hits.open(token if len(token) <= MAX_TOKEN else "", visit_of(environ))
    except Exception as error:  # the GIF is answered whatever the logging side hits
        _not_logged("pixel", error)


def read_link(keys: list[str], token: str) -> tokens.Click | None:
    """What a click token says, or None (an overlong token is not even read)."""
    return tokens.read_click(keys, token) if len(token) <= MAX_TOKEN else None


def log_click(hits: HitRecorder, link: tokens.Click | None, environ: dict) -> None:
    """Log a followed link as a click if allowed, or count why not (an invalid token)."""
    try:
        if link is None:
            hits.drop("invalid", CLICK_SOURCE)
        else:
            hits.click(link, visit_of(environ))
    except Exception as error:
        _not_logged("click", error)


def log_page_view(site: str, environ: dict, extensions: dict) -> None:
    """Log a page view if the consent id grants analytics and no signal, or count why not."""
    try:
        found = extensions["sites"].get(site)
        args = query_args(environ)
        record_page_view(
            site,
            found.signal_policy if found is not None else None,
            args.get("cid", ""),
            args.get("p", ""),
            visit_of(environ),
            grants=extensions.get("consent_grants", _grants_nothing),
            events=extensions["events"],
        )
    except Exception as error:
        _not_logged("beacon", error)


@bp.get("/o/<path:token>.gif")
@bp.get("/o/.gif", defaults={"token": ""})
def open_pixel(token: str):
    """Answer the pixel; log an open if the recipient allows it (HEAD logs nothing)."""
    log_open(recorder(), token, request.environ)
    return _gif()


@bp.get("/c/<path:token>")
@bp.get("/c/", defaults={"token": ""})
def follow_link(token: str):
    """Redirect to the link's signed URL and log the click if allowed; 404 for any other."""
    link = read_link(current_app.config["SECRET_KEYS"], token)
    log_click(recorder(), link, request.environ)
    if link is None:
        raise NotFound("This link is not valid.", code="invalid_link")
    if link.url is None:
        return Response(HONEYPOT_TEXT, mimetype="text/plain", headers=NOT_CACHED)
    response = Response(status=302, headers=NOT_CACHED)
    response.headers["Location"] = iri_to_uri(link.url)
    return response


@bp.get("/b/<path:site>.gif")
def page_view(site: str):
    """Answer the beacon; log a page view if the consent id grants analytics and no signal."""
    log_page_view(site, request.environ, current_app.extensions)
    return _gif()


def query_args(environ: dict) -> dict[str, str]:
    """The query's parameters, the first of each name: what ``request.args.get`` answers.

    Parsed as Werkzeug parses ``request.args`` (bytes that are not UTF-8 stay
    percent-encoded; an undecodable raw query raises, caught by the caller).
    """
    pairs = parse_qsl(
        environ.get("QUERY_STRING", "").encode("latin1").decode(),
        keep_blank_values=True,
        errors="werkzeug.url_quote",  # registered by werkzeug.urls, imported above
    )
    args: dict[str, str] = {}
    for name, value in pairs:
        args.setdefault(name, value)
    return args


def _grants_nothing(site_id: str, consent_id: str, category: str, now: datetime) -> bool:
    # Without the consent half there is no consent to read: nothing is granted.
    return False
