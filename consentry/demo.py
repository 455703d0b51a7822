"""The demo shop that `make run` shows first, its Email tab, its embedded frame, and the
service overview.

The shop embeds the banner as a customer would (one script tag, data-site="demo") and
carries what a real shop gates: three tags served from static/demo/, an inline snippet
and a video frame, each showing whether it ran. Its page policy allows nothing but this
origin, plus the inline snippet by hash: the banner copies the snippet into a new script
element, and a hash matches it whoever inserts it (a nonce would have to be carried over
from the element's hidden ``nonce`` property).
"""

import base64
import hashlib
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

from flask import Blueprint, current_app, render_template, request
from markupsafe import Markup
from werkzeug.exceptions import HTTPException

from consent.sites import Site
from consentry import demo_email

bp = Blueprint("demo", __name__)
bp.register_blueprint(demo_email.bp)

SITE = "demo"
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
INLINE_SNIPPET = TEMPLATES / "demo" / "inline_gated.js"


@dataclass(frozen=True)
class Product:
    name: str
    origin: str
    process: str
    notes: str
    price: str
    color: str  # the bag's colour (shop.css)


@dataclass(frozen=True)
class Gate:
    """Something on the shop page that waits for a category, and where it comes from."""

    id: str  # its badge: data-demo-status, and its key in window.__demoRuns
    label: str
    source: str
    category: str


PRODUCTS = (
    Product("Polarnatt", "Ethiopia, Guji", "washed", "Bergamot, peach, jasmine", "16.50", "green"),
    Product("Midnattssol", "Kenya, Nyeri", "washed", "Blackcurrant, grapefruit", "17.90", "violet"),
    Product(
        "Nordlys", "Brazil & Colombia", "espresso", "Cocoa, hazelnut, caramel", "14.50", "amber"
    ),
    Product("Fjellbris", "Peru, Cajamarca", "decaf", "Brown sugar, red apple", "15.20", "slate"),
)
GATES = (
    Gate("analytics", "Analytics tag", "/static/demo/analytics.js", "analytics"),
    Gate("inline", "Inline snippet", "<script>…</script>", "analytics"),
    Gate("marketing", "Ad pixel", "/static/demo/marketing.js", "marketing"),
    Gate("preferences", "Language memory", "/static/demo/preferences.js", "preferences"),
    Gate("embed", "Video frame", "/demo/embed", "marketing"),
)


def _page_policy(frame_ancestors: str, *scripts: str, origins: tuple[str, ...] = ()) -> str:
    """The app's page policy (only this origin), with more script sources and framers.

    ``origins`` may serve images and answer requests too: the public URL minted links
    name, when the page is read under another name of this server.
    """
    sources = " ".join(("'self'", *scripts))
    others = "".join(f" {origin}" for origin in origins)
    return (
        f"default-src 'self'; script-src {sources}; "
        f"style-src 'self' 'unsafe-inline'; img-src 'self' data:{others}; "
        f"connect-src 'self'{others}; "
        f"frame-ancestors {frame_ancestors}; base-uri 'none'; form-action 'self'"
    )


@cache
def _snippet() -> tuple[Markup, str]:
    """The inline gated snippet, exactly as the page carries it, and its CSP hash source."""
    text = INLINE_SNIPPET.read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
    # A file of this repository, not input: safe to put in the page as it is.
    return Markup(text), f"'sha256-{digest}'"  # noqa: S704


def _beacon_path(site_id: str) -> str | None:
    """The page-view beacon's path (SPEC 3.5) once a part of the app serves it, else None."""
    path = f"/b/{site_id}.gif"
    try:
        current_app.url_map.bind("").match(path, method="GET")
    except HTTPException:
        return None
    return path


@bp.get("/")
def index():
    """Show the demo shop with the banner, gated tags and the consent inspector."""
    site = current_app.extensions["sites"].get(SITE)
    snippet, script_hash = _snippet()
    lang = request.args.get("lang")
    response = current_app.make_response(
        render_template(
            "demo/shop.html",
            site=site,
            banner_lang=lang if site is not None and lang in site.texts else None,
            products=PRODUCTS,
            gates=[_gate_view(gate, site) for gate in GATES],
            inventory=_inventory(site),
            inline_snippet=snippet,
            beacon=_beacon_path(SITE),
        )
    )
    response.headers["Content-Security-Policy"] = _page_policy("'none'", script_hash)
    return response


def _gate_view(gate: Gate, site: Site | None) -> dict:
    title = gate.category
    if site is not None and gate.category in site.categories:
        title = site.texts[site.default_language].categories[gate.category].title
    return asdict(gate) | {"category_title": title}


def _inventory(site: Site | None) -> list[tuple[str, str]]:
    """Each declared cookie name (or pattern) and its category, for the inspector's chips."""
    if site is None:
        return []
    return [(c.name, cid) for cid, category in site.categories.items() for c in category.cookies]


@bp.get("/demo/email")
def email_tab():
    """Show the Email tab: mint the shop's newsletter for a sample recipient, watch its events."""
    site = current_app.extensions["sites"].get(SITE)
    context = demo_email.page_context()
    response = current_app.make_response(render_template("demo/email.html", site=site, **context))
    response.headers["Content-Security-Policy"] = _page_policy(
        "'none'", origins=demo_email.other_origins()
    )
    return response


@bp.get("/demo/embed")
def embed():
    """Serve the shop's embedded video frame (it may only be framed by this origin)."""
    response = current_app.make_response(render_template("demo/embed.html"))
    response.headers["Content-Security-Policy"] = _page_policy("'self'")
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


@bp.get("/overview")
def overview():
    """Show the service overview: configured sites and how to call the API."""
    return render_template(
        "demo/overview.html", sites=current_app.extensions["sites"].sites.values()
    )
