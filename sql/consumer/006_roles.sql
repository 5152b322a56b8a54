-- ferry consumer schema, version 6: least privilege in the database (as the producer's
-- 009_roles.sql; docs/security.md#database-roles-and-tls-to-postgresql).
--
-- Migrations run as the schema's owner (ConnectionStrings__MigrationConnection, or the service's
-- own connection when that is unset); the consumer can run as a member of the NOLOGIN group role
-- ferry_service, which reads and writes the inbox's rows but changes no schema. The role is
-- created here when missing and the migrating role may (CREATEROLE); otherwise a WARNING, and a
-- DBA creates it and runs the GRANTs below as the owner (docs/security.md has them). The
-- consumer schema has no functions. Roles belong to the cluster: the producer's migration may
-- have made it already, in this database or another.
DO $$
DECLARE
    v_may_create boolean;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname = 'ferry_service') THEN
        SELECT r.rolcreaterole OR r.rolsuper INTO v_may_create
          FROM pg_catalog.pg_roles r WHERE r.rolname = current_user;
        IF NOT v_may_create THEN
            RAISE WARNING 'ferry: role ferry_service does not exist and % may not create it (no '
                         'CREATEROLE): skipped; a DBA creates it and grants it the inbox '
                         '(docs/security.md)', current_user;
            RETURN;
        END IF;
        BEGIN
            CREATE ROLE ferry_service NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL; -- another database of the cluster created it meanwhile
        END;
    END IF;
    GRANT USAGE ON SCHEMA ferry_consumer TO ferry_service;
    GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ferry_consumer TO ferry_service;
    GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA ferry_consumer TO ferry_service;
    ALTER DEFAULT PRIVILEGES IN SCHEMA ferry_consumer
        GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ferry_service;
    ALTER DEFAULT PRIVILEGES IN SCHEMA ferry_consumer
        GRANT USAGE, SELECT ON SEQUENCES TO ferry_service;
    -- The migrations' record: readable, never written, by the service (absent when the files
    -- were applied by other tools).
    IF to_regclass('ferry.schema_version') IS NOT NULL THEN
        GRANT USAGE ON SCHEMA ferry TO ferry_service;
        GRANT SELECT ON ferry.schema_version TO ferry_service;
    END IF;
END
$$;
