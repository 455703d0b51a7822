-- Open, click and unsubscribe rates without scanning raw events: one row per campaign and
-- send day, fed by a materialized view from email_events. The migration runner
-- (events/schema.py) follows the view with INSERT INTO email_daily of the same SELECT:
-- rows stored before it are rolled up too.
--
-- A message belongs to the day it was sent (send_day, from sent_at, which every email
-- event of a message carries; an event without one counts on its own day). Each column
-- is the uniqExact state of one number, filtered on the way in, so a report only reads
-- the states it shows: message ids for per-message numbers, event ids for hits. States,
-- never sums: a replayed batch, the back-fill overlapping the view, or rows of one key
-- in several parts leave every number unchanged. Since a message has one send day, the
-- numbers of several send days add up (the report sums finalized states per send day).
-- No recipient is a column here. Message states hold 128-bit hashes of message ids (how
-- uniqExact keeps strings); in aggregate mode those belong to no recipient at all.
-- human_opened: a person opened it (agent class human, or a mail proxy fetching for one);
-- engaged: human_opened, or a human click (the headline: engagement rate).
CREATE TABLE IF NOT EXISTS email_daily (
    campaign LowCardinality(String),
    send_day Date,
    sent AggregateFunction(uniqExact, String),
    aggregate_sent AggregateFunction(uniqExact, String),
    open_events AggregateFunction(uniqExact, UUID),
    opened AggregateFunction(uniqExact, String),
    opened_human AggregateFunction(uniqExact, String),
    opened_mail_proxy AggregateFunction(uniqExact, String),
    opened_apple_mpp AggregateFunction(uniqExact, String),
    opened_security_scanner AggregateFunction(uniqExact, String),
    opened_bot AggregateFunction(uniqExact, String),
    human_opened AggregateFunction(uniqExact, String),
    engaged AggregateFunction(uniqExact, String),
    click_events AggregateFunction(uniqExact, UUID),
    clicked AggregateFunction(uniqExact, String),
    human_clicked AggregateFunction(uniqExact, String),
    unsubscribed AggregateFunction(uniqExact, String),
    tracking_opted_out AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(send_day)
ORDER BY (campaign, send_day);

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
    uniqExactStateIf(message_id, kind = 'tracking_optout') AS tracking_opted_out
FROM email_events
WHERE message_id != ''
GROUP BY campaign, send_day;
