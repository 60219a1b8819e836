"""The fleet API and WITH_QUEUE placement on the real stack: game server
processes (simulated here over the real HTTP routes) register, heartbeat and
activate; the matchmaker places each match on the best location, reserves
player sessions, and the players' tickets complete with the connection info
(the matchmaker's events applied in place)."""

import json
import os
import subprocess
import threading
import time
import unittest

import players
import rally
from rally import RUN, guest, psql, request, start_ticket, wait_until
from test_outbox import Receiver, free_port

FLEET = "fleet-test"
DUEL = {
    "name": "duel", "ruleLanguageVersion": "1.0",
    "playerAttributes": [{"name": "skill", "type": "number", "default": 10}],
    "teams": [{"name": "red", "maxPlayers": 1, "minPlayers": 1},
              {"name": "blue", "maxPlayers": 1, "minPlayers": 1}],
    "rules": [{"name": "Close", "type": "distance",
               "measurements": ["flatten(teams[*].players.attributes[skill])"], "maxDistance": 5}]}
QUEUE = {"Name": "test-queue", "TimeoutInSeconds": 5,
         # Nobody above 100 ms for the first 2 s of a placement, then anywhere.
         "PlayerLatencyPolicies": [{"MaximumIndividualPlayerLatencyMilliseconds": 100,
                                    "PolicyDurationSeconds": 2}],
         "Destinations": [{"DestinationArn": "arn:aws:gamelift:local:000000000000:fleet/" + FLEET}]}
FLEET_FILE = {"FleetId": FLEET, "Locations": [{"Location": "us-east-1"}, {"Location": "eu-west-1"}],
              "RuntimeConfiguration": {"GameSessionActivationTimeoutSeconds": 2},
              "PlayerSessionReservationTimeoutSeconds": 2, "ProcessHeartbeatTimeoutSeconds": 2}
CONFIG = {"Name": "QueuedDuel", "RuleSetName": "QueuedDuelRules", "RequestTimeoutSeconds": 30,
          "AcceptanceRequired": False, "FlexMatchMode": "WITH_QUEUE",
          "GameSessionQueueArns": ["arn:aws:gamelift:local:000000000000:gamesessionqueue/test-queue"],
          "GameProperties": [{"Key": "mode", "Value": "duel"}], "GameSessionData": "map=arena",
          "NotificationTarget": rally.TOPIC}


def server_token(fleet=FLEET):
    with open(os.path.join(RUN, "fleets", fleet + ".secret")) as f:
        secret = f.read().strip()
    r = request("POST", "/v1/identity/server", {"fleetId": fleet, "fleetSecret": secret})
    assert r.status == 200, r
    return r.json["auth_token"]


class Server:
    """A game server process speaking the fleet API: ProcessReady, then a
    heartbeat every 0.2 s; activates the game session it is handed unless
    told not to."""

    def __init__(self, token, location, port, activate=True):
        self.token, self.activate, self.session, self.gone = token, activate, None, False
        r = request("POST", "/v1/fleet/processes",
                    {"location": location, "ipAddress": "127.0.0.1", "dnsName": "localhost",
                     "port": port, "maxPlayers": 10}, token=token)
        assert r.status == 201, r
        self.process_id = r.json["processId"]
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.beat, daemon=True)
        self.thread.start()

    def beat(self):
        while not self.stop_event.wait(0.2):
            r = request("POST", "/v1/fleet/processes/%s/heartbeat" % self.process_id, token=self.token)
            if r.status == 410:
                self.gone = True
                return
            gs = r.json.get("gameSession")
            if gs and self.session is None:
                self.session = gs
                if self.activate:
                    a = request("POST", "/v1/fleet/game-sessions/%s/activate" % gs["gameSessionId"],
                                token=self.token)
                    assert a.status == 200, a

    def stop(self):
        self.stop_event.set()
        self.thread.join()


def clear_pool(configuration):
    """Takes every unfinished ticket and match of a configuration out of play
    (as if cancelled, without events)."""
    psql("UPDATE matchmaking.tickets SET status = 'CANCELLED', cancel_announced = true "
         "WHERE configuration_name = :'p1' AND status NOT IN "
         "('COMPLETED', 'CANCELLED', 'TIMED_OUT', 'FAILED')", configuration)
    psql("UPDATE matchmaking.matches SET status = 'FAILED' WHERE configuration_name = :'p1' "
         "AND status IN ('PLACING', 'REQUIRES_ACCEPTANCE')", configuration)


def ticket_of(g, tid):
    return request("GET", "/v1/matchmaking/" + tid, token=g["auth_token"]).json


