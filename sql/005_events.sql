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

-- Functions (applied after the migrations, README "SQL layout"): events.publish and
-- events.finish_delivery: sql/functions/events.sql.
