"""GameLift's server SDK 5 against the real stack: rally-gateway behind
nginx, spoken to over a real WebSocket by a process written from the
protocol facts (sdk5.py), and by one that rally-agent launches
(sdk5_server.py). The whole sequence, from the connect URL through
ProcessReady, CreateGameSession, ActivateGameSession and
AcceptPlayerSession to ProcessEnding; pushes; reconnects; refusals at
connect; and a corpus of bad messages that get a clear error, keep or
close the connection as the SDK expects, and change nothing."""

import json
import os
import signal
import socket
import subprocess
import time
import unittest
import uuid

import websocket

import rally
import sdk5
from rally import BIN, RUN, psql, request, wait_until
from test_gamelift import add_fleet, client, drop_fleets, raw
from test_outbox import free_port

FLEET = "fleet-sdk5"
SECRET = os.path.join(RUN, "fleets", FLEET + ".secret")
HERE = os.path.dirname(os.path.abspath(__file__))


def setUpModule():
    add_fleet(FLEET, ["us-east-1"])
    with open(SECRET, "w") as f:
        f.write("sdk5-secret-0123456789abcdef\n")
    os.chmod(SECRET, 0o600)


def tearDownModule():
    os.remove(SECRET)
    psql("UPDATE fleet.processes SET status = 'TERMINATED' WHERE fleet_id LIKE 'fleet-sdk5%'")
    drop_fleets("fleet-sdk5")
    rally.load_config()


def process_row(pid):
    rows = psql("SELECT status, coalesce(sdk, ''), compute_name, location, ip_address "
                "FROM fleet.processes WHERE process_id = :'p1'", pid)
    return rows[0].split("|") if rows and rows[0] else None


def new_pid():
    return "process-" + str(uuid.uuid4())


