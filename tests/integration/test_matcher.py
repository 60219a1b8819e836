"""rally-matchmaker's matchmaking loop on the real stack: STANDALONE matches
complete by themselves (the matchmaker's events applied in place), tickets
time out, and a standby daemon takes over when the leader is killed."""

import json
import os
import signal
import subprocess
import time
import unittest

import rally
from rally import BIN, RUN, TOP, TOPIC, guest, psql, request, start_ticket, wait_until
from test_outbox import Receiver, free_port

DUEL = {
    "name": "duel", "ruleLanguageVersion": "1.0",
    "playerAttributes": [{"name": "skill", "type": "number", "default": 10}],
    "teams": [{"name": "red", "maxPlayers": 1, "minPlayers": 1},
              {"name": "blue", "maxPlayers": 1, "minPlayers": 1}],
    "rules": [{"name": "Close", "type": "distance",
               "measurements": ["flatten(teams[*].players.attributes[skill])"], "maxDistance": 5}]}

CONFIG = {"Name": "StandaloneDuel", "RuleSetName": "Duel", "RequestTimeoutSeconds": 3,
          "AcceptanceRequired": False, "FlexMatchMode": "STANDALONE",
          "NotificationTarget": TOPIC, "CustomEventData": "duel-test"}

ACCEPTING = {"Name": "AcceptingDuel", "RuleSetName": "Duel", "RequestTimeoutSeconds": 60,
             "AcceptanceRequired": True, "AcceptanceTimeoutSeconds": 2,
             "FlexMatchMode": "STANDALONE", "NotificationTarget": TOPIC}


def load_config():
    rally.load_config(rulesets={"Duel": DUEL},
                      configurations={"StandaloneDuel": CONFIG, "AcceptingDuel": ACCEPTING})


def ticket_of(g, tid):
    return request("GET", "/v1/matchmaking/" + tid, token=g["auth_token"]).json


