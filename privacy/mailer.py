"""Sending a request's mail: over SMTP when ``CONSENTRY_SMTP_URL`` is set, else to an outbox.

Two implementations of one small interface, chosen by config. The outbox is a folder in
the data dir with one ``.eml`` file per message (RFC 5322, as an MTA would receive it),
written to a temporary name and renamed, so a reader never sees half a message.

SMTP URL: ``smtp://[user:password@]host[:port]`` (STARTTLS when the server offers it),
``smtps://…`` (TLS from the start, port 465 by default).
"""

import os
import smtplib
import ssl
import uuid
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit


@dataclass(frozen=True)
class Letter:
    to: str
    subject: str
    body: str


class Mailer(Protocol):
    def send(self, letter: Letter, now: datetime) -> None: ...


def build_message(sender: str, letter: Letter, now: datetime) -> EmailMessage:
    """The RFC 5322 message for a letter (plain text, UTF-8)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = letter.to
    message["Subject"] = letter.subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(letter.body)
    return message


class SmtpMailer:
    """Send each letter over one SMTP connection of its own."""

    def __init__(self, url: str, sender: str, timeout: float = 10.0):
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("must be smtp://host[:port] or smtps://host[:port]")
        self.tls = parts.scheme == "smtps"
        self.host = parts.hostname
        self.port = parts.port or (465 if self.tls else 25)
        self.user = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.sender = sender
        self.timeout = timeout

    def send(self, letter: Letter, now: datetime) -> None:
        message = build_message(self.sender, letter, now)
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if self.tls:
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with smtp:
            if not self.tls:
                smtp.ehlo()
                if smtp.has_extn("starttls"):
                    smtp.starttls(context=context)
            if self.user:
                smtp.login(self.user, self.password or "")
            smtp.send_message(message)


class OutboxMailer:
    """Write each letter as an ``.eml`` file into a folder an operator reads."""

    def __init__(self, directory: Path, sender: str):
        self.directory = directory
        self.sender = sender

    def send(self, letter: Letter, now: datetime) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{now.strftime('%Y%m%dT%H%M%S%f')}-{uuid.uuid4().hex[:12]}.eml"
        tmp = self.directory / f".{name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(build_message(self.sender, letter, now).as_bytes(policy=policy.SMTP))
        tmp.rename(self.directory / name)


@dataclass(frozen=True)
class OutboxItem:
    name: str
    to: str
    subject: str
    date: str
    body: str


def read_outbox(directory: Path, limit: int = 100) -> list[OutboxItem]:
    """The newest ``limit`` messages in the outbox, newest first."""
    if not directory.is_dir():
        return []
    names = sorted((p.name for p in directory.glob("*.eml")), reverse=True)[:limit]
    items = []
    for name in names:
        with open(directory / name, "rb") as f:
            message = BytesParser(policy=policy.default).parse(f)
        body = message.get_body(preferencelist=("plain",))
        items.append(
            OutboxItem(
                name=name,
                to=str(message["To"]),
                subject=str(message["Subject"]),
                date=str(message["Date"]),
                body=body.get_content() if body is not None else "",
            )
        )
    return items
