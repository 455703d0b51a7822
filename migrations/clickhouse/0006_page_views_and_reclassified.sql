-- Web beacon page views (SPEC §3.5): one row per page view whose consent id granted
-- analytics at the time and carried no DNT/GPC signal. Neither a consent decision nor an
-- email event, so a table of its own, in the same shape as the raw tables: monthly
-- partitions, the sort key led by site and day, event_id last for uniqExact.
-- consent_id is the visitor's id as consent_events has it (an erasure by consent id covers
-- this table too); path has no query or fragment. ua_family is reset after 30 days, rows
-- are dropped after 400 days.
CREATE TABLE IF NOT EXISTS page_views (
    event_id UUID,
    ts DateTime64(3, 'UTC'),
    site LowCardinality(String),
    consent_id String,
    path String,
    ua_family LowCardinality(String) TTL toDateTime(ts) + INTERVAL 30 DAY
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (site, toDate(ts), event_id)
TTL toDateTime(ts) + INTERVAL 400 DAY
SETTINGS non_replicated_deduplication_window = 10000;

-- Corrections of email_events' classes (pixel.recording): when a scanner's burst shows
-- itself (a honeypot click, every link at once), the message's earlier hits in that burst
-- were already spooled as human or bot. Events are never rewritten: one row here per
-- earlier event, named by its event_id, says it was a security_scanner and why
-- (burst:honeypot_link, burst:all_links, burst:send_time). An event's class is this
-- table's when it has a row here, else its own:
--   SELECT e.event_id, if(r.event_id = e.event_id, r.agent_class, e.agent_class) ...
--   FROM email_events AS e LEFT JOIN email_reclassified AS r USING event_id
-- No recipient: the message id is the one its pixel and links carry.
CREATE TABLE IF NOT EXISTS email_reclassified (
    event_id UUID,
    ts DateTime64(3, 'UTC'),
    campaign LowCardinality(String),
    message_id String,
    agent_class LowCardinality(String),
    agent_reason LowCardinality(String)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (campaign, toDate(ts), event_id)
TTL toDateTime(ts) + INTERVAL 400 DAY
SETTINGS non_replicated_deduplication_window = 10000;
