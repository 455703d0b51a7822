"""Dashboard accounts: a name and a salted, slow password hash (werkzeug's scrypt).

Made and removed with ``consentry users``; nobody signs up on the web. A failed login
does the same work whether the name exists or not, so its timing tells nothing either.
"""

from datetime import UTC, datetime

from flask_login import UserMixin
from sqlalchemy import DateTime, String
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from core.db import db

MIN_PASSWORD = 12
MAX_PASSWORD = 1024  # scrypt over a megabyte of "password" is a denial of service
NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._@-")


class UserError(Exception):
    """A user cannot be made or found as asked; the message says why."""


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    def get_id(self) -> str:
        # The session names the account by name and hash prefix: a new password (or a
        # deleted and re-made account) ends every session made with the old one.
        return f"{self.id}:{self.password_hash[-16:]}"


# Checked against when the name is unknown, so that path costs one scrypt too.
_NOBODY = generate_password_hash("no account has this password")


def _check_name(name: str) -> str:
    name = name.strip().lower()
    if not name or len(name) > 64 or not set(name) <= NAME_CHARS:
        raise UserError("a user name is 1 to 64 of a-z 0-9 . _ @ -")
    return name


def _check_password(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise UserError(f"a password is {MIN_PASSWORD} to {MAX_PASSWORD} characters")


def create_user(name: str, password: str, now: datetime | None = None) -> User:
    """Store a new account; its password only as a hash."""
    name = _check_name(name)
    _check_password(password)
    if find_user(name) is not None:
        raise UserError(f"a user named {name!r} exists; delete it first")
    user = User(
        name=name,
        password_hash=generate_password_hash(password),
        created_at=now or datetime.now(UTC),
    )
    db.session.add(user)
    db.session.commit()
    return user


def find_user(name: str) -> User | None:
    """The account with this name, or None."""
    return db.session.scalars(db.select(User).where(User.name == name.strip().lower())).first()


def delete_user(name: str) -> bool:
    """Remove an account (its sessions end with it); False when there was none."""
    user = find_user(name)
    if user is None:
        return False
    db.session.delete(user)
    db.session.commit()
    return True


def list_users() -> list[User]:
    """Every account, by name."""
    return list(db.session.scalars(db.select(User).order_by(User.name)))


def authenticate(name: str, password: str, now: datetime | None = None) -> User | None:
    """The account when the password is its own, else None (unknown name or wrong password)."""
    user = find_user(name) if len(password) <= MAX_PASSWORD else None
    if user is None:
        check_password_hash(_NOBODY, password[:MAX_PASSWORD])
        return None
    if not check_password_hash(user.password_hash, password):
        return None
    user.last_login_at = now or datetime.now(UTC)
    db.session.commit()
    return user


def load_session_user(session_id: str) -> User | None:
    """The account a session names (see :meth:`User.get_id`), or None once it changed."""
    number, _, stamp = session_id.partition(":")
    if not number.isdigit():
        return None
    user = db.session.get(User, int(number))
    if user is None or user.password_hash[-16:] != stamp:
        return None
    return user
