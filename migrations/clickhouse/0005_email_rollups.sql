-- Open, click and unsubscribe rates without scanning raw events: one rollup per campaign,
-- send day and event day, fed by a materialized view from email_events. The migration
-- runner (events/schema.py) follows the view with INSERT INTO email_daily of the same
-- SELECT: rows stored before it are rolled up too.
--
-- A message belongs to the day it was sent (send_day, from sent_at, which every email
-- event carries); `day` is when the event happened, so a report can follow a send day's
-- messages over the days after it. Counts are uniqExact states, never sums: a replayed
-- batch, the back-fill overlapping the view, or partial rows merged later leave every
-- number unchanged. Read them with uniqExactMerge (docs/analytics.md has ready queries).
-- No recipient is a column here; `messages` holds 128-bit hashes of message ids (how
-- uniqExact keeps strings), which in aggregate mode belong to no recipient at all.
CREATE TABLE IF NOT EXISTS email_daily (
    campaign LowCardinality(String),
    send_day Date,
    day Date,
    kind LowCardinality(String),
    agent_class LowCardinality(String),
    tracking LowCardinality(String),
    events AggregateFunction(uniqExact, UUID),
    messages AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(send_day)
ORDER BY (campaign, send_day, day, kind, agent_class, tracking);

CREATE MATERIALIZED VIEW IF NOT EXISTS email_daily_mv TO email_daily AS
SELECT
    campaign,
    toDate(ifNull(sent_at, ts)) AS send_day,
    toDate(ts) AS day,
    kind,
    agent_class,
    tracking,
    uniqExactState(event_id) AS events,
    uniqExactStateIf(message_id, message_id != '') AS messages
FROM email_events
GROUP BY campaign, send_day, day, kind, agent_class, tracking;
