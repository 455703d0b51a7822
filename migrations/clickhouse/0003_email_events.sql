-- Raw email events: sent, open, click, unsubscribe, tracking_optout; one row each, shipped
-- from the spool. Monthly partitions keep TTL drops cheap; the sort key serves per-campaign,
-- per-day reports, and event_id ends it so rollups can count uniqExact over a sorted stream.
-- message_id is the id a message's pixel and links carry: in aggregate mode a random one
-- with no recipient behind it. recipient is a keyed hash (the recipient's pseudonym), never
-- the sending system's id or an address; empty in aggregate and none modes.
-- sent_at is the message's send time, so "seconds since send" needs no join.
-- agent_class is human, mail_proxy, apple_mpp, security_scanner or bot (opens and clicks);
-- method is one_click, page, mailto or api (unsubscribes and opt-outs).
-- non_replicated_deduplication_window makes a replayed batch (same insert_deduplication_token)
-- a no-op; plain MergeTree has it off by default.
-- user_agent, ua_family and ip_prefix are reset after 30 days, rows dropped after 400 days.
CREATE TABLE IF NOT EXISTS email_events (
    event_id UUID,
    ts DateTime64(3, 'UTC'),
    kind LowCardinality(String),
    site LowCardinality(String),
    campaign LowCardinality(String),
    list LowCardinality(String),
    message_id String,
    recipient String,
    tracking LowCardinality(String),
    sent_at Nullable(DateTime64(3, 'UTC')),
    agent_class LowCardinality(String),
    agent_reasons Array(LowCardinality(String)),
    url String,
    method LowCardinality(String),
    user_agent String TTL toDateTime(ts) + INTERVAL 30 DAY,
    ua_family LowCardinality(String) TTL toDateTime(ts) + INTERVAL 30 DAY,
    ip_prefix String TTL toDateTime(ts) + INTERVAL 30 DAY
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (campaign, toDate(ts), kind, event_id)
TTL toDateTime(ts) + INTERVAL 400 DAY
SETTINGS non_replicated_deduplication_window = 10000;
