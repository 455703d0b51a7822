"""Bad input on the portal, the rate limit, and the operators' API."""

import secrets
import socket
from datetime import UTC, datetime, timedelta

import pytest
from privacy_support import confirm_token, form_token, free_port, seed
from sqlalchemy import func, select

from core.db import db
from core.keys import create_key
from privacy import links
from privacy.mailer import read_outbox
from privacy.models import AuditEntry, PrivacyRequest, RequestAction


@pytest.fixture
def portal(make_app):
    return make_app(PRIVACY_RATE_LIMIT="100 per minute")


def _rows(app) -> tuple[int, int]:
    with app.app_context():
        return (
            db.session.scalar(select(func.count()).select_from(PrivacyRequest)),
            db.session.scalar(select(func.count()).select_from(RequestAction)),
        )


def _outbox(app):
    from pathlib import Path

    return read_outbox(Path(app.config["DATA_DIR"]) / "outbox")


@pytest.mark.parametrize(
    ("form", "status", "says"),
    [
        ({"kind": "access", "email": "not-an-address"}, 422, "valid email address"),
        ({"kind": "access", "email": "a@b"}, 422, "valid email address"),
        ({"kind": "access", "email": "a b@example.com"}, 422, "valid email address"),
        ({"kind": "export-all", "email": "ann@example.com"}, 422, "Choose what"),
        ({"kind": "access", "email": "ann@example.com", "consent_id": "xyz"}, 422, "32 characters"),
        ({"kind": "access", "email": "ann@example.com", "consent_id": "0" * 32}, 422, "no consent"),
        ({"kind": "correction", "email": "ann@example.com"}, 422, "new email address"),
        ({"kind": "access", "email": "x" * 400 + "@example.com"}, 422, "valid email address"),
        ({"kind": "access", "email": "ann@example.com", "pad": "x" * 20_000}, 413, ""),
    ],
)  # fmt: skip
def test_bad_forms_get_a_clear_answer_and_write_nothing(portal, form, status, says):
    client = portal.test_client()
    response = client.post("/privacy", data={"form_token": form_token(client), **form})
    assert response.status_code == status
    assert says in response.text
    assert _rows(portal) == (0, 0)
    assert _outbox(portal) == []


def test_a_form_without_the_browsers_token_is_refused(portal):
    client = portal.test_client()
    form_token(client)
    response = client.post(
        "/privacy", data={"form_token": "forged", "kind": "access", "email": "a@example.com"}
    )
    assert response.status_code == 400
    assert _rows(portal) == (0, 0)


def _requested(app, client) -> str:
    """Ask once (mail to the outbox); return the mailed link's path."""
    response = client.post(
        "/privacy",
        data={"form_token": form_token(client), "kind": "access", "email": "ann@example.com"},
    )
    assert response.status_code == 200
    body = _outbox(app)[0].body
    return body[body.index("/privacy/verify/") :].split()[0]


def test_tampered_expired_and_superseded_links_are_refused(portal):
    client = portal.test_client()
    path = _requested(portal, client)
    token = path.rsplit("/", 1)[1]
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert client.get(f"/privacy/verify/{tampered}").status_code == 400
    assert client.get("/privacy/verify/" + "x" * 600).status_code == 400
    with portal.app_context():
        request_id = db.session.scalars(select(PrivacyRequest.id)).one()
        keys = portal.config["SECRET_KEYS"]
        old = links.sign(keys, links.VERIFY, request_id, datetime.now(UTC) - timedelta(hours=25))
        export = links.sign(keys, links.EXPORT, request_id, datetime.now(UTC), "json")
    assert client.get(f"/privacy/verify/{old}").status_code == 410
    # An export link is no verification link (its own salt), and not yet usable either.
    assert client.get(f"/privacy/verify/{export}").status_code == 400
    assert client.get(f"/privacy/export/{export}").status_code == 409
    before = _rows(portal)
    assert (
        client.post(
            f"/privacy/verify/{tampered}", data={"form_token": form_token(client)}
        ).status_code
        == 400
    )
    assert _rows(portal) == before
    with portal.app_context():
        assert db.session.scalars(select(PrivacyRequest.status)).one() == "received"


def test_the_form_is_rate_limited(make_app):
    app = make_app(PRIVACY_RATE_LIMIT="2 per minute")
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "192.0.2.7"
    codes = []
    for _ in range(3):
        form = {"form_token": form_token(client), "kind": "access", "email": "ann@example.com"}
        codes.append(client.post("/privacy", data=form).status_code)
    assert codes == [200, 200, 429]
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "192.0.2.8"
    form = {"form_token": form_token(other), "kind": "access", "email": "ann@example.com"}
    assert other.post("/privacy", data=form).status_code == 200


def test_each_address_is_rate_limited_across_clients(make_app):
    app = make_app(PRIVACY_RATE_LIMIT="100 per minute", PRIVACY_ADDRESS_RATE_LIMIT="2 per hour")
    codes = []
    for n in range(3):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"192.0.2.{n + 20}"
        form = {"form_token": form_token(client), "kind": "access", "email": "Ann@Example.com "}
        codes.append(client.post("/privacy", data=form).status_code)
    assert codes == [200, 200, 429]
    client = app.test_client()
    form = {"form_token": form_token(client), "kind": "access", "email": "bob@example.org"}
    assert client.post("/privacy", data=form).status_code == 200


