-- ferry.enqueue_batch: its current definition, the only one to edit (sql/README.md).
-- Many messages in one call and one transaction (the batcher's group commit and send-batch),
-- each with its target group. Rows come back in input order (ord is 1-based).
--
-- History: created by 001_outbox.sql, dropped and created with target groups and registry mode
-- by 002_registry.sql.
CREATE OR REPLACE FUNCTION ferry.enqueue_batch(
    p_topics text[], p_keys text[], p_payloads text[], p_headers jsonb[],
    p_idempotency_keys text[], p_producer_service_id text, p_producer_instance_id text,
    p_target_groups text[], p_registry text)
RETURNS TABLE (ord integer, id bigint, duplicate boolean)
LANGUAGE plpgsql AS $$
DECLARE
    n integer := coalesce(array_length(p_topics, 1), 0);
    r record;
BEGIN
    FOR i IN 1 .. n LOOP
        r := ferry.enqueue_message(p_topics[i], p_keys[i], p_payloads[i], p_headers[i],
                                   p_idempotency_keys[i], p_producer_service_id,
                                   p_producer_instance_id, p_target_groups[i], p_registry);
        ord := i;
        id := r.id;
        duplicate := r.duplicate;
        RETURN NEXT;
    END LOOP;
END
$$;
