-- ferry.request_redelivery: its current definition, the only one to edit (sql/README.md).
-- An operator's re-drive of one message: reopens its groups' deliveries (all that are not
-- acknowledged, or just p_group) for the retry job to republish at once. A FAILED or EXPIRED
-- delivery gets a fresh retry budget (retry_count back to 0; the old count stays in the
-- history). p_target (a consumer service or instance id) aims the redelivery at one live
-- instance of the group holding a partition of the topic (read with ferry.agent_topic_partition:
-- an agent whose partitions are unreadable is not a candidate); without one, the redelivery
-- goes to the whole group and fallback_reason says why.
-- A message the relay gave up on (FAILED, never on Kafka: Kafka refused it
-- FERRY_RELAY_MAX_ATTEMPTS times) goes back to PENDING with a fresh attempt budget instead, for the
-- relay to try again once the operator fixed the cause.
-- Raises FY404 (unknown message, or p_group not one of its groups), FY409 (not on Kafka yet,
-- a group or target for a message that never reached Kafka, or nothing to re-drive).
--
-- History: created by 005_retry.sql; changed here since (agent partitions read with
-- ferry.agent_topic_partition, which never raises).
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
