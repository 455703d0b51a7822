-- Operational counters: hits the pipeline dropped, by source (consent, pixel, ...) and named
-- reason. Anonymous by design: no site visitor, recipient or IP data.
-- SummingMergeTree folds rows of one day, source and reason into one at merge time, so
-- always read sum(hits). The deduplication window makes a replayed batch a no-op.
CREATE TABLE IF NOT EXISTS dropped_hits (
    ts DateTime('UTC'),
    source LowCardinality(String),
    reason LowCardinality(String),
    hits UInt64
)
ENGINE = SummingMergeTree(hits)
PARTITION BY toYYYYMM(ts)
ORDER BY (toDate(ts), source, reason)
SETTINGS non_replicated_deduplication_window = 10000;
