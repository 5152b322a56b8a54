-- ferry.message_groups: its current definition, the only one to edit (sql/README.md).
-- The groups a message is for: active registrations of its topic whose window covers the moment
-- it was enqueued, narrowed to its target group when it has one. The one definition used by the
-- relay's fan-out, acknowledgments and the read endpoints.
--
-- History: created by 002_registry.sql; unchanged since.
CREATE OR REPLACE FUNCTION ferry.message_groups(p_topic text, p_target_group text, p_created_at timestamptz)
RETURNS TABLE (id bigint, consumer_group_name text, requires_acknowledgment boolean)
LANGUAGE sql STABLE AS $$
    SELECT g.id, g.consumer_group_name, g.requires_acknowledgment
      FROM ferry.topic_registration t
      JOIN ferry.consumer_group_registration g ON g.topic_registration_id = t.id
     WHERE t.topic_name = p_topic
       AND g.active_since <= p_created_at
       AND (g.deactivated_at IS NULL OR g.deactivated_at > p_created_at)
       AND (p_target_group IS NULL OR g.consumer_group_name = p_target_group)
$$;
