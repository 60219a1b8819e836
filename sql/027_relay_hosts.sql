-- Processes of one host process (issue 14, docs/relay.md "On the fleet"):
-- rally-relay hosts many game sessions in one operating-system process. It
-- registers one rally process per game session it can host ("P.1", "P.2",
-- ...), each with host_process P, the id its agent launched it as. The
-- agent asks about P and ends P; fleet.describe_processes and
-- fleet.process_ending answer for the family.
--
-- process_ready and accept_player_session gain a parameter; the old
-- signatures stay for a release still running during the upgrade (drop
-- them in the next).

ALTER TABLE fleet.processes ADD COLUMN host_process text;
CREATE INDEX processes_host ON fleet.processes (host_process) WHERE host_process IS NOT NULL;
