#!/bin/sh
# Runs once, when the postgres container initialises an empty data directory
# (/docker-entrypoint-initdb.d). It leaves three roles besides the superuser, none of them a superuser:
#   ferry_owner    owns the database outbox_db and runs the migrations (ConnectionStrings__MigrationConnection)
#   ferry_service  what the services connect as day to day (ConnectionStrings__DefaultConnection); the rights it
#                  needs on the schema's objects come from the migrations (009) and the default privileges below
#   ferry_enqueue  a group role for applications that write through ferry.enqueue() (grant it to their roles)
# Passwords come from the container's environment (docker-compose.yml), never from this file.
set -eu
: "${FERRY_DB_OWNER_PASSWORD:?}" "${FERRY_DB_SERVICE_PASSWORD:?}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
	-v owner_pw="$FERRY_DB_OWNER_PASSWORD" -v service_pw="$FERRY_DB_SERVICE_PASSWORD" <<'SQL'
CREATE ROLE ferry_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'owner_pw';
CREATE ROLE ferry_service LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'service_pw';
CREATE ROLE ferry_enqueue NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
CREATE DATABASE outbox_db OWNER ferry_owner;
SQL

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname outbox_db <<'SQL'
REVOKE ALL ON DATABASE outbox_db FROM PUBLIC;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT CONNECT ON DATABASE outbox_db TO ferry_service, ferry_enqueue;
-- What the owner's migrations create, the services may use (but not alter or drop).
ALTER DEFAULT PRIVILEGES FOR ROLE ferry_owner GRANT USAGE ON SCHEMAS TO ferry_service;
ALTER DEFAULT PRIVILEGES FOR ROLE ferry_owner GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ferry_service;
ALTER DEFAULT PRIVILEGES FOR ROLE ferry_owner GRANT USAGE, SELECT ON SEQUENCES TO ferry_service;
ALTER DEFAULT PRIVILEGES FOR ROLE ferry_owner GRANT EXECUTE ON FUNCTIONS TO ferry_service;
SQL
