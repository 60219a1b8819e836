-- Matchmaking configurations, the ticket pool, and the client-facing ticket
-- results (DESIGN §4).
--
-- Two views of a ticket, as in the AWS flow:
--   matchmaking.tickets     the matchmaker's pool (FlexMatch's own state);
--   backend.ticket_results  what clients read: created with the ticket, then
--                           moved only by FlexMatch events arriving through
--                           event-ingest (the DynamoDB table of the samples).
-- Client reads go to backend.*, never to the pool, so rally's event-ingest
-- works the same fed by rally's matchmaker or by AWS FlexMatch itself.

CREATE SCHEMA matchmaking;
CREATE SCHEMA backend;

CREATE TABLE matchmaking.rule_sets (
    name        text PRIMARY KEY,
    body        jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- body holds the CreateMatchmakingConfiguration fields as loaded from
-- config/configurations/*.json, including rally's ClientSettableAttributes.
CREATE TABLE matchmaking.configurations (
    name           text PRIMARY KEY,
    rule_set_name  text NOT NULL REFERENCES matchmaking.rule_sets (name),
    body           jsonb NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE matchmaking.tickets (
    ticket_id           text PRIMARY KEY,
    configuration_name  text NOT NULL,
    status              text NOT NULL DEFAULT 'QUEUED',
    players             jsonb NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tickets_waiting ON matchmaking.tickets (configuration_name, created_at)
    WHERE status IN ('QUEUED', 'SEARCHING');

-- Server-side player attributes (skill and the like), FlexMatch-typed:
-- {"skill": {"N": 10}}. Created with the rule set defaults on first use.
CREATE TABLE backend.players (
    player_id   text PRIMARY KEY,
    attributes  jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE backend.ticket_results (
    ticket_id            text PRIMARY KEY,
    configuration_name   text NOT NULL,
    status               text NOT NULL,
    status_reason        text,
    status_message       text,
    last_event           text,          -- detail.type of the last applied event
    last_event_time      timestamptz,
    match_id             text,
    acceptance           text,          -- AcceptMatchCompleted.acceptance
    start_time           timestamptz NOT NULL DEFAULT now(),
    end_time             timestamptz,
    estimated_wait_time  integer,
    game_session_arn     text,
    ip_address           text,
    dns_name             text,
    port                 integer,
    updated_at           timestamptz NOT NULL DEFAULT now(),
    expires_at           timestamptz NOT NULL
);
CREATE INDEX ticket_results_expiry ON backend.ticket_results (expires_at);

-- The players of a ticket. `active` marks a ticket still in play for that
-- player: at most one per player.
CREATE TABLE backend.ticket_players (
    ticket_id          text NOT NULL REFERENCES backend.ticket_results ON DELETE CASCADE,
    player_id          text NOT NULL,
    ord                integer NOT NULL DEFAULT 0,
    attributes         jsonb NOT NULL DEFAULT '{}',
    latency            jsonb NOT NULL DEFAULT '{}',
    team               text,
    player_session_id  text,
    accepted           boolean,
    active             boolean NOT NULL,
    PRIMARY KEY (ticket_id, player_id)
);
CREATE UNIQUE INDEX ticket_players_one_active ON backend.ticket_players (player_id) WHERE active;
CREATE INDEX ticket_players_player ON backend.ticket_players (player_id);

-- SNS MessageIds already processed (dedupe) and subscription handshakes seen.
CREATE TABLE backend.sns_messages (
    message_id   text PRIMARY KEY,
    topic_arn    text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);
CREATE INDEX sns_messages_expiry ON backend.sns_messages (expires_at);

CREATE TABLE backend.sns_subscriptions (
    message_id     text PRIMARY KEY,
    message_type   text NOT NULL,
    topic_arn      text NOT NULL,
    subscribe_url  text,
    token          text,
    received_at    timestamptz NOT NULL DEFAULT now()
);

-- FlexMatch typed defaults of a rule set's playerAttributes. The one
-- function kept in a migration: the generated column
-- rule_sets.attribute_defaults (004) is computed by it, so it is part of
-- that table; changing it takes a migration that recomputes the column.
CREATE FUNCTION matchmaking.attribute_defaults(p_rule_set jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(jsonb_object_agg(a->>'name', jsonb_build_object(
               CASE a->>'type' WHEN 'number' THEN 'N' WHEN 'string' THEN 'S'
                               WHEN 'string_list' THEN 'SL' ELSE 'SDM' END, a->'default')),
           '{}'::jsonb)
    FROM jsonb_array_elements(coalesce(p_rule_set->'playerAttributes', '[]'::jsonb)) a
    WHERE a ? 'default';
$$;

-- Functions (applied after the migrations, README "SQL layout"): matchmaking.type_key,
-- start_matchmaking, stop_matchmaking and accept_match: sql/functions/matchmaking.sql.
