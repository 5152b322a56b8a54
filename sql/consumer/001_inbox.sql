-- ferry consumer schema, version 1: the inbox (what each group processed, exactly once), the
-- messages a processor refused, and the durable outbox of acknowledgments for the producer.
-- Schema ferry_consumer, so a consumer may share a database with a producer's ferry schema.

CREATE SCHEMA IF NOT EXISTS ferry_consumer;

-- One row per (message, group) that a processor handled successfully, written in the same
-- transaction as the processor's own work: the row existing means "done, never again".
CREATE TABLE ferry_consumer.processed_message (
    message_id           bigint      NOT NULL,
    consumer_group       text        NOT NULL,
    topic                text        NOT NULL,
    partition            integer     NOT NULL,
    kafka_offset         bigint      NOT NULL,
    processed_at         timestamptz NOT NULL DEFAULT now(),
    content              text,       -- the record's value when it is valid UTF-8, else NULL
    idempotency_key      text,
    producer_service_id  text,
    producer_instance_id text,
    consumer_service_id  text        NOT NULL,
    consumer_instance_id text        NOT NULL,
    PRIMARY KEY (message_id, consumer_group)
);

-- A second message with the same idempotency key is a duplicate for the group too.
CREATE UNIQUE INDEX processed_message_idempotency
    ON ferry_consumer.processed_message (consumer_group, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- Every failed processing attempt (the processor returned an error).
CREATE TABLE ferry_consumer.failed_message (
    id                   bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id           bigint      NOT NULL,
    consumer_group       text        NOT NULL,
    topic                text        NOT NULL,
    error_message        text        NOT NULL,
    failed_at            timestamptz NOT NULL DEFAULT now(),
    producer_service_id  text,
    producer_instance_id text,
    consumer_service_id  text        NOT NULL,
    consumer_instance_id text        NOT NULL,
    attempt              integer     NOT NULL DEFAULT 1
);

CREATE INDEX failed_message_group ON ferry_consumer.failed_message (consumer_group, id);

-- Acknowledgments not yet accepted by the producer. Written in the transaction that records the
-- outcome; the ack sender deletes a row only after the producer answered 200 for it.
CREATE TABLE ferry_consumer.pending_ack (
    id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id     bigint      NOT NULL,
    consumer_group text        NOT NULL,
    success        boolean     NOT NULL,
    error_message  text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    attempts       integer     NOT NULL DEFAULT 0,
    last_error     text
);
