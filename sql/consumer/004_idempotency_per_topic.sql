-- ferry consumer schema, version 4: an idempotency key is a duplicate only within its group AND
-- its topic, the scope in which the producer keeps it unique (ferry.outbox_message: topic, key).
-- Version 1's index was per group only, so a group reading two topics dropped the second
-- topic's message that happened to reuse a key (and acknowledged it as processed).
--
-- Rows already in the inbox keep deduplicating: they carry their topic, so the new index covers
-- them as they are. (Keys over 255 bytes were stored cut by older consumers; such a row still
-- stops a redelivery by its message id, the primary key, but no longer matches a different
-- message with the full key.) The old index cannot hold duplicates the new one would refuse,
-- so building it cannot fail. Building it blocks inbox writes for the time it takes (one pass
-- over processed_message), once, during the upgrade.
CREATE UNIQUE INDEX processed_message_idempotency_topic
    ON ferry_consumer.processed_message (consumer_group, topic, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
DROP INDEX ferry_consumer.processed_message_idempotency;