class Sequence(unittest.TestCase):
    """The SDK's message sequence, as a game server on AWS's SDK 5 runs it."""

    @classmethod
    def setUpClass(cls):
        cls.token = sdk5.fleet_token(FLEET)
        sdk5.register_compute(cls.token, "sdk5-host", ip="127.0.0.2")

    def tearDown(self):
        # Each test's processes end with it: the next one's game sessions
        # go to its own.
        psql("SELECT fleet.process_ending(process_id, fleet_id, 'PROCESS_ENDING') "
             "FROM fleet.processes WHERE fleet_id = :'p1' AND status = 'ACTIVE'", FLEET)

    def connect(self, pid=None):
        p = sdk5.Process(self.token, FLEET, "sdk5-host", pid or new_pid())
        self.addCleanup(p.close)
        return p

    def ready_process(self):
        p = self.connect()
        self.assertEqual(p.ready(7100)["StatusCode"], 200)
        return p

    def game_session(self, p, **kwargs):
        """A game session CreateGameSession puts on p, as p is told it."""
        gs = client().create_game_session(**dict({"FleetId": FLEET, "MaximumPlayerSessionCount": 4},
                                                 **kwargs))["GameSession"]
        push = p.push()
        self.assertIsNotNone(push, "no CreateGameSession pushed")
        self.assertEqual((push["Action"], push["StatusCode"], push["GameSessionId"]),
                         ("CreateGameSession", 200, gs["GameSessionId"]))
        return gs, push

    def test_from_process_ready_to_a_seated_player_and_process_ending(self):
        p = self.ready_process()
        # Ready through its compute: location and address are the compute's.
        self.assertEqual(process_row(p.process), ["ACTIVE", "Go 5.6.0", "sdk5-host", "us-east-1",
                                                  "127.0.0.2"])
        self.assertEqual(p.call("HeartbeatServerProcess", HealthStatus=True)["StatusCode"], 200)
        gs, push = self.game_session(p, Name="arena", GameSessionData="map=dust",
                                     GameProperties=[{"Key": "mode", "Value": "ctf"}])
        self.assertEqual((push["GameSessionName"], push["GameSessionData"], push["Port"],
                          push["IpAddress"], push["MaximumPlayerSessionCount"], push["GameProperties"]),
                         ("arena", "map=dust", 7100, "127.0.0.2", 4, {"mode": "ctf"}))
        self.assertEqual(p.call("ActivateGameSession", GameSessionId=push["GameSessionId"])["StatusCode"], 200)
        gl = client()
        self.assertEqual(gl.describe_game_sessions(GameSessionId=gs["GameSessionId"])
                         ["GameSessions"][0]["Status"], "ACTIVE")
        ps = gl.create_player_session(GameSessionId=gs["GameSessionId"], PlayerId="p-1")["PlayerSession"]
        a = p.call("AcceptPlayerSession", GameSessionId=push["GameSessionId"],
                   PlayerSessionId=ps["PlayerSessionId"])
        self.assertEqual(a["StatusCode"], 200, a)
        d = p.call("DescribePlayerSessions", GameSessionId=push["GameSessionId"])
        self.assertEqual(d["StatusCode"], 200, d)
        seat = d["PlayerSessions"][0]
        self.assertEqual((seat["PlayerId"], seat["Status"], seat["PlayerSessionId"]),
                         ("p-1", "ACTIVE", ps["PlayerSessionId"]))
        # Times as the SDK's int64 epoch milliseconds.
        self.assertIsInstance(seat["CreationTime"], int)
        self.assertLess(abs(seat["CreationTime"] - time.time() * 1000), 60000)
        # Accepting the same seat again is refused in the SDK's terms.
        again = p.call("AcceptPlayerSession", GameSessionId=push["GameSessionId"],
                       PlayerSessionId=ps["PlayerSessionId"])
        self.assertEqual(again["StatusCode"], 409)
        self.assertIn("ACTIVE", again["ErrorMessage"])
        self.assertEqual(p.call("UpdatePlayerSessionCreationPolicy", GameSessionId=push["GameSessionId"],
                                PlayerSessionPolicy="DENY_ALL")["StatusCode"], 200)
        self.assertEqual(gl.describe_game_sessions(GameSessionId=gs["GameSessionId"])
                         ["GameSessions"][0]["PlayerSessionCreationPolicy"], "DENY_ALL")
        self.assertEqual(p.call("RemovePlayerSession", GameSessionId=push["GameSessionId"],
                                PlayerSessionId=ps["PlayerSessionId"])["StatusCode"], 200)
        self.assertEqual(gl.describe_player_sessions(PlayerSessionId=ps["PlayerSessionId"])
                         ["PlayerSessions"][0]["Status"], "COMPLETED")
        self.assertEqual(p.call("TerminateServerProcess")["StatusCode"], 200)
        self.assertEqual(process_row(p.process)[0], "TERMINATED")
        self.assertEqual(gl.describe_game_sessions(GameSessionId=gs["GameSessionId"])
                         ["GameSessions"][0]["Status"], "TERMINATED")
        # Nothing is pushed to a process that ended itself.
        self.assertIsNone(p.push(timeout=1))

    def test_max_concurrent_activations_holds_per_compute(self):
        psql("UPDATE fleet.fleets SET body = body || '{\"RuntimeConfiguration\": "
             "{\"MaxConcurrentGameSessionActivations\": 1}}' WHERE fleet_id = :'p1'", FLEET)
        self.addCleanup(psql, "UPDATE fleet.fleets SET body = body - 'RuntimeConfiguration' "
                        "WHERE fleet_id = :'p1'", FLEET)
        p, q = self.ready_process(), self.ready_process()
        gl = client()
        first = gl.create_game_session(FleetId=FLEET, MaximumPlayerSessionCount=2)["GameSession"]
        # One game session ACTIVATING on the compute: the other process is not handed one.
        from test_gamelift import error_code
        self.assertEqual(error_code(gl.create_game_session, FleetId=FLEET, MaximumPlayerSessionCount=2),
                         "FleetCapacityExceededException")
        told = [x for x in (p.push(timeout=3), q.push(timeout=0.5)) if x is not None]
        self.assertEqual([t["GameSessionId"] for t in told], [first["GameSessionId"]])
        [hosting] = psql("SELECT process_id FROM fleet.game_sessions WHERE game_session_arn = :'p1'",
                         first["GameSessionId"])
        host = p if hosting == p.process else q
        self.assertEqual(host.call("ActivateGameSession", GameSessionId=first["GameSessionId"])["StatusCode"], 200)
        second = gl.create_game_session(FleetId=FLEET, MaximumPlayerSessionCount=2)["GameSession"]
        self.assertEqual(second["Status"], "ACTIVATING")

    def test_nothing_is_pushed_before_the_sdk_took_process_ready(self):
        p = self.connect()
        # ProcessReady's answer, but no heartbeat yet: the SDK may not have
        # taken the answer, and would drop a CreateGameSession.
        self.assertEqual(p.call("ActivateServerProcess", Port=7100, SdkVersion="5.6.0",
                                SdkLanguage="Go", LogPaths=None)["StatusCode"], 200)
        gs = client().create_game_session(FleetId=FLEET, MaximumPlayerSessionCount=2)["GameSession"]
        self.assertIsNone(p.push(timeout=1.5))
        self.assertEqual(p.call("HeartbeatServerProcess", HealthStatus=True)["StatusCode"], 200)
        push = p.push()
        self.assertEqual((push["Action"], push["GameSessionId"]), ("CreateGameSession", gs["GameSessionId"]))

    def test_a_process_ready_twice_is_a_conflict(self):
        p = self.ready_process()
        again = p.ready(7100)
        self.assertEqual(again["StatusCode"], 409)
        self.assertIn("ready before", again["ErrorMessage"])

    def test_an_unregistered_compute_is_refused_at_process_ready(self):
        p = sdk5.Process(self.token, FLEET, "nobody-registered-this", new_pid())
        self.addCleanup(p.close)
        r = p.ready(7100)
        self.assertEqual(r["StatusCode"], 404)
        self.assertIn("RegisterCompute", r["ErrorMessage"])
        self.assertIsNone(process_row(p.process))

    def test_terminate_game_session_tells_the_process(self):
        p = self.ready_process()
        gs, push = self.game_session(p)
        p.call("ActivateGameSession", GameSessionId=push["GameSessionId"])
        status, body, _ = raw("TerminateGameSession", {"GameSessionId": gs["GameSessionId"],
                                                      "TerminationMode": "TRIGGER_ON_PROCESS_TERMINATE"})
        self.assertEqual(status, 200, body)
        t = p.push()
        self.assertEqual(t["Action"], "TerminateProcess", t)
        # Epoch milliseconds, when the process should be gone: within minutes.
        self.assertTrue(time.time() * 1000 < t["TerminationTime"] < (time.time() + 600) * 1000, t)
        self.assertEqual(p.call("TerminateServerProcess")["StatusCode"], 200)
        self.assertEqual(process_row(p.process)[0], "TERMINATED")

    def test_a_force_terminated_process_is_told_once(self):
        p = self.ready_process()
        gs, push = self.game_session(p)
        p.call("ActivateGameSession", GameSessionId=push["GameSessionId"])
        raw("TerminateGameSession", {"GameSessionId": gs["GameSessionId"],
                                     "TerminationMode": "FORCE_TERMINATE"})
        t = p.push()
        self.assertEqual(t["Action"], "TerminateProcess", t)
        self.assertLess(abs(t["TerminationTime"] - time.time() * 1000), 60000)
        self.assertIsNone(p.push(timeout=6), "a push repeated after the 5 s sweep")

    def test_a_reconnected_process_keeps_its_place_and_its_pushes(self):
        pid = new_pid()
        p = self.connect(pid)
        self.assertEqual(p.ready(7100)["StatusCode"], 200)
        p.drop()  # gone without a close frame: the SDK reconnects, and says nothing again
        q = self.connect(pid)
        gs, push = self.game_session(q)
        self.assertEqual(q.call("ActivateGameSession", GameSessionId=push["GameSessionId"])["StatusCode"], 200)
        # The connection keeps the process alive: its heartbeat advances.
        before = psql("SELECT last_heartbeat FROM fleet.processes WHERE process_id = :'p1'", pid)[0]
        self.assertTrue(wait_until(lambda: psql(
            "SELECT last_heartbeat FROM fleet.processes WHERE process_id = :'p1'", pid)[0] != before, 5))

    def test_a_second_connection_of_a_process_takes_its_pushes(self):
        pid = new_pid()
        old = self.connect(pid)
        self.assertEqual(old.ready(7100)["StatusCode"], 200)
        new = self.connect(pid)  # the SDK's RefreshConnection or reconnect, the old one draining
        self.game_session(new)
        self.assertIsNone(old.push(timeout=1))

    def test_an_unhealthy_process_is_no_longer_kept_alive(self):
        p = self.ready_process()
        self.assertEqual(p.call("HeartbeatServerProcess", HealthStatus=False)["StatusCode"], 200)
        time.sleep(1.5)  # a flush that may have started before
        before = psql("SELECT last_heartbeat FROM fleet.processes WHERE process_id = :'p1'", p.process)[0]
        time.sleep(2.5)
        self.assertEqual(psql("SELECT last_heartbeat FROM fleet.processes WHERE process_id = :'p1'",
                              p.process)[0], before)
        self.assertEqual(p.call("HeartbeatServerProcess", HealthStatus=True)["StatusCode"], 200)
        self.assertTrue(wait_until(lambda: psql(
            "SELECT last_heartbeat FROM fleet.processes WHERE process_id = :'p1'", p.process)[0] != before, 5))

    def test_what_rally_has_nothing_to_give_for_is_refused_clearly(self):
        p = self.ready_process()
        for action, words in (("GetComputeCertificate", "certificate"), ("GetFleetRoleCredentials", "IAM role")):
            r = p.call(action)
            self.assertEqual((r["Action"], r["StatusCode"]), (action, 400))
            self.assertIn(words, r["ErrorMessage"])

    def test_a_backfill_is_started_and_stopped(self):
        rally.load_config(rulesets={"Sdk5Duel": {
            "ruleLanguageVersion": "1.0", "teams": [{"name": "red", "minPlayers": 1, "maxPlayers": 2},
                                                    {"name": "blue", "minPlayers": 1, "maxPlayers": 2}]}},
            configurations={"Sdk5Duel": {"Name": "Sdk5Duel", "RuleSetName": "Sdk5Duel",
                                         "RequestTimeoutSeconds": 30, "AcceptanceRequired": False,
                                         "BackfillMode": "MANUAL", "FlexMatchMode": "STANDALONE"}})
        p = self.ready_process()
        gs, push = self.game_session(p)
        p.call("ActivateGameSession", GameSessionId=push["GameSessionId"])
        ps = client().create_player_session(GameSessionId=gs["GameSessionId"], PlayerId="bf-1")["PlayerSession"]
        p.call("AcceptPlayerSession", GameSessionId=push["GameSessionId"], PlayerSessionId=ps["PlayerSessionId"])
        r = p.call("StartMatchBackfill", TicketId="", GameSessionArn=push["GameSessionId"],
                   MatchmakingConfigurationArn=rally.CONFIG_ARN + "Sdk5Duel",
                   Players=[{"PlayerId": "bf-1", "Team": "red",
                             "PlayerAttributes": {"skill": {"AttrType": "DOUBLE", "N": 10},
                                                  "unused": {"AttrType": "NONE"}},
                             "LatencyInMs": {"us-east-1": 20}}])
        self.assertEqual(r["StatusCode"], 200, r)
        ticket = r["TicketId"]
        self.assertTrue(ticket)
        attrs = json.loads(psql("SELECT players::text FROM matchmaking.tickets WHERE ticket_id = :'p1'", ticket)[0])
        self.assertIn('"skill"', json.dumps(attrs))
        s = p.call("StopMatchBackfill", TicketId=ticket, GameSessionArn=push["GameSessionId"],
                   MatchmakingConfigurationArn=rally.CONFIG_ARN + "Sdk5Duel")
        self.assertEqual(s["StatusCode"], 200, s)
        bad = p.call("StartMatchBackfill", TicketId="", GameSessionArn=push["GameSessionId"],
                     MatchmakingConfigurationArn="Sdk5Duel",
                     Players=[{"PlayerId": "bf-1", "PlayerAttributes": {"skill": {"AttrType": "DOUBLE"}}}])
        self.assertEqual(bad["StatusCode"], 400)
        self.assertIn("PlayerAttributes.skill", bad["ErrorMessage"])


