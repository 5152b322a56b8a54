-- ferry producer schema, version 6: shards for several relays, and messages Kafka refuses for good.
--
-- Several relays keep per-key order by owning shards (src/producer/relay_lease.h): each message
-- belongs to one of 64 shards, every message of a key to the same one, and one relay at a time
-- publishes a shard's rows, lowest id first. The shard is a stored generated column, so every
-- door (ferry.enqueue_message, the C library, a plain INSERT) fills it and enqueue stays one
-- insert: no trigger, no function to redefine. The count 64 is RELAY_LEASE_SHARDS in the C code.
-- Keyless messages have no order to keep and spread over the shards by id.
-- hashtext() & 63 rather than abs(hashtext()) % 64: abs() of the smallest int4 overflows.
ALTER TABLE ferry.outbox_message
    ADD COLUMN shard smallint NOT NULL
        GENERATED ALWAYS AS (CASE WHEN message_key IS NULL THEN (id % 64)::smallint
                                  ELSE (hashtext(message_key) & 63)::smallint END) STORED;

-- The relay's claim walks the pending index in id order and keeps the rows of its own shards: a
-- (shard, id) index cannot give id order across several shards without sorting every pending row
-- of them, which under a backlog costs far more than passing over other relays' rows. So the
-- pending index stays (id), and the shard is read from the row the claim locks anyway.

-- Rows Kafka refused and that wait for their next attempt (next_attempt_at set), by key: while
-- one waits, the later rows of its topic+key are not claimed (order). Partial, so it is empty
-- and free to probe while nothing is refused.
CREATE INDEX outbox_message_backoff ON ferry.outbox_message (topic, message_key, id)
    WHERE status = 'PENDING' AND next_attempt_at IS NOT NULL;

-- A row refused FERRY_RELAY_MAX_ATTEMPTS times becomes FAILED (error_message kept, processed_at
-- set): the status existed since version 1, only the relay's mark now writes it.
