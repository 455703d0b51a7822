"""The hit endpoints in the fast lane (core.fastlane): ``/o/``, ``/c/`` and ``/b/`` answered
without Flask's request machinery, by the same logging functions as their Flask views
(pixel.hits), with the same status, headers and body.

Each handler takes only the plain form of its route and leaves everything else to Flask,
before doing anything:

- a token or site made of URL-safe base64 characters and dots (what we sign; anything
  else is not ours, and Flask's routing has its own ideas about slashes and encodings);
- on ``/c/``, a token that reads as one of ours: an invalid one is Flask's 404 page;
- on ``/b/``, a query string in plain ASCII.

None of these routes needs a Flask request hook (the app's are the consent API's CORS
and preflight, the dashboard's, and the rate limiter's, which limits only the privacy
portal's form), and none sets a cookie.
"""

import re

from flask import Flask
from werkzeug.urls import iri_to_uri

from core.fastlane import Answer, FastLane
from pixel.hits import (
    GIF,
    GIF_HEADERS,
    HONEYPOT_TEXT,
    NOT_CACHED,
    log_click,
    log_open,
    log_page_view,
    read_link,
)

# What a signed token is made of: URL-safe base64 and the dots between its parts.
_PLAIN = re.compile(r"[A-Za-z0-9_\-.]*")
_ASCII_QUERY = re.compile(r"[\x20-\x7e]*")

GIF_ANSWER = Answer.of("200 OK", GIF_HEADERS, GIF)
# As Werkzeug sends Flask's responses: the view's headers, then the defaults it adds.
HONEYPOT_ANSWER = Answer.of(
    "200 OK", (*NOT_CACHED, ("Content-Type", "text/plain; charset=utf-8")), HONEYPOT_TEXT
)
_REDIRECT_HEADERS = (*NOT_CACHED, ("Content-Type", "text/html; charset=utf-8"))


def install(app: Flask) -> None:
    """Add the pixel, link and beacon handlers to the app's fast lane."""
    lane: FastLane = app.extensions["fastlane"]
    hits = app.extensions["pixel.hits"]
    keys = app.config["SECRET_KEYS"]
    extensions = app.extensions

    def open_pixel(environ: dict) -> Answer | None:
        path = environ["PATH_INFO"]
        token = path[3:-4]
        if not path.endswith(".gif") or not _PLAIN.fullmatch(token):
            return None
        log_open(hits, token, environ)
        return GIF_ANSWER

    def follow_link(environ: dict) -> Answer | None:
        token = environ["PATH_INFO"][3:]
        if not _PLAIN.fullmatch(token):
            return None
        link = read_link(keys, token)
        if link is None:
            return None  # Flask's 404 page, which counts the drop
        log_click(hits, link, environ)
        if link.url is None:
            return HONEYPOT_ANSWER
        location = ("Location", iri_to_uri(link.url))
        return Answer.of("302 FOUND", (*_REDIRECT_HEADERS, location))

    def page_view(environ: dict) -> Answer | None:
        path = environ["PATH_INFO"]
        site = path[3:-4]
        if not path.endswith(".gif") or not site or not _PLAIN.fullmatch(site):
            return None
        if not _ASCII_QUERY.fullmatch(environ.get("QUERY_STRING", "")):
            return None
        with app.app_context():  # the consent half's grants read through Flask-SQLAlchemy
            log_page_view(site, environ, extensions)
        return GIF_ANSWER

    lane.add(("GET", "HEAD"), "/o/", open_pixel)
    lane.add(("GET", "HEAD"), "/c/", follow_link)
    lane.add(("GET", "HEAD"), "/b/", page_view)
