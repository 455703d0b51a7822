-- Consent rates without scanning raw events: rollups per site, day and region, fed by
-- materialized views from consent_events (an insert trigger: each inserted block is
-- aggregated on its way in). The migration runner (events/schema.py) follows each view
-- with INSERT INTO its table of the same SELECT: rows stored before it are rolled up too.
--
-- Every count is a uniqExact state over ids, never a sum: a replayed batch, the back-fill
-- overlapping the view, or two partial rows of one key merged later all leave a number
-- unchanged. Read them with uniqExactMerge (docs/analytics.md has ready queries).
-- No visitor id is a column here. The visitor states hold 128-bit hashes of consent ids
-- (how uniqExact keeps strings), so that distinct visitors stay exact over any date range.

-- One row per site, day, region, kind (impression or decision) and action (empty for an
-- impression). consenting = a decision that grants at least one optional category;
-- signal = DNT or GPC was on.
CREATE TABLE IF NOT EXISTS consent_daily (
    site LowCardinality(String),
    day Date,
    region LowCardinality(String),
    kind LowCardinality(String),
    action LowCardinality(String),
    events AggregateFunction(uniqExact, UUID),
    signal_events AggregateFunction(uniqExact, UUID),
    consenting_events AggregateFunction(uniqExact, UUID),
    visitors AggregateFunction(uniqExact, String),
    consenting_visitors AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (site, day, region, kind, action);

CREATE MATERIALIZED VIEW IF NOT EXISTS consent_daily_mv TO consent_daily AS
SELECT
    site,
    toDate(ts) AS day,
    region,
    kind,
    action,
    uniqExactState(event_id) AS events,
    uniqExactStateIf(event_id, dnt = 1 OR gpc = 1) AS signal_events,
    uniqExactStateIf(event_id, arrayExists(c -> c != 'necessary', granted)) AS consenting_events,
    uniqExactStateIf(consent_id, consent_id != '') AS visitors,
    uniqExactStateIf(
        consent_id, consent_id != '' AND arrayExists(c -> c != 'necessary', granted)
    ) AS consenting_visitors
FROM consent_events
GROUP BY site, day, region, kind, action;


-- Opt-in per optional category: one row per site, day, region and category a decision
-- answered (granted or denied; `necessary` is always granted and left out).
CREATE TABLE IF NOT EXISTS consent_category_daily (
    site LowCardinality(String),
    day Date,
    region LowCardinality(String),
    category LowCardinality(String),
    decisions AggregateFunction(uniqExact, UUID),
    opt_ins AggregateFunction(uniqExact, UUID),
    visitors AggregateFunction(uniqExact, String),
    opted_in_visitors AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (site, day, region, category);

CREATE MATERIALIZED VIEW IF NOT EXISTS consent_category_daily_mv TO consent_category_daily AS
SELECT
    site,
    toDate(ts) AS day,
    region,
    category,
    uniqExactState(event_id) AS decisions,
    uniqExactStateIf(event_id, has(granted, category)) AS opt_ins,
    uniqExactStateIf(consent_id, consent_id != '') AS visitors,
    uniqExactStateIf(consent_id, consent_id != '' AND has(granted, category)) AS opted_in_visitors
FROM consent_events
ARRAY JOIN arrayDistinct(arrayConcat(granted, denied)) AS category
WHERE kind = 'decision' AND category != 'necessary'
GROUP BY site, day, region, category;
