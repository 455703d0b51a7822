"""The report API and CLI: the rollup numbers as JSON and CSV, keys, bad parameters, and
a CLI that still answers while a running server holds the embedded engine."""

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from events_support import ROOT, service, subprocess_env
from factories import ORIGIN, post_decision

from core.keys import create_key

REPORT = "/api/v1/reports/consent-rates"


@pytest.fixture
def key(app):
    with app.app_context():
        return create_key("reports")


def _decide_and_ship(app, client, **choices):
    response = post_decision(client, choices=choices)
    assert response.status_code == 201
    client.post("/api/v1/sites/demo/impressions", json={"language": "en"},
                headers={"Origin": ORIGIN})  # fmt: skip
    assert app.extensions["events"].flush(timeout=30)


def test_a_decision_through_the_api_is_in_the_report_as_json_and_csv(app, client, key):
    _decide_and_ship(app, client, preferences=True, analytics=False, marketing=False)
    auth = {"Authorization": f"Bearer {key}"}
    answer = client.get(f"{REPORT}?site=demo", headers=auth)
    assert answer.status_code == 200
    (row,) = answer.json["rows"]
    assert (row["impressions"], row["decisions"], row["visitors"]) == (1, 1, 1)
    assert row["categories"]["preferences"]["opt_ins"] == 1
    assert row["categories"]["analytics"]["opt_in_rate"] == 0.0
    assert answer.json["group_by"] == []
    assert "day" not in answer.json["from"]

    table = client.get(f"{REPORT}?site=demo&format=csv&group_by=day", headers=auth)
    assert table.mimetype == "text/csv"
    (line,) = list(csv.DictReader(io.StringIO(table.text)))
    assert line["site"] == "demo"
    assert line["impressions"] == "1"
    assert line["categories.preferences.opt_ins"] == "1"
    assert "region" not in line


@pytest.mark.parametrize(
    ("query", "code"),
    [("from=0", 400), ("to=2026-02-30", 400), ("group_by=week", 400), ("format=xml", 400),
     ("site=Not%20A%20Site", 400)],
)  # fmt: skip
def test_bad_parameters_are_400_with_a_message(client, key, query, code):
    answer = client.get(f"{REPORT}?{query}", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == code
    assert answer.json["error"]["code"] == "invalid_parameter"


def test_reports_need_an_api_key(client):
    answer = client.get(REPORT)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")


def test_the_cli_reads_the_rollups_itself(app, client, runner):
    _decide_and_ship(app, client, preferences=True, analytics=True, marketing=True)
    app.extensions["events"].stop(timeout=1)
    result = runner.invoke(args=["report", "consent-rates", "--site", "demo", "--format", "json"])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)["rows"]
    assert (row["accept_all"] + row["custom"], row["consenting_visitors"]) == (1, 1)
    table = runner.invoke(args=["report", "consent-rates", "--format", "table"])
    assert "visitor_consent_rate" in table.output


def _consentry(env: dict, *args: str) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).parent / "consentry"), *args]
    return subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_the_cli_asks_the_server_that_holds_the_engine(tmp_path):
    data = tmp_path / "data"
    url = f"chdb://{data / 'clickhouse'}"
    with service(data, url) as server:
        env = subprocess_env(
            CONSENTRY_DATA_DIR=str(data),
            CONSENTRY_CLICKHOUSE_URL=url,
            CONSENTRY_SECRET_KEYS="reconcile-test-key-0123456789",
            CONSENTRY_PUBLIC_URL=f"http://127.0.0.1:{server.port}",
        )
        refused = _consentry(env, "report", "consent-rates")
        assert refused.returncode == 1
        assert "held by another process, usually the running Consentry server" in refused.stderr
        assert "--api-key" in refused.stderr
        assert "Traceback" not in refused.stderr + refused.stdout

        key = _consentry(env, "keys", "create", "cli").stdout.strip().splitlines()[-1]
        answered = _consentry(env, "report", "consent-rates", "--format", "json", "--api-key", key)
        assert answered.returncode == 0, answered.stderr
        assert json.loads(answered.stdout)["rows"] == []
        by_env = _consentry(
            {**env, "CONSENTRY_API_KEY": key}, "report", "open-rates", "--format", "json"
        )
        assert by_env.returncode == 0, by_env.stderr
        assert json.loads(by_env.stdout)["group_by"] == []


def test_the_cli_says_to_upgrade_when_the_rollups_are_missing(app, runner):
    store = app.extensions["events"].clickhouse
    store.command("DROP TABLE email_daily")
    result = runner.invoke(args=["report", "open-rates"])
    assert result.exit_code == 1
    assert "run `consentry db upgrade` first" in result.output
