"""The HTTP edge: body limits however a body is framed, methods on every route, ambiguous
input, and the headers of 204, 401 and private answers."""

import io
import json
import select
import socket
import sqlite3
import subprocess
import sys
from collections import defaultdict
from contextlib import contextmanager
from http.client import HTTPResponse
from pathlib import Path
from uuid import uuid4

import pytest
import user_agents
from events_support import free_port, serve, subprocess_env
from factories import ORIGIN, decision, post_decision
from pydantic import BaseModel

from consent.models import ConsentRecord
from core import visitors
from core.db import db
from core.errors import ConsentryError
from core.requests import parse_body

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LIMIT = 16 * 1024
CHAIN = "/api/v1/sites/demo/chain"


def _records(app) -> int:
    with app.app_context():
        return db.session.scalar(db.select(db.func.count()).select_from(ConsentRecord))


def _backlog(app) -> int:
    return app.extensions["events"].health()["spool"]["backlog_events"]


def _padded(size: int, tail: bytes = b"") -> bytes:
    """A valid decision padded with JSON whitespace to ``size`` bytes, then ``tail``."""
    head = json.dumps(decision(choices={"analytics": True, "marketing": False})).encode()
    return head + b" " * (size - len(head) - len(tail)) + tail


# --- oversized bodies: 413 however they are framed -------------------------------------


def _post_chunked(client, body: bytes):
    # Werkzeug's test client frames nothing itself: a WSGI server that de-chunks a body
    # marks the stream as terminated (gunicorn always does) and sends no Content-Length.
    return client.post(
        "/api/v1/consents",
        input_stream=io.BytesIO(body),
        content_type="application/json",
        headers={"Transfer-Encoding": "chunked", "Origin": ORIGIN},
        environ_overrides={"wsgi.input_terminated": True},
    )


def _post_sized(client, body: bytes):
    return client.post(
        "/api/v1/consents", data=body, content_type="application/json", headers={"Origin": ORIGIN}
    )


@pytest.mark.parametrize("post", [_post_chunked, _post_sized], ids=["chunked", "content-length"])
@pytest.mark.parametrize(
    ("body", "status"),
    [
        (_padded(21 * 1024, b"this tail is not JSON"), 413),
        (_padded(1024 * 1024), 413),
        (_padded(LIMIT + 1), 413),
        (_padded(LIMIT), 201),
    ],
    ids=["21KB-bad-tail", "1MB", "limit+1", "limit"],
)
def test_a_body_over_the_limit_is_refused_whole(app, client, post, body, status):
    response = post(client, body)
    assert response.status_code == status, response.get_data(as_text=True)[:200]
    if status == 413:
        assert response.get_json()["error"]["code"] == "payload_too_large"
        assert _records(app) == 0
        assert _backlog(app) == 0
    else:
        assert _records(app) == 1


