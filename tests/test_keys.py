"""API keys: their form, names, revocation per name and when their last use is written."""

import re
from datetime import UTC, datetime, timedelta

import pytest

from core.db import db
from core.keys import (
    ApiKey,
    ApiKeyError,
    DuplicateKeyName,
    authenticate,
    create_key,
    list_keys,
    revoke_key,
)
from core.times import as_utc

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


def test_a_key_is_a_prefix_a_12_hex_lookup_and_a_256_bit_secret(ctx):
    key = create_key("mailer", now=T0)
    assert re.fullmatch(r"csk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", key)
    row = db.session.scalars(db.select(ApiKey)).one()
    assert row.lookup == key[4:16]
    assert as_utc(row.created_at) == T0
    assert authenticate(key) is not None


@pytest.mark.parametrize(
    ("name", "stored"),
    [("a", "a"), ("x" * 100, "x" * 100), ("  padded  ", "padded")],
)
def test_names_of_1_to_100_characters_are_taken(ctx, name, stored):
    create_key(name)
    assert [k.name for k in list_keys()] == [stored]


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_other_names_are_refused_with_a_message(ctx, name):
    with pytest.raises(ApiKeyError, match="1 to 100 characters"):
        create_key(name)
    assert list_keys() == []


def test_only_an_active_key_of_the_same_name_blocks_a_new_one(ctx):
    create_key("mailer")
    create_key("auditor")  # another name: fine
    with pytest.raises(DuplicateKeyName, match="'mailer'"):
        create_key("mailer")
    assert revoke_key("mailer") == 1
    create_key("mailer")  # the old one is revoked: fine
    keys = list_keys()
    assert [k.name for k in keys] == ["mailer", "auditor", "mailer"]
    assert [k.revoked_at is None for k in keys] == [True, True, False]  # newest first


def test_revoking_a_name_leaves_other_keys_working(ctx):
    mailer = create_key("mailer")
    auditor = create_key("auditor")
    assert revoke_key("mailer", now=T0) == 1
    assert authenticate(mailer) is None
    assert authenticate(auditor).name == "auditor"
    revoked = {k.name: k.revoked_at for k in list_keys()}
    assert as_utc(revoked["mailer"]) == T0
    assert revoked["auditor"] is None
    assert revoke_key("nobody") == 0


def test_last_use_is_written_at_most_once_a_minute(ctx):
    key = create_key("mailer", now=T0)

    def last_used():
        db.session.expire_all()
        return as_utc(db.session.scalars(db.select(ApiKey)).one().last_used_at)

    assert last_used() is None
    assert authenticate(key, now=T0).name == "mailer"
    assert last_used() == T0
    authenticate(key, now=T0 + timedelta(seconds=30))
    assert last_used() == T0
    authenticate(key, now=T0 + timedelta(seconds=60))
    assert last_used() == T0
    authenticate(key, now=T0 + timedelta(seconds=61))
    assert last_used() == T0 + timedelta(seconds=61)
    # Without an injected time, the clock's: a use now is more than a minute after T0+61 s.
    before = datetime.now(UTC)
    authenticate(key)
    assert before <= last_used() <= datetime.now(UTC)
