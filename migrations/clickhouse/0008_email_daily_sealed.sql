-- Sealed counts: the email rollup's numbers finalized once, so the open-rate report reads
-- plain counts instead of rebuilding every uniqExact set at every request
-- (analytics/sealing.py; docs/analytics.md, "Sealed counts"; docs/performance.md §6).
--
-- email_daily.changes tells whether a key's states moved since they were sealed: every
-- row the view (or the back-fill, or a recount) writes carries a random 64-bit number,
-- and rows of a key merge by XOR. Any new row of a key, a deleted one, or a recount gives
-- the key another value (the same one again only by a 1 in 2^64 chance); a row and its
-- states are written in one part, so a read sees both or neither. Rows stored before this
-- migration have 0, and the back-fill below gives every key a new value: all are sealed
-- afresh. The view is created again with the column last: INSERT … SELECT (the back-fill
-- and analytics.corrections' recount) fills columns by position.
ALTER TABLE email_daily
    ADD COLUMN IF NOT EXISTS changes SimpleAggregateFunction(groupBitXor, UInt64);

DROP VIEW IF EXISTS email_daily_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS email_daily_mv TO email_daily AS
SELECT
    campaign,
    toDate(ifNull(sent_at, ts)) AS send_day,
    uniqExactStateIf(message_id, kind = 'sent') AS sent,
    uniqExactStateIf(message_id, kind = 'sent' AND tracking = 'aggregate') AS aggregate_sent,
    uniqExactStateIf(event_id, kind = 'open') AS open_events,
    uniqExactStateIf(message_id, kind = 'open') AS opened,
    uniqExactStateIf(message_id, kind = 'open' AND agent_class = 'human') AS opened_human,
    uniqExactStateIf(message_id, kind = 'open' AND agent_class = 'mail_proxy') AS opened_mail_proxy,
    uniqExactStateIf(message_id, kind = 'open' AND agent_class = 'apple_mpp') AS opened_apple_mpp,
    uniqExactStateIf(message_id, kind = 'open' AND agent_class = 'security_scanner')
        AS opened_security_scanner,
    uniqExactStateIf(message_id, kind = 'open' AND agent_class = 'bot') AS opened_bot,
    uniqExactStateIf(message_id, kind = 'open' AND agent_class IN ('human', 'mail_proxy'))
        AS human_opened,
    uniqExactStateIf(
        message_id,
        (kind = 'open' AND agent_class IN ('human', 'mail_proxy'))
        OR (kind = 'click' AND agent_class = 'human')
    ) AS engaged,
    uniqExactStateIf(event_id, kind = 'click') AS click_events,
    uniqExactStateIf(message_id, kind = 'click') AS clicked,
    uniqExactStateIf(message_id, kind = 'click' AND agent_class = 'human') AS human_clicked,
    uniqExactStateIf(message_id, kind = 'unsubscribe') AS unsubscribed,
    uniqExactStateIf(message_id, kind = 'tracking_optout') AS tracking_opted_out,
    groupBitXor(rand64()) AS changes
FROM email_events
WHERE message_id != ''
GROUP BY campaign, send_day;

-- One row per campaign and send day, as sealed: the key's changes value then and each
-- number of email_daily finalized (the same names). A report takes a key's numbers from
-- here only when its changes value still equals email_daily's; any other key is counted
-- from the states. The latest seal of a key replaces the earlier ones (sealed_at). No
-- recipient here: counts only.
CREATE TABLE IF NOT EXISTS email_daily_sealed (
    campaign LowCardinality(String),
    send_day Date,
    changes UInt64,
    sent UInt64,
    aggregate_sent UInt64,
    open_events UInt64,
    opened UInt64,
    opened_human UInt64,
    opened_mail_proxy UInt64,
    opened_apple_mpp UInt64,
    opened_security_scanner UInt64,
    opened_bot UInt64,
    human_opened UInt64,
    engaged UInt64,
    click_events UInt64,
    clicked UInt64,
    human_clicked UInt64,
    unsubscribed UInt64,
    tracking_opted_out UInt64,
    sealed_at DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree(sealed_at)
PARTITION BY toYYYYMM(send_day)
ORDER BY (campaign, send_day);
