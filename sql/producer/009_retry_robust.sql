-- ferry producer schema, version 9: one row the retry job cannot use never stops redelivery.
-- (Version 8 belongs to another change; migrations are applied by number, so a gap is fine.)
--
-- Before this version the retry claim cast every element of the target agent's reported
-- partitions to integer inside the one statement that claims a whole batch: one agent row
-- holding {"topic": ["x"]} (heartbeats were stored unchecked) failed the claim on every pass of
-- every producer instance, and no group got a redelivery any more. Heartbeats are checked now
-- (src/producer/agent_request.c), and what is read back cannot raise whatever a row holds.

-- The partition a redelivery aimed at an agent goes to: the lowest partition of p_topic in the
-- agent's assigned_partitions; -1 when it reports none (or there is no agent: p_assigned NULL);
-- NULL when what it holds is not {"topic": [partition numbers]} (a row written before the
-- heartbeat check, or by hand): the caller sends by key and says why. Never raises: each step
-- is guarded by a CASE (which evaluates only the branch it takes), so no cast meets a value it
-- cannot convert.
CREATE FUNCTION ferry.agent_topic_partition(p_assigned jsonb, p_topic text)
RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN p_assigned IS NULL THEN -1
        WHEN jsonb_typeof(p_assigned) <> 'object' THEN NULL
        WHEN p_assigned -> p_topic IS NULL OR jsonb_typeof(p_assigned -> p_topic) = 'null' THEN -1
        WHEN jsonb_typeof(p_assigned -> p_topic) <> 'array' THEN NULL
        WHEN jsonb_array_length(p_assigned -> p_topic) = 0 THEN -1
        ELSE (SELECT CASE WHEN bool_and(x.n IS NOT NULL AND x.n >= 0 AND x.n <= 2147483647
                                        AND x.n = trunc(x.n))
                          THEN min(x.n)::integer END
                FROM (SELECT CASE WHEN jsonb_typeof(e) = 'number' THEN e::numeric END AS n
                        FROM jsonb_array_elements(p_assigned -> p_topic) e) x)
    END
$$;