class Refusals(unittest.TestCase):
    """Who may not connect: refused before the upgrade, in plain HTTP, so
    the SDK's dial fails (and retries with its backoff)."""

    def refused(self, **query):
        token = query.pop("token", None)
        url = sdk5.connect_url(token, query.pop("fleet", FLEET), query.pop("compute", "sdk5-host"),
                               query.pop("pid", new_pid()), **query)
        with self.assertRaises(websocket.WebSocketBadStatusException) as e:
            websocket.create_connection(url, timeout=5)
        return e.exception.status_code, str(e.exception)

    def test_no_wrong_or_foreign_token(self):
        self.assertEqual(self.refused()[0], 401)
        self.assertEqual(self.refused(token="not-a-token")[0], 401)
        self.assertEqual(self.refused(token=rally.forge({"scope": "server", "sub": FLEET,
                                                         "exp": int(time.time()) - 600}))[0], 401)
        self.assertEqual(self.refused(token=rally.guest()["auth_token"])[0], 403)
        # A fleet's token is for its own fleet's processes.
        self.assertEqual(self.refused(token=sdk5.fleet_token("fleet-local"))[0], 403)

    def test_sigv4_is_refused_by_name(self):
        status, text = self.refused(token="SigV4")
        self.assertEqual(status, 401)

    def test_malformed_identity(self):
        token = sdk5.fleet_token(FLEET)
        self.assertEqual(self.refused(token=token, pid="")[0], 400)
        self.assertEqual(self.refused(token=token, compute="bad/compute name")[0], 400)
        self.assertEqual(self.refused(token=token, fleet="bad fleet")[0], 400)

    def test_a_plain_request_is_told_to_upgrade(self):
        r = request("GET", "/v1/fleet/sdk5?FleetId=%s" % FLEET)
        self.assertEqual(r.status, 426)


