"""Email tokens: what a pixel, a tracked link, an unsubscribe or a preferences link carries.

Each kind is signed with its own salt (``consentry.email.open`` …), so a token of one kind
is no token of another; with the first of ``CONSENTRY_SECRET_KEYS`` and verified with all
of them (core.signing), so mail sent before a key rotation keeps working. A token carries
a message id and, for a link, the URL it leads to: no address, no recipient id, nothing
personal. Everything else (recipient, campaign, list, site, send time, mode) is one
primary-key lookup away, and current at hit time.

An open, unsubscribe or preferences token is 74 characters: the id as JSON (34 bytes,
46 in base64) and a 27-character signature. None of them expires: an unsubscribe link
must work for as long as the mail exists (SPEC §3.2).

Reading never raises: a forged, truncated, re-salted or malformed token is None.

Signing and reading write itsdangerous's format out themselves (core.signing's serializer:
URL-safe base64 of compact JSON, a dot, URL-safe base64 of an HMAC-SHA1 under the key
derived from the salt): a batch signs 20,000 tokens, every pixel hit reads one, and
itsdangerous derives the key and builds a signer for each, three to four times the work.
The HMAC's keyed state is computed once per key and purpose; signatures are compared with
``hmac.compare_digest``. Tests hold both sides to itsdangerous: signing byte for byte,
reading answer for answer over forged, truncated, re-salted and mutated tokens. A token
outside the plain form (not ASCII, or a compressed payload, which itsdangerous marks with
a leading dot) is read by itsdangerous itself.
"""

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from functools import lru_cache

from core import jsoncodec, signing

OPEN, CLICK, UNSUBSCRIBE, PREFERENCES = "open", "click", "unsubscribe", "preferences"
_PURPOSE = {kind: f"email.{kind}" for kind in (OPEN, CLICK, UNSUBSCRIBE, PREFERENCES)}
_MESSAGE_ID = re.compile(r"[0-9a-f]{32}")
# The one link a person never sees (render adds it hidden): whoever follows it is a machine.
HONEYPOT = 0


@dataclass(frozen=True)
class Click:
    """What a click token says: the message, and the URL to send the clicker to.

    ``url`` is None for the honeypot link, which leads nowhere.
    """

    message_id: str
    url: str | None


def sign_message(keys: list[str], kind: str, message_id: str) -> str:
    """Sign a message id for an open, unsubscribe or preferences link."""
    if kind == CLICK:
        raise ValueError("a click token carries its URL: use sign_click")
    return _dumps(keys[0], _PURPOSE[kind], message_id)


def read_message(keys: list[str], kind: str, token: str) -> str | None:
    """Return the message id an open, unsubscribe or preferences token carries, or None."""
    if kind == CLICK:
        raise ValueError("a click token carries its URL: use read_click")
    data = _load(keys, _PURPOSE[kind], token)
    return data if isinstance(data, str) and _is_message_id(data) else None


def sign_click(keys: list[str], message_id: str, url: str | None) -> str:
    """Sign a tracked link: the message and the URL it redirects to (None: the honeypot)."""
    payload = [message_id, url] if url is not None else [message_id, HONEYPOT]
    return _dumps(keys[0], _PURPOSE[CLICK], payload)


def read_click(keys: list[str], token: str) -> Click | None:
    """Return what a click token says, or None if it is not one of ours."""
    data = _load(keys, _PURPOSE[CLICK], token)
    if not isinstance(data, list) or len(data) != 2 or not _is_message_id(data[0]):
        return None
    target = data[1]
    if isinstance(target, str) and target[:8].lower().startswith(("http://", "https://")):
        return Click(data[0], target)
    # bool is an int: only the exact marker counts, and only as an int.
    if type(target) is int and target == HONEYPOT:
        return Click(data[0], None)
    return None


def _dumps(key: str, purpose: str, payload: object) -> str:
    value = _b64(jsoncodec.compact(payload))
    mac = _keyed(key, purpose).copy()
    mac.update(value)
    return (value + b"." + _b64(mac.digest())).decode("ascii")


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _load(keys: list[str], purpose: str, token: str) -> object | None:
    """What ``signing.load`` answers for this token, without building a signer."""
    if not isinstance(token, str) or not token.isascii() or token.startswith("."):
        return signing.load(keys, purpose, token)
    value, dot, signature = token.encode().rpartition(b".")
    if not dot:
        return None
    given = _b64decode(signature)
    if given is None or not any(_matches(key, purpose, value, given) for key in keys):
        return None
    payload = _b64decode(value)
    if payload is None:
        return None
    try:
        return jsoncodec.loads(payload)
    except ValueError:  # orjson.JSONDecodeError
        return None


def _matches(key: str, purpose: str, value: bytes, given: bytes) -> bool:
    mac = _keyed(key, purpose).copy()
    mac.update(value)
    return hmac.compare_digest(mac.digest(), given)


def _b64decode(data: bytes) -> bytes | None:
    # As itsdangerous decodes: padding restored, characters outside the alphabet skipped.
    try:
        return base64.urlsafe_b64decode(data + b"=" * (-len(data) % 4))
    except ValueError:  # binascii.Error
        return None


@lru_cache(maxsize=64)
def _keyed(key: str, purpose: str) -> "hmac.HMAC":
    # itsdangerous's default derivation ("django-concat"): SHA-1 of salt, "signer", secret.
    salt = f"consentry.{purpose}".encode()
    derived = hashlib.sha1(salt + b"signer" + key.encode()).digest()  # noqa: S324 (its format)
    return hmac.new(derived, digestmod=hashlib.sha1)


def _is_message_id(value: object) -> bool:
    return isinstance(value, str) and _MESSAGE_ID.fullmatch(value) is not None
