-- ferry producer schema, version 11: who last changed a consumer group.
-- Adding a group to a topic, updating it and (de)activating it record the actor: "key:<name>"
-- of the API key that authenticated the request (with FERRY_AUTH=off, "api:<X-Ferry-Actor>" as
-- for re-drives, which nobody vouches for). Groups made by topic registration keep NULL until
-- their first change. GET /api/topics/consumer-groups/{id} shows it as updatedBy.
ALTER TABLE ferry.consumer_group_registration ADD COLUMN updated_by text
    CHECK (length(updated_by) <= 200);