def test_a_mail_that_cannot_be_sent_is_a_503_and_writes_nothing(make_app):
    app = make_app(SMTP_URL=f"smtp://127.0.0.1:{free_port()}")  # nobody listens there
    client = app.test_client()
    form = {"form_token": form_token(client), "kind": "access", "email": "ann@example.com"}
    response = client.post("/privacy", data=form)
    assert response.status_code == 503
    assert "try again later" in response.text
    assert _rows(app) == (0, 0)


def _redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.mark.skipif(not _redis_answers(), reason="no Redis server on 127.0.0.1:6379")
def test_the_rate_limit_is_shared_through_redis(make_app):
    # Two apps stand for two worker processes: the limit holds across them.
    one = make_app(
        PRIVACY_RATE_LIMIT="2 per minute", RATELIMIT_STORAGE_URL="redis://127.0.0.1:6379/0"
    )
    two = make_app(
        PRIVACY_RATE_LIMIT="2 per minute", RATELIMIT_STORAGE_URL="redis://127.0.0.1:6379/0"
    )
    # Redis outlives this test: a client and an address of this run only.
    address = f"198.51.100.{secrets.randbelow(250) + 1}:{secrets.token_hex(4)}"
    email = f"ann-{secrets.token_hex(6)}@example.com"
    codes = []
    for app in (one, two, one):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = address
        form = {"form_token": form_token(client), "kind": "access", "email": email}
        codes.append(client.post("/privacy", data=form).status_code)
    assert codes == [200, 200, 429]


def test_operators_list_show_complete_reject_and_resend(portal):
    client = portal.test_client()
    with portal.app_context():
        auth = {"Authorization": f"Bearer {create_key('dpo')}"}
    for kind in ("correction", "do_not_sell"):
        form = {"form_token": form_token(client), "kind": kind, "email": "ann@example.com"}
        if kind == "correction":
            form["new_email"] = "ann@new.example"
        assert client.post("/privacy", data=form).status_code == 200
    listed = client.get("/api/v1/privacy/requests?status=received", headers=auth)
    assert listed.status_code == 200
    by_kind = {r["kind"]: r for r in listed.json["requests"]}
    assert set(by_kind) == {"correction", "do_not_sell"}
    correction, dns = by_kind["correction"], by_kind["do_not_sell"]
    created = datetime.fromisoformat(dns["created_at"].replace("Z", "+00:00"))
    deadline = datetime.fromisoformat(dns["deadline_at"].replace("Z", "+00:00"))
    assert deadline - created == timedelta(days=45)

    # Not verified yet: completing is a conflict; re-sending mails a new link.
    url = f"/api/v1/privacy/requests/{correction['id']}"
    assert client.post(f"{url}/complete", json={}, headers=auth).status_code == 409
    assert client.post(f"{url}/resend", headers=auth).status_code == 200
    assert len(_outbox(portal)) == 3
    newest = _outbox(portal)[0].body
    path = newest[newest.index("/privacy/verify/") :].split()[0]
    assert client.post(path, data={"form_token": confirm_token(client, path)}).status_code == 200
    done = client.post(f"{url}/complete", json={"note": "Fixed in the CRM."}, headers=auth)
    assert done.status_code == 200
    assert done.json["status"] == "completed"
    assert done.json["email"] is None
    assert [a["action"] for a in done.json["actions"]] == [
        "received", "mailed", "resend_asked", "mailed", "verified", "completed",
    ]  # fmt: skip
    assert done.json["actions"][-1]["actor"] == "api-key:dpo"

    rejected = client.post(
        f"/api/v1/privacy/requests/{dns['id']}/reject", json={"reason": "Duplicate."}, headers=auth
    )
    assert rejected.status_code == 200
    assert rejected.json["reason"] == "Duplicate."
    again = client.post(
        f"/api/v1/privacy/requests/{dns['id']}/reject", json={"reason": "x"}, headers=auth
    )
    assert again.status_code == 409
    assert client.get(f"/api/v1/privacy/requests/{'f' * 32}", headers=auth).status_code == 404
    assert client.get("/api/v1/privacy/requests", headers={}).status_code == 401
    outbox = client.get("/api/v1/privacy/outbox", headers=auth)
    assert outbox.status_code == 200
    assert len(outbox.json["messages"]) == 3
    with portal.app_context():
        assert (
            db.session.scalar(
                select(func.count()).where(
                    AuditEntry.action == "api_key_created", AuditEntry.target == "dpo"
                )
            )
            == 1
        )


def test_the_banner_link_prefills_the_consent_id_from_the_cookie(portal):
    client = portal.test_client()
    _, people = seed(portal, client)
    cid = people["bob"].consent_id
    client.set_cookie("consentry", f"%7B%22consent_id%22%3A%22{cid}%22%7D")
    assert f'value="{cid}"' in client.get("/privacy?from=banner").text
    assert f'value="{cid}"' not in client.get("/privacy").text
    german = client.get("/privacy?lang=de")
    assert 'lang="de"' in german.text
    assert "Ihre Privatsphäre" in german.text
