"""The OpenAPI document is valid, lists every endpoint, and real responses match it."""

import html
import json
import re

import jsonschema
import pytest
from factories import ORIGIN, post_decision
from openapi_spec_validator import validate
from pydantic import ValidationError
from werkzeug.test import Client

from consent import schemas
from consent.sites import SITE_ID
from consentry import PAGE_HEADERS
from core.headers import SecurityHeaders
from core.keys import create_key
from core.openapi import Op

# Pages for people (HTML), not operations of the API.
FLASK_ONLY = {
    "/static/<path:filename>",
    "/docs/api",
    "/",
    "/overview",
    "/demo/embed",
    "/docs/embedding",
    "/sites/<site_id>/cookies",
    # What mail clients and pages fetch, not API operations: the pixel, tracked links
    # (an empty token has its own rule, so it too gets the GIF or the 404 page) and the
    # web beacon (pixel.hits).
    "/o/<path:token>.gif",
    "/o/.gif",
    "/c/<path:token>",
    "/c/",
    "/b/<path:site>.gif",
    "/privacy",
    "/privacy/verify/<token>",
    "/privacy/export/<token>",
    # The analysts' dashboard: pages behind a login (dashboard.views).
    "/dashboard/",
    "/dashboard/login",
    "/dashboard/logout",
    "/dashboard/consent",
}
# The demo's Email tab and the calls its own page makes (consentry.demo_email): not the API.
DEMO_ONLY = {"/demo/email", "/demo/email/mint", "/demo/email/recipient", "/demo/email/events"}


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
        if rule.rule in FLASK_ONLY | DEMO_ONLY:
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


def _operations(doc: dict):
    for path, methods in doc["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def _parameter(operation: dict, name: str) -> dict:
    return next(p for p in operation["parameters"] if p["name"] == name)


def _fill(path: str, operation: dict) -> str:
    """The path with each path parameter's example in it."""
    for p in operation["parameters"]:
        if p["in"] == "path":
            path = path.replace("{" + p["name"] + "}", p["example"])
    return path


def test_path_parameters_carry_the_servers_patterns(client):
    doc = _doc(client)
    for path, _, operation in _operations(doc):
        if "{site_id}" in path:
            assert _parameter(operation, "site_id")["schema"]["pattern"] == SITE_ID
        if "{consent_id}" in path:
            assert _parameter(operation, "consent_id")["schema"]["pattern"] == schemas.CONSENT_ID


def test_every_operation_documents_405_with_allow_and_each_error_body(client):
    doc = _doc(client)
    for path, method, operation in _operations(doc):
        allow = operation["responses"]["405"]["headers"]["Allow"]
        assert allow["required"] is True, (method, path)
        jsonschema.validate("GET, HEAD, OPTIONS", allow["schema"])
        for status, response in operation["responses"].items():
            if status.startswith("4"):
                # Errors are rendered by core.errors: JSON under /api/, the error page elsewhere.
                expected = "application/json" if path.startswith("/api/") else "text/html"
                assert list(response["content"]) == [expected], (method, path, status)


def test_the_key_protected_operation_documents_401_with_a_bearer_challenge(client):
    operation = _doc(client)["paths"]["/api/v1/sites/{site_id}/chain"]["get"]
    assert operation["security"] == [{"apiKey": []}]
    challenge = operation["responses"]["401"]["headers"]["WWW-Authenticate"]
    jsonschema.validate('Bearer error="invalid_token"', challenge["schema"])


def test_the_config_answers_a_current_etag_with_the_documented_304(client):
    doc = _doc(client)
    operation = doc["paths"]["/api/v1/sites/{site_id}/config"]["get"]
    assert _parameter(operation, "If-None-Match")["in"] == "header"
    first = client.get("/api/v1/sites/demo/config")
    for name, spec in operation["responses"]["200"]["headers"].items():
        jsonschema.validate(first.headers[name], spec["schema"])

    again = client.get(
        "/api/v1/sites/demo/config", headers={"If-None-Match": first.headers["ETag"]}
    )

    assert again.status_code == 304
    assert again.data == b""
    jsonschema.validate(
        again.headers["ETag"], operation["responses"]["304"]["headers"]["ETag"]["schema"]
    )


# Operations on a privacy request the example names; the body is checked before the id.
ON_A_STORED_REQUEST = {
    "/api/v1/privacy/requests/{request_id}/complete",
    "/api/v1/privacy/requests/{request_id}/reject",
}


def test_every_request_body_has_an_example_the_server_accepts(app, client):
    doc = _doc(client)
    with app.app_context():
        key = create_key("openapi-examples")
    bodies = 0
    for path, method, operation in _operations(doc):
        if "requestBody" not in operation:
            continue
        content = operation["requestBody"]["content"]
        assert set(content) == {"application/json", "text/plain"}, path
        examples = [media["example"] for media in content.values()]
        assert examples[0] == examples[1], path
        schema = {**content["application/json"]["schema"], "components": doc["components"]}
        jsonschema.validate(examples[0], schema)
        for media_type in content:
            response = client.open(
                _fill(path, operation),
                method=method,
                data=json.dumps(examples[0]),
                content_type=media_type,
                headers={"Origin": ORIGIN}
                | ({"Authorization": f"Bearer {key}"} if operation.get("security") else {}),
            )
            success = next(code for code in operation["responses"] if code.startswith("2"))
            if path in ON_A_STORED_REQUEST:
                # The example request does not exist here: past the body's checks, 404 says so.
                success = "404"
            assert str(response.status_code) == success, (path, response.get_data(as_text=True))
        bodies += 1
    assert bodies >= 3


@pytest.mark.parametrize(
    "choices",
    [{"Analytics": True}, {"analytics": {}}, {"": True}, {"analytics": "yes"}],
)
def test_the_decision_schema_refuses_the_choices_the_server_refuses(client, choices):
    doc = _doc(client)
    body = doc["paths"]["/api/v1/consents"]["post"]["requestBody"]
    example = body["content"]["application/json"]["example"]
    schema = {"$ref": "#/components/schemas/DecisionIn", "components": doc["components"]}
    jsonschema.validate(example, schema)

    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**example, "choices": choices}, schema)
    assert post_decision(client, choices=choices).status_code == 422


def test_an_operation_with_a_body_needs_one_example_the_model_accepts():
    with pytest.raises(ValueError, match="exactly one example"):
        Op("post", "/x", "X", body=schemas.ReceiptCheckIn)
    with pytest.raises(ValueError, match="exactly one example"):
        Op("get", "/x", "X", example={"receipt": "r"})
    with pytest.raises(ValidationError):
        Op("post", "/x", "X", body=schemas.ReceiptCheckIn, example={"receipt": 7})
    assert Op("post", "/x", "X", body=schemas.ReceiptCheckIn, example={"receipt": "r"})


def test_the_api_page_shows_each_request_body_example(client):
    doc = _doc(client)
    page = client.get("/docs/api").get_data(as_text=True)
    shown = [
        json.loads(html.unescape(block))
        for block in re.findall(r"<pre><code>(.*?)</code></pre>", page, flags=re.S)
    ]
    examples = [
        operation["requestBody"]["content"]["application/json"]["example"]
        for _, _, operation in _operations(doc)
        if "requestBody" in operation
    ]
    assert sorted(shown, key=json.dumps) == sorted(examples, key=json.dumps)
