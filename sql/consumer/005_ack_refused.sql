-- ferry consumer schema, version 5: acknowledgments the producer refuses for good (HTTP 400 or
-- 413 for that acknowledgment alone) are set aside instead of being retried forever in front of
-- every later one. They stay in pending_ack with refused_at set and the producer's answer in
-- last_error, counted by the metric ferry_consumer_acks_refused; an operator who fixed the cause
-- sends them again with UPDATE ferry_consumer.pending_ack SET refused_at = NULL.
ALTER TABLE ferry_consumer.pending_ack ADD COLUMN refused_at timestamptz;
