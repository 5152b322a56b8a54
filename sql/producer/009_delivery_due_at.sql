-- ferry producer schema, version 9: the retry job finds the deliveries it has work for through an
-- index on when each one next needs it, instead of reading every outstanding delivery on every
-- pass. Before this, a consumer group down for hours with its redeliveries waiting out their
-- backoff made each pass (every 10 s) read every SENT delivery only to find none due: 0.4 s for
-- 1.5 million on this machine, growing with the outage (bench/retry-scan).
--
-- due_at is a lower bound of the moment ferry.retry_settle_spent or the claim in
-- src/producer/retry_store.c can act on the delivery: both still test their whole condition, so a
-- due_at that is too early costs a row read per pass, never a wrong redelivery; one that is too
-- late would delay a redelivery, which is why every change of the inputs recomputes it:
--   the relay sets it when it inserts the delivery (sent_at + the group's timeout, outbox_store.c);
--   the trigger below, when an update names status, negative_ack_at or redrive_requested_at
--   (a negative acknowledgment, a retry, a re-drive; acknowledgments and verdicts leave SENT);
--   the trigger on consumer_group_registration, when a change of a group's timeout, budget or
--   acknowledgment requirement makes its deliveries due sooner (through the API or by hand).
-- The default '-infinity' ("look at it on the next pass") keeps any other writer correct. A due_at
-- left too early (a group given a longer timeout, a row some other writer touched) is put right
-- by the retry job itself, a batch at a time (ferry.retry_refresh_due_at), so that such rows do
-- not cost every pass a read.
ALTER TABLE ferry.message_delivery ADD COLUMN due_at timestamptz NOT NULL DEFAULT '-infinity';

-- When the retry job next has something to do with delivery d of group g: now for a re-drive;
-- never while the group does not ask for acknowledgments; after a negative acknowledgment, once
-- the backoff has passed (or at once, to settle it FAILED, when the budget is spent); otherwise
-- when the acknowledgment timeout of the last send runs out (and the backoff has passed, if
-- there are retries left). The same rules as the claim and the verdicts, in one place.
CREATE FUNCTION ferry.delivery_due_at(d ferry.message_delivery, g ferry.consumer_group_registration)
RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN d.redrive_requested_at IS NOT NULL THEN '-infinity'::timestamptz
        WHEN NOT g.requires_acknowledgment THEN 'infinity'::timestamptz
        WHEN d.negative_ack_at >= coalesce(d.last_retry_at, d.sent_at, '-infinity') THEN
            CASE WHEN g.max_retries < 0 OR d.retry_count < g.max_retries
                 THEN greatest(d.negative_ack_at, d.scheduled_retry_at)
                 ELSE d.negative_ack_at END
        ELSE
            CASE WHEN g.max_retries < 0 OR d.retry_count < g.max_retries
                 THEN greatest(coalesce(d.last_retry_at, d.sent_at, d.updated_at)
                               + g.acknowledgment_timeout_seconds * interval '1 second',
                               d.scheduled_retry_at)
                 ELSE coalesce(d.last_retry_at, d.sent_at, d.updated_at)
                      + g.acknowledgment_timeout_seconds * interval '1 second' END
    END
$$;

CREATE FUNCTION ferry.delivery_refresh_due_at() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    g ferry.consumer_group_registration;
BEGIN
    SELECT * INTO g FROM ferry.consumer_group_registration WHERE id = NEW.consumer_group_id;
    NEW.due_at := CASE WHEN FOUND THEN ferry.delivery_due_at(NEW, g)
                       ELSE '-infinity'::timestamptz END;
    RETURN NEW;
END
$$;

-- Only updates of a delivery that stays or becomes SENT call it: acknowledgments (status
-- ACKNOWLEDGED, the hot path) are filtered out by the WHEN clause before any function runs.
CREATE TRIGGER message_delivery_due_at
    BEFORE UPDATE OF status, negative_ack_at, redrive_requested_at ON ferry.message_delivery
    FOR EACH ROW WHEN (NEW.status = 'SENT')
    EXECUTE FUNCTION ferry.delivery_refresh_due_at();

-- Writes only the deliveries that became due sooner: a later due_at may wait for the job's
-- refresh, so that lengthening the timeout of a group with a million deliveries waiting (during
-- the outage that made them wait) does not rewrite them all inside the operator's request.
CREATE FUNCTION ferry.group_refresh_due_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE ferry.message_delivery d SET due_at = ferry.delivery_due_at(d, NEW)
     WHERE d.consumer_group_id = NEW.id AND d.status = 'SENT'
       AND d.due_at > ferry.delivery_due_at(d, NEW);
    RETURN NULL;
END
$$;

CREATE TRIGGER consumer_group_registration_due_at
    AFTER UPDATE OF acknowledgment_timeout_seconds, max_retries, requires_acknowledgment
    ON ferry.consumer_group_registration
    FOR EACH ROW
    WHEN (OLD.acknowledgment_timeout_seconds IS DISTINCT FROM NEW.acknowledgment_timeout_seconds
          OR OLD.max_retries IS DISTINCT FROM NEW.max_retries
          OR OLD.requires_acknowledgment IS DISTINCT FROM NEW.requires_acknowledgment)
    EXECUTE FUNCTION ferry.group_refresh_due_at();

-- The retry job's repair, after a claim that did not fill its batch: the first p_limit deliveries
-- whose due_at has passed (what is left once the due ones were taken) get their due_at
-- recomputed; those it was too early for move to their real time and stop being read by every
-- pass. Locks only the deliveries, skipping those an acknowledgment or another job holds.
-- Returns how many it moved (p_limit: there may be more).
CREATE FUNCTION ferry.retry_refresh_due_at(p_limit integer)
RETURNS integer
LANGUAGE sql AS $$
    WITH stale AS (
        SELECT d.message_id, d.consumer_group_id, ferry.delivery_due_at(d, g) AS due
          FROM ferry.message_delivery d
          JOIN ferry.consumer_group_registration g ON g.id = d.consumer_group_id
         WHERE d.status = 'SENT' AND d.due_at <= now()
         ORDER BY d.due_at
         LIMIT p_limit
           FOR NO KEY UPDATE OF d SKIP LOCKED),
    moved AS (
        UPDATE ferry.message_delivery d SET due_at = s.due
          FROM stale s
         WHERE d.message_id = s.message_id AND d.consumer_group_id = s.consumer_group_id
           AND s.due > d.due_at
        RETURNING 1)
    SELECT count(*)::integer FROM moved
$$;

-- The deliveries already outstanding (one pass over them, at upgrade).
UPDATE ferry.message_delivery d SET due_at = ferry.delivery_due_at(d, g)
  FROM ferry.consumer_group_registration g
 WHERE g.id = d.consumer_group_id AND d.status = 'SENT';

-- The retry job reads this in due_at order and stops after its batch.
CREATE INDEX message_delivery_due ON ferry.message_delivery (due_at) WHERE status = 'SENT';

-- The verdicts (version 5) in due_at order through that index (due_at alone: the index gives that
-- order as it is, so a pass stops after p_limit rows however many are due); otherwise unchanged.
CREATE OR REPLACE FUNCTION ferry.retry_settle_spent(p_limit integer, p_actor text)
RETURNS TABLE (message_id bigint, consumer_group text, status text)
LANGUAGE plpgsql AS $$
DECLARE
    a_ids bigint[];
    a_groups text[];
    a_status text[];
BEGIN
    WITH spent AS (
        SELECT d.message_id AS mid, d.consumer_group_id AS gid,
               g.acknowledgment_timeout_seconds AS timeout_s,
               coalesce(d.negative_ack_at >= coalesce(d.last_retry_at, d.sent_at, '-infinity'),
                        false) AS nacked
          FROM ferry.message_delivery d
          JOIN ferry.consumer_group_registration g ON g.id = d.consumer_group_id
          JOIN ferry.outbox_message m ON m.id = d.message_id
         WHERE d.status = 'SENT' AND d.due_at <= now() AND d.redrive_requested_at IS NULL
           AND g.requires_acknowledgment AND g.max_retries >= 0
           AND d.retry_count >= g.max_retries
           AND (d.negative_ack_at >= coalesce(d.last_retry_at, d.sent_at, '-infinity')
                OR coalesce(d.last_retry_at, d.sent_at, d.updated_at)
                   + g.acknowledgment_timeout_seconds * interval '1 second' <= now())
         ORDER BY d.due_at
         LIMIT p_limit
           FOR NO KEY UPDATE OF m, d SKIP LOCKED),
    u AS (
        UPDATE ferry.message_delivery d
           SET status = CASE WHEN s.nacked THEN 'FAILED' ELSE 'EXPIRED' END,
               error_message = CASE WHEN s.nacked THEN d.error_message
                   ELSE format('not acknowledged within %s s of the last delivery, after %s '
                               'retries', s.timeout_s, d.retry_count)
                        || coalesce('; last error: ' || d.error_message, '') END,
               scheduled_retry_at = NULL, updated_at = clock_timestamp()
          FROM spent s
         WHERE d.message_id = s.mid AND d.consumer_group_id = s.gid
        RETURNING d.message_id AS mid, d.consumer_group AS grp, d.status AS st,
                  d.retry_count AS retries, d.error_message AS err),
    e AS (
        INSERT INTO ferry.message_event (message_id, consumer_group, event, actor, detail)
        SELECT u.mid, u.grp, lower(u.st), p_actor,
               jsonb_build_object('retryCount', u.retries, 'errorMessage', u.err)
          FROM u)
    SELECT array_agg(u.mid), array_agg(u.grp), array_agg(u.st)
      INTO a_ids, a_groups, a_status FROM u;
    IF a_ids IS NOT NULL THEN
        -- A fresh statement sees the updates above.
        PERFORM ferry.settle_message_status(a_ids);
        RETURN QUERY SELECT * FROM unnest(a_ids, a_groups, a_status);
    END IF;
END
$$;
