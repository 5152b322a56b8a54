-- A producer database at version 4 with one delivery in each state the retry job tells apart.
-- Message ids 1..6; group 'g' needs acknowledgments (30 s timeout, 3 retries), 'quiet' does not.
INSERT INTO ferry.topic_registration (topic_name) VALUES ('upgrade-005');
INSERT INTO ferry.consumer_group_registration
       (topic_registration_id, consumer_group_name, acknowledgment_timeout_seconds, max_retries,
        requires_acknowledgment)
SELECT t.id, v.name, 30, 3, v.ack
  FROM ferry.topic_registration t, (VALUES ('g', true), ('quiet', false)) v(name, ack)
 WHERE t.topic_name = 'upgrade-005';
INSERT INTO ferry.outbox_message (id, topic, message_key, payload, status, sent_at)
OVERRIDING SYSTEM VALUE
SELECT i, 'upgrade-005', 'k' || i, 'payload ' || i, 'SENT', now() - interval '1 hour'
  FROM generate_series(1, 6) i;
INSERT INTO ferry.message_delivery
       (message_id, consumer_group_id, consumer_group, status, sent_at, retry_count,
        last_retry_at, negative_ack_at, scheduled_retry_at)
SELECT v.id, g.id, g.consumer_group_name, v.status, now() - v.sent_ago, v.retries,
       now() - v.retry_ago, now() - v.nack_ago, now() + v.scheduled_in
  FROM ferry.consumer_group_registration g,
       (VALUES
        -- 1: sent 10 s ago, waiting for its acknowledgment
        (1, 'SENT', interval '10 seconds', 0, NULL::interval, NULL::interval, NULL::interval),
        -- 2: sent an hour ago, never acknowledged: overdue
        (2, 'SENT', interval '1 hour', 0, NULL, NULL, NULL),
        -- 3: retried once, negatively acknowledged, its backoff ends in 5 minutes
        (3, 'SENT', interval '1 hour', 1, interval '1 minute', interval '30 seconds',
         interval '5 minutes'),
        -- 4: the same with the budget spent: its verdict (FAILED) is due now
        (4, 'SENT', interval '1 hour', 3, interval '1 minute', interval '30 seconds',
         interval '5 minutes'),
        -- 5: retried once and negatively acknowledged, no backoff recorded: due at once
        (5, 'SENT', interval '1 hour', 1, interval '1 minute', interval '30 seconds', NULL),
        -- 6: acknowledged
        (6, 'ACKNOWLEDGED', interval '1 hour', 0, NULL, NULL, NULL))
       AS v(id, status, sent_ago, retries, retry_ago, nack_ago, scheduled_in)
 WHERE g.consumer_group_name = 'g';
-- The group that needs no acknowledgment has a SENT row too (it was changed after the send).
INSERT INTO ferry.message_delivery (message_id, consumer_group_id, consumer_group, status, sent_at)
SELECT 1, g.id, g.consumer_group_name, 'SENT', now() - interval '1 hour'
  FROM ferry.consumer_group_registration g WHERE g.consumer_group_name = 'quiet';
