-- ferry.grant_roles: its current definition, the only one to edit (sql/README.md).
-- Least privilege in the database (docs/security.md#database-roles-and-tls-to-postgresql):
-- creates the NOLOGIN group roles ferry_service (the services) and ferry_enqueue (applications
-- using the SQL door) when they are missing and the caller may (CREATEROLE), else says so in a
-- WARNING, and grants each role that exists what it needs in schema ferry. Idempotent: a DBA who
-- created the roles after 009_roles.sql ran calls it as the schema's owner,
--   SELECT ferry.grant_roles();
-- Runs with the caller's rights (GRANT needs the owner); EXECUTE is the owner's alone.
--
-- History: created by 009_roles.sql.
CREATE OR REPLACE FUNCTION ferry.grant_roles()
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