def test_a_chunked_body_the_server_does_not_end_is_read_as_empty(app, client):
    # Without wsgi.input_terminated nothing says where the body ends: reading on could
    # block a worker for good, so it is not read (Werkzeug's own safe fallback).
    response = client.post(
        "/api/v1/consents",
        input_stream=io.BytesIO(_padded(2048)),
        content_type="application/json",
        headers={"Transfer-Encoding": "chunked", "Origin": ORIGIN},
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "malformed_json"
    assert _records(app) == 0


@contextmanager
def _server(data_dir: Path):
    """Run the real app as ``make run`` does: ``gunicorn --config gunicorn.conf.py wsgi:app``."""
    port = free_port()
    env = subprocess_env(
        CONSENTRY_DATA_DIR=str(data_dir),
        CONSENTRY_SECRET_KEYS="http-edge-test-key-0123456789",
        HOST="127.0.0.1",
        PORT=str(port),
    )
    upgrade = [str(BIN / "consentry"), "db", "upgrade"]
    subprocess.run(upgrade, env=env, cwd=ROOT, check=True, capture_output=True, timeout=120)
    with serve(["--config", "gunicorn.conf.py", "wsgi:app"], env, ROOT, port, "/healthz") as proc:
        yield proc


def _send_chunked(port: int, body: bytes) -> tuple[int, dict]:
    """POST ``body`` in 4 KB chunks; stop sending once the server answers, as curl does."""
    head = (
        "POST /api/v1/consents HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nOrigin: {ORIGIN}\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head.encode())
        try:
            for start in range(0, len(body), 4096):
                if select.select([sock], [], [], 0)[0]:
                    break  # answered (or closed) before the body ended
                chunk = body[start : start + 4096]
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            else:
                sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed after answering: the answer is still in the receive buffer
        response = HTTPResponse(sock)
        response.begin()
        return response.status, json.loads(response.read())


@pytest.mark.slow
def test_gunicorn_refuses_oversized_chunked_bodies_and_stores_nothing(tmp_path):
    data_dir = tmp_path / "data"
    with _server(data_dir) as server:
        too_long = _send_chunked(server.port, _padded(21 * 1024, b"this tail is not JSON"))
        huge = _send_chunked(server.port, _padded(1024 * 1024))
        with sqlite3.connect(data_dir / "consentry.db") as conn:
            stored = conn.execute("SELECT count(*) FROM consent_records").fetchone()[0]
        small = _send_chunked(server.port, _padded(2048))
    assert too_long[0] == 413
    assert too_long[1]["error"]["code"] == "payload_too_large"
    assert huge[0] == 413
    assert huge[1]["error"]["code"] == "payload_too_large"
    assert stored == 0
    # A chunked body under the limit is read whole and accepted.
    assert small[0] == 201
    assert len(small[1]["record_id"]) == 32


# --- methods: every route answers a wrong method with 405 and Allow ---------------------

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")
# Values for the URL map's arguments; any other string argument gets "sample" (a route
# whose argument needs another form fails the test with a 404 until it is added here).
SAMPLES = {"site_id": "demo", "consent_id": "0" * 32, "filename": "css/site.css"}


def _paths(app) -> dict[str, set[str]]:
    """Return a concrete path for every rule of the URL map, with the methods it allows."""
    allowed: dict[str, set[str]] = defaultdict(set)
    for rule in app.url_map.iter_rules():
        values = {name: SAMPLES.get(name, "sample") for name in rule.arguments}
        _, path = rule.build(values)
        allowed[path] |= rule.methods
    return allowed


def test_every_route_answers_every_other_method_with_405_and_allow(app, client):
    paths = _paths(app)
    assert len(paths) >= 10
    checked = 0
    for path, allowed in paths.items():
        for method in sorted(set(METHODS) - allowed):
            response = client.open(path, method=method)
            where = f"{method} {path}"
            assert response.status_code == 405, where
            assert set(response.headers["Allow"].split(", ")) == allowed, where
            body = response.get_data(as_text=True)
            if method == "HEAD":
                assert body == "", where
            if path.startswith("/api/"):
                assert response.mimetype == "application/json", where
                if method != "HEAD":
                    assert json.loads(body)["error"]["code"] == "method_not_allowed", where
            else:
                assert response.mimetype == "text/html", where
                if method != "HEAD":
                    assert "<h1>405</h1>" in body, where
            checked += 1
    assert checked >= 40


def test_a_plain_options_request_is_refused_on_every_route(app, client):
    for path in _paths(app):
        response = client.options(path)
        assert response.status_code == 403, path
        assert "Allow" not in response.headers, path
        assert "Access-Control-Allow-Origin" not in response.headers, path
        if path.startswith("/api/"):
            assert response.get_json()["error"]["code"] == "bad_origin", path
        else:
            assert response.mimetype == "text/html", path


def test_a_preflight_from_an_allowed_origin_is_answered_only_on_the_consent_api(client):
    preflight = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
    assert client.options("/api/v1/consents", headers=preflight).status_code == 204
    assert client.options("/healthz", headers=preflight).status_code == 403
    assert client.options("/api/v1/openapi.json", headers=preflight).status_code == 403


# --- ambiguous input: duplicate keys, odd origins, long user agents ---------------------


def _with_first(members: str, body: dict) -> str:
    """Put raw JSON ``members`` before the members of ``body`` (whose keys then repeat)."""
    return "{" + members + "," + json.dumps(body)[1:]


NO_CHOICES = {k: v for k, v in decision().items() if k != "choices"}
DUPLICATES = [
    ("/api/v1/consents", _with_first('"site":"x"', decision()), "site"),
    (
        "/api/v1/consents",
        _with_first('"choices":{"analytics":true,"analytics":false}', NO_CHOICES),
        "analytics",
    ),
    # Escapes decode to the same key: a textual scan would miss this one.
    ("/api/v1/consents", _with_first('"s\\u0069te":"nosuchsite"', decision()), "site"),
    ("/api/v1/consents", _with_first('"signals":{"gpc":true,"gpc":false}', decision()), "gpc"),
    (
        "/api/v1/sites/demo/impressions",
        '{"language":"en","signals":{"dnt":true,"dnt":false}}',
        "dnt",
    ),
    ("/api/v1/receipts/verify", '{"receipt":"a.b.c","receipt":"d.e.f"}', "receipt"),
]


@pytest.mark.parametrize(("path", "raw", "key"), DUPLICATES)
def test_a_duplicate_key_is_refused_and_nothing_is_stored(app, client, path, raw, key):
    response = client.post(
        path, data=raw, content_type="application/json", headers={"Origin": ORIGIN}
    )
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["error"]["code"] == "duplicate_key"
    assert repr(key) in response.get_json()["error"]["message"]
    assert _records(app) == 0
    assert _backlog(app) == 0


class _Nested(BaseModel):
    items: list[dict[str, dict[str, int]]]


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ('{"items":[{"a":{"x":1}},{"b":{"x":1,"y":2,"x":3}}]}', "duplicate_key"),
        ('{"items":[{"a":{"x":1}},{"a":{"x":1}}]}', None),  # equal keys in sibling objects
        ('{"items":[{"a":{"x":1}}', "malformed_json"),
        ('{"items":' + "[" * 5000 + "]" * 5000 + "}", "malformed_json"),  # too deep
    ],
)
def test_duplicate_keys_are_found_at_any_depth(app, raw, code):
    with app.test_request_context(data=raw, content_type="application/json"):
        if code is None:
            assert parse_body(_Nested).items[1] == {"a": {"x": 1}}
        else:
            with pytest.raises(ConsentryError) as caught:
                parse_body(_Nested)
            assert caught.value.code == code


