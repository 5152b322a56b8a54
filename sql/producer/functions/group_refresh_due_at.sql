-- ferry.group_refresh_due_at: its current definition, the only one to edit (sql/README.md).
-- Trigger function of consumer_group_registration_due_at (AFTER UPDATE of a group's timeout,
-- budget or acknowledgment requirement; the trigger itself is in 005_retry.sql).
-- Writes only the deliveries that became due sooner: a later due_at may wait for the job's
-- refresh, so that lengthening the timeout of a group with a million deliveries waiting (during
-- the outage that made them wait) does not rewrite them all inside the operator's request.
--
-- History: created by 005_retry.sql; unchanged since.
CREATE OR REPLACE FUNCTION ferry.group_refresh_due_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE ferry.message_delivery d SET due_at = ferry.delivery_due_at(d, NEW)
     WHERE d.consumer_group_id = NEW.id AND d.status = 'SENT'
       AND d.due_at > ferry.delivery_due_at(d, NEW);
    RETURN NULL;
END
$$;
