"""Signed tokens: one salt per purpose, a key list for rotation.

``CONSENTRY_SECRET_KEYS`` lists the signing key first; every key verifies. The tokens are
itsdangerous's (``URLSafeSerializer``): URL-safe base64 of compact JSON, a dot, URL-safe
base64 of an HMAC-SHA1 under a key derived from the salt ``consentry.<purpose>``.

:func:`dumps` and :func:`load` write that format out themselves, with the HMAC's keyed
state computed once per key and purpose: itsdangerous builds a signer and derives its key
(a SHA-1) on every call, and a decision signs a receipt per request. :func:`serializer` is
itsdangerous's own serializer for the same tokens; tests hold the two together byte for
byte, and tokens outside the plain form (compressed ones, from earlier releases) are read
by itsdangerous itself.
"""

import base64
import hashlib
import hmac
from functools import lru_cache

from itsdangerous import BadData, URLSafeSerializer
from itsdangerous.encoding import base64_encode
from itsdangerous.serializer import Serializer

from core import jsoncodec


def dumps(keys: list[str], purpose: str, data: object) -> str:
    """Sign ``data`` for ``purpose`` with the first key."""
    value = _b64encode(jsoncodec.compact(data))
    mac = _keyed(keys[0], purpose).copy()
    mac.update(value)
    return (value + b"." + _b64encode(mac.digest())).decode("ascii")


def load(keys: list[str], purpose: str, token: str) -> object | None:
    """Return the data a token carries, or None if it is not ours (forged, other purpose, junk)."""
    if not isinstance(token, str) or not token.isascii() or token.startswith("."):
        # A compressed payload (a leading dot) or bytes itsdangerous would drop: its reader.
        return _load_slowly(keys, purpose, token)
    value, dot, signature = token.encode("ascii").rpartition(b".")
    if not dot:
        return None
    given = _b64decode(signature)
    if given is None or not any(_signed(key, purpose, value, given) for key in keys):
        return None
    payload = _b64decode(value)
    if payload is None:
        return None
    try:
        return jsoncodec.loads(payload)
    except ValueError:  # orjson.JSONDecodeError
        return None


def serializer(keys: list[str], purpose: str) -> URLSafeSerializer:
    """Return itsdangerous's serializer for ``purpose``: the same tokens as :func:`dumps`."""
    return _serializer(tuple(keys), purpose)


class _Json:
    """The JSON codec tokens carry their data in (itsdangerous's default is the json module)."""

    loads = staticmethod(jsoncodec.loads)

    @staticmethod
    def dumps(value, **_options) -> bytes:
        return jsoncodec.compact(value)


class _Serializer(URLSafeSerializer):
    """URL-safe tokens, never compressed.

    itsdangerous tries zlib on every token and keeps the result when shorter; setting up a
    deflate stream costs ~50 µs, more than the rest of signing. Tokens grow (a receipt:
    ~300 → ~600 characters). Compressed tokens signed before still load: the reader
    recognises them by their leading dot.
    """

    def dump_payload(self, obj) -> bytes:
        return base64_encode(Serializer.dump_payload(self, obj))


@lru_cache(maxsize=64)
def _serializer(keys: tuple[str, ...], purpose: str) -> URLSafeSerializer:
    # itsdangerous signs with the *last* key of its list and verifies with all.
    return _Serializer(list(reversed(keys)), salt=f"consentry.{purpose}", serializer=_Json)


def _load_slowly(keys: list[str], purpose: str, token: str) -> object | None:
    try:
        return serializer(keys, purpose).loads(token)
    except BadData:
        return None


def _signed(key: str, purpose: str, value: bytes, given: bytes) -> bool:
    mac = _keyed(key, purpose).copy()
    mac.update(value)
    return hmac.compare_digest(mac.digest(), given)


@lru_cache(maxsize=64)
def _keyed(key: str, purpose: str) -> "hmac.HMAC":
    # itsdangerous's default derivation ("django-concat"): SHA-1 of salt, "signer", secret.
    salt = f"consentry.{purpose}".encode()
    derived = hashlib.sha1(salt + b"signer" + key.encode()).digest()  # noqa: S324 (its format)
    return hmac.new(derived, digestmod=hashlib.sha1)


def _b64encode(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _b64decode(data: bytes) -> bytes | None:
    # As itsdangerous decodes: padding restored, characters outside the alphabet skipped.
    try:
        return base64.urlsafe_b64decode(data + b"=" * (-len(data) % 4))
    except ValueError:  # binascii.Error
        return None
