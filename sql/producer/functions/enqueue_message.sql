-- ferry.enqueue_message: its current definition, the only one to edit (sql/README.md).
-- Insert one message, or find the one already enqueued with the same idempotency key: the
-- shared body of every door (ferry.enqueue, ferry.enqueue_batch, the C library, the REST API);
-- `duplicate` tells the caller which happened. Refuses an idempotency key over 512 bytes
-- (FERRY_IDEMPOTENCY_KEY_MAX_BYTES in include/ferry/outbox.h) with SQLSTATE 22001: nothing is
-- ever cut.
--
-- History: created by 001_outbox.sql, dropped and created with target group and registry mode
-- by 002_registry.sql; changed here since (the key limit).
CREATE OR REPLACE FUNCTION ferry.enqueue_message(
    p_topic text, p_key text, p_payload text, p_headers jsonb, p_idempotency_key text,
    p_producer_service_id text, p_producer_instance_id text, p_target_group text,
    p_registry text,
    OUT id bigint, OUT duplicate boolean)
LANGUAGE plpgsql AS $$
-- p_registry: 'off' (the SQL and C doors: any topic; an unregistered one is published and
-- tracked for no group), 'require' (the REST API: the topic must be registered and active,
-- else SQLSTATE FY404), 'auto' (development: register an unknown topic, with no groups).
-- A target group must be an active group of the topic, else SQLSTATE FY400.
DECLARE
    v_topic_active boolean;
BEGIN
    IF p_topic IS NULL OR p_topic !~ '^[A-Za-z0-9._-]+$' OR length(p_topic) > 249
       OR p_topic IN ('.', '..') THEN
        RAISE EXCEPTION 'ferry.enqueue: invalid topic name %', coalesce(quote_literal(p_topic), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Topic names are 1-249 characters of A-Z a-z 0-9 . _ -';
    END IF;
    IF octet_length(p_idempotency_key) > 512 THEN
        RAISE EXCEPTION 'ferry.enqueue: idempotency key is % bytes, over the limit of 512',
            octet_length(p_idempotency_key)
            USING ERRCODE = 'string_data_right_truncation',
                  HINT = 'Use a shorter key (a hash of a long one, say); ferry never cuts it';
    END IF;
    IF p_payload IS NULL THEN
        RAISE EXCEPTION 'ferry.enqueue: payload must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF p_headers IS NOT NULL AND jsonb_typeof(p_headers) <> 'object' THEN
        RAISE EXCEPTION 'ferry.enqueue: headers must be a JSON object, not %', jsonb_typeof(p_headers)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_registry <> 'off' OR p_target_group IS NOT NULL THEN
        SELECT t.is_active INTO v_topic_active
          FROM ferry.topic_registration t WHERE t.topic_name = p_topic;
        IF v_topic_active IS NULL AND p_registry = 'auto' THEN
            INSERT INTO ferry.topic_registration (topic_name, description)
            VALUES (p_topic, 'registered automatically (FERRY_AUTO_REGISTER_TOPICS)')
            ON CONFLICT (topic_name) DO NOTHING;
            v_topic_active := true;
        END IF;
        IF p_registry <> 'off' AND v_topic_active IS NULL THEN
            RAISE EXCEPTION 'topic % is not registered', quote_literal(p_topic)
                USING ERRCODE = 'FY404', HINT = 'Register it with POST /api/topics/register';
        END IF;
        IF p_registry <> 'off' AND NOT v_topic_active THEN
            RAISE EXCEPTION 'topic % is deactivated', quote_literal(p_topic) USING ERRCODE = 'FY404';
        END IF;
        IF p_target_group IS NOT NULL AND NOT EXISTS (
               SELECT 1 FROM ferry.consumer_group_registration g
                 JOIN ferry.topic_registration t ON t.id = g.topic_registration_id
                WHERE t.topic_name = p_topic AND g.consumer_group_name = p_target_group
                  AND g.is_active) THEN
            RAISE EXCEPTION 'consumer group % is not an active group of topic %',
                quote_literal(p_target_group), quote_literal(p_topic) USING ERRCODE = 'FY400';
        END IF;
    END IF;
    INSERT INTO ferry.outbox_message AS m
           (topic, message_key, payload, headers, idempotency_key, producer_service_id,
            producer_instance_id, target_group)
    VALUES (p_topic, p_key, p_payload, coalesce(p_headers, '{}'::jsonb), p_idempotency_key,
            p_producer_service_id, p_producer_instance_id, p_target_group)
    ON CONFLICT (topic, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING m.id INTO id;
    IF id IS NOT NULL THEN
        duplicate := false;
        RETURN;
    END IF;
    -- The conflicting row committed (ON CONFLICT waited for it), so a fresh statement sees it.
    SELECT m.id INTO id FROM ferry.outbox_message m
     WHERE m.topic = p_topic AND m.idempotency_key = p_idempotency_key;
    duplicate := true;
END
$$;
