"""Analytics: report queries over the ClickHouse rollups, the report API and CLI.

The app shell calls :func:`init_app`. Everything here reads rollups through the event
store (``app.extensions["events"].clickhouse``); nothing reads either half's SQL tables.
Corrections of email events' classes are recounted into the rollups as they are shipped
(:mod:`analytics.corrections`), and the email rollup's changed keys are sealed every few
seconds (:mod:`analytics.sealing`).
"""

from flask import Flask

from analytics import api, cli, openapi, sealing
from analytics.corrections import CORRECTIONS, SETTLE_SECONDS, RollupRefresher


def init_app(app: Flask) -> None:
    """Add the report API, its operations, the ``report`` commands, the recount of the
    rollups that follows each shipped batch of corrections, and the sealing of the email
    rollup's changed keys (a periodic task of the shipper thread; not on a cluster)."""
    app.register_blueprint(api.bp)
    app.extensions["openapi"].add(openapi.OPERATIONS)
    app.cli.add_command(cli.report_cli)
    pipeline = app.extensions["events"]
    # The embedded engine is shipped to by one process, whose recounts never overlap.
    several = not pipeline.clickhouse.embedded
    refresher = RollupRefresher(
        pipeline.clickhouse,
        pipeline.schema_dir,
        cluster=pipeline.cluster,
        retention_days=pipeline.retention.events_days,
        settle=SETTLE_SECONDS if several else None,
    )
    pipeline.after_shipping(CORRECTIONS, refresher)
    if several:
        pipeline.add_periodic("settle_email_rollups", refresher.settle, SETTLE_SECONDS)
    app.extensions["analytics.refresher"] = refresher
    if pipeline.cluster is None:
        sealer = sealing.Sealer(pipeline.clickhouse)
        pipeline.add_periodic("seal_email_rollup", sealer, sealing.SEAL_SECONDS)
