-- The request path of StartMatchmaking, made cheaper (measured by make bench,
-- docs/bench.md):
--   * a rule set's typed attribute defaults are computed once, when it is
--     loaded, into a generated column, instead of by a SQL function that
--     PostgreSQL re-plans on every call, twice per request;
--   * a new ticket no longer sends NOTIFY: PostgreSQL takes one global lock
--     at the commit of every notifying transaction, which made concurrent
--     StartMatchmaking calls commit one at a time. The matchmaker finds new
--     tickets on its own tick; NOTIFY stays on the rarer cancel and accept.

ALTER TABLE matchmaking.rule_sets ADD COLUMN attribute_defaults jsonb
    GENERATED ALWAYS AS (matchmaking.attribute_defaults(body)) STORED;

-- Functions (applied after the migrations, README "SQL layout"):
-- matchmaking.start_matchmaking: sql/functions/matchmaking.sql.
