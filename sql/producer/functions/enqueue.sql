-- ferry.enqueue: its current definition, the only one to edit (sql/README.md).
-- The SQL door: call it inside your own transaction, from any language; the message commits or
-- rolls back with your business data. Returns the message id (the original one for a repeated
-- idempotency key).
--   BEGIN;
--   INSERT INTO orders ...;
--   SELECT ferry.enqueue('order-events', 'order-42', '{"event":"created"}');
--   COMMIT;
--
-- SECURITY DEFINER: it runs with its owner's rights, so an application's role needs EXECUTE on
-- it alone (ferry_enqueue, 009_roles.sql) and can read or change no row of ferry's tables. The
-- search_path is fixed so that a caller's objects cannot stand in for pg_catalog's or ferry's
-- (pg_temp last, as PostgreSQL's documentation advises for SECURITY DEFINER functions).
--
-- History: created by 001_outbox.sql, dropped and created again by 002_registry.sql (the new
-- ferry.enqueue_message); SECURITY DEFINER since 009_roles.sql. Its argument names and defaults
-- are part of the SQL door: keep them.
CREATE OR REPLACE FUNCTION ferry.enqueue(
    topic text, key text, payload text, headers jsonb DEFAULT '{}'::jsonb,
    idempotency_key text DEFAULT NULL)
RETURNS bigint
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, ferry, pg_temp
AS $$
    SELECT (ferry.enqueue_message(topic, key, payload, headers, idempotency_key, NULL, NULL, NULL, 'off')).id
$$;