class BadMessages(unittest.TestCase):
    """A corpus of messages the SDK never sends: each gets an error with
    StatusCode 400 (with its RequestId when one could be read), the
    connection stays, and nothing is written."""

    def test_the_corpus(self):
        token = sdk5.fleet_token(FLEET)
        sdk5.register_compute(token, "sdk5-host", ip="127.0.0.2")
        p = sdk5.Process(token, FLEET, "sdk5-host", new_pid())
        self.addCleanup(p.close)
        count = lambda: psql("SELECT count(*) FROM fleet.processes WHERE fleet_id = :'p1'", FLEET)[0]
        before = count()
        unread = ["{", "[]", "null", '"text"', json.dumps({"Action": "HeartbeatServerProcess"}),
                  json.dumps({"Action": "X", "RequestId": "has spaces"}),
                  json.dumps({"Action": "X", "RequestId": "a", "RequestId2": 1}).replace("RequestId2", "RequestId")]
        for text in unread:
            p.ws.send(text)
            m = p.note()
            self.assertIsNotNone(m, text)
            self.assertEqual((m["StatusCode"], m["RequestId"]), (400, ""), text)
            self.assertTrue(m["ErrorMessage"], text)
        p.ws.send_binary(b"\x00\x01binary")
        self.assertIn("binary", p.note()["ErrorMessage"])
        answered = [("Nope", {}, "unknown Action"),
                    ("HeartbeatServerProcess", {}, "HealthStatus"),
                    ("HeartbeatServerProcess", {"HealthStatus": "yes"}, "HealthStatus"),
                    ("ActivateServerProcess", {"Port": 0}, "Port"),
                    ("ActivateServerProcess", {"Port": "7000"}, "Port"),
                    ("ActivateServerProcess", {"Port": 60001}, "Port"),
                    ("ActivateGameSession", {}, "GameSessionId"),
                    ("ActivateGameSession", {"GameSessionId": "arn:aws:gamelift:x::gamesession/f/l/"}, "GameSessionId"),
                    ("ActivateGameSession", {"GameSessionId": "arn:x/a b"}, "GameSessionId"),
                    ("AcceptPlayerSession", {"GameSessionId": "gsess-1", "PlayerSessionId": "a/b"}, "PlayerSessionId"),
                    ("RemovePlayerSession", {"GameSessionId": 5, "PlayerSessionId": "psess-1"}, "GameSessionId"),
                    ("UpdatePlayerSessionCreationPolicy", {"GameSessionId": "gsess-1"}, "PlayerSessionPolicy"),
                    ("StartMatchBackfill", {"GameSessionArn": "x"}, "MatchmakingConfigurationArn"),
                    ("StartMatchBackfill", {"GameSessionArn": "x", "MatchmakingConfigurationArn": "c",
                                            "Players": {}}, "Players"),
                    ("StopMatchBackfill", {}, "TicketId")]
        for action, fields, words in answered:
            r = p.call(action, **fields)
            self.assertIsNotNone(r, action)
            self.assertEqual(r["StatusCode"], 400, (action, fields, r))
            self.assertIn(words, r["ErrorMessage"], (action, fields))
        # Refused by rally itself (forwarded): an unknown game session.
        r = p.call("ActivateGameSession", GameSessionId="gsess-00000000-0000-0000-0000-000000000000")
        self.assertEqual(r["StatusCode"], 404, r)
        # The connection is still there, and nothing was written.
        self.assertEqual(p.call("HeartbeatServerProcess", HealthStatus=True)["StatusCode"], 200)
        self.assertEqual(count(), before)

    def test_an_oversized_frame_closes_the_connection(self):
        token = sdk5.fleet_token(FLEET)
        p = sdk5.Process(token, FLEET, "sdk5-host", new_pid())
        self.addCleanup(p.close)
        p.ws.send(json.dumps({"Action": "HeartbeatServerProcess", "RequestId": "big",
                              "Padding": "x" * (300 * 1024)}))
        p.reader.join(10)
        self.assertEqual(p.closed[0], 1009, p.closed)
        self.assertIn("at most", p.closed[1])


