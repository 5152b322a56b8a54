-- ferry.delivery_due_at: its current definition, the only one to edit (sql/README.md).
-- When the retry job next has something to do with delivery d of group g: now for a re-drive;
-- never while the group does not ask for acknowledgments; after a negative acknowledgment, once
-- the backoff has passed (or at once, to settle it FAILED, when the budget is spent); otherwise
-- when the acknowledgment timeout of the last send runs out (and the backoff has passed, if
-- there are retries left). The same rules as the claim and the verdicts, in one place.
-- (005_retry.sql explains due_at.)
--
-- History: created by 005_retry.sql; unchanged since.
CREATE OR REPLACE FUNCTION ferry.delivery_due_at(d ferry.message_delivery, g ferry.consumer_group_registration)
RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN d.redrive_requested_at IS NOT NULL THEN '-infinity'::timestamptz
        WHEN NOT g.requires_acknowledgment THEN 'infinity'::timestamptz
        WHEN d.negative_ack_at >= coalesce(d.last_retry_at, d.sent_at, '-infinity') THEN
            CASE WHEN g.max_retries < 0 OR d.retry_count < g.max_retries
                 THEN greatest(d.negative_ack_at, d.scheduled_retry_at)
                 ELSE d.negative_ack_at END
        ELSE
            CASE WHEN g.max_retries < 0 OR d.retry_count < g.max_retries
                 THEN greatest(coalesce(d.last_retry_at, d.sent_at, d.updated_at)
                               + g.acknowledgment_timeout_seconds * interval '1 second',
                               d.scheduled_retry_at)
                 ELSE coalesce(d.last_retry_at, d.sent_at, d.updated_at)
                      + g.acknowledgment_timeout_seconds * interval '1 second' END
    END
$$;
