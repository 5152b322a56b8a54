-- ferry consumer schema, version 3: the W3C traceparent of each processed message (its Kafka
-- header), so a message can be followed from the sender to the row its processing wrote.
ALTER TABLE ferry_consumer.processed_message ADD COLUMN traceparent text;
