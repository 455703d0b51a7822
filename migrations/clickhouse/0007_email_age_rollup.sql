-- The open curve of a campaign (how many of its messages were opened, by a person or at
-- all, within N days of the send) without scanning raw events: one row per campaign, send
-- day and age, the whole days from the send day to the day of the open or click (an
-- event without a send time has age 0, as it counts on its own day in email_daily).
-- Like email_daily it holds uniqExact states of message ids, so a replayed batch or the
-- back-fill overlapping the view changes nothing, and merging the states of ages 0..N
-- counts each message once however many days it was opened on. No recipient here.
CREATE TABLE IF NOT EXISTS email_age_daily (
    campaign LowCardinality(String),
    send_day Date,
    age UInt16,
    opened AggregateFunction(uniqExact, String),
    human_opened AggregateFunction(uniqExact, String),
    engaged AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(send_day)
ORDER BY (campaign, send_day, age);

CREATE MATERIALIZED VIEW IF NOT EXISTS email_age_daily_mv TO email_age_daily AS
SELECT
    campaign,
    toDate(ifNull(sent_at, ts)) AS send_day,
    toUInt16(greatest(dateDiff('day', toDate(ifNull(sent_at, ts)), toDate(ts)), 0)) AS age,
    uniqExactStateIf(message_id, kind = 'open') AS opened,
    uniqExactStateIf(message_id, kind = 'open' AND agent_class IN ('human', 'mail_proxy'))
        AS human_opened,
    uniqExactStateIf(
        message_id,
        (kind = 'open' AND agent_class IN ('human', 'mail_proxy'))
        OR (kind = 'click' AND agent_class = 'human')
    ) AS engaged
FROM email_events
WHERE message_id != '' AND kind IN ('open', 'click')
GROUP BY campaign, send_day, age;
