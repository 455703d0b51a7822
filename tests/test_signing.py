"""Signed tokens: a purpose is a namespace, the first key signs, junk is no data."""

import pytest

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
