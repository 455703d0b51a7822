"""Signed tokens: a purpose is a namespace, the first key signs, junk is no data."""

import pytest
from itsdangerous import BadData, URLSafeSerializer

from core import signing

OLD, NEW = "old-signing-key-0123456789abcdef", "new-signing-key-0123456789abcdef"


def test_a_token_loads_only_for_its_own_purpose():
    token = signing.serializer([NEW], "receipt").dumps({"record_id": "r1"})
    assert signing.load([NEW], "receipt", token) == {"record_id": "r1"}
    assert signing.load([NEW], "unsubscribe", token) is None


def test_the_first_key_signs_and_every_key_verifies():
    token = signing.serializer([NEW, OLD], "receipt").dumps([1, "é"])
    assert signing.load([NEW], "receipt", token) == [1, "é"]
    assert signing.load([OLD], "receipt", token) is None
    old_token = signing.serializer([OLD], "receipt").dumps(True)
    assert signing.load([NEW, OLD], "receipt", old_token) is True


@pytest.mark.parametrize("junk", ["", ".", "a.b", "x" * 300, "eyJhIjoxfQ.forged"])
def test_junk_is_no_data(junk):
    assert signing.load([NEW], "receipt", junk) is None


# --- the written-out format is itsdangerous's ---------------------------------------------

PAYLOADS = [
    {"record_id": "r1", "choices": {"analytics": True}, "hash": "ab" * 32},
    [1, "é", None, 2.5],
    "a" * 500,  # long enough that itsdangerous would have compressed it
    True,
    {"nested": [{"x": ["☃", "\u0000", "\U0001f600"]}]},
]


@pytest.mark.parametrize("data", PAYLOADS)
@pytest.mark.parametrize("keys", [[NEW], [NEW, OLD], [OLD, NEW]])
@pytest.mark.parametrize("purpose", ["receipt", "email.open"])
def test_dumps_signs_byte_for_byte_as_itsdangerous(data, keys, purpose):
    token = signing.dumps(keys, purpose, data)
    assert token == signing.serializer(keys, purpose).dumps(data).decode("ascii")
    # Signed with the first key: only a list that holds it verifies the token.
    assert signing.load(keys[:1], purpose, token) == data
    assert signing.load([k for k in (NEW, OLD) if k != keys[0]], purpose, token) is None


def _itsdangerous_reads(keys: list[str], purpose: str, token: str) -> object | None:
    try:
        return signing.serializer(keys, purpose).loads(token)
    except BadData:
        return None


def _tokens() -> list[str]:
    good = signing.dumps([NEW], "receipt", {"record_id": "r1", "n": [1, 2]})
    value, signature = good.rsplit(".", 1)
    # Compressed as releases before the written-out format signed long receipts.
    compressed = URLSafeSerializer(NEW, salt="consentry.receipt").dumps({"x": "y" * 300})
    assert compressed.startswith(".")
    made = [
        good,
        signing.dumps([OLD], "receipt", [1]),
        signing.dumps([NEW], "other", [1]),
        compressed,
        value,  # no signature
        signature,
        good + "=",
        good + "A",
        good[:-1],
        value + "." + signature + "." + signature,
        "." + good,
        good.replace(".", ".."),
        value + ".é" + signature,  # non-ASCII: itsdangerous drops what is not ASCII
        value + "." + signature + "\u00e9",
        "!!!." + signature,
        value + ".!!!",
        signing.dumps([NEW], "receipt", "x")[:-27] + signature,
    ]
    # Every single-character change of the good token, at every position.
    made += [good[:i] + c + good[i + 1 :] for i in range(len(good)) for c in "A_-.="]
    return made


@pytest.mark.parametrize("keys", [[NEW], [NEW, OLD], [OLD]])
def test_load_answers_what_itsdangerous_answers(keys):
    for token in _tokens():
        assert signing.load(keys, "receipt", token) == _itsdangerous_reads(
            keys, "receipt", token
        ), token


def test_a_compressed_token_of_an_earlier_release_still_loads():
    compressed = URLSafeSerializer(NEW, salt="consentry.receipt").dumps({"x": "y" * 300})
    assert signing.load([NEW], "receipt", compressed) == {"x": "y" * 300}
    assert signing.load([OLD], "receipt", compressed) is None
