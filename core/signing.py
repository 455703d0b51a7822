"""Signed tokens: one salt per purpose, a key list for rotation.

``CONSENTRY_SECRET_KEYS`` lists the signing key first; itsdangerous signs with the *last*
key of its list and verifies with all, so the list is handed over reversed.
"""

from functools import lru_cache

from itsdangerous import BadData, URLSafeSerializer


def serializer(keys: list[str], purpose: str) -> URLSafeSerializer:
    """Return a serializer whose tokens are valid only for ``purpose``."""
    return _serializer(tuple(keys), purpose)


@lru_cache(maxsize=64)
def _serializer(keys: tuple[str, ...], purpose: str) -> URLSafeSerializer:
    # Built once per key list and purpose: tokens are signed on hot paths.
    return URLSafeSerializer(list(reversed(keys)), salt=f"consentry.{purpose}")


def load(keys: list[str], purpose: str, token: str) -> object | None:
    """Return the data a token carries, or None if it is not ours (forged, other purpose, junk)."""
    try:
        return serializer(keys, purpose).loads(token)
    except BadData:
        return None
