-- ferry.agent_topic_partition: its current definition, the only one to edit (sql/README.md).
-- The partition a redelivery aimed at an agent goes to: the lowest partition of p_topic in the
-- agent's assigned_partitions; -1 when it reports none (or there is no agent: p_assigned NULL);
-- NULL when what it holds is not {"topic": [partition numbers]} (a row written before the
-- heartbeat check, or by hand): the caller sends by key and says why. Never raises: each step
-- is guarded by a CASE (which evaluates only the branch it takes), so no cast meets a value it
-- cannot convert.
--
-- History: created here; also by 009_roles.sql (the same text), so that its grants are set there.
CREATE OR REPLACE FUNCTION ferry.agent_topic_partition(p_assigned jsonb, p_topic text)
RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN p_assigned IS NULL THEN -1
        WHEN jsonb_typeof(p_assigned) <> 'object' THEN NULL
        WHEN p_assigned -> p_topic IS NULL OR jsonb_typeof(p_assigned -> p_topic) = 'null' THEN -1
        WHEN jsonb_typeof(p_assigned -> p_topic) <> 'array' THEN NULL
        WHEN jsonb_array_length(p_assigned -> p_topic) = 0 THEN -1
        ELSE (SELECT CASE WHEN bool_and(x.n IS NOT NULL AND x.n >= 0 AND x.n <= 2147483647
                                        AND x.n = trunc(x.n))
                          THEN min(x.n)::integer END
                FROM (SELECT CASE WHEN jsonb_typeof(e) = 'number' THEN e::numeric END AS n
                        FROM jsonb_array_elements(p_assigned -> p_topic) e) x)
    END
$$;
