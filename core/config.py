"""Configuration: defaults, ``CONSENTRY_*`` environment variables, checks, derived paths.

A wrong setting stops start-up with a ConfigError that names the key and what is wrong.
"""

import logging
import math
import os
import re
import secrets
from pathlib import Path

from flask import Flask

log = logging.getLogger(__name__)

BUNDLED_SITES_FILE = Path(__file__).resolve().parent.parent / "consent" / "data" / "sites.toml"

DEFAULTS = {
    "DATA_DIR": "instance",
    "DATABASE_URL": None,  # default: SQLite file in the data dir
    "CLICKHOUSE_URL": None,  # default: embedded chdb engine in the data dir
    "SECRET_KEYS": None,  # default: one key generated into the data dir
    "PUBLIC_URL": "http://127.0.0.1:8000",
    "SITES_FILE": None,  # default: the bundled demo sites file
    "REGION_HEADERS": "CF-IPCountry,CloudFront-Viewer-Country,X-Country-Code",
    "SPOOL_MAX_BYTES": 512 * 1024 * 1024,
    "SHIP_INTERVAL": 1.0,
    "SHIP_BATCH": 10_000,
    "SHUTDOWN_FLUSH_SECONDS": 10.0,
    "MAX_CONTENT_LENGTH": 16 * 1024,
    # How many proxies in front set X-Forwarded-For; 0 trusts no header (the IP is the peer's).
    "PROXY_HOPS": 0,
    # Whether the hottest routes (the email pixel, links, beacon) are answered ahead of
    # Flask's dispatch (core.fastlane); false serves them through Flask, as a reference.
    "FAST_LANE": True,
    # Decision events ClickHouse lacks are re-emitted every so many seconds, once their
    # record has been committed for the grace period (a request emits just after it commits).
    "RECONCILE_INTERVAL": 300.0,
    "RECONCILE_GRACE_SECONDS": 60.0,
    # Whether tracking an email recipient's opens needs their consent (CNIL 2026): with
    # "required" a recipient whose consent is unknown is counted only in aggregate (an
    # anonymous pixel); with "not_required" they are tracked individually until they deny.
    "EMAIL_TRACKING_CONSENT": "required",
    # Privacy operations (docs/privacy.md). Mail goes over SMTP when set, else to an outbox
    # folder in the data dir; the sender defaults to privacy@ the public URL's host.
    "SMTP_URL": None,
    "MAIL_FROM": None,
    # The portal's form per client address; where several workers serve, a shared store.
    "PRIVACY_RATE_LIMIT": "5 per minute;30 per hour",
    "PRIVACY_ADDRESS_RATE_LIMIT": "5 per hour",  # per address named in the form
    "RATELIMIT_STORAGE_URL": "memory://",
    "PRIVACY_UNVERIFIED_DAYS": 7,
    "PRIVACY_MESSAGE_DAYS": 400,
    "PRIVACY_REQUEST_YEARS": 3,
    "PRIVACY_CONSENT_RECORD_YEARS": 0,  # 0: kept (pruning breaks a site's hash chain)
    # On erasure: "keep" the consent records (Art. 7(1) proof, no direct identifier) or
    # "delete" them.
    "PRIVACY_ERASE_CONSENT_RECORDS": "keep",
    # A ClickHouse cluster (remote_servers) name: tables become Replicated ON CLUSTER, with
    # Distributed tables over them (events.cluster). None: one server or the embedded engine.
    "CLICKHOUSE_CLUSTER": None,
    # Days raw events, their UA/IP columns and (embedded engine) its system logs are kept;
    # applied by `consentry db upgrade` (events.retention).
    "EVENT_RETENTION_DAYS": 400,
    "UA_IP_RETENTION_DAYS": 30,
    "SYSTEM_LOG_RETENTION_DAYS": 30,
}

ERASE_CONSENT_RECORDS = ("keep", "delete")

EMAIL_TRACKING_CONSENT = ("required", "not_required")


