-- ferry producer schema, version 5: redelivery (the seed's ProcessRetryMessagesJob), operator
-- re-drives, the message history, and what the cleanup job needs. All queries on these live in
-- src/producer/retry_store.c and src/producer/cleanup_store.c.

-- A group's delivery asks for a redelivery when the retry job finds it due:
--   negatively acknowledged since it was last sent, or not acknowledged within the group's
--   acknowledgment timeout of the last send (coalesce(last_retry_at, sent_at));
--   and never before scheduled_retry_at (the backoff the previous retry chose).
-- redrive_requested_at: an operator asked for a redelivery now (POST /api/messages/{id}/retry or
--   the bulk re-drive); the job republishes it on its next pass, whatever the timers say.
-- target_agent_id: that redelivery is for one consumer instance (ferry.consumer_service_agent.id):
--   the job publishes it to a partition that instance holds.
-- due_at: when the retry job next has work for the delivery, so that a pass reads only the
-- deliveries whose time has come (message_delivery_due) instead of every outstanding one: a
-- group down for hours, its redeliveries waiting out their backoff, would otherwise cost every
-- pass (every 10 s) a read of all of them (bench/retry-scan).
-- due_at is a lower bound of the moment ferry.retry_settle_spent or the claim in
-- src/producer/retry_store.c can act on the delivery: both still test their whole condition, so a
-- due_at that is too early costs a row read per pass, never a wrong redelivery; one that is too
-- late would delay a redelivery, which is why every change of the inputs recomputes it:
--   the relay sets it when it inserts the delivery (sent_at + the group's timeout, outbox_store.c);
--   the trigger below, when an update names status, negative_ack_at or redrive_requested_at
--   (a negative acknowledgment, a retry, a re-drive; acknowledgments and verdicts leave SENT);
--   the trigger on consumer_group_registration, when a change of a group's timeout, budget or
--   acknowledgment requirement makes its deliveries due sooner (through the API or by hand).
-- The default '-infinity' ("look at it on the next pass") keeps any other writer correct. A due_at
-- left too early (a group given a longer timeout, a row some other writer touched) is put right
-- by the retry job itself, a batch at a time (ferry.retry_refresh_due_at), so that such rows do
-- not cost every pass a read.
ALTER TABLE ferry.message_delivery
    ADD COLUMN redrive_requested_at timestamptz,
    ADD COLUMN target_agent_id bigint,
    ADD COLUMN due_at timestamptz NOT NULL DEFAULT '-infinity';

-- Dead letters, per group, for GET /api/messages/failed and the re-drives.
CREATE INDEX message_delivery_dead ON ferry.message_delivery (consumer_group, message_id)
    WHERE status IN ('FAILED', 'EXPIRED');

-- What happened to a message after it was sent, and who did it: every automatic retry, every
-- FAILED/EXPIRED decision, every operator re-drive or deletion. Goes with the message.
CREATE TABLE ferry.message_event (
    id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id     bigint      NOT NULL REFERENCES ferry.outbox_message (id) ON DELETE CASCADE,
    consumer_group text,                                     -- NULL = the message as a whole
    event          text        NOT NULL,
    actor          text        NOT NULL,                     -- 'retry-job@<instance>', 'api:<who>'
    detail         jsonb       NOT NULL DEFAULT '{}'::jsonb,
    at             timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT message_event_kind_valid
        CHECK (event IN ('retried', 'failed', 'expired', 'redrive_requested',
                         'dead_letter_deleted'))
);
CREATE INDEX message_event_message ON ferry.message_event (message_id, id);

-- The partitions each consumer instance holds, reported with its heartbeats
-- ({"topic": [0, 3], ...}), so a redelivery can be aimed at one instance.
ALTER TABLE ferry.consumer_service_agent
    ADD COLUMN assigned_partitions jsonb NOT NULL DEFAULT '{}'::jsonb;

-- The message's own status once no group is waiting any more: ACKNOWLEDGED when every group
-- acknowledged; FAILED when a group failed for good; EXPIRED when a group gave up waiting and
-- none failed. A message some group still waits on (SENT deliveries) stays SENT. Used by the retry
-- job after it closes deliveries, and by re-drives (which reopen them) through the same rule.
CREATE FUNCTION ferry.settle_message_status(p_ids bigint[])
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

-- Acknowledgments as in version 4, and a success that arrives for a message that had been
-- settled FAILED or EXPIRED (a late ack, or one after a re-drive) settles it again.
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

-- An operator's re-drive of one message: reopens its groups' deliveries (all that are not
-- acknowledged, or just p_group) for the retry job to republish at once. A FAILED or EXPIRED
-- delivery gets a fresh retry budget (retry_count back to 0; the old count stays in the
-- history). p_target (a consumer service or instance id) aims the redelivery at one live
-- instance of the group holding a partition of the topic; without one alive, the redelivery
-- goes to the whole group and fallback_reason says why.
-- A message the relay gave up on (FAILED, never on Kafka: Kafka refused it
-- FERRY_RELAY_MAX_ATTEMPTS times) goes back to PENDING with a fresh attempt budget instead, for the
-- relay to try again once the operator fixed the cause.
-- Raises FY404 (unknown message, or p_group not one of its groups), FY409 (not on Kafka yet,
-- a group or target for a message that never reached Kafka, or nothing to re-drive).
CREATE FUNCTION ferry.request_redelivery(
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
               AND jsonb_array_length(coalesce(ag.assigned_partitions -> m.topic, '[]')) > 0
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

-- When the retry job next has something to do with delivery d of group g: now for a re-drive;
-- never while the group does not ask for acknowledgments; after a negative acknowledgment, once
-- the backoff has passed (or at once, to settle it FAILED, when the budget is spent); otherwise
-- when the acknowledgment timeout of the last send runs out (and the backoff has passed, if
-- there are retries left). The same rules as the claim and the verdicts, in one place.
CREATE FUNCTION ferry.delivery_due_at(d ferry.message_delivery, g ferry.consumer_group_registration)
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

CREATE FUNCTION ferry.delivery_refresh_due_at() RETURNS trigger
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

-- Only updates of a delivery that stays or becomes SENT call it: acknowledgments (status
-- ACKNOWLEDGED, the hot path) are filtered out by the WHEN clause before any function runs.
CREATE TRIGGER message_delivery_due_at
    BEFORE UPDATE OF status, negative_ack_at, redrive_requested_at ON ferry.message_delivery
    FOR EACH ROW WHEN (NEW.status = 'SENT')
    EXECUTE FUNCTION ferry.delivery_refresh_due_at();

-- Writes only the deliveries that became due sooner: a later due_at may wait for the job's
-- refresh, so that lengthening the timeout of a group with a million deliveries waiting (during
-- the outage that made them wait) does not rewrite them all inside the operator's request.
CREATE FUNCTION ferry.group_refresh_due_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE ferry.message_delivery d SET due_at = ferry.delivery_due_at(d, NEW)
     WHERE d.consumer_group_id = NEW.id AND d.status = 'SENT'
       AND d.due_at > ferry.delivery_due_at(d, NEW);
    RETURN NULL;
END
$$;

CREATE TRIGGER consumer_group_registration_due_at
    AFTER UPDATE OF acknowledgment_timeout_seconds, max_retries, requires_acknowledgment
    ON ferry.consumer_group_registration
    FOR EACH ROW
    WHEN (OLD.acknowledgment_timeout_seconds IS DISTINCT FROM NEW.acknowledgment_timeout_seconds
          OR OLD.max_retries IS DISTINCT FROM NEW.max_retries
          OR OLD.requires_acknowledgment IS DISTINCT FROM NEW.requires_acknowledgment)
    EXECUTE FUNCTION ferry.group_refresh_due_at();

-- The retry job's repair, after a claim that did not fill its batch: the first p_limit deliveries
-- whose due_at has passed (what is left once the due ones were taken) get their due_at
-- recomputed; those it was too early for move to their real time and stop being read by every
-- pass. Locks only the deliveries, skipping those an acknowledgment or another job holds.
-- Returns how many it moved (p_limit: there may be more).
CREATE FUNCTION ferry.retry_refresh_due_at(p_limit integer)
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

-- The deliveries already outstanding at the upgrade (one pass over them).
UPDATE ferry.message_delivery d SET due_at = ferry.delivery_due_at(d, g)
  FROM ferry.consumer_group_registration g
 WHERE g.id = d.consumer_group_id AND d.status = 'SENT';

-- The retry job reads this in due_at order and stops after its batch.
CREATE INDEX message_delivery_due ON ferry.message_delivery (due_at) WHERE status = 'SENT';

-- The retry job's verdicts: deliveries due for another attempt whose group's retry budget is
-- spent (max_retries >= 0 and retry_count >= max_retries) become FAILED when the last attempt
-- was negatively acknowledged (its error kept) or EXPIRED when it was not acknowledged in time.
-- Locks the messages first (the order ferry.acknowledge uses) and skips those another job or an
-- acknowledgment holds, so several producer instances can run it at once. Reads due deliveries in
-- due_at order through message_delivery_due (due_at alone: the index gives that order as it is,
-- so a pass stops after p_limit rows however many are due). Returns what changed.
CREATE FUNCTION ferry.retry_settle_spent(p_limit integer, p_actor text)
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

-- Messages settled FAILED or EXPIRED (and poison rows the relay gave up on), for the dead-letter
-- listing and deletion; small, because only those rows are in it.
CREATE INDEX outbox_message_dead ON ferry.outbox_message (id) WHERE status IN ('FAILED', 'EXPIRED');
