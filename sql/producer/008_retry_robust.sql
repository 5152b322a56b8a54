-- ferry producer schema, version 8: one row the retry job cannot use never stops redelivery.
--
-- Before this version the retry claim cast every element of the target agent's reported
-- partitions to integer inside the one statement that claims a whole batch: one agent row
-- holding {"topic": ["x"]} (heartbeats were stored unchecked) failed the claim on every pass of
-- every producer instance, and no group got a redelivery any more. Heartbeats are checked now
-- (src/producer/api/agent_request.c), and what is read back cannot raise whatever a row holds:
-- the claim and ferry.request_redelivery read an agent's partitions with
-- ferry.agent_topic_partition. Those function bodies live in sql/producer/functions/ (applied
-- after the migrations); this version holds only the table changes they rely on.

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
