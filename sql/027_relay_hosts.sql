-- Processes of one host process (issue 14, docs/relay.md "On the fleet"):
-- rally-relay hosts many game sessions in one operating-system process. It
-- registers one rally process per game session it can host ("P.1", "P.2",
-- ...), each with host_process P, the id its agent launched it as. The
-- agent asks about P and ends P; fleet.describe_processes and
-- fleet.process_ending answer for the family.
--
-- process_ready and accept_player_session gain a parameter; the old
-- signatures are dropped (an upgraded schema is the fresh one), so fleet-api
-- is restarted with the migration.

ALTER TABLE fleet.processes ADD COLUMN host_process text;
CREATE INDEX processes_host ON fleet.processes (host_process) WHERE host_process IS NOT NULL;

DROP FUNCTION IF EXISTS fleet.process_ready(text, text, text, text, text, integer, integer, text, text);
DROP FUNCTION IF EXISTS fleet.accept_player_session(text, text, text);
