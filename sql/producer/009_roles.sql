-- ferry producer schema, version 9: least privilege in the database.
--
-- Migrations run as the schema's owner (ConnectionStrings__MigrationConnection, or the service's
-- own connection when that is unset); the services can run as a member of ferry_service, which
-- reads and writes ferry's rows and calls its functions but changes no schema; applications that
-- write messages in their own transactions get ferry_enqueue, which may call ferry.enqueue and
-- nothing else. ferry.enqueue becomes SECURITY DEFINER with a fixed search_path (its body in
-- functions/enqueue.sql), so EXECUTE is all that role needs.
--
-- Creating the roles needs CREATEROLE. On a managed database whose migrating role lacks it the
-- roles are skipped with a WARNING (the migration does not fail); a DBA creates them and calls
-- SELECT ferry.grant_roles() (docs/security.md has the SQL).
CREATE FUNCTION ferry.grant_roles()
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_may_create boolean;
    v_role text;
BEGIN
    SELECT r.rolcreaterole OR r.rolsuper INTO v_may_create
      FROM pg_catalog.pg_roles r WHERE r.rolname = current_user;
    FOREACH v_role IN ARRAY ARRAY['ferry_service', 'ferry_enqueue'] LOOP
        CONTINUE WHEN EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname = v_role);
        IF NOT v_may_create THEN
            RAISE WARNING 'ferry: role % does not exist and % may not create it (no CREATEROLE): '
                         'skipped; a DBA creates it and runs SELECT ferry.grant_roles() as %',
                         v_role, current_user, current_user;
            CONTINUE;
        END IF;
        BEGIN
            EXECUTE format('CREATE ROLE %I NOLOGIN', v_role);
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL; -- another database of the cluster created it meanwhile
        END;
    END LOOP;

    -- Nobody but the owner and these roles runs ferry's functions. Only for the functions
    -- that exist: PostgreSQL cannot take PUBLIC's EXECUTE off future functions per schema, so
    -- a migration that creates a function calls this function again (sql/README.md).
    REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA ferry FROM PUBLIC;

    IF EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname = 'ferry_service') THEN
        -- The services: rows and functions, no DDL; ferry.schema_version is the migrations'
        -- (absent when the files were applied by other tools).
        GRANT USAGE ON SCHEMA ferry TO ferry_service;
        GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ferry TO ferry_service;
        IF to_regclass('ferry.schema_version') IS NOT NULL THEN
            REVOKE INSERT, UPDATE, DELETE ON ferry.schema_version FROM ferry_service;
        END IF;
        GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA ferry TO ferry_service;
        GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA ferry TO ferry_service;
        REVOKE EXECUTE ON FUNCTION ferry.grant_roles() FROM ferry_service; -- the owner's
        ALTER DEFAULT PRIVILEGES IN SCHEMA ferry
            GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ferry_service;
        ALTER DEFAULT PRIVILEGES IN SCHEMA ferry GRANT USAGE, SELECT ON SEQUENCES TO ferry_service;
        ALTER DEFAULT PRIVILEGES IN SCHEMA ferry GRANT EXECUTE ON FUNCTIONS TO ferry_service;
    END IF;
    IF EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname = 'ferry_enqueue') THEN
        -- The SQL door and nothing else: ferry.enqueue is SECURITY DEFINER, so its insert runs
        -- with the owner's rights and the role needs no table or sequence privilege.
        GRANT USAGE ON SCHEMA ferry TO ferry_enqueue;
        GRANT EXECUTE ON FUNCTION ferry.enqueue(text, text, text, jsonb, text) TO ferry_enqueue;
    END IF;
END
$$;

-- The one function that only functions/ defined: created here too (the same text), so that the
-- grants below cover it on a new database as well, where the files run after the migrations.
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

SELECT ferry.grant_roles();
