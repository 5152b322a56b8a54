-- ferry.settle_message_status: its current definition, the only one to edit (sql/README.md).
-- The message's own status once no group is waiting any more: ACKNOWLEDGED when every group
-- acknowledged; FAILED when a group failed for good; EXPIRED when a group gave up waiting and
-- none failed. A message some group still waits on (SENT deliveries) stays SENT. Used by the retry
-- job after it closes deliveries, and by re-drives (which reopen them) through the same rule.
--
-- History: created by 005_retry.sql; unchanged since.
CREATE OR REPLACE FUNCTION ferry.settle_message_status(p_ids bigint[])
RETURNS void
LANGUAGE sql AS $$
    UPDATE ferry.outbox_message o
       SET status = s.status,
           processed_at = CASE WHEN s.status = 'SENT' THEN NULL ELSE clock_timestamp() END
      FROM (SELECT d.message_id,
                   CASE WHEN bool_or(d.status IN ('SENT', 'PENDING')) THEN 'SENT'
                        WHEN bool_or(d.status = 'FAILED') THEN 'FAILED'
                        WHEN bool_or(d.status = 'EXPIRED') THEN 'EXPIRED'
                        ELSE 'ACKNOWLEDGED' END AS status
              FROM ferry.message_delivery d
             WHERE d.message_id = ANY(p_ids)
             GROUP BY d.message_id) s
     WHERE o.id = s.message_id AND o.status <> 'PENDING' AND o.status <> s.status
$$;
