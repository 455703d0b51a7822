"""Start-up checks: a broken setting or sites file stops the service with a precise message."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from consent.sites import SitesFileError, load_sites
from consentry import create_app
from core.config import ConfigError

BUNDLED = Path(__file__).resolve().parent.parent / "consent" / "data" / "sites.toml"
DEMO = BUNDLED.read_text()


def _sites_file(tmp_path, text: str) -> Path:
    path = tmp_path / "sites.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[sites.demo\n", "not valid TOML"),
        ("", "at least one [sites.<id>]"),
        ("[sites.Bad_Id]\nname = 'x'", "sites.Bad_Id"),
        (
            DEMO.replace('policy_version = "2026-11-01"', "policy_version = 7"),
            "sites.demo.policy_version: Input should be a valid string",
        ),
        (
            DEMO.replace('"http://localhost:*", ', '"localhost", '),
            "sites.demo.origins: 'localhost' is not an origin",
        ),
        (DEMO.replace('model = "notice"', 'model = "maybe"'), "sites.demo.regions.2.model"),
        (DEMO.replace("accept_days = 180", "accept_days = -1"), "sites.demo.lifetime.accept_days"),
        (
            DEMO.replace('ad_storage = ["marketing"]', 'ad_storage = ["ads"]'),
            "consent_mode.ad_storage names unknown categories",
        ),
        (
            DEMO.replace("[sites.demo.categories.necessary]", "[sites.demo.categories.needed]"),
            "categories must include 'necessary'",
        ),
        (
            DEMO.replace("signal_policy = ", "colour = 'red'\nsignal_policy = "),
            "sites.demo.colour: Extra inputs are not permitted",
        ),
        (
            DEMO.replace('type = "session"', 'type = "sometimes"', 1),
            "sites.demo.categories.necessary.cookies.1.type",
        ),
        # Browsers never send these origins (RFC 6454): a pattern with one matches nothing.
        (
            DEMO.replace('"http://localhost:*", ', '"http://localhost:80", '),
            "sites.demo.origins: 'http://localhost:80' is not an origin",
        ),
        (
            DEMO.replace('"http://localhost:*", ', '"https://example.com:99999", '),
            "sites.demo.origins: 'https://example.com:99999' is not an origin",
        ),
        (
            DEMO.replace('"http://localhost:*", ', '"http://localhost:08080", '),
            "sites.demo.origins: 'http://localhost:08080' is not an origin",
        ),
    ],
)
def test_a_broken_sites_file_names_the_file_and_key(tmp_path, text, expected):
    path = _sites_file(tmp_path, text)
    with pytest.raises(SitesFileError) as caught:
        load_sites(path)
    assert str(path) in str(caught.value)
    assert expected in str(caught.value)


def test_a_missing_sites_file_is_named(tmp_path):
    with pytest.raises(SitesFileError, match="sites file not found"):
        load_sites(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("setting", "value", "expected"),
    [
        ("SHIP_BATCH", "many", "CONSENTRY_SHIP_BATCH: must be a positive whole number"),
        ("SPOOL_MAX_BYTES", -5, "CONSENTRY_SPOOL_MAX_BYTES"),
        ("CLICKHOUSE_URL", "mysql://x", "CONSENTRY_CLICKHOUSE_URL: must start with chdb://"),
        ("DATABASE_URL", "oracle://x", "CONSENTRY_DATABASE_URL: only sqlite"),
        ("SECRET_KEYS", "short", "CONSENTRY_SECRET_KEYS: every key must be at least 16"),
        ("PUBLIC_URL", "example.com", "CONSENTRY_PUBLIC_URL"),
        ("PROXY_HOPS", "two", "CONSENTRY_PROXY_HOPS"),
        ("FAST_LANE", "yes", "CONSENTRY_FAST_LANE: must be true or false, got 'yes'"),
        ("SHIP_INTERVAL", float("nan"), "CONSENTRY_SHIP_INTERVAL: must be a number of seconds"),
        ("SHIP_INTERVAL", 0, "CONSENTRY_SHIP_INTERVAL"),
        ("SHUTDOWN_FLUSH_SECONDS", float("inf"), "CONSENTRY_SHUTDOWN_FLUSH_SECONDS"),
        ("SHIP_BATCH", 1.5, "CONSENTRY_SHIP_BATCH: must be a positive whole number, got 1.5"),
        ("SHIP_BATCH", True, "CONSENTRY_SHIP_BATCH"),
        ("MAX_CONTENT_LENGTH", "16k", "CONSENTRY_MAX_CONTENT_LENGTH"),
        (
            "CLICKHOUSE_URL",
            "http://127.0.0.1:8123/events;drop",
            "CONSENTRY_CLICKHOUSE_URL: not a ClickHouse database name: 'events;drop'",
        ),
    ],
)
def test_a_wrong_setting_is_named(tmp_path, setting, value, expected):
    with pytest.raises(ConfigError, match=re.escape(expected)):
        create_app({"DATA_DIR": str(tmp_path), setting: value})


# Flask's from_prefixed_env reads each value as JSON when it can: "1.5" arrives as a float,
# "NaN" and "Infinity" as floats too, "nan" and "inf" as strings.
BAD_ENVIRONMENT = [
    ("SHIP_INTERVAL", "nan"),
    ("SHIP_INTERVAL", "NaN"),
    ("SHIP_INTERVAL", "-Infinity"),
    ("SHIP_INTERVAL", "1e999"),
    ("SHIP_INTERVAL", "1e12"),
    ("SHUTDOWN_FLUSH_SECONDS", "inf"),
    ("SHUTDOWN_FLUSH_SECONDS", "Infinity"),
    ("SHUTDOWN_FLUSH_SECONDS", "0"),
    ("SHIP_BATCH", "1.5"),
    ("SHIP_BATCH", "0"),
    ("SPOOL_MAX_BYTES", "true"),
    ("FAST_LANE", "1"),
    ("MAX_CONTENT_LENGTH", "16384.5"),
    ("CLICKHOUSE_URL", "chdb:///var/lib/consentry/ch?database=bad-name"),
    ("CLICKHOUSE_URL", "https://clickhouse.example:8443/a/b"),
]


@pytest.mark.parametrize(("setting", "value"), BAD_ENVIRONMENT)
def test_a_wrong_environment_setting_stops_start_up(tmp_path, monkeypatch, setting, value):
    monkeypatch.setenv(f"CONSENTRY_{setting}", value)
    with pytest.raises(ConfigError, match=f"^CONSENTRY_{setting}: "):
        create_app({"DATA_DIR": str(tmp_path)})


@pytest.mark.parametrize(
    ("setting", "value", "expected"),
    [
        ("SHIP_INTERVAL", "0.25", 0.25),
        ("SHIP_INTERVAL", "2", 2.0),
        ("SHUTDOWN_FLUSH_SECONDS", "7.5", 7.5),
        ("SHIP_BATCH", "250", 250),
        ("SHIP_BATCH", "1e3", 1000),
        ("MAX_CONTENT_LENGTH", "32768", 32768),
        ("FAST_LANE", "false", False),
    ],
)
def test_a_good_environment_setting_is_read_as_its_type(
    tmp_path, monkeypatch, setting, value, expected
):
    monkeypatch.setenv(f"CONSENTRY_{setting}", value)
    configured = create_app({"DATA_DIR": str(tmp_path)}).config[setting]
    assert configured == expected
    assert type(configured) is type(expected)


def test_a_secret_key_is_generated_privately_once(tmp_path, caplog):
    first = create_app({"DATA_DIR": str(tmp_path)})
    key_file = tmp_path / "secret_key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert "CONSENTRY_SECRET_KEYS is not set" in caplog.text
    second = create_app({"DATA_DIR": str(tmp_path)})
    assert first.config["SECRET_KEYS"] == second.config["SECRET_KEYS"]
    assert len(first.config["SECRET_KEYS"][0]) >= 32


def test_environment_settings_are_read_with_the_prefix(tmp_path, monkeypatch):
    monkeypatch.setenv(
        "CONSENTRY_SECRET_KEYS", "new-key-0123456789abcdef, old-key-0123456789abcdef"
    )
    monkeypatch.setenv("CONSENTRY_SHIP_BATCH", "500")
    app = create_app({"DATA_DIR": str(tmp_path)})
    assert app.config["SECRET_KEYS"] == ["new-key-0123456789abcdef", "old-key-0123456789abcdef"]
    assert app.config["SHIP_BATCH"] == 500


def test_the_cli_refuses_to_start_with_a_broken_sites_file(tmp_path):
    path = _sites_file(tmp_path, DEMO.replace("accept_days = 180", "accept_days = 'long'"))
    env = {
        **os.environ,
        "CONSENTRY_DATA_DIR": str(tmp_path / "data"),
        "CONSENTRY_SITES_FILE": str(path),
    }
    consentry = Path(sys.executable).parent / "consentry"
    result = subprocess.run(
        [str(consentry), "keys", "list"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert str(path) in result.stderr
    assert "sites.demo.lifetime.accept_days" in result.stderr


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("SHIP_INTERVAL", "nan"),
        ("SHUTDOWN_FLUSH_SECONDS", "inf"),
        ("SHIP_BATCH", "1.5"),
        ("CLICKHOUSE_URL", "http://127.0.0.1:8123/no-such-db"),
    ],
)
def test_the_cli_names_a_wrong_setting_in_one_line(tmp_path, setting, value):
    env = {
        **os.environ,
        "CONSENTRY_DATA_DIR": str(tmp_path / "data"),
        "CONSENTRY_SECRET_KEYS": "cli-test-key-0123456789abcdef",
        f"CONSENTRY_{setting}": value,
    }
    consentry = Path(sys.executable).parent / "consentry"
    result = subprocess.run(
        [str(consentry), "keys", "list"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith(f"consentry: configuration error: CONSENTRY_{setting}: ")
