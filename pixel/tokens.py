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

Signing and reading go through ``core.signing.dumps`` and ``load``, which write
itsdangerous's format out with the HMAC's keyed state kept per key and purpose: a batch
signs 20,000 tokens and every pixel hit reads one, and itsdangerous would derive the key and
build a signer for each. Tests hold both sides to itsdangerous: signing byte for byte,
reading answer for answer over forged, truncated, re-salted and mutated tokens.
"""

import re
from dataclasses import dataclass

from core import signing

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
    return signing.dumps(keys, _PURPOSE[kind], message_id)


def read_message(keys: list[str], kind: str, token: str) -> str | None:
    """Return the message id an open, unsubscribe or preferences token carries, or None."""
    if kind == CLICK:
        raise ValueError("a click token carries its URL: use read_click")
    data = signing.load(keys, _PURPOSE[kind], token)
    return data if isinstance(data, str) and _is_message_id(data) else None


def sign_click(keys: list[str], message_id: str, url: str | None) -> str:
    """Sign a tracked link: the message and the URL it redirects to (None: the honeypot)."""
    payload = [message_id, url] if url is not None else [message_id, HONEYPOT]
    return signing.dumps(keys, _PURPOSE[CLICK], payload)


def read_click(keys: list[str], token: str) -> Click | None:
    """Return what a click token says, or None if it is not one of ours."""
    data = signing.load(keys, _PURPOSE[CLICK], token)
    if not isinstance(data, list) or len(data) != 2 or not _is_message_id(data[0]):
        return None
    target = data[1]
    if isinstance(target, str) and target[:8].lower().startswith(("http://", "https://")):
        return Click(data[0], target)
    # bool is an int: only the exact marker counts, and only as an int.
    if type(target) is int and target == HONEYPOT:
        return Click(data[0], None)
    return None


def _is_message_id(value: object) -> bool:
    return isinstance(value, str) and _MESSAGE_ID.fullmatch(value) is not None
