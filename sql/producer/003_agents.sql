-- ferry producer schema, version 3: the consumer agents that registered with the producer, and
-- their health checks (the seed's ConsumerServiceAgent and ServiceHealthCheck).
-- All queries on these tables live in src/producer/agent_store.c.

-- One row per (service, instance, consumer group) a consumer process runs. A consumer registers
-- when it starts (re-registering the same triple refreshes the row and keeps its id), heartbeats
-- while it runs, and deregisters when it stops (status STOPPED; the row is kept).
--   registered_at      the triple's first registration (kept by re-registrations)
--   started_at         the latest registration: when the running consumer process announced itself
--   last_heartbeat_at  the latest registration or heartbeat; the API derives health from its age
CREATE TABLE ferry.consumer_service_agent (
    id                bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    service_id        text        NOT NULL,
    instance_id       text        NOT NULL,
    consumer_group    text        NOT NULL,
    topics            text[]      NOT NULL DEFAULT '{}',
    host              text        NOT NULL,
    port              integer     NOT NULL,
    version           text,                                   -- NULL = not reported
    started_at        timestamptz NOT NULL DEFAULT now(),
    registered_at     timestamptz NOT NULL DEFAULT now(),
    last_heartbeat_at timestamptz NOT NULL DEFAULT now(),
    status            text        NOT NULL DEFAULT 'ACTIVE',
    metadata          jsonb       NOT NULL DEFAULT '{}'::jsonb,
    CONSTRAINT consumer_service_agent_unique UNIQUE (service_id, instance_id, consumer_group),
    CONSTRAINT consumer_service_agent_status_valid CHECK (status IN ('ACTIVE', 'STOPPED')),
    CONSTRAINT consumer_service_agent_port_valid CHECK (port BETWEEN 1 AND 65535),
    CONSTRAINT consumer_service_agent_metadata_object CHECK (jsonb_typeof(metadata) = 'object')
);

-- One row per health report: every consumer heartbeat writes one (agent_kind 'consumer'); the
-- producers' own heartbeats will write 'producer' rows. Append-only: it grows by one row per
-- instance per heartbeat interval, so pruning old rows belongs to the cleanup job.
CREATE TABLE ferry.service_health_check (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    agent_kind  text        NOT NULL,
    service_id  text        NOT NULL,
    instance_id text        NOT NULL,
    checked_at  timestamptz NOT NULL DEFAULT now(),
    healthy     boolean     NOT NULL,
    details     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    CONSTRAINT service_health_check_kind_valid CHECK (agent_kind IN ('producer', 'consumer')),
    CONSTRAINT service_health_check_details_object CHECK (jsonb_typeof(details) = 'object')
);
