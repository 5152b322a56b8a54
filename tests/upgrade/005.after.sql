-- Every outstanding delivery got the due_at of its state; each query prints what is wrong.
SELECT 'schema_version does not record migration 5'
 WHERE NOT EXISTS (SELECT 1 FROM ferry.schema_version WHERE component = 'producer' AND version = 5);
SELECT format('message %s group %s: due_at %s, expected %s', d.message_id, d.consumer_group,
              d.due_at, e.want)
  FROM ferry.message_delivery d
  JOIN (VALUES
        (1, 'g', (SELECT sent_at + interval '30 seconds' FROM ferry.message_delivery
                   WHERE message_id = 1 AND consumer_group = 'g')),
        (2, 'g', (SELECT sent_at + interval '30 seconds' FROM ferry.message_delivery
                   WHERE message_id = 2 AND consumer_group = 'g')),
        (3, 'g', (SELECT scheduled_retry_at FROM ferry.message_delivery
                   WHERE message_id = 3 AND consumer_group = 'g')),
        (4, 'g', (SELECT negative_ack_at FROM ferry.message_delivery
                   WHERE message_id = 4 AND consumer_group = 'g')),
        (5, 'g', (SELECT negative_ack_at FROM ferry.message_delivery
                   WHERE message_id = 5 AND consumer_group = 'g')),
        (1, 'quiet', 'infinity'::timestamptz)) AS e(id, grp, want)
    ON d.message_id = e.id AND d.consumer_group = e.grp
 WHERE d.due_at IS DISTINCT FROM e.want;
-- Due now: 2 (overdue), 4 (verdict), 5 (nack); not 1 (waiting), 3 (backoff), quiet's.
SELECT format('due now: %s, expected {2,4,5}', array_agg(message_id ORDER BY message_id))
  FROM ferry.message_delivery WHERE status = 'SENT' AND due_at <= now()
HAVING array_agg(message_id ORDER BY message_id) <> '{2,4,5}';
