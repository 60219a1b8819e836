-- Events: the outbox of FlexMatch events and its delivery to SNS-style HTTP
-- subscribers (DESIGN §4, schema events).
--
-- events.publish() writes an event and one delivery per subscription of its
-- topic in the caller's transaction, so an event exists exactly when the
-- state change it reports does. The matchmaker's deliverer claims due
-- deliveries with a lease (a crash mid-delivery only delays a retry), POSTs
-- them as signed SNS Notifications, and deletes each one its endpoint
-- acknowledged. A delivery that fails is retried with exponential backoff;
-- after the last attempt it moves to events.dead_letters. A healthy endpoint
-- receives each message once (event-ingest also drops repeated MessageIds).

CREATE SCHEMA events;

CREATE TABLE events.subscriptions (
    subscription_id   bigserial PRIMARY KEY,
    topic_arn         text NOT NULL,
    endpoint          text NOT NULL CHECK (endpoint ~ '^https?://'),
    subscription_arn  text NOT NULL DEFAULT gen_random_uuid()::text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (topic_arn, endpoint)
);

CREATE TABLE events.outbox (
    message_id  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    topic_arn   text NOT NULL,
    message     text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE events.deliveries (
    message_id       uuid NOT NULL REFERENCES events.outbox ON DELETE CASCADE,
    subscription_id  bigint NOT NULL REFERENCES events.subscriptions ON DELETE CASCADE,
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    PRIMARY KEY (message_id, subscription_id)
);
CREATE INDEX deliveries_due ON events.deliveries (next_attempt_at);

CREATE TABLE events.dead_letters (
    message_id       uuid NOT NULL,
    subscription_id  bigint NOT NULL,
    topic_arn        text NOT NULL,
    endpoint         text NOT NULL,
    message          text NOT NULL,
    attempts         integer NOT NULL,
    last_error       text,
    failed_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (message_id, subscription_id)
);

CREATE FUNCTION events.publish(p_topic_arn text, p_message text) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    id uuid;
BEGIN
    INSERT INTO events.outbox (topic_arn, message) VALUES (p_topic_arn, p_message)
        RETURNING message_id INTO id;
    INSERT INTO events.deliveries (message_id, subscription_id)
        SELECT id, s.subscription_id FROM events.subscriptions s WHERE s.topic_arn = p_topic_arn;
    IF FOUND THEN
        PERFORM pg_notify('rally_outbox', '');
    ELSE
        DELETE FROM events.outbox WHERE message_id = id; -- nobody listens
    END IF;
    RETURN id;
END;
$$;

-- After a delivery succeeded or was given up: drop the message once no
-- delivery of it is left.
CREATE FUNCTION events.finish_delivery(p_message_id uuid, p_subscription_id bigint,
                                       p_dead boolean, p_error text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
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