MAX_SECONDS = 86_400.0


class ConfigError(Exception):
    """A setting is missing or wrong; the message names the key."""


def load_config(app: Flask, test_config: dict | None = None) -> None:
    """Fill ``app.config`` from defaults, the environment and ``test_config``, then check it."""
    app.config.from_mapping(DEFAULTS)
    app.config.from_prefixed_env("CONSENTRY")
    if test_config:
        app.config.update(test_config)
    cfg = app.config
    # Plain values first: a wrong one stops start-up before anything is written to disk.
    for key in (
        "SPOOL_MAX_BYTES",
        "SHIP_BATCH",
        "MAX_CONTENT_LENGTH",
        "EVENT_RETENTION_DAYS",
        "UA_IP_RETENTION_DAYS",
        "SYSTEM_LOG_RETENTION_DAYS",
    ):
        cfg[key] = _whole(key, cfg[key])
    cfg["PROXY_HOPS"] = _count("PROXY_HOPS", cfg["PROXY_HOPS"])
    if not isinstance(cfg["FAST_LANE"], bool):
        raise ConfigError(f"CONSENTRY_FAST_LANE: must be true or false, got {cfg['FAST_LANE']!r}")
    for key in ("PRIVACY_UNVERIFIED_DAYS", "PRIVACY_MESSAGE_DAYS", "PRIVACY_REQUEST_YEARS"):
        cfg[key] = _whole(key, cfg[key])
    cfg["PRIVACY_CONSENT_RECORD_YEARS"] = _count(
        "PRIVACY_CONSENT_RECORD_YEARS", cfg["PRIVACY_CONSENT_RECORD_YEARS"]
    )
    if cfg["PRIVACY_ERASE_CONSENT_RECORDS"] not in ERASE_CONSENT_RECORDS:
        raise ConfigError(
            "CONSENTRY_PRIVACY_ERASE_CONSENT_RECORDS: must be keep or delete, "
            f"got {cfg['PRIVACY_ERASE_CONSENT_RECORDS']!r}"
        )
    smtp = cfg["SMTP_URL"]
    if smtp and not str(smtp).startswith(("smtp://", "smtps://")):
        raise ConfigError("CONSENTRY_SMTP_URL: must start with smtp:// or smtps://")
    for key in (
        "SHIP_INTERVAL",
        "SHUTDOWN_FLUSH_SECONDS",
        "RECONCILE_INTERVAL",
        "RECONCILE_GRACE_SECONDS",
    ):
        cfg[key] = _seconds(key, cfg[key])

    data_dir = Path(cfg["DATA_DIR"]).expanduser().resolve()
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"CONSENTRY_DATA_DIR: cannot create {data_dir}: {e.strerror}") from e
    cfg["DATA_DIR"] = str(data_dir)

    cfg["DATABASE_URL"] = cfg["DATABASE_URL"] or f"sqlite:///{data_dir / 'consentry.db'}"
    cfg["SQLALCHEMY_DATABASE_URI"] = _database_url(cfg["DATABASE_URL"])
    cfg["CLICKHOUSE_URL"] = cfg["CLICKHOUSE_URL"] or f"chdb://{data_dir / 'clickhouse'}"
    _check_clickhouse_url(cfg["CLICKHOUSE_URL"])
    cluster = cfg["CLICKHOUSE_CLUSTER"] = cfg["CLICKHOUSE_CLUSTER"] or None
    if cluster is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(cluster)):
        raise ConfigError(f"CONSENTRY_CLICKHOUSE_CLUSTER: not a cluster name: {cluster!r}")

    cfg["SECRET_KEYS"] = _secret_keys(cfg["SECRET_KEYS"], data_dir)
    # No Flask SECRET_KEY: only the dashboard has a cookie session, keyed by itself from
    # these keys and opened under /dashboard only (dashboard.sessions), so no other request
    # builds a signing serializer. Tokens are signed in core.signing.
    cfg["SITES_FILE"] = str(Path(cfg["SITES_FILE"] or BUNDLED_SITES_FILE).expanduser())
    cfg["PUBLIC_URL"] = _public_url(cfg["PUBLIC_URL"])
    cfg["REGION_HEADERS"] = _name_list("REGION_HEADERS", cfg["REGION_HEADERS"])
    if cfg["EMAIL_TRACKING_CONSENT"] not in EMAIL_TRACKING_CONSENT:
        raise ConfigError(
            "CONSENTRY_EMAIL_TRACKING_CONSENT: must be required or not_required, "
            f"got {cfg['EMAIL_TRACKING_CONSENT']!r}"
        )