class AgentLaunched(unittest.TestCase):
    """rally-agent runs a game server on SDK 5 (sdk5_server.py), handing
    it GAMELIFT_SDK_* in its environment: it registers, hosts a game
    session a player takes a seat in, ends when told, and is replaced."""

    FLEET = "fleet-sdk5-agent"

    def setUp(self):
        secret = os.path.join(RUN, "fleets", self.FLEET + ".secret")
        with open(secret, "w") as f:
            f.write("sdk5-agent-secret-0123456789abcdef\n")
        os.chmod(secret, 0o600)
        self.addCleanup(os.remove, secret)
        rally.load_config(fleets={self.FLEET: {
            "FleetId": self.FLEET, "Locations": [{"Location": "us-east-1"}],
            "RuntimeConfiguration": {"ServerProcesses": [{"LaunchPath": "sdk5_server.py",
                                                          "ConcurrentExecutions": 1}]},
            "ProcessHeartbeatTimeoutSeconds": 10}})
        port = free_port()
        while port >= 60000:
            port = free_port()
        self.port = port
        log = open(os.path.join(RUN, "logs", "agent-sdk5.log"), "w")
        self.agent = subprocess.Popen(
            [os.path.join(BIN, "rally-agent"), "--url", "http://127.0.0.1:%d" % rally.PORT,
             "--fleet", self.FLEET, "--location", "us-east-1", "--compute", "sdk5-agent-host",
             "--game-dir", HERE, "--ports", "%d-%d" % (port, port), "--config-seconds", "0.5",
             "--drain-seconds", "1"],
            env=dict(os.environ, RALLY_FLEET_SECRET_FILE=secret), stdout=log, stderr=log)
        log.close()
        self.addCleanup(self.stop_agent)

    def stop_agent(self):
        self.agent.send_signal(signal.SIGTERM)
        try:
            self.agent.wait(20)
        except subprocess.TimeoutExpired:
            self.agent.kill()
            self.agent.wait()

    def active(self):
        return [r for r in psql("SELECT process_id FROM fleet.processes WHERE fleet_id = :'p1' "
                                "AND status = 'ACTIVE' AND sdk IS NOT NULL", self.FLEET) if r]

    def test_a_player_takes_a_seat_and_the_process_is_replaced(self):
        self.assertTrue(wait_until(lambda: len(self.active()) == 1, 20), "no SDK 5 process ready")
        first = self.active()[0]
        gl = client()
        gs = gl.create_game_session(FleetId=self.FLEET, MaximumPlayerSessionCount=2)["GameSession"]
        self.assertEqual(gs["Port"], self.port)
        self.assertTrue(wait_until(lambda: gl.describe_game_sessions(GameSessionId=gs["GameSessionId"])
                                   ["GameSessions"][0]["Status"] == "ACTIVE", 10))
        ps = gl.create_player_session(GameSessionId=gs["GameSessionId"], PlayerId="sdk5-player")["PlayerSession"]
        with socket.create_connection((ps["IpAddress"], ps["Port"]), timeout=10) as sock:
            sock.sendall((ps["PlayerSessionId"] + "\n").encode())
            self.assertEqual(sock.makefile().readline().strip(), "OK")
        self.assertEqual(gl.describe_player_sessions(PlayerSessionId=ps["PlayerSessionId"])
                         ["PlayerSessions"][0]["Status"], "ACTIVE")
        raw("TerminateGameSession", {"GameSessionId": gs["GameSessionId"],
                                     "TerminationMode": "TRIGGER_ON_PROCESS_TERMINATE"})
        # TerminateProcess, ProcessEnding, exit: the agent launches another.
        self.assertTrue(wait_until(lambda: (lambda a: len(a) == 1 and a[0] != first)(self.active()), 20))
        self.assertEqual(psql("SELECT status_reason FROM fleet.processes WHERE process_id = :'p1'", first)[0],
                         "PROCESS_ENDING")
