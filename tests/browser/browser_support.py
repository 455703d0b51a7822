"""What the browser tests run against: the live Consentry app, a customer's own web server,
and the sites the app serves, changed per test as an operator changes the sites file.

Both servers are werkzeug's threaded development server in a thread of the test process:
the app is the real one (``create_app``, SQLite, the chdb engine), so a test can read the
proof records and events it caused.
"""

import copy
import json
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, unquote

from events_support import request_json
from flask import Flask
from sqlalchemy import func, select
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from consent.models import ConsentRecord
from consent.sites import Site, SiteRegistry
from core.db import db

ROOT = Path(__file__).resolve().parents[2]
BUNDLED_SITES = ROOT / "consent" / "data" / "sites.toml"
LAB_SITES = ROOT / "tests" / "data" / "browser_sites.toml"
PAGES = Path(__file__).resolve().parent / "pages"


class _Quiet(WSGIRequestHandler):
    """No access log on the test output."""

    def log_request(self, code="-", size="-") -> None:
        pass


def _closing(app):
    """``app`` with each response closed however its sending ends. werkzeug's development
    server closes a response only once it was sent whole: when the browser drops the
    connection first (it may, for a script it no longer needs), a static file's handle
    was left to the garbage collector, and its ResourceWarning failed whichever test ran
    then. Here the generator's ``finally`` closes it as soon as the server lets go."""

    def wsgi(environ, start_response):
        body = app(environ, start_response)

        def chunks():
            try:
                yield from body
            finally:
                if hasattr(body, "close"):
                    body.close()

        return chunks()

    return wsgi


class Served:
    """A WSGI app served on 127.0.0.1 on a free port, in a daemon thread, until stopped."""

    def __init__(self, app) -> None:
        self.server: BaseWSGIServer = make_server(
            "127.0.0.1", 0, _closing(app), threaded=True, request_handler=_Quiet
        )
        self.port: int = self.server.server_port
        self._thread = threading.Thread(
            target=self.server.serve_forever, name=f"serve-{self.port}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self._thread.join()
        self.server.server_close()


def write_sites_file(directory: Path) -> Path:
    """Write the sites the tests serve: the bundled demo site, exactly, and the lab site."""
    path = directory / "browser_sites.toml"
    path.write_text(BUNDLED_SITES.read_text() + "\n" + LAB_SITES.read_text())
    return path


class Consentry:
    """The live Consentry app and what a test asks of it besides the browser's requests."""

    def __init__(self, app: Flask, served: Served) -> None:
        self.app = app
        self.port = served.port
        self.url = f"http://127.0.0.1:{served.port}"

    def consent(self, consent_id: str) -> dict:
        """GET /api/v1/consents/<id>: the current state and the full history of a consent id."""
        status, body = request_json(self.port, "GET", f"/api/v1/consents/{consent_id}")
        assert status == 200, body
        return body

    def decide(self, body: dict) -> dict:
        """POST a decision as a server would (no Origin): for state a test plants."""
        status, answer = request_json(self.port, "POST", "/api/v1/consents", body)
        assert status == 201, answer
        return answer

    def record_count(self) -> int:
        """How many proof records the SQL store holds (all sites)."""
        with self.app.app_context():
            return db.session.scalar(select(func.count()).select_from(ConsentRecord))

    def events(self, site: str) -> list[tuple[str, str, str]]:
        """Ship what is spooled, then return (kind, action, consent_id) of a site's events."""
        pipeline = self.app.extensions["events"]
        assert pipeline.flush(30), "the spool did not drain into ClickHouse"
        return [
            (str(kind), str(action), str(consent_id))
            for kind, action, consent_id in pipeline.clickhouse.query(
                "SELECT kind, action, consent_id FROM consent_events "
                "WHERE site = {site:String} ORDER BY ts",
                {"site": site},
            )
        ]


class SiteSettings:
    """Change the served sites for one test, as an operator edits the sites file and restarts.

    The changed sites pass the same validation as the file (``Site.model_validate``); the
    app then serves them from its registry, the object it reads on every request.
    """

    def __init__(self, app: Flask, sites_file: Path) -> None:
        self._app = app
        self._raw = tomllib.loads(sites_file.read_text())["sites"]
        self._original = app.extensions["sites"]
        self._changed = copy.deepcopy(self._raw)

    def change(self, site_id: str, **fields) -> None:
        """Set top-level fields of a site (policy_version, cookie_domain, ...)."""
        self._changed[site_id].update(fields)
        self._apply()

    def add_category(self, site_id: str, category_id: str, cookies: list[dict]) -> None:
        """Add a category with its cookies and a title in every language the site has."""
        site = self._changed[site_id]
        site["categories"][category_id] = {"cookies": cookies}
        for texts in site["texts"].values():
            texts["categories"][category_id] = {
                "title": f"New: {category_id}",
                "description": f"The {category_id} category, added after the first decision.",
            }
        self._apply()

    def restore(self) -> None:
        self._app.extensions["sites"] = self._original

    def _apply(self) -> None:
        sites = {
            site_id: Site.model_validate({"id": site_id, **body})
            for site_id, body in self._changed.items()
        }
        self._app.extensions["sites"] = SiteRegistry(sites)


GATED_JS = """\
(function () {
  var layer = window.dataLayer || [];
  window.__defaultBeforeTags = Array.prototype.some.call(layer, function (entry) {
    return entry && entry[0] === "consent" && entry[1] === "default";
  });
  window.__count(%s);
})();
"""


def customer_site(consentry_url: str):
    """A customer's own web server: its page embeds the banner from the Consentry origin.

    ``/customer.html?site=<id>&lang=<tag>`` is the page (pages/customer.html, filled in);
    ``/gated.js?category=<id>`` a gated tag that counts its runs; ``/frame.html`` an embed.
    """

    def app(environ, start_response) -> Iterator[bytes]:
        request = Request(environ)
        args = {k: v[0] for k, v in parse_qs(request.query_string.decode()).items()}
        if request.path == "/customer.html":
            html = (PAGES / "customer.html").read_text()
            for name, value in {
                "api": consentry_url,
                "site": args.get("site", "demo"),
                "lang": args.get("lang", "en"),
            }.items():
                html = html.replace(f"{{{{{name}}}}}", value)
            response = Response(html, mimetype="text/html")
        elif request.path == "/gated.js":
            body = GATED_JS % json.dumps(args.get("category", ""))
            response = Response(body, mimetype="text/javascript")
        elif request.path == "/frame.html":
            response = Response("<!doctype html><title>Embed</title><p>embedded</p>", "200")
            response.mimetype = "text/html"
        else:
            response = Response("not here", status=404)
        return response(environ, start_response)

    return app


def read_cookie(value: str) -> dict:
    """Decode the ``consentry`` cookie: URI-encoded JSON."""
    return json.loads(unquote(value))
