"""Keyed hashes that stand for people: a normalised address, a recipient in events.

HMAC-SHA256 with a key derived from each of ``CONSENTRY_SECRET_KEYS`` (never the signing
key itself, so a hash cannot be turned into a signature or back). New hashes use the
first key; matching tries every key, so after a rotation a suppression stored under an
older key still matches the same address.
"""

import contextlib
import hashlib
import hmac
from functools import lru_cache

_EMAIL = b"consentry.email-address"
_RECIPIENT = b"consentry.email-recipient"
PSEUDONYM_LENGTH = 32


def normalise_email(address: str) -> str:
    """The form an address is hashed in: trimmed, lower case, the domain as IDNA.

    The local part is case-sensitive by RFC 5321 but not by any mailbox provider that
    matters; treating ``Ann@x`` and ``ann@x`` as two people would leave one subscribed.
    """
    local, _, domain = address.strip().rpartition("@")
    if not domain.isascii():
        # Not a valid IDN: hashed as given, it still matches itself.
        with contextlib.suppress(UnicodeError):
            domain = domain.encode("idna").decode("ascii")
    return f"{local}@{domain}".casefold() if local else address.strip().casefold()


def email_hash(keys: list[str], address: str) -> str:
    """The keyed hash of an address, under the signing key: what is stored."""
    return _hash(_derived(keys[0], _EMAIL), normalise_email(address).encode())


def email_hashes(keys: list[str], address: str) -> list[str]:
    """The keyed hash of an address under every key: what a stored hash may be."""
    normal = normalise_email(address).encode()
    return [_hash(_derived(key, _EMAIL), normal) for key in keys]


def pseudonym(keys: list[str], site: str, external_id: str) -> str:
    """The name events give a recipient: stable for them, meaningless without the key."""
    text = f"{site}\x00{external_id}".encode()
    return _hash(_derived(keys[0], _RECIPIENT), text)[:PSEUDONYM_LENGTH]


def _hash(keyed: "hmac.HMAC", text: bytes) -> str:
    mac = keyed.copy()  # the key's pads are computed once, not per hash
    mac.update(text)
    return mac.hexdigest()


@lru_cache(maxsize=32)
def _derived(secret: str, purpose: bytes) -> "hmac.HMAC":
    key = hmac.new(secret.encode(), purpose, hashlib.sha256).digest()
    return hmac.new(key, digestmod=hashlib.sha256)
