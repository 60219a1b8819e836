-- Functions of the events schema: the outbox of FlexMatch events and its
-- delivery to SNS-style HTTP subscribers (sql/005_events.sql).
--
-- This is the current text of each function, view and trigger of the
-- schema, and the only one (README, "SQL layout"). scripts/migrate.sh
-- applies it after the numbered migrations on every run, in the same
-- transaction, so every statement here must be re-runnable: CREATE OR
-- REPLACE, and a changed signature or result type dropped first under a
-- guard. Table changes go in a new numbered migration, never here.

-- Writes an event and one delivery per subscription of its topic in the
-- caller's transaction, so an event exists exactly when the state change it
-- reports does. Returns the message id, or NULL when the topic has no
-- subscriber (nothing is kept).
CREATE OR REPLACE FUNCTION events.publish(p_topic_arn text, p_message text) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    id uuid;
BEGIN
    -- Asked first: an event written and deleted again cost a tick as much
    -- as applying it.
    IF NOT EXISTS (SELECT 1 FROM events.subscriptions s WHERE s.topic_arn = p_topic_arn) THEN
        RETURN NULL;
    END IF;
    INSERT INTO events.outbox (topic_arn, message) VALUES (p_topic_arn, p_message)
        RETURNING message_id INTO id;
    INSERT INTO events.deliveries (message_id, subscription_id)
        SELECT id, s.subscription_id FROM events.subscriptions s WHERE s.topic_arn = p_topic_arn;
    PERFORM pg_notify('rally_outbox', '');
    RETURN id;
END;
$$;

-- After a delivery succeeded or was given up: drop the message once no
-- delivery of it is left. The message's row is locked first, so that two
-- deliverers finishing its last two deliveries at once cannot both still
-- see the other's and leave it behind: the second waits, then sees.
CREATE OR REPLACE FUNCTION events.finish_delivery(p_message_id uuid, p_subscription_id bigint,
                                       p_dead boolean, p_error text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM events.outbox WHERE message_id = p_message_id FOR UPDATE;
    IF p_dead THEN
        INSERT INTO events.dead_letters (message_id, subscription_id, topic_arn, endpoint, message,
                                         attempts, last_error)
            SELECT d.message_id, d.subscription_id, o.topic_arn, s.endpoint, o.message, d.attempts,
                   p_error
            FROM events.deliveries d JOIN events.outbox o USING (message_id)
                 JOIN events.subscriptions s USING (subscription_id)
            WHERE d.message_id = p_message_id AND d.subscription_id = p_subscription_id
            ON CONFLICT DO NOTHING;
    END IF;
    DELETE FROM events.deliveries WHERE message_id = p_message_id AND subscription_id = p_subscription_id;
    DELETE FROM events.outbox o WHERE o.message_id = p_message_id
        AND NOT EXISTS (SELECT 1 FROM events.deliveries d WHERE d.message_id = p_message_id);
END;
$$;

-- events.finish_delivery for a batch of deliveries that arrived (pairs of
-- p_message_ids[i], p_subscription_ids[i]), in one statement. The messages
-- are locked in one order, so concurrent batches cannot deadlock.
CREATE OR REPLACE FUNCTION events.finish_deliveries(p_message_ids uuid[],
                                                    p_subscription_ids bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM events.outbox WHERE message_id = ANY (p_message_ids)
        ORDER BY message_id FOR UPDATE;
    DELETE FROM events.deliveries d USING unnest(p_message_ids, p_subscription_ids) AS x(m, s)
        WHERE d.message_id = x.m AND d.subscription_id = x.s;
    DELETE FROM events.outbox o WHERE o.message_id = ANY (p_message_ids)
        AND NOT EXISTS (SELECT 1 FROM events.deliveries d WHERE d.message_id = o.message_id);
END;
$$;

-- A subscription deleted takes its deliveries with it (ON DELETE CASCADE);
-- the messages it leaves without any go too. Once per statement: a scan of
-- the outbox when someone unsubscribes, never on the delivery path.
CREATE OR REPLACE FUNCTION events.drop_undeliverable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM events.outbox o
        WHERE NOT EXISTS (SELECT 1 FROM events.deliveries d WHERE d.message_id = o.message_id);
    RETURN NULL;
END;
$$;

CREATE OR REPLACE TRIGGER subscriptions_drop_undeliverable
    AFTER DELETE ON events.subscriptions
    FOR EACH STATEMENT EXECUTE FUNCTION events.drop_undeliverable();


-- An operator's retry of a dead letter (dead-letters, the console): the
-- message back in the outbox (kept there while any delivery of it is) with
-- one delivery to the same subscription, due now; the dead letter gone.
-- 'retried', 'not_found', or 'unsubscribed' when the subscription is gone
-- (the dead letter stays, for the record).
CREATE OR REPLACE FUNCTION events.retry_dead_letter(p_message_id uuid, p_subscription_id bigint)
    RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    d events.dead_letters;
BEGIN
    SELECT * INTO d FROM events.dead_letters
        WHERE message_id = p_message_id AND subscription_id = p_subscription_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 'not_found';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM events.subscriptions WHERE subscription_id = p_subscription_id) THEN
        RETURN 'unsubscribed';
    END IF;
    INSERT INTO events.outbox (message_id, topic_arn, message)
        VALUES (d.message_id, d.topic_arn, d.message) ON CONFLICT (message_id) DO NOTHING;
    INSERT INTO events.deliveries (message_id, subscription_id)
        VALUES (d.message_id, d.subscription_id) ON CONFLICT DO NOTHING;
    DELETE FROM events.dead_letters WHERE message_id = p_message_id AND subscription_id = p_subscription_id;
    PERFORM pg_notify('rally_outbox', '');
    RETURN 'retried';
END;
$$;
