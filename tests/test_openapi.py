"""The OpenAPI document is valid, lists every endpoint, and real responses match it."""

import re

import jsonschema
import pytest
from factories import ORIGIN, post_decision
from openapi_spec_validator import validate
from werkzeug.test import Client

from consentry import PAGE_HEADERS
from core.headers import SecurityHeaders

FLASK_ONLY = {"/static/<path:filename>", "/docs/api", "/"}


def _doc(client) -> dict:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def test_the_document_is_valid_openapi_3_1(client):
    doc = _doc(client)
    assert doc["openapi"].startswith("3.1")
    validate(doc)


def test_every_route_is_documented_and_every_documented_route_exists(app, client):
    documented = {
        (method.upper(), path)
        for path, methods in _doc(client)["paths"].items()
        for method in methods
    }
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.rule in FLASK_ONLY:
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        served |= {(m, path) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert served == documented


def _check(doc: dict, path: str, method: str, response) -> None:
    operation = doc["paths"][path][method]
    spec = operation["responses"][str(response.status_code)]
    if "content" not in spec:
        assert not response.data
        return
    schema = {**spec["content"]["application/json"]["schema"], "components": doc["components"]}
    jsonschema.validate(response.get_json(), schema)


def test_real_responses_match_their_schemas(client, runner):
    doc = _doc(client)
    created = post_decision(client)
    _check(doc, "/api/v1/consents", "post", created)
    consent_id = created.get_json()["consent_id"]

    _check(
        doc, "/api/v1/consents/{consent_id}", "get", client.get(f"/api/v1/consents/{consent_id}")
    )
    _check(
        doc,
        "/api/v1/consents/{consent_id}",
        "delete",
        client.delete(f"/api/v1/consents/{consent_id}"),
    )
    _check(
        doc,
        "/api/v1/sites/{site_id}/config",
        "get",
        client.get("/api/v1/sites/demo/config", headers={"Origin": ORIGIN}),
    )
    _check(
        doc,
        "/api/v1/sites/{site_id}/impressions",
        "post",
        client.post("/api/v1/sites/demo/impressions", json={"language": "en"}),
    )
    _check(
        doc,
        "/api/v1/receipts/verify",
        "post",
        client.post("/api/v1/receipts/verify", json={"receipt": created.get_json()["receipt"]}),
    )
    _check(doc, "/api/v1/consents", "post", post_decision(client, language="xx"))
    _check(doc, "/healthz", "get", client.get("/healthz"))
    _check(doc, "/.well-known/gpc.json", "get", client.get("/.well-known/gpc.json"))

    key = runner.invoke(args=["keys", "create", "docs"]).output.strip().splitlines()[-1]
    _check(
        doc,
        "/api/v1/sites/{site_id}/chain",
        "get",
        client.get("/api/v1/sites/demo/chain", headers={"Authorization": f"Bearer {key}"}),
    )


@pytest.mark.parametrize("path", ["/docs/api", "/"])
def test_pages_render_with_security_headers(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_json_and_error_responses_carry_the_headers_pages_do_not_need(client):
    for response in (client.get("/healthz"), client.get("/api/v1/nothing-here")):
        assert response.mimetype == "application/json"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
        assert "Content-Security-Policy" not in response.headers
        assert len(response.headers.getlist("X-Content-Type-Options")) == 1


def test_security_headers_keep_what_a_response_sets_itself():
    def page(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/html"), ("x-frame-options", "SAMEORIGIN")])
        return [b"<p>framed</p>"]

    app = SecurityHeaders(page, always={"X-Content-Type-Options": "nosniff"}, html=PAGE_HEADERS)
    response = Client(app).get("/")
    assert response.headers.getlist("X-Frame-Options") == ["SAMEORIGIN"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == PAGE_HEADERS["Content-Security-Policy"]


def test_the_api_page_shows_every_endpoint(client):
    page = client.get("/docs/api").get_data(as_text=True)
    for path in _doc(client)["paths"]:
        assert f"<code>{path}</code>" in page
    assert 'href="#schema-DecisionIn"' in page
