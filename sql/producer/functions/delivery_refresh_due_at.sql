-- ferry.delivery_refresh_due_at: its current definition, the only one to edit (sql/README.md).
-- Trigger function of message_delivery_due_at (BEFORE UPDATE OF status, negative_ack_at,
-- redrive_requested_at ON ferry.message_delivery, WHEN NEW.status = 'SENT'; the trigger itself
-- is in 005_retry.sql): recomputes the delivery's due_at with ferry.delivery_due_at.
--
-- History: created by 005_retry.sql; unchanged since.
CREATE OR REPLACE FUNCTION ferry.delivery_refresh_due_at() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    g ferry.consumer_group_registration;
BEGIN
    SELECT * INTO g FROM ferry.consumer_group_registration WHERE id = NEW.consumer_group_id;
    NEW.due_at := CASE WHEN FOUND THEN ferry.delivery_due_at(NEW, g)
                       ELSE '-infinity'::timestamptz END;
    RETURN NEW;
END
$$;
