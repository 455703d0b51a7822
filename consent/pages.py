"""Public consent pages: a site's cookie declaration, the Global Privacy Control file."""

from datetime import date

from flask import Blueprint, current_app, jsonify, render_template, request

from consent.declaration import words_for
from consent.site_config import pick_language
from consent.sites import NECESSARY
from core.errors import NotFound

bp = Blueprint("consent_pages", __name__)

# The date our GPC support statement last changed (https://privacycg.github.io/gpc-spec/).
GPC_LAST_UPDATE = date(2026, 11, 1)


@bp.get("/.well-known/gpc.json")
def gpc_statement():
    """Declare that this service honours Global Privacy Control."""
    response = jsonify(gpc=True, lastUpdate=GPC_LAST_UPDATE.isoformat())
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/sites/<site_id>/cookies")
def cookie_declaration(site_id: str):
    """Show a site's cookie declaration: its inventory by category, in the visitor's language."""
    site = current_app.extensions["sites"].get(site_id)
    if site is None:
        raise NotFound(f"There is no site {site_id!r} here.", code="unknown_site")
    requested = [request.args["lang"]] if request.args.get("lang") else []
    requested += [tag for tag, _ in request.accept_languages]
    language = pick_language(site, requested)
    # The banner can reopen the preferences here only if the site lets this origin use its
    # API; otherwise the visitor changes the choice on the site itself.
    here = f"{request.scheme}://{request.host}"
    response = current_app.make_response(
        render_template(
            "consent/cookies.html",
            site=site,
            language=language,
            texts=site.texts[language],
            words=words_for(language),
            necessary=NECESSARY,
            banner=site.allows_origin(here),
            wildcards=any("*" in c.name for cat in site.categories.values() for c in cat.cookies),
        )
    )
    response.vary.add("Accept-Language")
    return response
