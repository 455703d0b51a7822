"""The baseline: a bare Flask JSON route, served exactly like Consentry."""

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.post("/api/v1/consents")
def echo():
    """Parse the JSON body and answer 201 with a small JSON document."""
    body = request.get_json()
    return jsonify(site=body["site"], choices=body["choices"]), 201