class Matcher(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        load_config()

    def start(self):
        g = guest()
        t = start_ticket(g["auth_token"], configuration="StandaloneDuel").json
        return g, t["TicketId"]

    def test_standalone_match_completes_by_itself(self):
        (g1, t1), (g2, t2) = self.start(), self.start()
        done = lambda: all(ticket_of(g, t)["Status"] == "COMPLETED" for g, t in ((g1, t1), (g2, t2)))
        self.assertTrue(wait_until(done, 15))
        teams = {ticket_of(g1, t1)["Players"][0]["Team"], ticket_of(g2, t2)["Players"][0]["Team"]}
        self.assertEqual(teams, {"red", "blue"})
        row = psql("SELECT status || ' ' || array_length(ticket_ids, 1) FROM matchmaking.matches "
                   "WHERE :'p1' = ANY(ticket_ids)", t1)
        self.assertEqual(row, ["COMPLETED 2"])

    def test_a_ticket_alone_times_out(self):
        g, t = self.start()
        self.assertTrue(wait_until(lambda: ticket_of(g, t)["Status"] == "TIMED_OUT", 15))
        self.assertEqual(psql("SELECT status FROM matchmaking.tickets WHERE ticket_id = :'p1'", t),
                         ["TIMED_OUT"])

    def test_skill_apart_do_not_match(self):
        g1, t1 = self.start()
        psql("UPDATE backend.players SET attributes = '{\"skill\": {\"N\": 50}}' WHERE player_id = :'p1'",
             g1["user_id"])
        g2 = guest()
        psql("INSERT INTO backend.players (player_id, attributes) VALUES (:'p1', '{\"skill\": {\"N\": 50}}')",
             g2["user_id"])
        t2 = start_ticket(g2["auth_token"], configuration="StandaloneDuel").json["TicketId"]
        # t1's players row existed before its ticket: skill 10 on the ticket, 50 for t2.
        self.assertTrue(wait_until(lambda: ticket_of(g1, t1)["Status"] == "TIMED_OUT", 15))
        self.assertTrue(wait_until(lambda: ticket_of(g2, t2)["Status"] == "TIMED_OUT", 15))

    def test_standby_takes_over_when_the_leader_dies(self):
        leader = rally.pids("matchmaker")
        supervisor = rally.pids("matchmaker.supervisor")
        log = open(os.path.join(RUN, "logs", "matchmaker-standby.log"), "a")
        standby = subprocess.Popen([os.path.join(BIN, "rally-matchmaker")], stdout=log,
                                   stderr=subprocess.STDOUT, env=os.environ, start_new_session=True)
        # The supervisor would start the leader again at once: held back
        # here, so that it is the standby that must take over.
        os.kill(supervisor, signal.SIGSTOP)
        try:
            time.sleep(1)
            os.kill(leader, signal.SIGKILL)
            killed_at = time.time()
            (g1, t1), (g2, t2) = self.start(), self.start()
            done = lambda: all(ticket_of(g, t)["Status"] == "COMPLETED" for g, t in ((g1, t1), (g2, t2)))
            self.assertTrue(wait_until(done, 15))
            self.assertLess(time.time() - killed_at, 10)
            with open(os.path.join(RUN, "logs", "matchmaker-standby.log")) as f:
                self.assertIn("leading configuration StandaloneDuel", f.read())
        finally:
            os.kill(supervisor, signal.SIGCONT)
            # The supervisor starts a new matchmaker; the standby leaves.
            self.assertTrue(wait_until(lambda: rally.pids("matchmaker") != leader, 10))
            standby.terminate()
            standby.wait()
            log.close()


class Acceptance(unittest.TestCase):
    """AcceptanceRequired: each test's players get a skill of their own, so
    the tests' tickets never match each other."""

    @classmethod
    def setUpClass(cls):
        load_config()

    def pair(self, skill):
        out = []
        for _ in range(2):
            g = guest()
            psql("INSERT INTO backend.players (player_id, attributes) VALUES (:'p1', :'p2')",
                 g["user_id"], json.dumps({"skill": {"N": skill}}))
            t = start_ticket(g["auth_token"], configuration="AcceptingDuel").json["TicketId"]
            out.append((g, t))
        proposed = lambda: all(ticket_of(g, t)["Status"] == "REQUIRES_ACCEPTANCE" for g, t in out)
        self.assertTrue(wait_until(proposed, 15))
        return out

    def answer(self, g, t, kind):
        r = request("POST", "/v1/matchmaking/%s/accept" % t, {"acceptanceType": kind},
                    token=g["auth_token"])
        self.assertEqual(r.status, 200, r.json)

    def test_all_accept_then_completed(self):
        (g1, t1), (g2, t2) = self.pair(1000)
        self.answer(g1, t1, "ACCEPT")
        self.answer(g2, t2, "ACCEPT")
        done = lambda: all(ticket_of(g, t)["Status"] == "COMPLETED" for g, t in ((g1, t1), (g2, t2)))
        self.assertTrue(wait_until(done, 10))
        self.assertEqual(psql("SELECT status FROM matchmaking.matches WHERE :'p1' = ANY(ticket_ids)", t1),
                         ["COMPLETED"])

    def test_a_rejection_cancels_the_rejecter_and_frees_the_other(self):
        (g1, t1), (g2, t2) = self.pair(2000)
        self.answer(g1, t1, "ACCEPT")
        self.answer(g2, t2, "REJECT")
        self.assertTrue(wait_until(lambda: ticket_of(g2, t2)["Status"] == "CANCELLED", 10))
        self.assertTrue(wait_until(lambda: ticket_of(g1, t1)["Status"] == "SEARCHING", 10))
        self.assertEqual(psql("SELECT status || ' ' || (match_id IS NULL) FROM matchmaking.tickets "
                              "WHERE ticket_id = :'p1'", t1), ["SEARCHING true"])
        # Its answer is forgotten: the next proposal starts afresh.
        self.assertEqual(psql("SELECT accepted IS NULL FROM backend.ticket_players "
                              "WHERE ticket_id = :'p1'", t1), ["t"])

    def test_no_answer_in_time_cancels_both(self):
        (g1, t1), (g2, t2) = self.pair(3000)
        cancelled = lambda: all(ticket_of(g, t)["Status"] == "CANCELLED" for g, t in ((g1, t1), (g2, t2)))
        self.assertTrue(wait_until(cancelled, 10))
        self.assertEqual(psql("SELECT status FROM matchmaking.matches WHERE :'p1' = ANY(ticket_ids)", t1),
                         ["CANCELLED"])


class Cancellation(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        load_config()

    def test_stop_matchmaking_is_announced_once(self):
        port = free_port()
        receiver = Receiver(port)
        self.addCleanup(receiver.close)
        endpoint = "http://127.0.0.1:%d/sns" % port
        psql("INSERT INTO events.subscriptions (topic_arn, endpoint) VALUES (:'p1', :'p2')", TOPIC, endpoint)
        self.addCleanup(psql, "DELETE FROM events.subscriptions WHERE endpoint = :'p1'", endpoint)
        g = guest()
        psql("INSERT INTO backend.players (player_id, attributes) VALUES (:'p1', '{\"skill\": {\"N\": 9000}}')",
             g["user_id"])
        t = start_ticket(g["auth_token"], configuration="StandaloneDuel").json["TicketId"]
        self.assertTrue(wait_until(lambda: ticket_of(g, t)["Status"] == "SEARCHING", 10))
        self.assertEqual(request("DELETE", "/v1/matchmaking/" + t, token=g["auth_token"]).status, 200)

        def cancelled_events():
            out = []
            for _, body in list(receiver.received):
                d = json.loads(body["Message"])["detail"]
                if d["type"] == "MatchmakingCancelled" and d["tickets"][0]["ticketId"] == t:
                    out.append(d)
            return out
        self.assertTrue(wait_until(lambda: len(cancelled_events()) == 1, 10))
        d = cancelled_events()[0]
        self.assertEqual((d["reason"], d["message"]), ("Cancelled", "Cancelled by request."))
        self.assertEqual(d["tickets"][0]["players"], [{"playerId": g["user_id"]}])
        time.sleep(1.5)  # later ticks do not announce it again
        self.assertEqual(len(cancelled_events()), 1)
        self.assertEqual(ticket_of(g, t)["Status"], "CANCELLED")