class Fleet(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        secret = os.path.join(RUN, "fleets", FLEET + ".secret")
        with open(secret, "w") as f:
            f.write("test-secret-" + FLEET)
        os.chmod(secret, 0o600)
        cls.load()
        cls.token = server_token()

    @staticmethod
    def load():
        rally.load_config(rulesets={"QueuedDuelRules": DUEL}, queues={"test-queue": QUEUE},
                          fleets={FLEET: FLEET_FILE}, configurations={"QueuedDuel": CONFIG})

    def setUp(self):
        # Each test starts from an empty fleet and an empty pool.
        psql("UPDATE fleet.processes SET status = 'TERMINATED' WHERE fleet_id = :'p1'", FLEET)
        clear_pool("QueuedDuel")
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.stop()

    def server(self, location, port, activate=True):
        s = Server(self.token, location, port, activate)
        self.servers.append(s)
        return s

    def players(self, latencies):
        out = []
        for lat in latencies:
            g = guest()
            r = start_ticket(g["auth_token"], latency=lat, configuration="QueuedDuel")
            self.assertIn(r.status, (200, 201), r.json)
            out.append((g, r.json["TicketId"]))
        return out

    def subscribe(self):
        """A receiver of the events topic, for this test."""
        receiver = Receiver(free_port())
        self.addCleanup(receiver.close)
        endpoint = "http://127.0.0.1:%d/" % receiver.port
        psql("INSERT INTO events.subscriptions (topic_arn, endpoint) VALUES (:'p1', :'p2')",
             rally.TOPIC, endpoint)
        self.addCleanup(psql, "DELETE FROM events.subscriptions WHERE endpoint = :'p1'", endpoint)
        return receiver

    def completed(self, tickets, timeout=15):
        done = lambda: all(ticket_of(g, t)["Status"] == "COMPLETED" for g, t in tickets)
        self.assertTrue(wait_until(done, timeout), [ticket_of(g, t) for g, t in tickets])
        return [ticket_of(g, t) for g, t in tickets]

    # ---- the routes themselves -------------------------------------------------

    def test_process_ready_refuses_bad_input(self):
        base = {"location": "us-east-1", "ipAddress": "127.0.0.1", "port": 7777, "maxPlayers": 10}
        for change, code in (({"ipAddress": "not-an-ip"}, "invalid_body"),
                             ({"port": 0}, "invalid_body"),
                             ({"maxPlayers": 500}, "invalid_body"),
                             ({"location": "mars-1"}, "unknown_location"),
                             ({"extra": 1}, "invalid_body"),
                             ({"location": None}, "invalid_body"),
                             ({"ipAddress": None}, "invalid_body"),
                             ({"location": None, "ipAddress": None, "sdk": "Go 5.6.0"}, "invalid_body"),
                             ({"sdk": "bad\nsdk"}, "invalid_body")):
            body = {k: v for k, v in dict(base, **change).items() if v is not None}
            r = request("POST", "/v1/fleet/processes", body, token=self.token)
            self.assertEqual((r.status, r.json["error"]), (400, code), change)
        # Ready by a compute that was never registered: named in the refusal.
        r = request("POST", "/v1/fleet/processes", {"computeName": "never-registered", "port": 7777,
                                                   "maxPlayers": 10}, token=self.token)
        self.assertEqual((r.status, r.json["error"]), (404, "unknown_compute"))
        self.assertEqual(psql("SELECT count(*) FROM fleet.processes WHERE fleet_id = :'p1' "
                              "AND status = 'ACTIVE'", FLEET), ["0"])
        # A player's token is not a server's.
        r = request("POST", "/v1/fleet/processes", base, token=guest()["auth_token"])
        self.assertIn(r.status, (401, 403))

    def test_a_fleet_without_configuration_is_refused(self):
        with open(os.path.join(RUN, "fleets", "fleet-nowhere.secret"), "w") as f:
            f.write("nowhere")
        r = request("POST", "/v1/fleet/processes",
                    {"location": "us-east-1", "ipAddress": "127.0.0.1", "port": 1, "maxPlayers": 2},
                    token=server_token("fleet-nowhere"))
        self.assertEqual((r.status, r.json["error"]), (403, "unknown_fleet"))

    def test_another_fleets_process_is_not_found(self):
        s = self.server("us-east-1", 7001)
        other = server_token("fleet-local")
        for method, path in (("POST", "/v1/fleet/processes/%s/heartbeat"),
                             ("DELETE", "/v1/fleet/processes/%s")):
            r = request(method, path % s.process_id, token=other)
            self.assertEqual(r.status, 404, r.json)
        self.assertEqual(psql("SELECT status FROM fleet.processes WHERE process_id = :'p1'",
                              s.process_id), ["ACTIVE"])

    def test_process_ending_is_final(self):
        s = self.server("us-east-1", 7002)
        r = request("DELETE", "/v1/fleet/processes/" + s.process_id, token=self.token)
        self.assertEqual(r.status, 200)
        self.assertTrue(wait_until(lambda: s.gone, 5))  # heartbeat answered 410
        self.assertEqual(psql("SELECT status || ' ' || status_reason FROM fleet.processes "
                              "WHERE process_id = :'p1'", s.process_id), ["TERMINATED PROCESS_ENDING"])

    # ---- placement --------------------------------------------------------------

    def test_match_placed_in_the_lowest_latency_location(self):
        east, west = self.server("us-east-1", 7101), self.server("eu-west-1", 7102)
        pair = self.players([{"us-east-1": 90, "eu-west-1": 30}, {"us-east-1": 80, "eu-west-1": 40}])
        views = self.completed(pair)
        self.assertIsNone(east.session)
        gs = west.session
        self.assertEqual((gs["location"], gs["port"], gs["ipAddress"]), ("eu-west-1", 7102, "127.0.0.1"))
        self.assertEqual(gs["gameProperties"], [{"Key": "mode", "Value": "duel"}])
        self.assertEqual(gs["gameSessionData"], "map=arena")
        data = json.loads(gs["matchmakerData"])
        self.assertEqual(data["matchmakingConfigurationArn"], rally.CONFIG_ARN + "QueuedDuel")
        self.assertEqual(sorted(t["name"] for t in data["teams"]), ["blue", "red"])
        players = {p["playerId"]: p for t in data["teams"] for p in t["players"]}
        self.assertEqual(set(players), {g["user_id"] for g, _ in pair})
        for p in players.values():
            self.assertEqual(p["attributes"]["skill"], {"attributeType": "DOUBLE", "valueAttribute": 10})
        for (g, _), view in zip(pair, views):
            info = view["GameSessionConnectionInfo"]
            self.assertEqual((info["IpAddress"], info["Port"], info["DnsName"]),
                             ("127.0.0.1", 7102, "localhost"))
            self.assertEqual(info["GameSessionArn"], gs["gameSessionArn"])
            mine = [m for m in info["MatchedPlayerSessions"] if m["PlayerId"] == g["user_id"]]
            self.assertTrue(mine[0]["PlayerSessionId"].startswith("psess-"))

        # The game server validates each player once.
        for view in views:
            psess = view["GameSessionConnectionInfo"]["MatchedPlayerSessions"][0]["PlayerSessionId"]
            r = request("POST", "/v1/fleet/player-sessions/%s/accept" % psess,
                        {"gameSessionId": gs["gameSessionId"]}, token=self.token)
            self.assertEqual(r.status, 200, r.json)
            r = request("POST", "/v1/fleet/player-sessions/%s/accept" % psess, token=self.token)
            self.assertEqual((r.status, r.json["error"]), (409, "not_reserved"))
            r = request("POST", "/v1/fleet/player-sessions/%s/remove" % psess, token=self.token)
            self.assertEqual(r.status, 200)
            r = request("POST", "/v1/fleet/player-sessions/%s/remove" % psess, token=self.token)
            self.assertEqual(r.status, 409)
        r = request("POST", "/v1/fleet/player-sessions/psess-nope/accept", token=self.token)
        self.assertEqual(r.status, 404)

    def test_latency_policy_holds_then_relaxes(self):
        self.server("us-east-1", 7201)
        pair = self.players([{"us-east-1": 150}, {"us-east-1": 160}])
        self.completed(pair)
        # Above the 100 ms cap: the game session waited for the policy to end.
        waited = psql("SELECT extract(epoch FROM g.created_at - m.placement_started_at) "
                      "FROM fleet.game_sessions g JOIN matchmaking.matches m USING (match_id) "
                      "WHERE :'p1' = ANY(m.ticket_ids)", pair[0][1])
        self.assertGreaterEqual(float(waited[0]), 2.0)

    def test_within_the_cap_placed_at_once(self):
        self.server("us-east-1", 7251)
        pair = self.players([{"us-east-1": 50}, {"us-east-1": 60}])
        self.completed(pair)
        waited = psql("SELECT extract(epoch FROM g.created_at - m.placement_started_at) "
                      "FROM fleet.game_sessions g JOIN matchmaking.matches m USING (match_id) "
                      "WHERE :'p1' = ANY(m.ticket_ids)", pair[0][1])
        self.assertLess(float(waited[0]), 2.0)

    def test_activation_timeout_moves_the_match_to_another_process(self):
        lazy = self.server("us-east-1", 7301, activate=False)
        pair = self.players([{"us-east-1": 20}, {"us-east-1": 30}])
        self.assertTrue(wait_until(lambda: lazy.session is not None, 10))
        good = self.server("us-east-1", 7302)
        views = self.completed(pair)
        self.assertEqual(views[0]["GameSessionConnectionInfo"]["Port"], 7302)
        self.assertTrue(wait_until(lambda: lazy.gone, 5))
        self.assertEqual(psql("SELECT status || ' ' || status_reason FROM fleet.processes "
                              "WHERE process_id = :'p1'", lazy.process_id),
                         ["TERMINATED ACTIVATION_TIMEOUT"])
        self.assertEqual(psql("SELECT status FROM fleet.game_sessions WHERE process_id = :'p1'",
                              lazy.process_id), ["TERMINATED"])
        self.assertIsNotNone(good.session)

    def test_reservation_times_out(self):
        self.server("us-east-1", 7401)
        pair = self.players([{"us-east-1": 20}, {"us-east-1": 30}])
        views = self.completed(pair)
        psess = views[0]["GameSessionConnectionInfo"]["MatchedPlayerSessions"][0]["PlayerSessionId"]
        time.sleep(2.2)
        r = request("POST", "/v1/fleet/player-sessions/%s/accept" % psess, token=self.token)
        self.assertEqual((r.status, r.json["error"]), (409, "reservation_expired"))
        self.assertEqual(psql("SELECT status FROM fleet.player_sessions WHERE player_session_id = :'p1'",
                              psess), ["TIMEDOUT"])

    def test_process_ending_ends_its_game_session(self):
        s = self.server("us-east-1", 7501)
        pair = self.players([{"us-east-1": 20}, {"us-east-1": 30}])
        self.completed(pair)
        s.stop()
        r = request("DELETE", "/v1/fleet/processes/" + s.process_id, token=self.token)
        self.assertEqual(r.status, 200)
        self.assertEqual(psql("SELECT g.status || ' ' || g.status_reason FROM fleet.game_sessions g "
                              "WHERE process_id = :'p1'", s.process_id),
                         ["TERMINATED TRIGGERED_ON_PROCESS_TERMINATE"])
        self.assertEqual(psql("SELECT string_agg(DISTINCT ps.status, ',') FROM fleet.player_sessions ps "
                              "JOIN fleet.game_sessions g USING (game_session_id) "
                              "WHERE g.process_id = :'p1'", s.process_id), ["TIMEDOUT"])

    def test_a_silent_process_gets_no_placement(self):
        silent = self.server("us-east-1", 7601)
        silent.stop()  # no more heartbeats
        time.sleep(2.2)  # past ProcessHeartbeatTimeoutSeconds
        pair = self.players([{"us-east-1": 20}, {"us-east-1": 30}])
        time.sleep(1)
        self.assertEqual(psql("SELECT count(*) FROM fleet.game_sessions WHERE process_id = :'p1'",
                              silent.process_id), ["0"])
        self.server("us-east-1", 7602)
        views = self.completed(pair)
        self.assertEqual(views[0]["GameSessionConnectionInfo"]["Port"], 7602)

    def test_no_capacity_until_the_queue_times_out_then_searching_again(self):
        receiver = self.subscribe()
        pair = self.players([{"us-east-1": 20}, {"us-east-1": 30}])
        placing = lambda: all(ticket_of(g, t)["Status"] == "PLACING" for g, t in pair)
        self.assertTrue(wait_until(placing, 10))
        # TimeoutInSeconds 5: back to the pool (where they match again at
        # once), announced as Searching after the first match's events.
        timed_out = lambda: psql("SELECT count(*) FROM matchmaking.matches WHERE :'p1' = ANY(ticket_ids) "
                                 "AND status = 'PLACEMENT_TIMED_OUT'", pair[0][1]) != ["0"]
        self.assertTrue(wait_until(timed_out, 15))
        kinds = lambda: [d["type"] for d in events_of(receiver, pair[0][1])]
        self.assertTrue(wait_until(lambda: len(kinds()) >= 3, 10))
        self.assertEqual(kinds()[:3], ["MatchmakingSearching", "PotentialMatchCreated",
                                       "MatchmakingSearching"])
        # Capacity arrives: they match again and complete.
        self.server("us-east-1", 7701)
        self.completed(pair, 20)

    def test_a_queue_gone_fails_the_match(self):
        # rally-admin refuses a configuration that names a queue it does not
        # define; a queue deleted by hand under a running configuration is
        # what is left, and its match fails rather than waits.
        receiver = self.subscribe()
        self.addCleanup(self.load)
        psql("DELETE FROM fleet.queues WHERE name = 'test-queue'")
        self.server("us-east-1", 7801)
        pair = self.players([{"us-east-1": 20}, {"us-east-1": 30}])
        failed = lambda: all(ticket_of(g, t)["Status"] == "FAILED" for g, t in pair)
        self.assertTrue(wait_until(failed, 10), [ticket_of(g, t) for g, t in pair])
        last = lambda: (events_of(receiver, pair[0][1]) or [{}])[-1]
        self.assertTrue(wait_until(lambda: last().get("type") == "MatchmakingFailed", 10),
                        events_of(receiver, pair[0][1]))
        self.assertEqual(last()["reason"], "UNEXPECTED_ERROR")
        self.assertIn("test-queue", last()["message"])
        self.assertEqual(sorted(t["ticketId"] for t in last()["tickets"]), sorted(t for _, t in pair))
        # Nothing was placed.
        self.assertEqual(psql("SELECT count(*) FROM fleet.game_sessions g JOIN matchmaking.matches m "
                              "USING (match_id) WHERE :'p1' = ANY(m.ticket_ids)", pair[0][1]), ["0"])


# Where each event comes in a ticket's life: events of the same
# millisecond (a match proposed and failed in one tick) keep this order.
LIFE = {"MatchmakingSearching": 0, "PotentialMatchCreated": 1, "AcceptMatch": 2,
        "AcceptMatchCompleted": 3}


def events_of(receiver, ticket_id):
    """The details of the events a receiver got about a ticket, in the
    order of their own time: deliveries run in parallel (SNS promises no
    order either), so arrival says nothing."""
    out = []
    for _, body in list(receiver.received):
        event = json.loads(body["Message"])
        if any(t["ticketId"] == ticket_id for t in event["detail"]["tickets"]):
            out.append((event["time"], LIFE.get(event["detail"]["type"], 9), event["detail"]))
    return [detail for _, _, detail in sorted(out, key=lambda e: (e[0], e[1]))]



class Walkthrough(unittest.TestCase):
    """`make run`'s walkthrough, run as printed against this stack: it ends
    with a sample game server (fleet-local, kept running by the stack's
    agents) letting the player in."""

    def setUp(self):
        # Earlier modules leave tickets in the sample configuration's pool,
        # and their matches would hold sample servers: clear both. The
        # agents replace the processes ended here with fresh ones.
        clear_pool("SampleFlexMatchConfiguration")
        self.assertTrue(rally.fresh_fleet_local())

    def test_walkthrough_ends_connected(self):
        printed = subprocess.run([os.path.join(rally.TOP, "scripts", "walkthrough.sh")],
                                 capture_output=True, text=True, check=True, env=os.environ)
        ran = subprocess.run(["bash", "-eu"], input=printed.stdout, capture_output=True, text=True,
                             env=os.environ, timeout=60)
        self.assertEqual(ran.returncode, 0, ran.stdout + ran.stderr)
        self.assertRegex(ran.stdout, r"game server 127\.0\.0\.1:\d+ says: OK [0-9a-f-]{36}")
        self.assertIn('"Status":"COMPLETED"', ran.stdout)



class MakeRunFleet(unittest.TestCase):
    """The fleet `make run` starts: an agent in each location keeps 20
    sample game servers running there, so 100 players arriving at once (20
    matches of 5 on SampleFlexMatchConfiguration) all get seats within its
    20 s request timeout, each admitted by its server."""

    def setUp(self):
        # As `make run` starts: every agent process idle. Those earlier
        # tests' matches hold (their players never came) are ended; the
        # agents replace them.
        clear_pool("SampleFlexMatchConfiguration")
        self.assertTrue(rally.fresh_fleet_local(idle=20))

    def test_a_hundred_players_at_once_all_get_seats(self):
        results, seconds = players.simulate(100, "SampleFlexMatchConfiguration", timeout=20)
        failed = [r for r in results if not r["ok"]]
        self.assertEqual(failed, [], "%d of 100 failed, e.g. %s" % (len(failed), failed[:3]))
        print("\n  100 players to their seats in %.1f s" % seconds, end=" ")


class EndToEnd(unittest.TestCase):
    """200 simulated players over real HTTP, 5v5 on TeamDeathmatch, placed on
    sample game servers of fleet-local, each admitted with its own seat. They
    wait by push, as rally's client SDK does, and connect the moment they are
    told COMPLETED: the player session they were told of must be there."""

    def setUp(self):
        clear_pool("TeamDeathmatch")
        self.servers = players.start_gameservers(20, 17800)
        self.addCleanup(players.stop_gameservers, self.servers)
        ready = lambda: int(psql("SELECT count(*) FROM fleet.processes WHERE fleet_id = 'fleet-local' "
                                 "AND status = 'ACTIVE'")[0]) >= 20
        self.assertTrue(wait_until(ready, 15))

    def test_two_hundred_players_reach_their_seats(self):
        results, seconds = players.simulate(200, "TeamDeathmatch", timeout=60)
        failed = [r for r in results if not r["ok"]]
        self.assertEqual(failed, [], "%d of 200 failed, e.g. %s" % (len(failed), failed[:3]))
        # 5v5: twenty game sessions, every seat taken once.
        ids = [r for r in psql("SELECT g.game_session_id FROM fleet.game_sessions g JOIN "
                               "matchmaking.matches m USING (match_id) WHERE m.configuration_name = "
                               "'TeamDeathmatch' AND m.status = 'COMPLETED'")]
        self.assertEqual(len(ids), 20)
        self.assertEqual(psql("SELECT count(*) FROM fleet.player_sessions ps JOIN fleet.game_sessions g "
                              "USING (game_session_id) JOIN matchmaking.matches m USING (match_id) "
                              "WHERE m.configuration_name = 'TeamDeathmatch' AND ps.status = 'RESERVED'"),
                         ["0"])
        print("\n  200 players to their seats in %.1f s" % seconds, end=" ")



SQUAD = {"ruleLanguageVersion": "1.0",
         "playerAttributes": [{"name": "skill", "type": "number", "default": 10},
                              {"name": "role", "type": "string", "default": "any"}],
         "teams": [{"name": "squad", "minPlayers": 2, "maxPlayers": 2}]}
BIG_SQUAD = dict(SQUAD, teams=[{"name": "squad", "minPlayers": 8, "maxPlayers": 8}])
PICKY = dict(SQUAD, teams=[{"name": "red", "minPlayers": 1, "maxPlayers": 1},
                           {"name": "blue", "minPlayers": 1, "maxPlayers": 1}],
             rules=[{"name": "Close", "type": "distance", "maxDistance": 5,
                     "measurements": ["flatten(teams[*].players.attributes[skill])"]}])
MAP_SQUAD = dict(SQUAD, playerAttributes=SQUAD["playerAttributes"] + [{"name": "map", "type": "string"}])
SERVER_CONFIGS = {
    "Squad": {"Name": "Squad", "RuleSetName": "SquadRules", "RequestTimeoutSeconds": 60,
              "AcceptanceRequired": False, "FlexMatchMode": "STANDALONE",
              "NotificationTarget": rally.TOPIC},
    "AcceptingSquad": {"Name": "AcceptingSquad", "RuleSetName": "SquadRules",
                       "RequestTimeoutSeconds": 60, "AcceptanceRequired": True,
                       "AcceptanceTimeoutSeconds": 30, "FlexMatchMode": "STANDALONE",
                       "NotificationTarget": rally.TOPIC},
    "Picky": {"Name": "Picky", "RuleSetName": "PickyRules", "RequestTimeoutSeconds": 600,
              "AcceptanceRequired": False, "FlexMatchMode": "STANDALONE",
              "NotificationTarget": rally.TOPIC},
    "MapSquad": {"Name": "MapSquad", "RuleSetName": "MapSquadRules", "RequestTimeoutSeconds": 60,
                 "AcceptanceRequired": False, "FlexMatchMode": "STANDALONE",
                 "NotificationTarget": rally.TOPIC},
    # Never full: tickets stay SEARCHING.
    "Waiting": {"Name": "Waiting", "RuleSetName": "BigSquadRules", "RequestTimeoutSeconds": 600,
                "AcceptanceRequired": False, "FlexMatchMode": "STANDALONE",
                "NotificationTarget": rally.TOPIC},
}


class ServerMatchmaking(unittest.TestCase):
    """StartMatchmaking / DescribeMatchmaking / StopMatchmaking / AcceptMatch
    for a trusted backend, in GameLift's shapes, with a server token."""

    @classmethod
    def setUpClass(cls):
        rally.load_config(rulesets={"SquadRules": SQUAD, "BigSquadRules": BIG_SQUAD,
                                    "PickyRules": PICKY, "MapSquadRules": MAP_SQUAD},
                          configurations=SERVER_CONFIGS)
        cls.token = server_token("fleet-local")

    def start(self, configuration, players, **extra):
        return request("POST", "/v1/fleet/matchmaking/start",
                       dict({"ConfigurationName": configuration, "Players": players}, **extra),
                       token=self.token)

    def describe(self, *ids):
        r = request("POST", "/v1/fleet/matchmaking/describe", {"TicketIds": list(ids)}, token=self.token)
        self.assertEqual(r.status, 200, r.json)
        return r.json["TicketList"]

    def party(self, n):
        return [{"PlayerId": "srv-%s" % os.urandom(6).hex(),
                 "PlayerAttributes": {"skill": {"N": 20 + i}, "role": {"S": "healer"}},
                 "LatencyInMs": {"us-east-1": 30}} for i in range(n)]

    def test_a_party_matches_together(self):
        players = self.party(2)
        r = self.start("arn:aws:gamelift:local:000000000000:matchmakingconfiguration/Squad", players)
        self.assertEqual(r.status, 200, r.json)
        ticket = r.json["MatchmakingTicket"]
        self.assertEqual((ticket["Status"], ticket["ConfigurationName"]), ("QUEUED", "Squad"))
        self.assertEqual([p["PlayerId"] for p in ticket["Players"]], [p["PlayerId"] for p in players])
        self.assertEqual(ticket["Players"][1]["PlayerAttributes"],
                         {"skill": {"N": 21}, "role": {"S": "healer"}})
        done = lambda: self.describe(ticket["TicketId"])[0]["Status"] == "COMPLETED"
        self.assertTrue(wait_until(done, 10), self.describe(ticket["TicketId"]))
        teams = {p["Team"] for p in self.describe(ticket["TicketId"])[0]["Players"]}
        self.assertEqual(teams, {"squad"})

    def test_refuses_bad_requests_and_writes_nothing(self):
        before = psql("SELECT count(*) FROM matchmaking.tickets")
        good = self.party(1)[0]
        for players, extra, code in (
                ([], {}, "invalid_body"),
                (self.party(11), {}, "invalid_body"),
                ([dict(good, Team="red")], {}, "invalid_body"),
                ([good, dict(good)], {}, "invalid_body"),
                ([dict(good, PlayerAttributes={"skill": {"S": "high"}})], {}, "attribute_type"),
                ([dict(good, LatencyInMs={"us-east-1": -5})], {}, "invalid_body"),
                ([good], {"TicketId": "bad id!"}, "invalid_body")):
            r = self.start("Squad", players, **extra)
            self.assertEqual((r.status, r.json["error"]), (400, code), (players, extra, r.json))
        r = self.start("NoSuchConfiguration", [good])
        self.assertEqual((r.status, r.json["error"]), (400, "unknown_configuration"))
        r = request("POST", "/v1/fleet/matchmaking/start", {"ConfigurationName": "Squad", "Players": [good]},
                    token=guest()["auth_token"])
        self.assertIn(r.status, (401, 403))
        self.assertEqual(psql("SELECT count(*) FROM matchmaking.tickets"), before)

    def test_end_time_keeps_milliseconds_and_follows_start_time(self):
        # A party of two fills Squad at once: each ticket ends within a
        # second of its start, often in the same second.
        ids = [self.start("Squad", self.party(2)).json["MatchmakingTicket"]["TicketId"]
               for _ in range(5)]
        done = lambda: {t["Status"] for t in self.describe(*ids)} == {"COMPLETED"}
        self.assertTrue(wait_until(done, 15), self.describe(*ids))
        iso_ms = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"
        ends = []
        for t in self.describe(*ids):
            self.assertRegex(t["StartTime"], iso_ms)
            self.assertRegex(t["EndTime"], iso_ms)
            # Same width and zone: the strings order as the times do.
            self.assertGreaterEqual(t["EndTime"], t["StartTime"], t)
            ends.append(t["EndTime"])
        # Cut to whole seconds, every EndTime would end in .000Z.
        self.assertNotEqual({e[-5:] for e in ends}, {".000Z"}, ends)

    def test_a_player_without_an_attribute_that_has_no_default_is_refused(self):
        with_map, without = self.party(2)
        with_map["PlayerAttributes"]["map"] = {"S": "dust"}
        before = psql("SELECT count(*) FROM matchmaking.tickets")
        r = self.start("MapSquad", [with_map, without])
        self.assertEqual((r.status, r.json["error"]), (400, "attribute_missing"), r.json)
        self.assertIn("map", r.json["message"])
        self.assertEqual(psql("SELECT count(*) FROM matchmaking.tickets"), before)
        without["PlayerAttributes"]["map"] = {"S": "dust"}
        r = self.start("MapSquad", [with_map, without])
        self.assertEqual(r.status, 200, r.json)

    def test_a_new_ticket_cancels_the_players_old_one(self):
        a, b, c = self.party(3)
        first = self.start("Waiting", [a, b]).json["MatchmakingTicket"]["TicketId"]
        second = self.start("Waiting", [b, c])
        self.assertEqual(second.status, 200, second.json)
        old, new = self.describe(first, second.json["MatchmakingTicket"]["TicketId"])
        self.assertEqual((old["Status"], old["StatusMessage"]),
                         ("CANCELLED", "Cancelled due to duplicate player"))
        self.assertIn(new["Status"], ("QUEUED", "SEARCHING"))
        # No MatchmakingCancelled is sent for it (FlexMatch sends none either).
        self.assertEqual(psql("SELECT cancel_announced FROM matchmaking.tickets WHERE ticket_id = :'p1'",
                              first), ["t"])

    def test_a_refused_party_changes_nothing(self):
        a = self.party(1)[0]
        searching = self.start("Waiting", [a]).json["MatchmakingTicket"]["TicketId"]
        pair = self.party(2)
        proposed = self.start("AcceptingSquad", pair).json["MatchmakingTicket"]["TicketId"]
        self.addCleanup(request, "POST", "/v1/fleet/matchmaking/stop", {"TicketId": searching},
                        token=self.token)
        waiting = lambda: self.describe(proposed)[0]["Status"] == "REQUIRES_ACCEPTANCE"
        self.assertTrue(wait_until(waiting, 10))
        # a's old ticket could be cancelled, pair[0]'s cannot: nothing happens.
        r = self.start("Waiting", [a, pair[0]])
        self.assertEqual((r.status, r.json["error"]), (409, "player_busy"))
        self.assertIn(self.describe(searching)[0]["Status"], ("QUEUED", "SEARCHING"))
        self.assertEqual(psql("SELECT status FROM matchmaking.tickets WHERE ticket_id = :'p1'",
                              searching), ["SEARCHING"])

    def test_stop_any_ticket(self):
        tid = self.start("Waiting", self.party(1)).json["MatchmakingTicket"]["TicketId"]
        r = request("POST", "/v1/fleet/matchmaking/stop", {"TicketId": tid}, token=self.token)
        self.assertEqual(r.status, 200, r.json)
        self.assertEqual(self.describe(tid)[0]["Status"], "CANCELLED")
        r = request("POST", "/v1/fleet/matchmaking/stop", {"TicketId": tid}, token=self.token)
        self.assertEqual(r.status, 409)
        r = request("POST", "/v1/fleet/matchmaking/stop", {"TicketId": "no-such-ticket"}, token=self.token)
        self.assertEqual(r.status, 404)

    def test_searching_tickets_get_an_estimated_wait(self):
        tid = self.start("Squad", self.party(2)).json["MatchmakingTicket"]["TicketId"]
        self.assertTrue(wait_until(lambda: self.describe(tid)[0]["Status"] == "COMPLETED", 10))
        # Alone, it waits for a second player: told how long matches take here.
        alone = self.start("Squad", self.party(1)).json["MatchmakingTicket"]["TicketId"]
        self.addCleanup(request, "POST", "/v1/fleet/matchmaking/stop", {"TicketId": alone},
                        token=self.token)
        told = lambda: "EstimatedWaitTime" in self.describe(alone)[0]
        self.assertTrue(wait_until(told, 10), self.describe(alone))
        view = self.describe(alone)[0]
        self.assertEqual(view["Status"], "SEARCHING")
        self.assertGreaterEqual(view["EstimatedWaitTime"], 0)
        self.assertLess(view["EstimatedWaitTime"], 30)

    def test_explain_tells_which_rule_fails_and_by_how_much(self):
        me, other = self.party(2)
        me["PlayerAttributes"] = {"skill": {"N": 10}}
        other["PlayerAttributes"] = {"skill": {"N": 30}}
        mine = self.start("Picky", [me]).json["MatchmakingTicket"]["TicketId"]
        theirs = self.start("Picky", [other]).json["MatchmakingTicket"]["TicketId"]
        for t in (mine, theirs):
            self.addCleanup(request, "POST", "/v1/fleet/matchmaking/stop", {"TicketId": t},
                            token=self.token)
        searching = lambda: {t["Status"] for t in self.describe(mine, theirs)} == {"SEARCHING"}
        self.assertTrue(wait_until(searching, 10))
        r = request("POST", "/v1/fleet/matchmaking/explain", {"TicketId": mine}, token=self.token)
        self.assertEqual(r.status, 200, r.json)
        self.assertEqual((r.json["TicketId"], r.json["Status"], r.json["PoolSize"]),
                         (mine, "SEARCHING", 1))
        close = r.json["Rules"][0]
        self.assertEqual((close["Name"], close["FailsWith"], close["PassesWith"]), ("Close", 1, 0))
        self.assertEqual(close["Limit"], {"Property": "maxDistance", "Now": 5.0, "Eventually": 5.0,
                                          "ClosestNeeds": 20.0})
        self.assertIn("Close fails with 1 of 1", r.json["Summary"])
        # The operator's command says the same.
        out = subprocess.run([os.path.join(rally.BIN, "rally-admin"), "explain", mine],
                             capture_output=True, text=True, env=os.environ)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("Close fails with 1 of 1", out.stdout)
        self.assertIn('"ClosestNeeds": 20.0', out.stdout)
        r = request("POST", "/v1/fleet/matchmaking/explain", {"TicketId": "no-such-ticket"},
                    token=self.token)
        self.assertEqual(r.status, 404)

    def test_accept_for_the_players(self):
        players = self.party(2)
        tid = self.start("AcceptingSquad", players).json["MatchmakingTicket"]["TicketId"]
        waiting = lambda: self.describe(tid)[0]["Status"] == "REQUIRES_ACCEPTANCE"
        self.assertTrue(wait_until(waiting, 10))
        accept = lambda ids: request("POST", "/v1/fleet/matchmaking/accept",
                                     {"TicketId": tid, "PlayerIds": ids, "AcceptanceType": "ACCEPT"},
                                     token=self.token)
        r = accept([players[0]["PlayerId"], "someone-else"])
        self.assertEqual((r.status, r.json["error"]), (400, "invalid_body"))
        self.assertEqual(psql("SELECT count(*) FROM backend.ticket_players WHERE ticket_id = :'p1' "
                              "AND accepted IS NOT NULL", tid), ["0"])  # all or nothing
        self.assertEqual(accept([p["PlayerId"] for p in players]).status, 200)
        done = lambda: self.describe(tid)[0]["Status"] == "COMPLETED"
        self.assertTrue(wait_until(done, 10))


if __name__ == "__main__":
    unittest.main()
