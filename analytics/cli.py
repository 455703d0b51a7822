"""``consentry report consent-rates|open-rates``: the report API's numbers in a terminal;
``consentry report refresh``: recount the email rollups with every correction applied.

The embedded engine (chdb) opens its data path in one process only. While a server runs
on it, this command cannot read ClickHouse itself, so it asks the server's report API
(with an API key) instead; without a key it says what to do, never a lock traceback.
"""

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

import click
from clickhouse_connect.driver.exceptions import DatabaseError
from flask import current_app
from flask.cli import AppGroup
from pydantic import ValidationError

from analytics import reports, sealing
from analytics.render import report_rows, to_csv, to_table
from analytics.schemas import ConsentRatesParams, OpenRatesParams, ReportParams
from core.errors import ConsentryError
from core.validation import describe
from events.protocols import EventStore

report_cli = AppGroup("report", help="Print a report: consent rates or open rates.")

TIMEOUT = 60.0
ENGINE_HELD = "Unable to open the chdb engine"  # chdb's words for "another process has it"


def _options(subject: str, group_by: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(
            [
                click.option(f"--{subject}", default=None, help=f"Only this {subject}."),
                click.option("--from", "start", default=None, help="First day, YYYY-MM-DD."),
                click.option("--to", "end", default=None, help="Last day, YYYY-MM-DD."),
                click.option("--group-by", default=None, help=f"Also group by {group_by}."),
                click.option(
                    "--format",
                    "output",
                    type=click.Choice(["table", "csv", "json"]),
                    default="table",
                    show_default=True,
                ),
                click.option(
                    "--server",
                    default=None,
                    help="Ask this Consentry server's API (default: CONSENTRY_PUBLIC_URL "
                    "when the embedded engine is held by a running server).",
                ),
                click.option(
                    "--api-key",
                    envvar="CONSENTRY_API_KEY",
                    default=None,
                    help="API key for --server (or CONSENTRY_API_KEY).",
                ),
            ]
        ):
            command = option(command)
        return command

    return decorate


@report_cli.command("consent-rates")
@_options("site", "day, region or day,region")
def consent_rates(site, start, end, group_by, output, server, api_key) -> None:
    """Consent rates per site: per impression, per visitor, per category."""
    args = {"site": site, "from": start, "to": end, "group_by": group_by}
    _report(
        "consent-rates", ConsentRatesParams, args, reports.consent_report, output, server, api_key
    )


@report_cli.command("open-rates")
@_options("campaign", "day (the send day)")
def open_rates(campaign, start, end, group_by, output, server, api_key) -> None:
    """Email rates per campaign: sent, opens by agent class, engagement, clicks, unsubscribes."""
    args = {"campaign": campaign, "from": start, "to": end, "group_by": group_by}
    _report("open-rates", OpenRatesParams, args, reports.open_report, output, server, api_key)


@report_cli.command("refresh")
@click.option("--campaign", default=None, help="Only this campaign.")
@click.option(
    "--from",
    "start",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="First send day (default: the oldest whose raw events are kept).",
)
@click.option("--to", "end", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Last send day (default: today).")  # fmt: skip
def refresh(campaign, start, end) -> None:
    """Recount the email rollups of a range from the raw events, corrections applied,
    and seal the recounted send days' numbers.

    The server does this as corrections arrive; run it once for corrections recorded by a
    release before that, or after repairing raw events by hand.
    """
    pipeline = current_app.extensions["events"]
    today = datetime.now(UTC).date()
    last: date = end.date() if end else today
    first: date = start.date() if start else today - timedelta(pipeline.retention.events_days - 1)
    refresher = current_app.extensions["analytics.refresher"]
    try:
        done = refresher.refresh(refresher.keys_between(first, last, campaign))
        if pipeline.cluster is None:  # nothing is sealed on a cluster (analytics.sealing)
            sealing.seal(pipeline.clickhouse)
    except DatabaseError as e:
        if ENGINE_HELD not in str(e):
            raise
        raise click.ClickException(
            "the embedded ClickHouse engine is held by another process, usually the running "
            "Consentry server: stop it first (it recounts corrections itself as they arrive)"
        ) from None
    finally:
        pipeline.clickhouse.close()
    click.echo(f"recounted {len(done)} campaign send days from {first} to {last}")


def _report(name, model: type[ReportParams], args, build, output, server, api_key) -> None:
    args = {k: v for k, v in args.items() if v is not None}
    if server is not None:
        document = _ask_server(server, name, args, api_key)
    else:
        document = _read_locally(model, args, build, name, api_key)
    if output == "json":
        click.echo(json.dumps(document, indent=2))
    elif output == "csv":
        click.echo(to_csv(report_rows(document)), nl=False)
    else:
        click.echo(to_table(report_rows(document)))


def _read_locally(model, args, build, name, api_key) -> dict[str, Any]:
    try:
        params = model.model_validate(args)
        query = reports.report_query(params, datetime.now(UTC).date())
    except ValidationError as e:
        raise click.UsageError(describe(e)) from e
    except ConsentryError as e:
        raise click.UsageError(e.message) from e
    store: EventStore = current_app.extensions["events"].clickhouse
    if build is reports.open_report:
        sharded = current_app.config["CLICKHOUSE_CLUSTER"] is not None
        build = partial(reports.open_report, sharded=sharded)
    try:
        return build(store, query).model_dump(mode="json", by_alias=True)
    except DatabaseError as e:
        if "UNKNOWN_TABLE" in str(e):
            raise click.ClickException(
                "ClickHouse has no rollup tables yet: run `consentry db upgrade` first"
            ) from None
        if ENGINE_HELD not in str(e):
            raise
        if api_key:
            return _ask_server(current_app.config["PUBLIC_URL"], name, args, api_key)
        raise click.ClickException(
            "the embedded ClickHouse engine is held by another process, usually the running "
            "Consentry server "
            "(it opens its data path in one process only). Ask the server instead: "
            f"`consentry report {name} --api-key KEY` (a key from `consentry keys create "
            "NAME`, or CONSENTRY_API_KEY; the server is found at CONSENTRY_PUBLIC_URL="
            f"{current_app.config['PUBLIC_URL']}, or give --server URL), or stop the server."
        ) from None
    finally:
        current_app.extensions["events"].clickhouse.close()


def _ask_server(server: str, name: str, args: dict[str, str], api_key: str | None) -> dict:
    if not api_key:
        raise click.UsageError("--server needs an API key: --api-key KEY or CONSENTRY_API_KEY")
    if not server.startswith(("http://", "https://")):
        raise click.UsageError(f"--server must be an http(s) URL, got {server!r}")
    url = f"{server.rstrip('/')}/api/v1/reports/{name}?{urllib.parse.urlencode(args)}"
    # Only http(s), checked above: S310 warns about file: and custom schemes.
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {api_key}"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:  # noqa: S310
            return json.load(answer)
    except urllib.error.HTTPError as e:
        raise click.ClickException(f"{url}: {e.code} {_error_message(e)}") from None
    except (urllib.error.URLError, OSError) as e:
        raise click.ClickException(f"cannot reach the Consentry server at {server}: {e}") from None


def _error_message(error: urllib.error.HTTPError) -> str:
    try:
        return json.load(error)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return error.reason
