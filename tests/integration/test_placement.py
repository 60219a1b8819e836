"""Group placement without matchmaking through the GameLift service API
(StartGameSessionPlacement, DescribeGameSessionPlacement,
StopGameSessionPlacement), driven by Debian's boto3 and AWS CLI against
real rally-gameserver processes, with the queue placement events caught by
an SNS subscriber of the queue's NotificationTarget."""

import json
import os
import signal
import socket
import subprocess
import time
import unittest

import players
import rally
from rally import RUN, psql, wait_until
from test_gamelift import AWS, ENDPOINT, KEYS, client, error_code, new_key, raw
from test_outbox import Receiver, free_port

FLEET = "fleet-gp"
QUEUE = "gp-queue"
SLOW = "gp-slow"  # a queue that gives up after two seconds
TOPIC = "arn:aws:sns:local:000000000000:gp-placement-events"
DESTINATION = [{"DestinationArn": "arn:aws:gamelift:local:000000000000:fleet/" + FLEET}]


def placement(pid):
    return client().describe_game_session_placement(PlacementId=pid)["GameSessionPlacement"]


def settled(pid, timeout=15):
    """The placement once it is no longer PENDING."""
    assert wait_until(lambda: placement(pid)["Status"] != "PENDING", timeout), placement(pid)
    return placement(pid)


def idle(location):
    counts = client().describe_fleet_capacity(FleetIds=[FLEET])["FleetCapacity"]
    return [c["InstanceCounts"]["IDLE"] for c in counts if c["Location"] == location][0]


_ids = iter(range(1, 1 << 30))


def new_id(prefix="gp"):
    return "%s-%d-%d" % (prefix, os.getpid(), next(_ids))


def setUpModule():
    global PROCS, RECEIVER
    rally.load_config(
        # Heartbeats every 0.2 s; a process silent for 3 s is gone.
        fleets={FLEET: {"FleetId": FLEET, "ProcessHeartbeatTimeoutSeconds": 3,
                        "Locations": [{"Location": "us-east-1"}, {"Location": "eu-west-1"}]}},
        queues={QUEUE: {"Name": QUEUE, "TimeoutInSeconds": 60, "Destinations": DESTINATION,
                        "PriorityConfiguration": {"LocationOrder": ["us-east-1", "eu-west-1"]},
                        "NotificationTarget": TOPIC},
                SLOW: {"Name": SLOW, "TimeoutInSeconds": 2, "Destinations": DESTINATION,
                       "NotificationTarget": TOPIC}})
    with open(os.path.join(RUN, "fleets", FLEET + ".secret"), "w") as f:
        f.write("gp-secret-0123456789abcdef\n")
    PROCS = players.start_gameservers(4, 17950, heartbeat_ms=200, fleet=FLEET, idle_seconds=600)
    assert wait_until(lambda: idle("us-east-1") == 2 and idle("eu-west-1") == 2, 20)
    RECEIVER = Receiver(free_port())
    psql("INSERT INTO events.subscriptions (topic_arn, endpoint) VALUES (:'p1', :'p2')",
         TOPIC, "http://127.0.0.1:%d/" % RECEIVER.port)


def tearDownModule():
    players.stop_gameservers(PROCS)
    RECEIVER.close()
    os.remove(os.path.join(RUN, "fleets", FLEET + ".secret"))
    psql("DELETE FROM events.subscriptions WHERE topic_arn = :'p1'", TOPIC)
    psql("DELETE FROM fleet.placements WHERE queue_name IN (:'p1', :'p2')", QUEUE, SLOW)
    psql("DELETE FROM fleet.processes WHERE fleet_id = :'p1'", FLEET)
    rally.load_config()


def events_of(pid, timeout=10):
    """The queue placement events delivered for a placement: (envelope, detail)."""
    def found():
        out = []
        for _, note in list(RECEIVER.received):
            msg = json.loads(note["Message"])
            if msg.get("detail", {}).get("placementId") == pid:
                out.append((msg, msg["detail"]))
        return out
    wait_until(lambda: found(), timeout)
    return found()


def end_games():
    """Every game session of the fleet ends, the servers idle again."""
    for g in client().describe_game_sessions(FleetId=FLEET)["GameSessions"]:
        if g["Status"] in ("ACTIVE", "ACTIVATING"):
            raw("TerminateGameSession", {"GameSessionId": g["GameSessionId"],
                                         "TerminationMode": "FORCE_TERMINATE"})
    assert wait_until(lambda: idle("us-east-1") + idle("eu-west-1") == 4, 15)


