"""The baseline: a bare Flask JSON route, served exactly like Consentry."""

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.post("/api/v1/consents")
def echo():
    """Parse the JSON body and answer 201 with a small JSON document."""
    body = request.get_json()
    return jsonify(site=body["site"], choices=body["choices"]), 201


# The 43-byte GIF and its headers, as the pixel answers them (pixel.hits), without pixel.
GIF = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)
GIF_HEADERS = (
    ("Content-Type", "image/gif"),
    ("Cache-Control", "no-store, no-cache, must-revalidate, max-age=0, private"),
    ("Pragma", "no-cache"),
    ("Expires", "0"),
    ("X-Robots-Tag", "noindex"),
)


@app.get("/o/<path:token>.gif")
def pixel(token: str):
    """Answer the transparent GIF, logging nothing: the pixel's baseline."""
    return app.response_class(GIF, headers=GIF_HEADERS)
