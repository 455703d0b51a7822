"""``GET /consent.js``: the banner script a site embeds with one ``<script>`` tag.

The bundle is built by esbuild from ``static/js/src`` into ``static/js/consent.js`` and
committed, so serving it needs no Node. It is read once when the app is made: hashed for
its ETag and gzipped at level 9, so a request only picks the bytes its client accepts.
Any page may load it (it is a script); only the API it calls checks origins.
"""

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

from flask import Blueprint, current_app, request
from flask.blueprints import BlueprintSetupState

from core.config import ConfigError
from core.openapi import Op, header, parameter

bp = Blueprint("banner", __name__)

# Five minutes fresh, then served from cache while it revalidates (a 304 costs a few bytes):
# a new build reaches every page within minutes without slowing any of them.
CACHE_CONTROL = "public, max-age=300, stale-while-revalidate=86400"
CONTENT_TYPE = "application/javascript; charset=utf-8"
BUNDLE = Path("js") / "consent.js"


@dataclass(frozen=True)
class Bundle:
    """The built script, as sent: plain and gzipped, each with its own strong ETag."""

    plain: bytes
    gzipped: bytes
    etag: str

    @classmethod
    def read(cls, path: Path) -> "Bundle":
        try:
            plain = path.read_bytes()
        except OSError as e:
            raise ConfigError(f"{path}: the banner bundle is missing; run `make js`") from e
        # mtime=0: the same build always gives the same bytes.
        gzipped = gzip.compress(plain, compresslevel=9, mtime=0)
        return cls(plain, gzipped, hashlib.sha256(plain).hexdigest()[:32])


@bp.record_once
def load_bundle(state: BlueprintSetupState) -> None:
    """Read the committed bundle once, when the blueprint is registered."""
    app = state.app
    app.extensions["banner_script"] = Bundle.read(Path(str(app.static_folder)) / BUNDLE)


@bp.get("/consent.js")
def banner_script():
    """Serve the banner script: cacheable, conditional, gzipped when the client accepts it."""
    bundle: Bundle = current_app.extensions["banner_script"]
    zipped = request.accept_encodings["gzip"] > 0
    response = current_app.response_class(
        bundle.gzipped if zipped else bundle.plain, content_type=CONTENT_TYPE
    )
    headers = response.headers
    if zipped:
        headers["Content-Encoding"] = "gzip"
    # Each encoding is its own representation, so each has its own ETag.
    response.set_etag(bundle.etag + ("-gz" if zipped else ""))
    headers["Cache-Control"] = CACHE_CONTROL
    headers["Vary"] = "Accept-Encoding"
    headers["Access-Control-Allow-Origin"] = "*"
    headers["X-Content-Type-Options"] = "nosniff"
    return response.make_conditional(request)


OPERATIONS = [
    Op("get", "/consent.js", "The banner script",
       "What a site embeds: `<script src=\"{base}/consent.js\" data-site=\"demo\" defer>"
       "</script>`. JavaScript (`application/javascript`) with its CSS inside, under 10 KB "
       "gzipped; gzipped when `Accept-Encoding` allows it; any page may load it.",
       parameters=(parameter("Accept-Encoding", "header", "`gzip` gets the gzipped bundle",
                             example="gzip, br"),),
       headers={
           "Cache-Control": header("Five minutes fresh, then revalidated in the background",
                                   pattern=r"\bmax-age=\d+"),
           "Vary": header("The encoding depends on `Accept-Encoding`"),
           "Access-Control-Allow-Origin": header("Any page may load the script", enum=["*"]),
           "Content-Encoding": header("`gzip` when the request accepts it", required=False,
                                      enum=["gzip"]),
       },
       conditional=True),
]  # fmt: skip
