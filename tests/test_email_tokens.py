"""Email tokens and keyed hashes: each kind round-trips, anything else is no data."""

import base64
import hashlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from itsdangerous import BadData, URLSafeSerializer

from core import signing
from pixel import identity, tokens

OLD, NEW = "old-signing-key-0123456789abcdef", "new-signing-key-0123456789abcdef"
MESSAGE = "0f9c2b7e4a1d4c3e8b6a5d2f1e0c9b8a"
URL = "https://shop.example.com/sale?utm_source=mail&x=%C3%A9#top"
MESSAGE_KINDS = [tokens.OPEN, tokens.UNSUBSCRIBE, tokens.PREFERENCES]


@pytest.mark.parametrize("kind", MESSAGE_KINDS)
def test_a_message_token_round_trips_and_is_short(kind):
    token = tokens.sign_message([NEW], kind, MESSAGE)
    assert tokens.read_message([NEW], kind, token) == MESSAGE
    assert len(token) == 74
    # URL-safe as it stands: no character an email client or a URL would escape.
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


@pytest.mark.parametrize("kind", [*MESSAGE_KINDS, tokens.CLICK])
@pytest.mark.parametrize("keys", [[NEW], [NEW, OLD]])
def test_tokens_are_what_itsdangerous_would_sign(kind, keys):
    # Signed by tokens' own writer, read by itsdangerous: the two must agree to the byte.
    payload = [MESSAGE, URL] if kind == tokens.CLICK else MESSAGE
    expected = signing.serializer(keys, f"email.{kind}").dumps(payload).decode()
    assert _sign(kind, keys) == expected


def test_a_click_token_carries_its_url_and_the_honeypot_none():
    link = tokens.sign_click([NEW], MESSAGE, URL)
    assert tokens.read_click([NEW], link) == tokens.Click(MESSAGE, URL)
    shouted = tokens.sign_click([NEW], MESSAGE, "HTTPS://SHOP.EXAMPLE.JP/x")  # as render wraps it
    assert tokens.read_click([NEW], shouted) == tokens.Click(MESSAGE, "HTTPS://SHOP.EXAMPLE.JP/x")
    honeypot = tokens.sign_click([NEW], MESSAGE, None)
    assert tokens.read_click([NEW], honeypot) == tokens.Click(MESSAGE, None)
    assert len(honeypot) < 100


@pytest.mark.parametrize("kind", [*MESSAGE_KINDS, tokens.CLICK])
def test_a_token_carries_the_message_id_and_a_links_url_and_nothing_else(kind):
    # No address, no recipient id, no campaign: what a token says is readable by anyone.
    payload = _sign(kind, [NEW]).split(".")[0]
    carried = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert carried == ([MESSAGE, URL] if kind == tokens.CLICK else MESSAGE)


def _sign(kind: str, keys: list[str], message: str = MESSAGE) -> str:
    if kind == tokens.CLICK:
        return tokens.sign_click(keys, message, URL)
    return tokens.sign_message(keys, kind, message)


def _read(kind: str, keys: list[str], token: str):
    if kind == tokens.CLICK:
        return tokens.read_click(keys, token)
    return tokens.read_message(keys, kind, token)


@pytest.mark.parametrize("kind", [*MESSAGE_KINDS, tokens.CLICK])
def test_a_token_of_one_kind_is_no_token_of_another(kind):
    token = _sign(kind, [NEW])
    for other in [*MESSAGE_KINDS, tokens.CLICK]:
        if other != kind:
            assert _read(other, [NEW], token) is None


@pytest.mark.parametrize("kind", [*MESSAGE_KINDS, tokens.CLICK])
def test_rotation_old_keys_verify_until_retired(kind):
    before = _sign(kind, [OLD])
    after = _sign(kind, [NEW, OLD])
    assert _read(kind, [NEW, OLD], before) is not None  # mail sent before the rotation
    assert _read(kind, [NEW], after) is not None  # the newest key signs
    assert _read(kind, [OLD], after) is None
    assert _read(kind, [NEW], before) is None  # the old key retired: no longer ours


