-- ferry consumer schema, version 2: what the inbox cleanup needs (src/consumer/inbox_cleanup.c).
-- The inbox must outlive every redelivery of a message it holds (README, "Retention"): it is
-- cleaned by age, oldest first, in small batches.
CREATE INDEX processed_message_age ON ferry_consumer.processed_message (processed_at);
CREATE INDEX failed_message_age ON ferry_consumer.failed_message (failed_at);
