"""The fast lane's dispatch (core.fastlane), on a small Flask app: what it answers, what it
leaves to Flask, and that a failing handler leaves the request to Flask too."""

import logging

import pytest
from flask import Flask

from core.fastlane import Answer, FastLane

FAST = Answer.of("200 OK", [("Content-Type", "text/plain")], b"fast")


def _app(trusted_hosts: list[str] | None = None) -> tuple[Flask, FastLane, list[str]]:
    app = Flask(__name__)
    app.config["TRUSTED_HOSTS"] = trusted_hosts
    asked: list[str] = []

    @app.route("/<path:rest>", methods=["GET", "POST"])
    def slow(rest: str):
        return "flask"

    lane = FastLane(app.wsgi_app, trusted_hosts)
    app.wsgi_app = lane  # type: ignore[method-assign]

    def fast(environ: dict) -> Answer | None:
        asked.append(environ["PATH_INFO"])
        return None if environ["PATH_INFO"].endswith("/pass") else FAST

    def broken(environ: dict) -> Answer | None:
        raise RuntimeError("a bug in the handler")

    lane.add(("GET", "HEAD"), "/fast/", fast)
    lane.add(("GET",), "/broken/", broken)
    return app, lane, asked


def test_a_handler_answers_its_prefix_and_methods_with_its_answer():
    app, _, asked = _app()
    client = app.test_client()
    response = client.get("/fast/x?q=1")
    assert response.status == "200 OK"
    assert response.data == b"fast"
    assert list(response.headers.items()) == [
        ("Content-Type", "text/plain"),
        ("Content-Length", "4"),
    ]
    head = client.head("/fast/x")
    assert head.data == b""
    assert head.headers["Content-Length"] == "4"
    assert asked == ["/fast/x", "/fast/x"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/fast/x"),  # a method the lane was not given
        ("GET", "/fast"),  # not under the prefix
        ("GET", "/other/fast/x"),
        ("GET", "/fast/pass"),  # the handler declines
    ],
)
def test_everything_else_is_flasks(method, path):
    app, _, _ = _app()
    response = app.test_client().open(path, method=method)
    assert response.data == b"flask"


def test_a_handler_that_raises_leaves_the_request_to_flask(caplog):
    app, _, _ = _app()
    with caplog.at_level(logging.ERROR, logger="core.fastlane"):
        response = app.test_client().get("/broken/x")
    assert response.status_code == 200
    assert response.data == b"flask"
    assert "a bug in the handler" in caplog.text


def test_the_first_handler_added_for_a_prefix_decides():
    app, lane, _ = _app()
    lane.add(("GET",), "/fast/", lambda environ: Answer.of("204 NO CONTENT", []))
    assert app.test_client().get("/fast/x").data == b"fast"
    assert app.test_client().get("/fast/pass").data == b"flask"  # declined: not asked on
    lane.add(("GET",), "/", lambda environ: Answer.of("204 NO CONTENT", []))
    assert app.test_client().get("/elsewhere").status_code == 204


def test_a_host_flask_would_refuse_is_left_to_flask():
    app, _, asked = _app(trusted_hosts=["mail.example.com"])
    client = app.test_client()
    assert client.get("/fast/x", headers={"Host": "mail.example.com"}).data == b"fast"
    refused = client.get("/fast/x", headers={"Host": "evil.example"})
    assert refused.status_code == 400
    assert asked == ["/fast/x"]


def test_a_prefix_is_a_path():
    _, lane, _ = _app()
    with pytest.raises(ValueError, match="starts with '/'"):
        lane.add(("GET",), "fast/", lambda environ: FAST)