def _database_url(url: str) -> str:
    if not isinstance(url, str) or "://" not in url:
        raise ConfigError(f"CONSENTRY_DATABASE_URL: not a database URL: {url!r}")
    # SQLAlchemy needs the driver named; "postgresql://" alone would ask for psycopg2.
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain) :]
    if not url.startswith(("sqlite:", "postgresql+psycopg:")):
        raise ConfigError(
            f"CONSENTRY_DATABASE_URL: only sqlite:/// and postgresql:// are supported, got {url!r}"
        )
    return url


def _check_clickhouse_url(url: str) -> None:
    if not isinstance(url, str) or not url.startswith(("chdb:", "http://", "https://")):
        raise ConfigError(
            f"CONSENTRY_CLICKHOUSE_URL: must start with chdb://, http:// or https://, got {url!r}"
        )


def _secret_keys(value, data_dir: Path) -> list[str]:
    if isinstance(value, list | tuple):
        keys = [str(k) for k in value]
    elif value:
        keys = [k.strip() for k in str(value).split(",") if k.strip()]
    else:
        keys = [_generated_key(data_dir)]
    for key in keys:
        if len(key) < 16:
            raise ConfigError("CONSENTRY_SECRET_KEYS: every key must be at least 16 characters")
    return keys


def _generated_key(data_dir: Path) -> str:
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_urlsafe(32)
    # Written whole to a private temp file, then linked into place: never readable by
    # others, never seen half-written, and of two processes starting at once one wins.
    tmp = data_dir / f".secret_key.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    try:
        os.link(tmp, path)
    except FileExistsError:
        return path.read_text().strip()
    finally:
        tmp.unlink()
    log.warning(
        "CONSENTRY_SECRET_KEYS is not set: generated a signing key into %s. "
        "Set CONSENTRY_SECRET_KEYS in production.",
        path,
    )
    return key


def _public_url(value) -> str:
    url = str(value).rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"CONSENTRY_PUBLIC_URL: must be an http(s) URL, got {value!r}")
    return url


def _name_list(key: str, value) -> list[str]:
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    if not isinstance(value, str):
        raise ConfigError(f"CONSENTRY_{key}: must be a comma-separated list, got {value!r}")
    return [v.strip() for v in value.split(",") if v.strip()]


def _count(key: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise ConfigError(f"CONSENTRY_{key}: must be a whole number >= 0, got {value!r}")
    return int(value)


def _whole(key: str, value) -> int:
    # from_prefixed_env reads values as JSON: "1e3" arrives as 1000.0, "1.5" as 1.5.
    whole_float = isinstance(value, float) and value.is_integer()
    if whole_float or (isinstance(value, str) and value.strip().isdigit()):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"CONSENTRY_{key}: must be a positive whole number, got {value!r}")
    return value


def _seconds(key: str, value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    # Written so that NaN fails too. Past a day a wait is a mistake (and past ~292 years
    # an OverflowError in threading).
    if isinstance(value, bool) or not 0 < number <= MAX_SECONDS:
        raise ConfigError(
            f"CONSENTRY_{key}: must be a number of seconds above 0 and at most "
            f"{MAX_SECONDS:.0f}, got {value!r}"
        )
    return number
