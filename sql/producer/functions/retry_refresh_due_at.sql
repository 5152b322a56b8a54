-- ferry.retry_refresh_due_at: its current definition, the only one to edit (sql/README.md).
-- The retry job's repair, after a claim that did not fill its batch: the first p_limit deliveries
-- whose due_at has passed (what is left once the due ones were taken) get their due_at
-- recomputed; those it was too early for move to their real time and stop being read by every
-- pass. Locks only the deliveries, skipping those an acknowledgment or another job holds.
-- Returns how many it moved (p_limit: there may be more).
--
-- History: created by 005_retry.sql; unchanged since.
CREATE OR REPLACE FUNCTION ferry.retry_refresh_due_at(p_limit integer)
RETURNS integer
LANGUAGE sql AS $$
    WITH stale AS (
        SELECT d.message_id, d.consumer_group_id, ferry.delivery_due_at(d, g) AS due
          FROM ferry.message_delivery d
          JOIN ferry.consumer_group_registration g ON g.id = d.consumer_group_id
         WHERE d.status = 'SENT' AND d.due_at <= now()
         ORDER BY d.due_at
         LIMIT p_limit
           FOR NO KEY UPDATE OF d SKIP LOCKED),
    moved AS (
        UPDATE ferry.message_delivery d SET due_at = s.due
          FROM stale s
         WHERE d.message_id = s.message_id AND d.consumer_group_id = s.consumer_group_id
           AND s.due > d.due_at
        RETURNING 1)
    SELECT count(*)::integer FROM moved
$$;
