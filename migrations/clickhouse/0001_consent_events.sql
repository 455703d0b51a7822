-- Raw banner events: one row per impression or decision, shipped from the spool.
-- Monthly partitions keep TTL drops cheap; the sort key serves per-site, per-day reports.
-- event_id ends the key so rollups can count uniqExact(event_id) over a sorted stream.
-- non_replicated_deduplication_window makes a replayed batch (same insert_deduplication_token)
-- a no-op; plain MergeTree has it off by default.
-- ua_family and ip_prefix are reset after 30 days, rows are dropped after 400 days.
CREATE TABLE IF NOT EXISTS consent_events (
    event_id UUID,
    ts DateTime64(3, 'UTC'),
    site LowCardinality(String),
    kind LowCardinality(String),
    action LowCardinality(String),
    consent_id String,
    granted Array(LowCardinality(String)),
    denied Array(LowCardinality(String)),
    lifetime LowCardinality(String),
    policy_version LowCardinality(String),
    language LowCardinality(String),
    region LowCardinality(String),
    region_rule LowCardinality(String),
    region_model LowCardinality(String),
    dnt UInt8,
    gpc UInt8,
    ua_family LowCardinality(String) TTL toDateTime(ts) + INTERVAL 30 DAY,
    ip_prefix String TTL toDateTime(ts) + INTERVAL 30 DAY,
    page_origin String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (site, toDate(ts), kind, event_id)
TTL toDateTime(ts) + INTERVAL 400 DAY
SETTINGS non_replicated_deduplication_window = 10000;