@pytest.mark.parametrize(
    "origin",
    [
        "http://localhost:99999",
        "http://localhost:65536",
        "http://localhost:0080",
        "http://localhost:0",
        "http://localhost:80",
        "http://127.0.0.1:080",
    ],
)
def test_an_origin_with_an_impossible_or_non_canonical_port_is_refused(app, client, origin):
    refused = post_decision(client, headers={"Origin": origin})
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "bad_origin"
    preflight = client.options(
        "/api/v1/consents", headers={"Origin": origin, "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 403
    assert _records(app) == 0
    assert post_decision(client, headers={"Origin": "http://localhost:8080"}).status_code == 201


def test_a_long_user_agent_is_parsed_once_and_cut(monkeypatch):
    parsed: list[str] = []

    def counting_parse(text: str):
        parsed.append(text)
        return real_parse(text)

    real_parse = user_agents.parse
    monkeypatch.setattr(user_agents, "parse", counting_parse)
    # A token of this run keeps the strings out of the cache of earlier tests.
    firefox = f"Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0 {uuid4()}"
    padded = firefox + " " + "x" * 1024
    long_one, other_tail = padded + "a" * 8192, padded + "b" * 8192

    assert visitors.ua_family(long_one) == "Firefox"
    assert visitors.ua_family(other_tail) == "Firefox"  # its first 512 characters are cached
    [cut] = parsed
    assert len(cut) <= 512
    assert long_one.startswith(cut)
    assert visitors.ua_family(firefox) == "Firefox"
    assert parsed[1:] == [firefox]


# --- headers: 204 has no content type, private answers are not stored, 401 says Bearer ---


def _assert_bare_204(response):
    assert response.status_code == 204
    assert response.data == b""
    assert "Content-Type" not in response.headers
    assert "Content-Security-Policy" not in response.headers
    assert "X-Frame-Options" not in response.headers
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_204_answers_carry_no_content_type_and_no_page_policy(client):
    impression = client.post(
        "/api/v1/sites/demo/impressions", json={"language": "en"}, headers={"Origin": ORIGIN}
    )
    _assert_bare_204(impression)
    preflight = client.options(
        "/api/v1/consents", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
    )
    _assert_bare_204(preflight)
    assert preflight.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_answers_with_a_consent_id_or_receipt_are_never_stored_by_caches(client):
    created = post_decision(client)
    body = created.get_json()
    state = client.get(f"/api/v1/consents/{body['consent_id']}")
    checked = client.post("/api/v1/receipts/verify", json={"receipt": body["receipt"]})
    forged = client.post("/api/v1/receipts/verify", json={"receipt": "not.a.receipt"})
    withdrawn = client.delete(f"/api/v1/consents/{body['consent_id']}")
    for response in (created, state, checked, forged, withdrawn):
        assert response.status_code in (200, 201), response.get_data(as_text=True)
        assert response.headers["Cache-Control"] == "no-store", response.request.path
    # The banner config is the same for every visitor of a region: it stays cacheable, and
    # is revalidated on each use so a policy change shows at once.
    config = client.get("/api/v1/sites/demo/config")
    assert "no-store" not in config.headers["Cache-Control"]
    assert "no-cache" in config.headers["Cache-Control"]
    assert config.headers["ETag"]


@pytest.mark.parametrize(
    ("authorization", "challenge"),
    [
        (None, "Bearer"),
        ("Basic dXNlcjpwYXNz", "Bearer"),
        ("Bearer ", "Bearer"),
        ("Bearer not-a-key", 'Bearer error="invalid_token"'),
    ],
)
def test_every_401_carries_a_bearer_challenge(client, authorization, challenge):
    headers = {"Authorization": authorization} if authorization else {}
    response = client.get(CHAIN, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == challenge
    assert response.get_json()["error"]["code"] in ("unauthorized", "invalid_api_key")