-- Republishes Kafka refused (a record too large, a topic it rejects, a broker down): the job
-- records each in the history ('republish_failed', with Kafka's error) and moves the delivery's
-- due_at back by a backoff that grows with this count (reset by a republish that succeeds), so
-- that failing rows at the head of the due index cannot hold back every delivery behind them.
-- A constant default: adding the column rewrites nothing.
ALTER TABLE ferry.message_delivery ADD COLUMN republish_failures integer NOT NULL DEFAULT 0;

-- The new event. NOT VALID: the old rows satisfy the wider check by construction, and
-- validating would read the whole history under this migration's exclusive lock.
ALTER TABLE ferry.message_event
    DROP CONSTRAINT message_event_kind_valid,
    ADD CONSTRAINT message_event_kind_valid
        CHECK (event IN ('retried', 'failed', 'expired', 'redrive_requested',
                         'dead_letter_deleted', 'republish_failed')) NOT VALID;

-- An operator's re-drive aimed at a consumer: as in version 5, except that the agent's
-- partitions are read with ferry.agent_topic_partition (version 5's jsonb_array_length raised on
-- a non-array, failing the request with a database error); an agent whose partitions are
-- unreadable is not a candidate, and the redelivery goes to the group with the reason.
CREATE OR REPLACE FUNCTION ferry.request_redelivery(
    p_message_id bigint, p_group text, p_target text, p_actor text, p_heartbeat_s integer)
RETURNS TABLE (consumer_group text, previous_status text, target_agent_id bigint,
               target_instance text, fallback_reason text)
LANGUAGE plpgsql AS $$
DECLARE
    m record;
    d record;
    a record;
    v_agent bigint;
    n integer := 0;
BEGIN
    SELECT o.id, o.topic, o.status, o.sent_at INTO m FROM ferry.outbox_message o
     WHERE o.id = p_message_id FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'message % not found', p_message_id USING ERRCODE = 'FY404';
    END IF;
    IF m.status = 'PENDING' THEN
        RAISE EXCEPTION 'message % has not reached Kafka yet (PENDING): the relay sends it',
            p_message_id USING ERRCODE = 'FY409';
    END IF;
    -- Given up by the relay (Kafka refused it FERRY_RELAY_MAX_ATTEMPTS times): back to PENDING
    -- with a fresh budget, for the relay to try again (after the operator fixed the cause).
    IF m.status = 'FAILED' AND m.sent_at IS NULL THEN
        IF p_group IS NOT NULL OR p_target IS NOT NULL THEN
            RAISE EXCEPTION 'message % never reached Kafka: it is re-driven to the relay, not to a '
                'group or consumer', p_message_id USING ERRCODE = 'FY409';
        END IF;
        UPDATE ferry.outbox_message o
           SET status = 'PENDING', publish_attempts = 0, next_attempt_at = NULL,
               processed_at = NULL
         WHERE o.id = m.id;
        INSERT INTO ferry.message_event (message_id, consumer_group, event, actor, detail)
        VALUES (m.id, NULL, 'redrive_requested', p_actor,
                jsonb_build_object('previousStatus', 'FAILED', 'target', 'relay'));
        consumer_group := NULL;
        previous_status := 'FAILED';
        target_agent_id := NULL;
        target_instance := NULL;
        fallback_reason := NULL;
        RETURN NEXT;
        RETURN;
    END IF;
    IF p_group IS NOT NULL AND NOT EXISTS (
           SELECT 1 FROM ferry.message_delivery x
            WHERE x.message_id = m.id AND x.consumer_group = p_group) THEN
        RAISE EXCEPTION 'message % is not for consumer group %', p_message_id,
            quote_literal(p_group) USING ERRCODE = 'FY404';
    END IF;
    FOR d IN SELECT x.consumer_group_id, x.consumer_group, x.status, x.retry_count
               FROM ferry.message_delivery x
              WHERE x.message_id = m.id AND x.status <> 'ACKNOWLEDGED'
                AND (p_group IS NULL OR x.consumer_group = p_group)
              ORDER BY x.consumer_group_id FOR UPDATE LOOP
        consumer_group := d.consumer_group;
        previous_status := d.status;
        v_agent := NULL;
        target_agent_id := NULL;
        target_instance := NULL;
        fallback_reason := NULL;
        IF p_target IS NOT NULL THEN
            SELECT ag.id, ag.instance_id INTO a
              FROM ferry.consumer_service_agent ag
             WHERE ag.consumer_group = d.consumer_group
               AND (ag.service_id = p_target OR ag.instance_id = p_target)
               AND ag.status = 'ACTIVE'
               AND ag.last_heartbeat_at >= now() - 3 * p_heartbeat_s * interval '1 second'
               AND ferry.agent_topic_partition(ag.assigned_partitions, m.topic) >= 0
             ORDER BY ag.last_heartbeat_at DESC LIMIT 1;
            IF FOUND THEN
                v_agent := a.id;
                target_agent_id := a.id;
                target_instance := a.instance_id;
            ELSIF EXISTS (SELECT 1 FROM ferry.consumer_service_agent ag
                           WHERE ag.consumer_group = d.consumer_group
                             AND (ag.service_id = p_target OR ag.instance_id = p_target)
                             AND ag.status = 'ACTIVE'
                             AND ag.last_heartbeat_at >= now() - 3 * p_heartbeat_s * interval '1 second') THEN
                fallback_reason := format('consumer %s of group %s holds no partition of %s',
                                          p_target, d.consumer_group, m.topic);
            ELSE
                fallback_reason := format('consumer %s of group %s is not alive (no heartbeat'
                                          ' within 3 intervals of %s s, or not registered)',
                                          p_target, d.consumer_group, p_heartbeat_s);
            END IF;
        END IF;
        UPDATE ferry.message_delivery x
           SET status = 'SENT', redrive_requested_at = clock_timestamp(),
               target_agent_id = v_agent,
               retry_count = CASE WHEN d.status IN ('FAILED', 'EXPIRED') THEN 0
                                  ELSE x.retry_count END,
               scheduled_retry_at = NULL, updated_at = clock_timestamp()
         WHERE x.message_id = m.id AND x.consumer_group_id = d.consumer_group_id;
        INSERT INTO ferry.message_event (message_id, consumer_group, event, actor, detail)
        VALUES (m.id, d.consumer_group, 'redrive_requested', p_actor,
                jsonb_build_object('previousStatus', d.status, 'previousRetryCount', d.retry_count,
                                   'target', CASE WHEN v_agent IS NULL THEN 'group'
                                                  ELSE 'instance' END,
                                   'targetConsumerServiceId', p_target,
                                   'targetInstance', target_instance,
                                   'fallbackReason', fallback_reason));
        n := n + 1;
        RETURN NEXT;
    END LOOP;
    IF n = 0 THEN
        RAISE EXCEPTION 'nothing to re-drive: every group of message % acknowledged it',
            p_message_id USING ERRCODE = 'FY409';
    END IF;
    PERFORM ferry.settle_message_status(ARRAY[m.id]);
END
$$;