def start_with_override(pid, locations, fallback=None, queue=QUEUE):
    """StartGameSessionPlacement with a PriorityConfigurationOverride, which
    Debian's botocore (1.29) does not know yet: signed by botocore, sent raw."""
    override = {"LocationOrder": locations}
    if fallback:
        override["PlacementFallbackStrategy"] = fallback
    status, out, _ = raw("StartGameSessionPlacement", {
        "PlacementId": pid, "GameSessionQueueName": queue, "MaximumPlayerSessionCount": 2,
        "PriorityConfigurationOverride": override})
    assert status == 200, out
    return out["GameSessionPlacement"]


def unplaceable(pid, queue=QUEUE):
    """A placement no location can take: only a location no fleet has."""
    return start_with_override(pid, ["ap-south-1"], "NONE", queue)


class Placement(unittest.TestCase):
    def tearDown(self):
        end_games()

    def test_a_group_seated_where_its_latency_is_lowest(self):
        pid = new_id()
        gl = client()
        started = gl.start_game_session_placement(
            PlacementId=pid, GameSessionQueueName=QUEUE, MaximumPlayerSessionCount=4,
            GameSessionName="raid", GameProperties=[{"Key": "mapName", "Value": "DungeonRaid"}],
            GameSessionData="seed=7",
            PlayerLatencies=[
                {"PlayerId": "p1", "RegionIdentifier": "us-east-1", "LatencyInMilliseconds": 90},
                {"PlayerId": "p1", "RegionIdentifier": "eu-west-1", "LatencyInMilliseconds": 20},
                {"PlayerId": "p2", "RegionIdentifier": "us-east-1", "LatencyInMilliseconds": 80},
                {"PlayerId": "p2", "RegionIdentifier": "eu-west-1", "LatencyInMilliseconds": 30}],
            DesiredPlayerSessions=[{"PlayerId": "p1", "PlayerData": "tank"}, {"PlayerId": "p2"}],
        )["GameSessionPlacement"]
        self.assertEqual((started["Status"], started["GameSessionQueueName"]), ("PENDING", QUEUE))
        self.assertNotIn("IpAddress", started)  # not final until FULFILLED
        done = settled(pid)
        self.assertEqual(done["Status"], "FULFILLED")
        self.assertEqual(done["GameSessionRegion"], "eu-west-1")
        self.assertGreaterEqual(done["EndTime"], done["StartTime"])
        seats = {p["PlayerId"]: p["PlayerSessionId"] for p in done["PlacedPlayerSessions"]}
        self.assertEqual(sorted(seats), ["p1", "p2"])
        # The game session carries what the placement asked for.
        gs = gl.describe_game_sessions(GameSessionId=done["GameSessionArn"])["GameSessions"][0]
        self.assertEqual((gs["Status"], gs["Name"], gs["MaximumPlayerSessionCount"], gs["Location"]),
                         ("ACTIVE", "raid", 4, "eu-west-1"))
        self.assertEqual(gs["GameProperties"], [{"Key": "mapName", "Value": "DungeonRaid"}])
        self.assertEqual((gs["GameSessionData"], gs["CurrentPlayerSessionCount"]), ("seed=7", 2))
        ps = gl.describe_player_sessions(PlayerSessionId=seats["p1"])["PlayerSessions"][0]
        self.assertEqual((ps["Status"], ps["PlayerData"], ps["Port"]), ("RESERVED", "tank", done["Port"]))
        # The player takes the seat on the game server the placement names.
        with socket.create_connection((done["IpAddress"], done["Port"]), timeout=10) as sock:
            sock.sendall((seats["p1"] + "\n").encode())
            self.assertEqual(sock.makefile().readline().strip(), "OK p1")
        # PlacementFulfilled, as GameLift sends it, to the queue's target.
        [(env, detail)] = events_of(pid)
        self.assertEqual((env["detail-type"], env["source"]),
                         ("GameLift Queue Placement Event", "aws.gamelift"))
        self.assertTrue(env["resources"][0].endswith(":gamesessionqueue/" + QUEUE))
        self.assertEqual((detail["type"], detail["gameSessionArn"], detail["port"]),
                         ("PlacementFulfilled", done["GameSessionArn"], str(done["Port"])))
        self.assertEqual((detail["ipAddress"], detail["gameSessionRegion"]), (done["IpAddress"], "eu-west-1"))
        self.assertEqual({p["playerId"]: p["playerSessionId"] for p in detail["placedPlayerSessions"]}, seats)
        self.assertRegex(detail["startTime"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

    def test_an_override_puts_its_locations_first(self):
        for first in ("eu-west-1", "us-east-1"):
            pid = new_id()
            self.assertEqual(start_with_override(pid, [first])["PriorityConfigurationOverride"],
                             {"LocationOrder": [first]})
            self.assertEqual(settled(pid)["GameSessionRegion"], first)
            end_games()

    def test_without_latencies_the_queues_order_decides(self):
        pid = new_id()
        client().start_game_session_placement(PlacementId=pid, GameSessionQueueName=QUEUE,
                                              MaximumPlayerSessionCount=2)
        done = settled(pid)
        self.assertEqual((done["Status"], done["GameSessionRegion"]), ("FULFILLED", "us-east-1"))
        self.assertEqual(done["PlacedPlayerSessions"], [])

    def test_the_seeds_placement_from_the_aws_cli(self):
        env = dict(os.environ, AWS_SHARED_CREDENTIALS_FILE=os.path.join(RUN, "aws", "credentials"),
                   AWS_CONFIG_FILE=os.path.join(RUN, "aws", "config"), AWS_PAGER="")
        pid = new_id("unique-id")
        r = subprocess.run(
            [AWS, "gamelift", "start-game-session-placement", "--endpoint-url", ENDPOINT,
             "--game-session-queue-name", QUEUE, "--placement-id", pid,
             "--maximum-player-session-count", "200",
             "--game-properties", "Key=mapName,Value=DungeonRaid", "Key=difficulty,Value=hard",
             "--player-latencies",
             "PlayerId=player1,RegionIdentifier=us-east-1,LatencyInMilliseconds=20",
             "PlayerId=player2,RegionIdentifier=us-east-1,LatencyInMilliseconds=30",
             "--desired-player-sessions", "PlayerId=player1", "PlayerId=player2", "--output", "json"],
            env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["GameSessionPlacement"]["Status"], "PENDING")
        settled(pid)
        r = subprocess.run([AWS, "gamelift", "describe-game-session-placement", "--endpoint-url",
                            ENDPOINT, "--placement-id", pid, "--output", "json"],
                           env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        done = json.loads(r.stdout)["GameSessionPlacement"]
        self.assertEqual((done["Status"], done["GameSessionRegion"]), ("FULFILLED", "us-east-1"))
        self.assertEqual(sorted(p["PlayerId"] for p in done["PlacedPlayerSessions"]),
                         ["player1", "player2"])

    def test_a_placement_that_finds_no_room_times_out(self):
        pid = new_id()
        unplaceable(pid, queue=SLOW)
        done = settled(pid, timeout=10)
        self.assertEqual(done["Status"], "TIMED_OUT")
        self.assertNotIn("GameSessionArn", done)
        [(_, detail)] = events_of(pid)
        self.assertEqual(detail["type"], "PlacementTimedOut")
        self.assertNotIn("gameSessionArn", detail)

    def test_a_game_session_whose_process_dies_is_placed_again(self):
        # Both us-east-1 servers freeze; the placement, held to us-east-1,
        # gets a game session on one of them that never starts. Once that
        # process misses its heartbeats the session is abandoned, and the
        # other server, back, hosts the placement.
        east = [PROCS[0], PROCS[2]]
        for p in east:
            p.send_signal(signal.SIGSTOP)
        try:
            pid = new_id()
            start_with_override(pid, ["us-east-1"], "NONE")
            first = lambda: psql("SELECT g.game_session_id || '|' || g.port FROM fleet.placements pl "
                                 "JOIN fleet.game_sessions g USING (game_session_id) "
                                 "WHERE pl.placement_id = :'p1'", pid)
            self.assertTrue(wait_until(first, 5))
            gs_id, port = first()[0].split("|")
            (PROCS[2] if port == "17950" else PROCS[0]).send_signal(signal.SIGCONT)
            done = settled(pid, 20)
            self.assertEqual(done["Status"], "FULFILLED")
            self.assertNotEqual(done["Port"], int(port))
            self.assertEqual(psql("SELECT status || '|' || status_reason FROM fleet.game_sessions "
                                  "WHERE game_session_id = :'p1'", gs_id), ["TERMINATED|INTERRUPTED"])
        finally:
            for p in east:
                p.send_signal(signal.SIGCONT)


class Stop(unittest.TestCase):
    def test_stop_cancels_a_pending_placement_once(self):
        pid = new_id()
        unplaceable(pid)
        gl = client()
        stopped = gl.stop_game_session_placement(PlacementId=pid)["GameSessionPlacement"]
        self.assertEqual(stopped["Status"], "CANCELLED")
        self.assertIn("EndTime", stopped)
        # Asked again: the same answer, and still one event.
        self.assertEqual(gl.stop_game_session_placement(PlacementId=pid)["GameSessionPlacement"]["Status"],
                         "CANCELLED")
        self.assertEqual(placement(pid)["Status"], "CANCELLED")
        time.sleep(0.5)
        [(_, detail)] = events_of(pid)
        self.assertEqual(detail["type"], "PlacementCancelled")

    def test_what_cannot_be_stopped(self):
        gl = client()
        self.assertEqual(error_code(gl.stop_game_session_placement, PlacementId="gp-no-such"),
                         "NotFoundException")
        pid = new_id()
        gl.start_game_session_placement(PlacementId=pid, GameSessionQueueName=QUEUE,
                                        MaximumPlayerSessionCount=2)
        self.assertEqual(settled(pid)["Status"], "FULFILLED")
        self.assertEqual(error_code(gl.stop_game_session_placement, PlacementId=pid),
                         "InvalidRequestException")
        end_games()


class Refusals(unittest.TestCase):
    """What StartGameSessionPlacement refuses, and that a refusal changes nothing."""

    def test_refused_input(self):
        base = {"PlacementId": new_id(), "GameSessionQueueName": QUEUE, "MaximumPlayerSessionCount": 2}
        lat = {"PlayerId": "a", "RegionIdentifier": "us-east-1", "LatencyInMilliseconds": 10}
        cases = [
            ({"MaximumPlayerSessionCount": 201}, "InvalidRequestException", "MaximumPlayerSessionCount"),
            ({"PlacementId": "no spaces"}, "InvalidRequestException", "PlacementId"),
            ({"PlacementId": "x" * 49}, "InvalidRequestException", "PlacementId"),
            ({"PlayerLatencies": [dict(lat, LatencyInMilliseconds="10")]}, "InvalidRequestException",
             "LatencyInMilliseconds"),
            ({"PlayerLatencies": [dict(lat, Extra=1)]}, "InvalidRequestException", "Extra"),
            ({"PlayerLatencies": [{"PlayerId": "a"}]}, "InvalidRequestException", "RegionIdentifier"),
            ({"DesiredPlayerSessions": [{"PlayerId": "a"}] * 2}, "InvalidRequestException", "twice"),
            ({"DesiredPlayerSessions": [{"PlayerId": "p%d" % i} for i in range(3)]},
             "InvalidRequestException", "MaximumPlayerSessionCount"),
            ({"DesiredPlayerSessions": [{"PlayerId": "a", "PlayerData": "d" * 2049}]},
             "InvalidRequestException", "PlayerData"),
            ({"PlayerLatencies": [lat], "PriorityConfigurationOverride": {"LocationOrder": ["us-east-1"]}},
             "InvalidRequestException", "PriorityConfigurationOverride"),
            ({"PriorityConfigurationOverride": {"LocationOrder": []}}, "InvalidRequestException",
             "LocationOrder"),
            ({"PriorityConfigurationOverride": {"LocationOrder": ["us-east-1", "us-east-1"]}},
             "InvalidRequestException", "twice"),
            ({"PriorityConfigurationOverride": {"LocationOrder": ["us-east-1"],
                                                "PlacementFallbackStrategy": "SOMETIMES"}},
             "InvalidRequestException", "PlacementFallbackStrategy"),
            ({"GameSessionQueueName": "no-such-queue"}, "NotFoundException", "no-such-queue"),
        ]
        before = psql("SELECT count(*) FROM fleet.placements")
        for change, code, word in cases:
            status, out, _ = raw("StartGameSessionPlacement", dict(base, **change))
            self.assertEqual((status, out["__type"]), (400, code), (change, out))
            self.assertIn(word, out["message"], (change, out))
        self.assertEqual(psql("SELECT count(*) FROM fleet.placements"), before)

    def test_a_placement_id_is_never_reused(self):
        pid = new_id()
        unplaceable(pid)
        client().stop_game_session_placement(PlacementId=pid)
        status, out, _ = raw("StartGameSessionPlacement", {
            "PlacementId": pid, "GameSessionQueueName": QUEUE, "MaximumPlayerSessionCount": 3})
        self.assertEqual((status, out["__type"]), (400, "InvalidRequestException"), out)
        self.assertEqual(placement(pid)["MaximumPlayerSessionCount"], 2)

    def test_a_fleet_key_may_not_place(self):
        key = new_key("gp-fleet-server", "fleet:" + FLEET)
        self.addCleanup(os.remove, os.path.join(KEYS, key[0] + ".json"))
        gl = client(key)
        self.assertEqual(error_code(gl.start_game_session_placement, PlacementId=new_id(),
                                    GameSessionQueueName=QUEUE, MaximumPlayerSessionCount=2),
                         "AccessDeniedException")
        self.assertEqual(error_code(gl.describe_game_session_placement, PlacementId="gp-x"),
                         "AccessDeniedException")


if __name__ == "__main__":
    unittest.main()
