-- ferry.acknowledge: its current definition, the only one to edit (sql/README.md).
-- Records acknowledgments, in input order, one round trip for a whole batch of them. result is
-- 'recorded', 'duplicate' (nothing changed: already acknowledged, or a negative ack after a
-- success), 'unknown_message', or 'not_for_group' (the message was never for that group).
-- A success makes the group's delivery ACKNOWLEDGED; a failure records the error and the time
-- of the negative acknowledgment, leaving the retry decision to the retry job. An ack that
-- overtook the relay's mark creates the delivery row itself (the relay keeps it). A message
-- all of whose groups have acknowledged becomes ACKNOWLEDGED, also when it had been settled
-- FAILED or EXPIRED (a late ack, or one after a re-drive).
-- Locks the messages it touches first, in id order, then their deliveries: two groups
-- acknowledging the same messages at once cannot deadlock.
--
-- History: created by 002_registry.sql, replaced whole by 004_acknowledge_lock_order.sql (the
-- lock order) and by 005_retry.sql (FAILED/EXPIRED messages settled again). This body is 005's.
CREATE OR REPLACE FUNCTION ferry.acknowledge(
    p_message_ids bigint[], p_groups text[], p_success boolean[], p_errors text[],
    p_services text[], p_instances text[])
RETURNS TABLE (ord integer, result text, group_status text)
LANGUAGE plpgsql AS $$
DECLARE
    n integer := coalesce(array_length(p_message_ids, 1), 0);
    touched bigint[] := '{}';
    m record;
    g record;
    d record;
BEGIN
    PERFORM 1 FROM ferry.outbox_message o
     WHERE o.id = ANY(p_message_ids) ORDER BY o.id FOR NO KEY UPDATE;
    FOR i IN 1 .. n LOOP
        ord := i;
        group_status := NULL;
        SELECT o.id, o.topic, o.target_group, o.created_at INTO m
          FROM ferry.outbox_message o WHERE o.id = p_message_ids[i];
        IF NOT FOUND THEN
            result := 'unknown_message';
            RETURN NEXT;
            CONTINUE;
        END IF;
        SELECT x.id, x.consumer_group_name INTO g
          FROM ferry.message_groups(m.topic, m.target_group, m.created_at) x
         WHERE x.consumer_group_name = p_groups[i];
        IF NOT FOUND THEN
            result := 'not_for_group';
            RETURN NEXT;
            CONTINUE;
        END IF;
        SELECT x.status INTO d FROM ferry.message_delivery x
         WHERE x.message_id = m.id AND x.consumer_group_id = g.id FOR UPDATE;
        IF FOUND AND d.status = 'ACKNOWLEDGED' THEN
            result := 'duplicate';
            group_status := d.status;
            RETURN NEXT;
            CONTINUE;
        END IF;
        IF p_success[i] THEN
            INSERT INTO ferry.message_delivery AS x
                   (message_id, consumer_group_id, consumer_group, status, acknowledged_at,
                    consumer_service_id, consumer_instance_id)
            VALUES (m.id, g.id, g.consumer_group_name, 'ACKNOWLEDGED', clock_timestamp(),
                    p_services[i], p_instances[i])
            ON CONFLICT (message_id, consumer_group_id) DO UPDATE
               SET status = 'ACKNOWLEDGED', acknowledged_at = clock_timestamp(),
                   consumer_service_id = EXCLUDED.consumer_service_id,
                   consumer_instance_id = EXCLUDED.consumer_instance_id,
                   redrive_requested_at = NULL, target_agent_id = NULL,
                   updated_at = clock_timestamp()
            RETURNING x.status INTO group_status;
        ELSE
            -- A negative acknowledgment of a delivery already settled FAILED or EXPIRED
            -- changes its error, not its status.
            INSERT INTO ferry.message_delivery AS x
                   (message_id, consumer_group_id, consumer_group, status, negative_ack_at,
                    error_message, consumer_service_id, consumer_instance_id)
            VALUES (m.id, g.id, g.consumer_group_name, 'SENT', clock_timestamp(),
                    coalesce(p_errors[i], 'negative acknowledgment'), p_services[i],
                    p_instances[i])
            ON CONFLICT (message_id, consumer_group_id) DO UPDATE
               SET negative_ack_at = clock_timestamp(),
                   error_message = EXCLUDED.error_message,
                   consumer_service_id = EXCLUDED.consumer_service_id,
                   consumer_instance_id = EXCLUDED.consumer_instance_id,
                   updated_at = clock_timestamp()
            RETURNING x.status INTO group_status;
        END IF;
        INSERT INTO ferry.consumer_acknowledgment
               (message_id, consumer_group_id, consumer_group, success, error_message,
                consumer_service_id, consumer_instance_id)
        VALUES (m.id, g.id, g.consumer_group_name, p_success[i],
                CASE WHEN p_success[i] THEN NULL
                     ELSE coalesce(p_errors[i], 'negative acknowledgment') END,
                p_services[i], p_instances[i]);
        touched := touched || m.id;
        result := 'recorded';
        RETURN NEXT;
    END LOOP;
    -- The message's own status follows its groups' (SENT messages have all their rows).
    UPDATE ferry.outbox_message o SET status = 'ACKNOWLEDGED', processed_at = clock_timestamp()
     WHERE o.id = ANY(touched) AND o.status IN ('SENT', 'FAILED', 'EXPIRED')
       AND EXISTS (SELECT 1 FROM ferry.message_delivery x WHERE x.message_id = o.id)
       AND NOT EXISTS (SELECT 1 FROM ferry.message_delivery x
                        WHERE x.message_id = o.id AND x.status <> 'ACKNOWLEDGED');
END
$$;
