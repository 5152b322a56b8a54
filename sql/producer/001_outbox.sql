-- ferry producer schema, version 1: the outbox and the three doors into it.
--
-- Applied by ferry-producer at start-up (src/common/migrate.c) inside one transaction under an
-- advisory lock, so several instances starting at once apply it exactly once. Also installed
-- under share/ferry/sql/producer/ for people who manage schemas with their own tools.

CREATE SCHEMA IF NOT EXISTS ferry;

-- One row per message an application committed. Status follows the seed's OutboxMessage:
-- PENDING (committed, not yet on Kafka) -> SENT (on Kafka, partition/offset known) ->
-- ACKNOWLEDGED / FAILED / EXPIRED (per-group outcomes; later migrations add the per-group table).
CREATE TABLE ferry.outbox_message (
    id                   bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic                text        NOT NULL,
    message_key          text,                                   -- Kafka record key; NULL = none
    payload              text        NOT NULL,                   -- Kafka record value
    headers              jsonb       NOT NULL DEFAULT '{}'::jsonb, -- {"name": "value", ...}
    idempotency_key      text,                                   -- unique per topic when set
    status               text        NOT NULL DEFAULT 'PENDING',
    created_at           timestamptz NOT NULL DEFAULT now(),     -- the enqueuing transaction's start
    sent_at              timestamptz,                            -- delivery confirmed by Kafka
    processed_at         timestamptz,                            -- final status reached
    kafka_partition      integer,
    kafka_offset         bigint,
    publish_attempts     integer     NOT NULL DEFAULT 0,         -- relay deliveries tried
    retry_count          integer     NOT NULL DEFAULT 0,         -- redeliveries after ack timeouts/nacks
    last_retry_at        timestamptz,
    scheduled_retry_at   timestamptz,
    producer_service_id  text,                                   -- who enqueued (NULL from SQL door)
    producer_instance_id text,
    error_message        text,                                   -- last delivery or processing error
    CONSTRAINT outbox_message_status_valid
        CHECK (status IN ('PENDING', 'SENT', 'ACKNOWLEDGED', 'FAILED', 'EXPIRED')),
    CONSTRAINT outbox_message_topic_valid
        CHECK (topic ~ '^[A-Za-z0-9._-]{1,249}$' AND topic NOT IN ('.', '..')),
    CONSTRAINT outbox_message_headers_object CHECK (jsonb_typeof(headers) = 'object')
);

-- The relay's hot scan: small however large history grows, because only PENDING rows are in it.
CREATE INDEX outbox_message_pending ON ferry.outbox_message (id) WHERE status = 'PENDING';

-- Idempotency: the same key on the same topic is one message (for as long as the row is kept).
CREATE UNIQUE INDEX outbox_message_idempotency
    ON ferry.outbox_message (topic, idempotency_key) WHERE idempotency_key IS NOT NULL;

-- Insert one message, or find the one already enqueued with the same idempotency key.
-- The shared body of every door; `duplicate` tells the caller which happened.
CREATE FUNCTION ferry.enqueue_message(
    p_topic text, p_key text, p_payload text, p_headers jsonb, p_idempotency_key text,
    p_producer_service_id text, p_producer_instance_id text,
    OUT id bigint, OUT duplicate boolean)
LANGUAGE plpgsql AS $$
BEGIN
    IF p_topic IS NULL OR p_topic !~ '^[A-Za-z0-9._-]{1,249}$' OR p_topic IN ('.', '..') THEN
        RAISE EXCEPTION 'ferry.enqueue: invalid topic name %', coalesce(quote_literal(p_topic), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Topic names are 1-249 characters of A-Z a-z 0-9 . _ -';
    END IF;
    IF p_payload IS NULL THEN
        RAISE EXCEPTION 'ferry.enqueue: payload must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF p_headers IS NOT NULL AND jsonb_typeof(p_headers) <> 'object' THEN
        RAISE EXCEPTION 'ferry.enqueue: headers must be a JSON object, not %', jsonb_typeof(p_headers)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO ferry.outbox_message AS m
           (topic, message_key, payload, headers, idempotency_key, producer_service_id, producer_instance_id)
    VALUES (p_topic, p_key, p_payload, coalesce(p_headers, '{}'::jsonb), p_idempotency_key,
            p_producer_service_id, p_producer_instance_id)
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

-- The SQL door: call it inside your own transaction, from any language; the message commits or
-- rolls back with your business data. Returns the message id (the original one for a repeated
-- idempotency key).
--   BEGIN;
--   INSERT INTO orders ...;
--   SELECT ferry.enqueue('order-events', 'order-42', '{"event":"created"}');
--   COMMIT;
CREATE FUNCTION ferry.enqueue(
    topic text, key text, payload text, headers jsonb DEFAULT '{}'::jsonb,
    idempotency_key text DEFAULT NULL)
RETURNS bigint
LANGUAGE sql AS $$
    SELECT (ferry.enqueue_message(topic, key, payload, headers, idempotency_key, NULL, NULL)).id
$$;

-- Many messages in one call and one transaction (the batcher's group commit and send-batch).
-- Rows come back in input order (ord is 1-based).
CREATE FUNCTION ferry.enqueue_batch(
    p_topics text[], p_keys text[], p_payloads text[], p_headers jsonb[],
    p_idempotency_keys text[], p_producer_service_id text, p_producer_instance_id text)
RETURNS TABLE (ord integer, id bigint, duplicate boolean)
LANGUAGE plpgsql AS $$
DECLARE
    n integer := coalesce(array_length(p_topics, 1), 0);
    r record;
BEGIN
    FOR i IN 1 .. n LOOP
        r := ferry.enqueue_message(p_topics[i], p_keys[i], p_payloads[i], p_headers[i],
                                   p_idempotency_keys[i], p_producer_service_id,
                                   p_producer_instance_id);
        ord := i;
        id := r.id;
        duplicate := r.duplicate;
        RETURN NEXT;
    END LOOP;
END
$$;
