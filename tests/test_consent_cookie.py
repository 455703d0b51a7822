"""The ``consentry`` cookie a decision's answer sets for a page on the API's own host."""

import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote

import pytest
from factories import decision

from consent.consent_cookie import encode_value

BUNDLED_SITES = Path(__file__).parent.parent / "consent" / "data" / "sites.toml"
# The test client's own host (base_url http://localhost/).
SAME_ORIGIN = "http://localhost"


def _post(client, origin: str | None, base_url: str = "http://localhost", key=None, **body):
    headers = {"Origin": origin} if origin else {}
    if key:
        headers["Idempotency-Key"] = key
    return client.post(
        "/api/v1/consents", json=decision(**body), headers=headers, base_url=base_url
    )


def _cookie(response) -> tuple[str, dict[str, str]]:
    """The one ``Set-Cookie`` of an answer: its value and its attributes (names lowercased)."""
    [header] = response.headers.getlist("Set-Cookie")
    first, *rest = header.split("; ")
    name, _, value = first.partition("=")
    assert name == "consentry"
    attributes = {}
    for part in rest:
        key, _, val = part.partition("=")
        attributes[key.lower()] = val
    return value, attributes


def _sites_file(tmp_path, origins: str, extra: str = "", policy: str | None = None) -> str:
    """The bundled sites file with other origins, more keys, perhaps another policy."""
    text = BUNDLED_SITES.read_text(encoding="utf-8")
    text = text.replace(
        'origins = ["http://localhost:*", "http://127.0.0.1:*"]', f"origins = {origins}\n{extra}"
    )
    if policy is not None:
        text = text.replace('policy_version = "2026-11-01"', f"policy_version = {policy}")
    path = tmp_path / "sites.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_a_page_on_the_api_host_gets_the_decision_as_a_cookie(client):
    response = _post(client, SAME_ORIGIN, choices={"analytics": True})
    assert response.status_code == 201
    body = response.get_json()

    value, attributes = _cookie(response)
    content = json.loads(unquote(value))
    assert list(content) == [
        "consent_id",
        "site",
        "choices",
        "lifetime",
        "policy_version",
        "timestamp",
    ]
    assert content == {
        "consent_id": body["consent_id"],
        "site": "demo",
        "choices": body["choices"],
        "lifetime": "persistent",
        "policy_version": "2026-11-01",
        "timestamp": body["created_at"],
    }
    assert content["choices"]["necessary"] is True
    assert attributes["path"] == "/"
    assert attributes["samesite"] == "Lax"
    assert "secure" not in attributes  # plain http: a Secure cookie would be dropped
    assert "domain" not in attributes  # host-only: the site sets no cookie_domain
    assert "httponly" not in attributes  # the banner must read it


@pytest.mark.parametrize(
    "origin",
    [
        "http://127.0.0.1:5173",  # another host the site allows
        "http://localhost:5173",  # the same name, another port: another origin
        None,  # no browser page: curl, a server
    ],
)
def test_a_page_on_another_host_or_no_page_gets_no_cookie(client, origin):
    response = _post(client, origin)
    assert response.status_code == 201
    assert "Set-Cookie" not in response.headers


def test_a_refused_decision_sets_no_cookie(client):
    response = _post(client, SAME_ORIGIN, policy_version="2020-01-01")
    assert response.status_code == 409
    assert "Set-Cookie" not in response.headers


def test_a_persistent_cookie_lives_until_the_decision_expires(client):
    response = _post(client, SAME_ORIGIN, lifetime="persistent")
    _, attributes = _cookie(response)
    expires_at = datetime.fromisoformat(response.get_json()["expires_at"])
    max_age = int(attributes["max-age"])
    ends = datetime.now(UTC) + timedelta(seconds=max_age)
    assert abs(ends - expires_at) < timedelta(seconds=5)
    assert timedelta(days=179) < timedelta(seconds=max_age) <= timedelta(days=180)


def test_a_session_cookie_has_no_expiry(client):
    response = _post(client, SAME_ORIGIN, lifetime="session")
    assert response.get_json()["expires_at"] is None
    value, attributes = _cookie(response)
    assert json.loads(unquote(value))["lifetime"] == "session"
    assert "max-age" not in attributes
    assert "expires" not in attributes


def test_an_https_page_gets_a_secure_cookie_on_the_cookie_domain(make_app, tmp_path):
    origins = '["https://shop.example", "https://*.shop.example"]'
    sites = _sites_file(tmp_path, origins, 'cookie_domain = "shop.example"')
    client = make_app(SITES_FILE=sites).test_client()
    response = _post(client, "https://shop.example", base_url="https://shop.example")
    assert response.status_code == 201
    _, attributes = _cookie(response)
    assert "secure" in attributes
    assert attributes["domain"] == "shop.example"

    # A subdomain page the site allows is another host: its answer sets nothing.
    other = _post(client, "https://www.shop.example", base_url="https://shop.example")
    assert other.status_code == 201
    assert "Set-Cookie" not in other.headers


def test_a_replayed_answer_sets_the_same_cookie_again(client):
    first = _post(client, SAME_ORIGIN, key='"replay-cookie-1"')
    retry = _post(client, SAME_ORIGIN, key='"replay-cookie-1"')
    assert retry.headers["Idempotent-Replayed"] == "true"

    first_value, first_attributes = _cookie(first)
    retry_value, retry_attributes = _cookie(retry)
    # The retry is made because the first answer was lost: it must bring the same cookie.
    assert retry_value == first_value
    expires_at = datetime.fromisoformat(first.get_json()["expires_at"])
    ends = datetime.now(UTC) + timedelta(seconds=int(retry_attributes["max-age"]))
    assert abs(ends - expires_at) < timedelta(seconds=5)
    assert int(retry_attributes["max-age"]) <= int(first_attributes["max-age"])

    # Retried from a page on another host, the same answer sets no cookie there.
    elsewhere = _post(client, "http://127.0.0.1:5173", key='"replay-cookie-1"')
    assert elsewhere.headers["Idempotent-Replayed"] == "true"
    assert "Set-Cookie" not in elsewhere.headers


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node to run the banner's encoding")
def test_the_value_is_what_the_banners_encoding_gives(make_app, tmp_path):
    # Characters encodeURIComponent escapes and those it keeps, non-ASCII and a quote.
    policy = '2026-11 "draft" (Entwurf) ü/€ a+b=c&d!*\'~;, %'
    sites = _sites_file(
        tmp_path, '["http://localhost:*", "http://127.0.0.1:*"]', policy=json.dumps(policy)
    )
    client = make_app(SITES_FILE=sites).test_client()
    response = _post(client, SAME_ORIGIN, policy_version=policy)
    assert response.status_code == 201
    value, _ = _cookie(response)

    content = json.loads(unquote(value))
    script = "process.stdout.write(encodeURIComponent(JSON.stringify(JSON.parse(process.argv[1]))))"
    encoded = subprocess.run(
        ["node", "-e", script, json.dumps(content)], capture_output=True, text=True, check=True
    ).stdout
    assert value == encoded
    assert encode_value(content) == encoded