def _forgeries(kind: str) -> list[tuple[str, str]]:
    good = _sign(kind, [NEW])
    payload, signature = good.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    other_message = _sign(kind, [NEW], "1" * 32).split(".")[0]
    return [
        ("empty", ""),
        ("dot", "."),
        ("payload only", payload),
        ("signature only", "." + signature),
        ("truncated by one", good[:-1]),
        ("truncated by half", good[: len(good) // 2]),
        ("flipped signature", f"{payload}.{flipped}"),
        ("swapped payload", f"{other_message}.{signature}"),
        ("other key", _sign(kind, ["attacker-key-0123456789abcdef"])),
        ("salt of the consent receipts", signing.serializer([NEW], "receipt").dumps(MESSAGE)),
        ("unsalted itsdangerous", _unsalted(MESSAGE)),
        ("garbage", "%00<script>alert(1)</script>"),
        ("long garbage", "x" * 5000),
        ("non-ASCII", "\u00e9\u2603.\U0001f600"),
        ("appended text", good + "x"),
    ]


def _unsalted(value: str) -> str:
    return URLSafeSerializer(NEW).dumps(value)


@pytest.mark.parametrize("kind", [*MESSAGE_KINDS, tokens.CLICK])
def test_forged_truncated_and_garbage_tokens_are_no_data(kind):
    for name, token in _forgeries(kind):
        if isinstance(token, bytes):
            token = token.decode()
        assert _read(kind, [NEW, OLD], token) is None, name


@pytest.mark.parametrize(
    "payload",
    [
        "not-a-message-id",
        MESSAGE.upper(),
        MESSAGE + "0",
        42,
        None,
        [MESSAGE],
        {"m": MESSAGE},
    ],
)
def test_a_well_signed_token_of_the_wrong_shape_is_no_data(payload):
    # Signed with our key and salt, so only the shape check stands between it and a read.
    token = signing.serializer([NEW], "email.open").dumps(payload)
    assert tokens.read_message([NEW], tokens.OPEN, token) is None


@pytest.mark.parametrize(
    "payload",
    [
        [MESSAGE],
        [MESSAGE, "javascript:alert(1)"],
        [MESSAGE, "//evil.example.com"],
        [MESSAGE, 1],
        [MESSAGE, False],  # False == 0, but it is not the honeypot's marker
        [MESSAGE, None],
        ["nope", URL],
        [MESSAGE, URL, 0],
        {"m": MESSAGE, "u": URL},
    ],
)
def test_a_click_token_of_the_wrong_shape_is_no_data(payload):
    token = signing.serializer([NEW], "email.click").dumps(payload)
    assert tokens.read_click([NEW], token) is None


def test_signing_a_click_with_the_message_helpers_is_refused():
    with pytest.raises(ValueError, match="sign_click"):
        tokens.sign_message([NEW], tokens.CLICK, MESSAGE)
    with pytest.raises(ValueError, match="read_click"):
        tokens.read_message([NEW], tokens.CLICK, "x")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("ann@example.com", " Ann@Example.COM "),
        ("ann@b\u00fccher.de", "ann@xn--bcher-kva.de"),
        ("ANN@B\u00dcCHER.DE", "ann@b\u00fccher.de"),
    ],
)
def test_one_address_written_two_ways_has_one_hash(a, b):
    assert identity.email_hash([NEW], a) == identity.email_hash([NEW], b)


def test_address_hashes_are_keyed_and_match_across_a_rotation():
    stored = identity.email_hash([OLD], "ann@example.com")
    assert stored != identity.email_hash([NEW], "ann@example.com")
    assert stored != identity.email_hash([OLD], "bob@example.com")
    assert stored in identity.email_hashes([NEW, OLD], "Ann@example.com")
    assert stored not in identity.email_hashes([NEW], "ann@example.com")
    # Keyed: not the plain SHA-256 of the address anyone could compute.
    assert stored != hashlib.sha256(b"ann@example.com").hexdigest()


def test_a_pseudonym_is_per_site_and_keyed():
    one = identity.pseudonym([NEW], "demo", "crm-1")
    assert len(one) == 32
    assert one == identity.pseudonym([NEW], "demo", "crm-1")
    assert one != identity.pseudonym([NEW], "shop", "crm-1")
    assert one != identity.pseudonym([OLD], "demo", "crm-1")
    # The separator keeps ("de", "mo1") and ("demo", "1") apart.
    assert identity.pseudonym([NEW], "de", "mo1") != identity.pseudonym([NEW], "demo", "1")


# --- reading answers exactly as itsdangerous reads -----------------------------------

PURPOSES = [f"email.{kind}" for kind in (*MESSAGE_KINDS, tokens.CLICK)]
# What a mutation may bring in: the token alphabet, padding, the separator, and bytes
# itsdangerous's decoder skips or refuses.
EDITS = "AQgw_-.=!%~ \u00e9\x00"


@st.composite
def _mutated_tokens(draw) -> tuple[str, str]:
    purpose = draw(st.sampled_from(PURPOSES))
    payload = [MESSAGE, URL] if purpose == "email.click" else MESSAGE
    keys = draw(st.sampled_from([[NEW], [OLD], ["attacker-key-0123456789abcdef"]]))
    token = signing.serializer(keys, draw(st.sampled_from(PURPOSES))).dumps(payload).decode()
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(token)))
        edit = draw(st.sampled_from(["insert", "delete", "replace"]))
        char = draw(st.sampled_from(EDITS))
        if edit == "insert":
            token = token[:at] + char + token[at:]
        elif edit == "delete":
            token = token[:at] + token[at + 1 :]
        else:
            token = token[:at] + char + token[at + 1 :]
    return purpose, token


def _as_itsdangerous(keys: list[str], purpose: str, token: str) -> object | None:
    """What itsdangerous's own serializer reads from a token (None where it refuses)."""
    try:
        return signing.serializer(keys, purpose).loads(token)
    except BadData:
        return None


@settings(max_examples=400, deadline=None)
@given(_mutated_tokens())
def test_reading_a_token_answers_as_itsdangerous_does(case):
    purpose, token = case
    assert signing.load([NEW, OLD], purpose, token) == _as_itsdangerous([NEW, OLD], purpose, token)


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(lambda good: good + "=", id="padded signature"),
        pytest.param(lambda good: good.replace(".", "..", 1), id="doubled dot"),
        pytest.param(lambda good: "." + good, id="compressed marker"),
        pytest.param(lambda good: good[:-1] + "\u00e9", id="non-ASCII"),
        pytest.param(lambda good: "x." + good, id="payload with a dot"),
    ],
)
def test_edge_forms_read_as_itsdangerous_reads_them(token):
    made = token(tokens.sign_message([NEW], tokens.OPEN, MESSAGE))
    assert signing.load([NEW], "email.open", made) == _as_itsdangerous([NEW], "email.open", made)


def test_a_compressed_token_signed_by_itsdangerous_still_reads():
    # itsdangerous's own serializer compresses a payload when that is shorter: a link
    # signed that way (by an older install) is read by itsdangerous itself.
    long_url = "https://shop.example.com/" + "sale/" * 40
    serializer = URLSafeSerializer(NEW, salt="consentry.email.click")
    token = serializer.dumps([MESSAGE, long_url])
    assert token.startswith(".")
    assert tokens.read_click([NEW], token) == tokens.Click(MESSAGE, long_url)
