-- ferry.retry_settle_spent: its current definition, the only one to edit (sql/README.md).
-- The retry job's verdicts: deliveries due for another attempt whose group's retry budget is
-- spent (max_retries >= 0 and retry_count >= max_retries) become FAILED when the last attempt
-- was negatively acknowledged (its error kept) or EXPIRED when it was not acknowledged in time.
-- Locks the messages first (the order ferry.acknowledge uses) and skips those another job or an
-- acknowledgment holds, so several producer instances can run it at once. Reads due deliveries in
-- due_at order through message_delivery_due (due_at alone: the index gives that order as it is,
-- so a pass stops after p_limit rows however many are due). Returns what changed.
--
-- History: created by 005_retry.sql; unchanged since.
CREATE OR REPLACE FUNCTION ferry.retry_settle_spent(p_limit integer, p_actor text)
RETURNS TABLE (message_id bigint, consumer_group text, status text)
LANGUAGE plpgsql AS $$
DECLARE
    a_ids bigint[];
    a_groups text[];
    a_status text[];
BEGIN
    WITH spent AS (
        SELECT d.message_id AS mid, d.consumer_group_id AS gid,
               g.acknowledgment_timeout_seconds AS timeout_s,
               coalesce(d.negative_ack_at >= coalesce(d.last_retry_at, d.sent_at, '-infinity'),
                        false) AS nacked
          FROM ferry.message_delivery d
          JOIN ferry.consumer_group_registration g ON g.id = d.consumer_group_id
          JOIN ferry.outbox_message m ON m.id = d.message_id
         WHERE d.status = 'SENT' AND d.due_at <= now() AND d.redrive_requested_at IS NULL
           AND g.requires_acknowledgment AND g.max_retries >= 0
           AND d.retry_count >= g.max_retries
           AND (d.negative_ack_at >= coalesce(d.last_retry_at, d.sent_at, '-infinity')
                OR coalesce(d.last_retry_at, d.sent_at, d.updated_at)
                   + g.acknowledgment_timeout_seconds * interval '1 second' <= now())
         ORDER BY d.due_at
         LIMIT p_limit
           FOR NO KEY UPDATE OF m, d SKIP LOCKED),
    u AS (
        UPDATE ferry.message_delivery d
           SET status = CASE WHEN s.nacked THEN 'FAILED' ELSE 'EXPIRED' END,
               error_message = CASE WHEN s.nacked THEN d.error_message
                   ELSE format('not acknowledged within %s s of the last delivery, after %s '
                               'retries', s.timeout_s, d.retry_count)
                        || coalesce('; last error: ' || d.error_message, '') END,
               scheduled_retry_at = NULL, updated_at = clock_timestamp()
          FROM spent s
         WHERE d.message_id = s.mid AND d.consumer_group_id = s.gid
        RETURNING d.message_id AS mid, d.consumer_group AS grp, d.status AS st,
                  d.retry_count AS retries, d.error_message AS err),
    e AS (
        INSERT INTO ferry.message_event (message_id, consumer_group, event, actor, detail)
        SELECT u.mid, u.grp, lower(u.st), p_actor,
               jsonb_build_object('retryCount', u.retries, 'errorMessage', u.err)
          FROM u)
    SELECT array_agg(u.mid), array_agg(u.grp), array_agg(u.st)
      INTO a_ids, a_groups, a_status FROM u;
    IF a_ids IS NOT NULL THEN
        -- A fresh statement sees the updates above.
        PERFORM ferry.settle_message_status(a_ids);
        RETURN QUERY SELECT * FROM unnest(a_ids, a_groups, a_status);
    END IF;
END
$$;
