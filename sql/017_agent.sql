-- The fleet agent (agent/, docs/agent.md). A process it launched calls
-- ProcessReady with the id the agent gave it (GAMELIFT_SDK_PROCESS_ID) and
-- the compute it runs on (GAMELIFT_SDK_HOST_ID): the agent then learns,
-- by those ids, which of its processes are ready, and which rally ended
-- (FORCE_TERMINATE: the agent ends the process).
--
-- Functions (applied after the migrations, README "SQL layout"):
-- fleet.process_ready (its p_compute), fleet.describe_processes:
-- sql/functions/fleet.sql.

ALTER TABLE fleet.processes ADD COLUMN compute_name text;
