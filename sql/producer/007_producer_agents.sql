-- ferry producer schema, version 7: the producer instances themselves (the seed's
-- ProducerServiceAgent). All queries on this table live in src/producer/agent_store.c.
-- (Versions 5 and 6 belong to other changes; migrations are applied by number, so a gap is fine.)

-- One row per (service, instance) of ferry-producer. An instance registers when it starts
-- (re-registering refreshes the row and keeps its id), beats every heartbeat interval while it
-- runs (each beat also writes a ferry.service_health_check row, agent_kind 'producer'), and sets
-- status STOPPED on a graceful shutdown. A crashed instance keeps ACTIVE and simply stops
-- beating: readers derive its health from the age of last_heartbeat_at.
--   heartbeat_interval_s  the interval this instance promised; health is judged against it, so
--                         instances with different settings are each judged fairly
--   relay_enabled         whether the instance runs a relay (FERRY_RELAY_ENABLED)
--
-- Ids: producer and consumer agents share ONE id space (the consumer agents' identity sequence),
-- so GET /api/agents/{id} is never ambiguous: an id names exactly one agent of either kind.
CREATE TABLE ferry.producer_service_agent (
    id                   bigint      PRIMARY KEY,
    service_id           text        NOT NULL,
    instance_id          text        NOT NULL,
    host                 text        NOT NULL,
    port                 integer     NOT NULL,
    version              text,
    relay_enabled        boolean     NOT NULL,
    heartbeat_interval_s integer     NOT NULL,
    started_at           timestamptz NOT NULL DEFAULT now(),
    registered_at        timestamptz NOT NULL DEFAULT now(),
    last_heartbeat_at    timestamptz NOT NULL DEFAULT now(),
    status               text        NOT NULL DEFAULT 'ACTIVE',
    CONSTRAINT producer_service_agent_unique UNIQUE (service_id, instance_id),
    CONSTRAINT producer_service_agent_status_valid CHECK (status IN ('ACTIVE', 'STOPPED')),
    CONSTRAINT producer_service_agent_port_valid CHECK (port BETWEEN 0 AND 65535),
    CONSTRAINT producer_service_agent_interval_valid CHECK (heartbeat_interval_s BETWEEN 1 AND 3600)
);

-- The shared id space: the default draws from the consumer agents' identity sequence. Resolved
-- here once (a regclass constant, so the dependency is recorded) rather than by name at every
-- insert.
DO $$
BEGIN
    EXECUTE format('ALTER TABLE ferry.producer_service_agent ALTER COLUMN id SET DEFAULT nextval(%L::regclass)',
                   pg_get_serial_sequence('ferry.consumer_service_agent', 'id'));
END
$$;

-- The agents API shows each producer's latest health check: this index finds it without
-- scanning the (append-only, growing) table.
CREATE INDEX service_health_check_latest
    ON ferry.service_health_check (agent_kind, service_id, instance_id, id DESC);
