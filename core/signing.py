"""Signed tokens: one salt per purpose, a key list for rotation.

``CONSENTRY_SECRET_KEYS`` lists the signing key first; itsdangerous signs with the *last*
key of its list and verifies with all, so the list is handed over reversed.
"""

from functools import lru_cache

from itsdangerous import BadData, URLSafeSerializer
from itsdangerous.encoding import base64_encode
from itsdangerous.serializer import Serializer

from core import jsoncodec


class _Json:
    """The JSON codec tokens carry their data in (itsdangerous's default is the json module)."""

    loads = staticmethod(jsoncodec.loads)

    @staticmethod
    def dumps(value, **_options) -> bytes:
        return jsoncodec.compact(value)


class _Serializer(URLSafeSerializer):
    """URL-safe tokens, never compressed.

    itsdangerous tries zlib on every token and keeps the result when shorter; setting up a
    deflate stream costs ~50 µs, more than the rest of signing, on paths that sign per
    request. Tokens grow (a receipt: ~300 → ~600 characters). Compressed tokens signed
    before still load: the reader recognises them by their leading dot.
    """

    def dump_payload(self, obj) -> bytes:
        return base64_encode(Serializer.dump_payload(self, obj))


def serializer(keys: list[str], purpose: str) -> URLSafeSerializer:
    """Return a serializer whose tokens are valid only for ``purpose``."""
    return _serializer(tuple(keys), purpose)


@lru_cache(maxsize=64)
def _serializer(keys: tuple[str, ...], purpose: str) -> URLSafeSerializer:
    # Built once per key list and purpose: tokens are signed on hot paths.
    return _Serializer(list(reversed(keys)), salt=f"consentry.{purpose}", serializer=_Json)


def load(keys: list[str], purpose: str, token: str) -> object | None:
    """Return the data a token carries, or None if it is not ours (forged, other purpose, junk)."""
    try:
        return serializer(keys, purpose).loads(token)
    except BadData:
        return None
