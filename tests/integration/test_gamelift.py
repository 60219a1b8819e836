"""The GameLift service API (POST / with X-Amz-Target), driven by clients
nobody here wrote: Debian's boto3 and AWS CLI, signing with the stack's
local access key (.run/aws) as a studio's tools would. Raw requests, signed
by botocore's own SigV4Auth, carry what the SDKs refuse to send."""

import configparser
import datetime
import http.client
import json
import os
import subprocess
import time
import unittest
from unittest import mock

import boto3
import botocore
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

import players
import rally
from rally import BIN, PORT, RUN, psql, request, wait_until
from test_fleet import BIG_SQUAD, MAP_SQUAD, PICKY, SERVER_CONFIGS, SQUAD, server_token

ENDPOINT = "http://127.0.0.1:%d" % PORT
KEYS = os.path.join(RUN, "aws", "keys")
AWS = "/usr/bin/aws"  # Debian's AWS CLI, whatever else is on PATH


def local_key():
    c = configparser.ConfigParser()
    c.read(os.path.join(RUN, "aws", "credentials"))
    return c["default"]["aws_access_key_id"], c["default"]["aws_secret_access_key"]


def new_key(principal, scope):
    out = subprocess.run([os.path.join(BIN, "rally-keys"), "aws-key", KEYS, principal, scope],
                         check=True, capture_output=True, text=True).stdout.split()
    return out[0], out[1]


def client(key=None, region="us-east-1", validate=True):
    key = key or local_key()
    return boto3.client("gamelift", endpoint_url=ENDPOINT, region_name=region,
                        aws_access_key_id=key[0], aws_secret_access_key=key[1],
                        config=Config(parameter_validation=validate, retries={"max_attempts": 1}))


def raw(operation, body, key=None, region="us-east-1", sign=True, at=None, headers=None):
    """POST / as botocore signs it, with any body; (status, JSON, headers)."""
    key = key or local_key()
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = AWSRequest(method="POST", url=ENDPOINT + "/", data=data,
                     headers=dict({"X-Amz-Target": "GameLift." + operation,
                                   "Content-Type": "application/x-amz-json-1.1"}, **(headers or {})))
    if sign:
        with mock.patch("botocore.auth.datetime") as clock:
            when = at or datetime.datetime.utcnow()
            clock.datetime.utcnow.return_value = when
            clock.datetime.now.return_value = when
            SigV4Auth(Credentials(*key), "gamelift", region).add_auth(req)
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
    conn.request("POST", "/", data, dict(req.headers.items()))
    r = conn.getresponse()
    text = r.read()
    conn.close()
    return r.status, json.loads(text) if text else None, dict(r.getheaders())


def error_code(call, *args, **kwargs):
    try:
        call(*args, **kwargs)
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
    return None


FLEET = {"FleetId": "fleet-gl-cap", "Name": "capacity test", "Description": "two locations"}


def add_fleet(fleet_id, locations, body=None):
    psql("INSERT INTO fleet.fleets (fleet_id, locations, activation_timeout_seconds, "
         "reservation_timeout_seconds, heartbeat_timeout_seconds, body) VALUES "
         "(:'p1', string_to_array(:'p2', ','), 60, 60, 30, :'p3'::jsonb) ON CONFLICT DO NOTHING",
         fleet_id, ",".join(locations), json.dumps(body or {"FleetId": fleet_id}))


def drop_fleets(prefix):
    psql("DELETE FROM fleet.processes WHERE fleet_id LIKE :'p1' || '%'", prefix)
    psql("DELETE FROM fleet.fleets WHERE fleet_id LIKE :'p1' || '%'", prefix)


class Describes(unittest.TestCase):
    """ListFleets, DescribeFleetAttributes, DescribeFleetCapacity and
    DescribeGameSessionQueues, as boto3 and the AWS CLI call them."""

    @classmethod
    def setUpClass(cls):
        for i in range(5):
            add_fleet("fleet-gl-page-%d" % i, ["us-east-1"])
        add_fleet(FLEET["FleetId"], ["us-east-1", "eu-west-1"], FLEET)

    @classmethod
    def tearDownClass(cls):
        drop_fleets("fleet-gl-")

    def test_list_fleets_pages_through_every_fleet(self):
        gl = client()
        ids = []
        pages = 0
        for page in gl.get_paginator("list_fleets").paginate(PaginationConfig={"PageSize": 2}):
            pages += 1
            ids += page["FleetIds"]
        self.assertEqual(ids, sorted(ids))
        self.assertEqual(len(ids), len(set(ids)))
        for want in ["fleet-local", "fleet-gl-cap"] + ["fleet-gl-page-%d" % i for i in range(5)]:
            self.assertIn(want, ids)
        self.assertGreaterEqual(pages, 4)
        # A page of the limit's size, and a token for the rest.
        first = gl.list_fleets(Limit=3)
        self.assertEqual(len(first["FleetIds"]), 3)
        rest = gl.list_fleets(NextToken=first["NextToken"])
        self.assertEqual(first["FleetIds"] + rest["FleetIds"], ids)
        self.assertNotIn("NextToken", rest)

    def test_fleet_attributes_by_id_and_by_arn(self):
        gl = client()
        r = gl.describe_fleet_attributes(
            FleetIds=["fleet-gl-cap", "arn:aws:gamelift:local:000000000000:fleet/fleet-local"])
        by_id = {f["FleetId"]: f for f in r["FleetAttributes"]}
        self.assertEqual(set(by_id), {"fleet-gl-cap", "fleet-local"})
        cap = by_id["fleet-gl-cap"]
        self.assertEqual(cap["Name"], "capacity test")
        self.assertEqual(cap["Description"], "two locations")
        self.assertEqual(cap["FleetArn"], "arn:aws:gamelift:local:000000000000:fleet/fleet-gl-cap")
        self.assertEqual(cap["Status"], "ACTIVE")
        self.assertEqual(by_id["fleet-local"]["Name"], "fleet-local")
        self.assertTrue(r["ResponseMetadata"]["RequestId"])

    def test_an_unknown_fleet_is_not_found(self):
        gl = client()
        self.assertEqual(error_code(gl.describe_fleet_attributes, FleetIds=["fleet-nope"]),
                         "NotFoundException")
        self.assertEqual(error_code(gl.describe_fleet_capacity, FleetIds=["fleet-local", "fleet-nope"]),
                         "NotFoundException")

    def test_capacity_counts_the_processes_of_each_location(self):
        secret = os.path.join(RUN, "fleets", "fleet-gl-cap.secret")
        with open(secret, "w") as f:
            f.write("gl-cap-secret-0123456789\n")
        self.addCleanup(os.remove, secret)
        token = server_token("fleet-gl-cap")
        ids = []
        for port in (17901, 17902):
            r = request("POST", "/v1/fleet/processes",
                        {"location": "us-east-1", "ipAddress": "127.0.0.1", "port": port,
                         "maxPlayers": 10}, token=token)
            self.assertEqual(r.status, 201, r)
            ids.append(r.json["processId"])

        def counts():
            r = client().describe_fleet_capacity(FleetIds=["fleet-gl-cap"])
            return {c["Location"]: c["InstanceCounts"] for c in r["FleetCapacity"]}
        now = counts()
        self.assertEqual(now["us-east-1"]["ACTIVE"], 2)
        self.assertEqual(now["us-east-1"]["IDLE"], 2)
        self.assertEqual(now["eu-west-1"]["ACTIVE"], 0)
        r = request("DELETE", "/v1/fleet/processes/" + ids[0], token=token)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(counts()["us-east-1"]["ACTIVE"], 1)

    def test_queues_as_configured(self):
        r = client().describe_game_session_queues(Names=["rally-queue"])
        q = r["GameSessionQueues"][0]
        self.assertEqual(q["Name"], "rally-queue")
        self.assertEqual(q["GameSessionQueueArn"],
                         "arn:aws:gamelift:local:000000000000:gamesessionqueue/rally-queue")
        self.assertEqual(q["TimeoutInSeconds"], 60)
        self.assertEqual(q["PlayerLatencyPolicies"][0],
                         {"MaximumIndividualPlayerLatencyMilliseconds": 100, "PolicyDurationSeconds": 10})
        self.assertEqual(q["Destinations"],
                         [{"DestinationArn": "arn:aws:gamelift:local:000000000000:fleet/fleet-local"}])
        self.assertEqual(error_code(client().describe_game_session_queues, Names=["no-such-queue"]),
                         "NotFoundException")

    def test_the_aws_cli(self):
        env = dict(os.environ, AWS_SHARED_CREDENTIALS_FILE=os.path.join(RUN, "aws", "credentials"),
                   AWS_CONFIG_FILE=os.path.join(RUN, "aws", "config"), AWS_PAGER="")
        r = subprocess.run([AWS, "gamelift", "describe-fleet-attributes", "--endpoint-url", ENDPOINT,
                            "--fleet-ids", "fleet-gl-cap", "--output", "json"],
                           env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["FleetAttributes"][0]["Name"], "capacity test")
        r = subprocess.run([AWS, "gamelift", "list-fleets", "--endpoint-url", ENDPOINT, "--output", "json"],
                           env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("fleet-gl-page-4", json.loads(r.stdout)["FleetIds"])  # the CLI pages by itself
        r = subprocess.run([AWS, "gamelift", "describe-fleet-capacity", "--endpoint-url", ENDPOINT,
                            "--fleet-ids", "fleet-nope"], env=env, capture_output=True, text=True, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("NotFoundException", r.stderr)


class Signatures(unittest.TestCase):
    """What AWS refuses, refused as AWS refuses it; and keys that come and go
    without a restart."""

    def test_a_wrong_secret_is_refused(self):
        akid, _ = local_key()
        gl = client((akid, "x" * 40))
        self.assertEqual(error_code(gl.list_fleets), "InvalidSignatureException")

    def test_an_unknown_key_is_refused(self):
        self.assertEqual(error_code(client(("AKIAUNKNOWNUNKNOWN00", "y" * 40)).list_fleets),
                         "UnrecognizedClientException")

    def test_a_region_the_operator_did_not_allow_is_refused(self):
        self.assertEqual(error_code(client(region="ap-south-2").list_fleets), "InvalidSignatureException")

    def test_no_signature_at_all(self):
        status, body, headers = raw("ListFleets", {}, sign=False)
        self.assertEqual((status, body["__type"]), (400, "MissingAuthenticationTokenException"))
        self.assertEqual(headers.get("Content-Type"), "application/x-amz-json-1.1")
        self.assertTrue(headers.get("x-amzn-RequestId"))

    def test_an_old_or_future_date_is_refused(self):
        old = datetime.datetime.utcnow() - datetime.timedelta(minutes=6)
        status, body, _ = raw("ListFleets", {}, at=old)
        self.assertEqual((status, body["__type"]), (400, "InvalidSignatureException"))
        self.assertIn("Signature expired", body["message"])
        future = datetime.datetime.utcnow() + datetime.timedelta(minutes=6)
        status, body, _ = raw("ListFleets", {}, at=future)
        self.assertIn("not yet current", body["message"])
        # Within the five minutes: fine.
        status, body, _ = raw("ListFleets", {}, at=datetime.datetime.utcnow() - datetime.timedelta(minutes=4))
        self.assertEqual(status, 200, body)

    def test_a_body_changed_after_signing_is_refused(self):
        key = local_key()
        req = AWSRequest(method="POST", url=ENDPOINT + "/", data=b'{"Limit": 1}',
                         headers={"X-Amz-Target": "GameLift.ListFleets",
                                  "Content-Type": "application/x-amz-json-1.1"})
        SigV4Auth(Credentials(*key), "gamelift", "us-east-1").add_auth(req)
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
        conn.request("POST", "/", b'{"Limit": 2}', dict(req.headers.items()))
        r = conn.getresponse()
        body = json.loads(r.read())
        conn.close()
        self.assertEqual((r.status, body["__type"]), (400, "InvalidSignatureException"))

    def test_a_malformed_authorization_is_incomplete(self):
        status, body, _ = raw("ListFleets", {}, sign=False,
                              headers={"Authorization": "AWS4-HMAC-SHA256 Credential=AKIA/x"})
        self.assertEqual((status, body["__type"]), (400, "IncompleteSignatureException"))
        # A bearer token is taken for an operator's (test_operators), and this
        # one is none.
        status, body, _ = raw("ListFleets", {}, sign=False, headers={"Authorization": "Bearer abc"})
        self.assertEqual(status, 401)
        self.assertNotIn("FleetIds", body)

    def test_a_new_key_works_at_once_and_a_deleted_one_stops(self):
        key = new_key("studio-tools", "backend")
        self.assertTrue(wait_until(lambda: error_code(client(key).list_fleets) is None, 5))
        os.remove(os.path.join(KEYS, key[0] + ".json"))
        self.assertTrue(wait_until(
            lambda: error_code(client(key).list_fleets) == "UnrecognizedClientException", 5))

    def test_a_key_file_others_may_read_is_refused(self):
        key = new_key("careless", "backend")
        path = os.path.join(KEYS, key[0] + ".json")
        self.addCleanup(lambda: os.path.exists(path) and os.remove(path))
        os.chmod(path, 0o644)
        os.utime(KEYS)  # the directory changed: the functions look again
        time.sleep(1.1)
        self.assertEqual(error_code(client(key).list_fleets), "UnrecognizedClientException")

    def test_a_fleet_key_sees_its_own_fleet_only(self):
        add_fleet("fleet-gl-own", ["us-east-1"])
        self.addCleanup(drop_fleets, "fleet-gl-own")
        key = new_key("fleet-gl-own-servers", "fleet:fleet-gl-own")
        self.addCleanup(os.remove, os.path.join(KEYS, key[0] + ".json"))
        gl = client(key)
        self.assertTrue(wait_until(lambda: error_code(gl.list_fleets) is None, 5))
        self.assertEqual(gl.list_fleets()["FleetIds"], ["fleet-gl-own"])
        self.assertEqual(error_code(gl.describe_fleet_attributes, FleetIds=["fleet-local"]),
                         "NotFoundException")
        self.assertEqual(gl.describe_fleet_attributes(FleetIds=["fleet-gl-own"])["FleetAttributes"][0]["FleetId"],
                         "fleet-gl-own")
        self.assertEqual(error_code(gl.describe_game_session_queues), "AccessDeniedException")


WORLDS = "fleet-gl-worlds"


def worlds_fleet():
    """A fleet of two real rally-gameserver processes per location, for the
    tests of persistent worlds; returns the Popen objects."""
    add_fleet(WORLDS, ["us-east-1", "eu-west-1"], {"FleetId": WORLDS})
    with open(os.path.join(RUN, "fleets", WORLDS + ".secret"), "w") as f:
        f.write("worlds-secret-0123456789abcdef\n")
    procs = players.start_gameservers(4, 17920, heartbeat_ms=200, fleet=WORLDS, idle_seconds=600)
    assert wait_until(lambda: idle(WORLDS, "us-east-1") == 2 and idle(WORLDS, "eu-west-1") == 2, 20)
    return procs


def idle(fleet, location):
    counts = client().describe_fleet_capacity(FleetIds=[fleet])["FleetCapacity"]
    return [c["InstanceCounts"]["IDLE"] for c in counts if c["Location"] == location][0]


def session(gs_id):
    return client().describe_game_sessions(GameSessionId=gs_id)["GameSessions"][0]


def active_world(**kwargs):
    gs = client().create_game_session(**dict({"FleetId": WORLDS, "MaximumPlayerSessionCount": 10},
                                             **kwargs))["GameSession"]
    assert wait_until(lambda: session(gs["GameSessionId"])["Status"] == "ACTIVE", 10), gs
    return gs


class Worlds(unittest.TestCase):
    """Persistent worlds through the GameLift API: game sessions made with
    CreateGameSession on real game server processes, seats made with
    CreatePlayerSession(s), taken over TCP, and worlds ended."""

    @classmethod
    def setUpClass(cls):
        cls.procs = worlds_fleet()

    @classmethod
    def tearDownClass(cls):
        players.stop_gameservers(cls.procs)
        os.remove(os.path.join(RUN, "fleets", WORLDS + ".secret"))
        psql("DELETE FROM fleet.player_sessions WHERE game_session_id IN "
             "(SELECT game_session_id FROM fleet.game_sessions WHERE fleet_id = :'p1')", WORLDS)
        psql("DELETE FROM fleet.game_sessions WHERE fleet_id = :'p1'", WORLDS)
        drop_fleets(WORLDS)

    def tearDown(self):
        # Every test leaves its worlds ended and the servers idle again.
        for g in client().describe_game_sessions(FleetId=WORLDS)["GameSessions"]:
            if g["Status"] in ("ACTIVE", "ACTIVATING"):
                raw("TerminateGameSession", {"GameSessionId": g["GameSessionId"],
                                             "TerminationMode": "FORCE_TERMINATE"})
        self.assertTrue(wait_until(lambda: idle(WORLDS, "us-east-1") + idle(WORLDS, "eu-west-1") == 4, 15))

    def test_the_seeds_world_from_the_aws_cli_to_a_seat(self):
        env = dict(os.environ, AWS_SHARED_CREDENTIALS_FILE=os.path.join(RUN, "aws", "credentials"),
                   AWS_CONFIG_FILE=os.path.join(RUN, "aws", "config"), AWS_PAGER="")
        r = subprocess.run([AWS, "gamelift", "create-game-session", "--endpoint-url", ENDPOINT,
                            "--fleet-id", WORLDS, "--location", "eu-west-1",
                            "--maximum-player-session-count", "200",
                            "--game-properties", "Key=worldName,Value=MyWorld", "--output", "json"],
                           env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        gs = json.loads(r.stdout)["GameSession"]
        self.assertEqual((gs["Status"], gs["Location"], gs["MaximumPlayerSessionCount"]),
                         ("ACTIVATING", "eu-west-1", 200))
        self.assertEqual(gs["GameProperties"], [{"Key": "worldName", "Value": "MyWorld"}])
        self.assertTrue(gs["GameSessionId"].startswith("arn:aws:gamelift:"))
        self.assertTrue(wait_until(lambda: session(gs["GameSessionId"])["Status"] == "ACTIVE", 10))
        r = subprocess.run([AWS, "gamelift", "create-player-session", "--endpoint-url", ENDPOINT,
                            "--game-session-id", gs["GameSessionId"], "--player-id", "12345",
                            "--output", "json"], env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        ps = json.loads(r.stdout)["PlayerSession"]
        self.assertEqual((ps["PlayerId"], ps["Status"], ps["Port"]), ("12345", "RESERVED", gs["Port"]))
        # The player takes the seat on the game server, which asks rally.
        import socket
        with socket.create_connection((ps["IpAddress"], ps["Port"]), timeout=10) as sock:
            sock.sendall((ps["PlayerSessionId"] + "\n").encode())
            self.assertEqual(sock.makefile().readline().strip(), "OK 12345")
            got = client().describe_player_sessions(PlayerSessionId=ps["PlayerSessionId"])
            self.assertEqual(got["PlayerSessions"][0]["Status"], "ACTIVE")
            self.assertEqual(session(gs["GameSessionId"])["CurrentPlayerSessionCount"], 1)

    def test_seats_count_against_the_maximum_and_the_policy_holds(self):
        gs = active_world(MaximumPlayerSessionCount=3, Name="small")
        gl = client()
        made = gl.create_player_sessions(GameSessionId=gs["GameSessionId"], PlayerIds=["p1", "p2"],
                                         PlayerDataMap={"p1": "mage"})["PlayerSessions"]
        self.assertEqual([p["PlayerId"] for p in made], ["p1", "p2"])
        self.assertEqual(made[0]["PlayerData"], "mage")
        self.assertNotIn("PlayerData", made[1])
        self.assertEqual(error_code(gl.create_player_sessions, GameSessionId=gs["GameSessionId"],
                                    PlayerIds=["p3", "p4"]), "GameSessionFullException")
        gl.create_player_session(GameSessionId=gs["GameSessionId"], PlayerId="p3")
        self.assertEqual(error_code(gl.create_player_session, GameSessionId=gs["GameSessionId"],
                                    PlayerId="p4"), "GameSessionFullException")
        up = gl.update_game_session(GameSessionId=gs["GameSessionId"], MaximumPlayerSessionCount=5,
                                    PlayerSessionCreationPolicy="DENY_ALL")["GameSession"]
        self.assertEqual((up["MaximumPlayerSessionCount"], up["PlayerSessionCreationPolicy"]), (5, "DENY_ALL"))
        self.assertEqual(error_code(gl.create_player_session, GameSessionId=gs["GameSessionId"],
                                    PlayerId="p4"), "InvalidGameSessionStatusException")
        gl.update_game_session(GameSessionId=gs["GameSessionId"], PlayerSessionCreationPolicy="ACCEPT_ALL")
        gl.create_player_session(GameSessionId=gs["GameSessionId"], PlayerId="p4")
        seats = gl.describe_player_sessions(GameSessionId=gs["GameSessionId"])["PlayerSessions"]
        self.assertEqual(sorted(p["PlayerId"] for p in seats), ["p1", "p2", "p3", "p4"])
        self.assertEqual(gl.describe_player_sessions(GameSessionId=gs["GameSessionId"],
                                                     PlayerSessionStatusFilter="ACTIVE")["PlayerSessions"], [])
        mine = gl.describe_player_sessions(PlayerId="p1")["PlayerSessions"]
        self.assertIn(gs["GameSessionId"], [p["GameSessionId"] for p in mine])

    def test_the_rally_tool_drives_a_world(self):
        # `rally world`, signing with the stack's AWS key as the AWS CLI does.
        env = dict(os.environ, AWS_SHARED_CREDENTIALS_FILE=os.path.join(RUN, "aws", "credentials"))
        tool = lambda *args: subprocess.run([os.path.join(BIN, "rally"), "--url", ENDPOINT, "world"]
                                            + list(args), env=env, capture_output=True, text=True,
                                            timeout=60)
        made = tool("create", "--fleet", WORLDS, "--location", "eu-west-1", "--max", "4",
                    "--name", "Tool World", "--property", "worldName=ToolWorld")
        self.assertEqual(made.returncode, 0, made.stderr)
        arn = made.stdout.split()[0]
        self.assertEqual(session(arn)["GameProperties"], [{"Key": "worldName", "Value": "ToolWorld"}])
        self.assertTrue(wait_until(lambda: session(arn)["Status"] == "ACTIVE", 10))
        listed = tool("list", "--fleet", WORLDS, "--status", "ACTIVE")
        self.assertIn(arn + " ACTIVE eu-west-1 0/4", listed.stdout)
        joined = tool("join", arn, "--player", "tool-player", "--connect")
        self.assertEqual(joined.returncode, 0, joined.stderr)
        self.assertRegex(joined.stdout, r"game server 127\.0\.0\.1:\d+ says: OK tool-player")
        ended = tool("end", arn, "--force")
        self.assertEqual(ended.returncode, 0, ended.stderr)
        self.assertEqual(session(arn)["Status"], "TERMINATED")
        self.assertNotIn(arn, tool("list", "--fleet", WORLDS, "--status", "ACTIVE").stdout)
        # Refusals keep the tool's exit codes: no such world 4, bad usage 2,
        # no key 3.
        self.assertEqual(tool("join", arn + "-gone", "--player", "p").returncode, 4)
        self.assertEqual(tool("create").returncode, 2)
        nokey = subprocess.run([os.path.join(BIN, "rally"), "--url", ENDPOINT, "world", "list", "--fleet",
                                WORLDS], env=dict(os.environ, AWS_SHARED_CREDENTIALS_FILE="/nonexistent",
                                                  HOME="/nonexistent"), capture_output=True, text=True)
        self.assertEqual(nokey.returncode, 3)

    def test_the_server_takes_no_seats_while_full(self):
        # The sample server sets DENY_ALL once every seat is taken, through
        # the server SDK, and ACCEPT_ALL when a player leaves.
        gs = active_world(MaximumPlayerSessionCount=1, Name="solo")
        gl = client()
        ps = gl.create_player_session(GameSessionId=gs["GameSessionId"], PlayerId="solo-1")["PlayerSession"]
        policy = lambda: session(gs["GameSessionId"])["PlayerSessionCreationPolicy"]
        import socket
        with socket.create_connection((ps["IpAddress"], ps["Port"]), timeout=10) as sock:
            sock.sendall((ps["PlayerSessionId"] + "\n").encode())
            self.assertEqual(sock.makefile().readline().strip(), "OK solo-1")
            self.assertTrue(wait_until(lambda: policy() == "DENY_ALL", 5))
            self.assertEqual(error_code(gl.create_player_session, GameSessionId=gs["GameSessionId"],
                                        PlayerId="solo-2"), "InvalidGameSessionStatusException")
        self.assertTrue(wait_until(lambda: policy() == "ACCEPT_ALL", 5))
        self.assertEqual(gl.describe_player_sessions(PlayerSessionId=ps["PlayerSessionId"])
                         ["PlayerSessions"][0]["Status"], "COMPLETED")

    def test_properties_are_added_and_replaced(self):
        gs = active_world(GameProperties=[{"Key": "mode", "Value": "pve"}, {"Key": "map", "Value": "isle"}])
        # Debian's botocore 1.29 predates GameProperties on UpdateGameSession: signed by hand.
        status, out, _ = raw("UpdateGameSession", {"GameSessionId": gs["GameSessionId"], "Name": "renamed",
                                                   "GameProperties": [{"Key": "map", "Value": "coast"},
                                                                      {"Key": "season", "Value": "3"}]})
        self.assertEqual(status, 200, out)
        up = out["GameSession"]
        self.assertEqual(up["Name"], "renamed")
        self.assertEqual(up["GameProperties"], [{"Key": "mode", "Value": "pve"}, {"Key": "map", "Value": "coast"},
                                                {"Key": "season", "Value": "3"}])
        detail = client().describe_game_session_details(GameSessionId=gs["GameSessionId"])
        self.assertEqual(detail["GameSessionDetails"][0]["ProtectionPolicy"], "NoProtection")
        client().update_game_session(GameSessionId=gs["GameSessionId"], ProtectionPolicy="FullProtection")
        detail = client().describe_game_session_details(GameSessionId=gs["GameSessionId"])
        self.assertEqual(detail["GameSessionDetails"][0]["ProtectionPolicy"], "FullProtection")

    def test_an_idempotency_token_makes_one_world(self):
        gl = client()
        a = gl.create_game_session(FleetId=WORLDS, MaximumPlayerSessionCount=4, IdempotencyToken="world-7")
        b = gl.create_game_session(FleetId=WORLDS, MaximumPlayerSessionCount=4, IdempotencyToken="world-7")
        self.assertEqual(a["GameSession"]["GameSessionId"], b["GameSession"]["GameSessionId"])
        self.assertTrue(a["GameSession"]["GameSessionId"].endswith("/world-7"))
        self.assertEqual(len([g for g in gl.describe_game_sessions(FleetId=WORLDS)["GameSessions"]
                              if g["GameSessionId"].endswith("/world-7")]), 1)
        gl.create_game_session(FleetId=WORLDS, MaximumPlayerSessionCount=4, GameSessionId="custom-1")
        self.assertEqual(error_code(gl.create_game_session, FleetId=WORLDS, MaximumPlayerSessionCount=4,
                                    GameSessionId="custom-1"), "IdempotentParameterMismatchException")

    def test_a_creator_makes_one_world_a_second(self):
        gl = client()
        gl.create_game_session(FleetId=WORLDS, MaximumPlayerSessionCount=4, CreatorId="player-9")
        self.assertEqual(error_code(gl.create_game_session, FleetId=WORLDS, MaximumPlayerSessionCount=4,
                                    CreatorId="player-9"), "LimitExceededException")

    def test_no_idle_process_no_world(self):
        gl = client()
        for _ in range(2):
            gl.create_game_session(FleetId=WORLDS, Location="us-east-1", MaximumPlayerSessionCount=2)
        self.assertEqual(error_code(gl.create_game_session, FleetId=WORLDS, Location="us-east-1",
                                    MaximumPlayerSessionCount=2), "FleetCapacityExceededException")
        self.assertEqual(error_code(gl.create_game_session, FleetId="fleet-gl-nope",
                                    MaximumPlayerSessionCount=2), "NotFoundException")
        self.assertEqual(error_code(gl.create_game_session, FleetId=WORLDS, Location="ap-south-1",
                                    MaximumPlayerSessionCount=2), "InvalidRequestException")
        self.assertEqual(error_code(gl.create_player_session, PlayerId="x",
                                    GameSessionId="arn:aws:gamelift:local::gamesession/fleet-x/l/none"),
                         "NotFoundException")

    def test_terminate_asks_the_server_then_it_ends(self):
        gs = active_world()
        status, body, _ = raw("TerminateGameSession", {"GameSessionId": gs["GameSessionId"],
                                                       "TerminationMode": "TRIGGER_ON_PROCESS_TERMINATE"})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["GameSession"]["Status"], "TERMINATING")
        # The sample server hears it on its heartbeat and calls ProcessEnding.
        self.assertTrue(wait_until(lambda: session(gs["GameSessionId"])["Status"] == "TERMINATED", 10))
        ended = session(gs["GameSessionId"])
        self.assertEqual(ended["StatusReason"], "TRIGGERED_ON_PROCESS_TERMINATE")
        self.assertIn("TerminationTime", ended)
        status, body, _ = raw("TerminateGameSession", {"GameSessionId": gs["GameSessionId"],
                                                       "TerminationMode": "FORCE_TERMINATE"})
        self.assertEqual((status, body["__type"]), (400, "InvalidGameSessionStatusException"))

    def test_force_terminate_ends_it_now(self):
        gs = active_world()
        seat = client().create_player_session(GameSessionId=gs["GameSessionId"], PlayerId="p")["PlayerSession"]
        status, body, _ = raw("TerminateGameSession", {"GameSessionId": gs["GameSessionId"],
                                                       "TerminationMode": "FORCE_TERMINATE"})
        self.assertEqual((status, body["GameSession"]["Status"]), (200, "TERMINATED"))
        self.assertEqual(body["GameSession"]["StatusReason"], "FORCE_TERMINATED")
        got = client().describe_player_sessions(PlayerSessionId=seat["PlayerSessionId"])["PlayerSessions"][0]
        self.assertEqual(got["Status"], "TIMEDOUT")
        self.assertEqual(error_code(client().update_game_session, GameSessionId=gs["GameSessionId"], Name="x"),
                         "InvalidGameSessionStatusException")

    def test_a_fleet_key_describes_its_own_worlds_only(self):
        gs = active_world()
        key = new_key("worlds-servers", "fleet:" + WORLDS)
        self.addCleanup(os.remove, os.path.join(KEYS, key[0] + ".json"))
        gl = client(key)
        self.assertTrue(wait_until(lambda: error_code(gl.describe_game_sessions, FleetId=WORLDS) is None, 5))
        self.assertIn(gs["GameSessionId"],
                      [g["GameSessionId"] for g in gl.describe_game_sessions(FleetId=WORLDS)["GameSessions"]])
        self.assertEqual(error_code(gl.describe_game_sessions, FleetId="fleet-local"), "NotFoundException")
        self.assertEqual(error_code(gl.create_game_session, FleetId=WORLDS, MaximumPlayerSessionCount=2),
                         "AccessDeniedException")


class Paging(unittest.TestCase):
    """DescribeGameSessions through 250 game sessions, by boto3's paginator,
    by hand, and by the AWS CLI (which pages by itself)."""

    FLEET = "fleet-gl-paging"

    @classmethod
    def setUpClass(cls):
        add_fleet(cls.FLEET, ["us-east-1", "eu-west-1"])
        psql("INSERT INTO fleet.game_sessions (game_session_id, game_session_arn, fleet_id, location, "
             "process_id, status, ip_address, port, maximum_players, name, game_properties, created_at) "
             "SELECT 'gsess-page-' || i, 'arn:aws:gamelift:local::gamesession/' || :'p1' || '/' || "
             "CASE WHEN i % 5 = 0 THEN 'eu-west-1' ELSE 'us-east-1' END || '/gsess-page-' || i, :'p1', "
             "CASE WHEN i % 5 = 0 THEN 'eu-west-1' ELSE 'us-east-1' END, 'process-page', "
             "CASE WHEN i % 2 = 0 THEN 'ACTIVE' ELSE 'TERMINATED' END, '127.0.0.1', 7000, 10 + i % 7, "
             "'w' || i, jsonb_build_array(jsonb_build_object('Key', 'mode', 'Value', "
             "(ARRAY['pvp', 'pve', 'raid'])[i % 3 + 1])), now() - (250 - i) * interval '1 second' "
             "FROM generate_series(1, 250) AS i", cls.FLEET)

    @classmethod
    def tearDownClass(cls):
        psql("DELETE FROM fleet.game_sessions WHERE fleet_id = :'p1'", cls.FLEET)
        drop_fleets(cls.FLEET)

    def test_every_session_once_in_order(self):
        gl = client()
        ids = []
        for page in gl.get_paginator("describe_game_sessions").paginate(
                FleetId=self.FLEET, PaginationConfig={"PageSize": 40}):
            self.assertLessEqual(len(page["GameSessions"]), 40)
            ids += [g["GameSessionId"] for g in page["GameSessions"]]
        self.assertEqual(len(ids), 250)
        self.assertEqual(len(set(ids)), 250)
        first = gl.describe_game_sessions(FleetId=self.FLEET, Limit=100)
        self.assertEqual(len(first["GameSessions"]), 100)
        rest = gl.describe_game_sessions(FleetId=self.FLEET, NextToken=first["NextToken"], Limit=100)
        self.assertEqual([g["GameSessionId"] for g in first["GameSessions"] + rest["GameSessions"]], ids[:200])

    def test_filters(self):
        gl = client()
        active = [g for p in gl.get_paginator("describe_game_sessions").paginate(
            FleetId=self.FLEET, StatusFilter="ACTIVE") for g in p["GameSessions"]]
        self.assertEqual(len(active), 125)
        self.assertTrue(all(g["Status"] == "ACTIVE" for g in active))
        west = [g for p in gl.get_paginator("describe_game_session_details").paginate(
            FleetId=self.FLEET, Location="eu-west-1") for g in p["GameSessionDetails"]]
        self.assertEqual(len(west), 50)
        self.assertEqual(error_code(gl.describe_game_sessions, FleetId="fleet-gl-none"), "NotFoundException")

    def test_search_filters_sorts_and_pages(self):
        gl = client()
        found = []
        for page in gl.get_paginator("search_game_sessions").paginate(
                FleetId=self.FLEET, FilterExpression="gameSessionProperties.mode = 'pvp' AND "
                                                     "(maximumSessions >= 14 OR NOT hasAvailablePlayerSessions=true)",
                SortExpression="creationTimeMillis DESC"):
            self.assertLessEqual(len(page["GameSessions"]), 20)
            found += page["GameSessions"]
        # ACTIVE (even i), mode pvp (i % 3 == 0), 10 + i % 7 >= 14 (no one is seated here).
        want = ["w%d" % i for i in range(250, 0, -1) if i % 2 == 0 and i % 3 == 0 and 10 + i % 7 >= 14]
        self.assertEqual([g["Name"] for g in found], want)
        self.assertTrue(all(g["Status"] == "ACTIVE" for g in found))
        west = gl.search_game_sessions(FleetId=self.FLEET, Location="eu-west-1",
                                       SortExpression="gameSessionName ASC", Limit=5)["GameSessions"]
        self.assertEqual([g["Name"] for g in west], sorted("w%d" % i for i in range(10, 251, 10))[:5])
        for bad in ("maximumSessions > 'x'", "gameSessionName < 'a'", "(maximumSessions = 1",
                    "creationTimeMillis ASC"):
            self.assertEqual(error_code(gl.search_game_sessions, FleetId=self.FLEET, FilterExpression=bad),
                             "InvalidRequestException", bad)
        self.assertEqual(error_code(gl.search_game_sessions, FleetId=self.FLEET, SortExpression="name UP"),
                         "InvalidRequestException")
        self.assertEqual(error_code(gl.search_game_sessions, FleetId="fleet-gl-none"), "NotFoundException")

    def test_the_aws_cli_pages_by_itself(self):
        env = dict(os.environ, AWS_SHARED_CREDENTIALS_FILE=os.path.join(RUN, "aws", "credentials"),
                   AWS_CONFIG_FILE=os.path.join(RUN, "aws", "config"), AWS_PAGER="")
        r = subprocess.run([AWS, "gamelift", "describe-game-sessions", "--endpoint-url", ENDPOINT,
                            "--fleet-id", self.FLEET, "--page-size", "60", "--output", "json"],
                           env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(json.loads(r.stdout)["GameSessions"]), 250)
        r = subprocess.run([AWS, "gamelift", "search-game-sessions", "--endpoint-url", ENDPOINT,
                            "--fleet-id", self.FLEET, "--filter-expression", "gameSessionProperties.mode = 'raid'",
                            "--output", "json"], env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(json.loads(r.stdout)["GameSessions"]),
                         len([i for i in range(2, 251, 2) if i % 3 == 2]))


class Matchmaking(unittest.TestCase):
    """StartMatchmaking, DescribeMatchmaking, StopMatchmaking and AcceptMatch
    through the GameLift API, on STANDALONE configurations of pairs."""

    @classmethod
    def setUpClass(cls):
        rally.load_config(rulesets={"SquadRules": SQUAD, "BigSquadRules": BIG_SQUAD,
                                    "PickyRules": PICKY, "MapSquadRules": MAP_SQUAD},
                          configurations=SERVER_CONFIGS)

    def player(self, skill=20):
        return {"PlayerId": "gl-%s" % os.urandom(6).hex(),
                "PlayerAttributes": {"skill": {"N": skill}, "role": {"S": "tank"}},
                "LatencyInMs": {"us-east-1": 30}}

    def tickets(self, *ids):
        return {t["TicketId"]: t for t in client().describe_matchmaking(TicketIds=list(ids))["TicketList"]}

    def test_two_players_matched_and_described(self):
        gl = client()
        a = gl.start_matchmaking(ConfigurationName="Squad", Players=[self.player()])["MatchmakingTicket"]
        self.assertEqual(a["Status"], "QUEUED")
        self.assertIsInstance(a["StartTime"], datetime.datetime)  # epoch seconds, parsed by botocore
        b = gl.start_matchmaking(
            ConfigurationName="arn:aws:gamelift:local:000000000000:matchmakingconfiguration/Squad",
            Players=[self.player()], TicketId="gl-ticket-%s" % os.urandom(4).hex())["MatchmakingTicket"]
        ids = (a["TicketId"], b["TicketId"])
        self.assertTrue(wait_until(lambda: all(t["Status"] == "COMPLETED" for t in self.tickets(*ids).values()),
                                   15))
        done = self.tickets(*ids)[a["TicketId"]]
        self.assertEqual(done["Players"][0]["Team"], "squad")
        self.assertGreaterEqual(done["EndTime"], done["StartTime"])

    def test_stop_and_its_refusals(self):
        gl = client()
        t = gl.start_matchmaking(ConfigurationName="Waiting", Players=[self.player()])["MatchmakingTicket"]
        gl.stop_matchmaking(TicketId=t["TicketId"])
        self.assertEqual(self.tickets(t["TicketId"])[t["TicketId"]]["Status"], "CANCELLED")
        self.assertEqual(error_code(gl.stop_matchmaking, TicketId="no-such-ticket"), "NotFoundException")
        self.assertEqual(error_code(gl.start_matchmaking, ConfigurationName="NoSuchConfiguration",
                                    Players=[self.player()]), "NotFoundException")
        self.assertEqual(error_code(gl.accept_match, TicketId=t["TicketId"], PlayerIds=["x"],
                                    AcceptanceType="ACCEPT"), "InvalidRequestException")
        self.assertEqual(self.tickets("no-such-ticket"), {})

    def test_the_seeds_start_matchmaking_from_the_aws_cli(self):
        env = dict(os.environ, AWS_SHARED_CREDENTIALS_FILE=os.path.join(RUN, "aws", "credentials"),
                   AWS_CONFIG_FILE=os.path.join(RUN, "aws", "config"), AWS_PAGER="")
        r = subprocess.run([AWS, "gamelift", "start-matchmaking", "--endpoint-url", ENDPOINT,
                            "--configuration-name", "Waiting", "--players",
                            "PlayerId=player1,LatencyInMs={us-west-2=45},PlayerAttributes={skill={N=29}}",
                            "--output", "json"], env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        ticket = json.loads(r.stdout)["MatchmakingTicket"]
        self.assertEqual(ticket["Players"][0]["PlayerAttributes"]["skill"], {"N": 29})
        self.assertEqual(ticket["Players"][0]["LatencyInMs"], {"us-west-2": 45})
        client().stop_matchmaking(TicketId=ticket["TicketId"])

    def test_configurations_and_rule_sets_as_loaded(self):
        gl = client()
        conf = gl.describe_matchmaking_configurations(Names=["TeamDeathmatch"])["Configurations"][0]
        self.assertEqual((conf["Name"], conf["RuleSetName"], conf["FlexMatchMode"]),
                         ("TeamDeathmatch", "FiveVsFive", "WITH_QUEUE"))
        self.assertEqual(conf["ConfigurationArn"],
                         "arn:aws:gamelift:local:000000000000:matchmakingconfiguration/TeamDeathmatch")
        self.assertEqual(conf["GameSessionQueueArns"],
                         ["arn:aws:gamelift:local:000000000000:gamesessionqueue/rally-queue"])
        self.assertNotIn("ClientSettableAttributes", conf)
        squads = gl.describe_matchmaking_configurations(RuleSetName="SquadRules")["Configurations"]
        self.assertEqual(sorted(c["Name"] for c in squads), ["AcceptingSquad", "Squad"])
        every = [c["Name"] for p in gl.get_paginator("describe_matchmaking_configurations").paginate(
            PaginationConfig={"PageSize": 2}) for c in p["Configurations"]]
        self.assertEqual(every, sorted(every))
        self.assertIn("Squad", every)
        rs = gl.describe_matchmaking_rule_sets(Names=["FiveVsFive"])["RuleSets"][0]
        self.assertEqual(json.loads(rs["RuleSetBody"])["teams"][0]["maxPlayers"], 5)
        self.assertEqual(error_code(gl.describe_matchmaking_rule_sets, Names=["NoSuchRules"]),
                         "NotFoundException")

    def test_rule_sets_validated_by_the_matchmakers_own_parser(self):
        gl = client()
        self.assertTrue(gl.validate_matchmaking_rule_set(RuleSetBody=json.dumps(SQUAD))["Valid"])
        bad = dict(SQUAD, teams=[{"name": "squad", "minPlayers": 3, "maxPlayers": 2}])
        try:
            gl.validate_matchmaking_rule_set(RuleSetBody=json.dumps(bad))
            self.fail("an invalid rule set was valid")
        except botocore.exceptions.ClientError as e:
            self.assertEqual(e.response["Error"]["Code"], "InvalidRequestException")
            self.assertIn("teams[0]", e.response["Error"]["Message"])
        self.assertEqual(error_code(gl.validate_matchmaking_rule_set, RuleSetBody="{not json"),
                         "InvalidRequestException")

    def test_a_fleet_key_may_not_matchmake(self):
        key = new_key("fleet-mm", "fleet:fleet-local")
        self.addCleanup(os.remove, os.path.join(KEYS, key[0] + ".json"))
        self.assertEqual(error_code(client(key).start_matchmaking, ConfigurationName="Squad",
                                    Players=[self.player()]), "AccessDeniedException")


class BadInput(unittest.TestCase):
    """Input the service model refuses is an InvalidRequestException naming
    the member; an operation rally does not serve is unknown."""

    def check(self, body, member):
        status, out, _ = raw("DescribeFleetAttributes", body)
        self.assertEqual((status, out["__type"]), (400, "InvalidRequestException"), out)
        self.assertIn(member, out["message"])

    def test_members_of_the_wrong_type_or_size(self):
        self.check({"Limit": 0}, "Limit")
        self.check({"Limit": "5"}, "Limit")
        self.check({"FleetIds": "fleet-local"}, "FleetIds")
        self.check({"FleetIds": []}, "FleetIds")
        self.check({"FleetIds": ["not-a-fleet"]}, "FleetIds")
        self.check({"FleetIds": ["fleet-" + "x" * 600]}, "FleetIds")
        self.check({"NextToken": ""}, "NextToken")
        self.check({"Fleets": ["fleet-local"]}, "Fleets")

    def test_a_token_that_is_not_ours(self):
        status, out, _ = raw("ListFleets", {"NextToken": "bm90LW91cnM"})
        self.assertEqual((status, out["__type"]), (400, "InvalidRequestException"))
        self.assertIn("NextToken", out["message"])

    def test_malformed_json(self):
        for body in (b"{", b"[]", b"", b'{"Limit": 1, "Limit": 2}'):
            status, out, _ = raw("ListFleets", body)
            self.assertEqual((status, out["__type"]), (400, "InvalidRequestException"), body)

    def test_an_operation_rally_does_not_serve(self):
        status, out, _ = raw("NoSuchOperation", {})
        self.assertEqual((status, out["__type"]), (400, "UnknownOperationException"))

    def test_boto3_without_its_own_checks_gets_the_same_answer(self):
        gl = client(validate=False)
        self.assertEqual(error_code(gl.list_fleets, Limit=0), "InvalidRequestException")

    def test_world_input_refused_by_member(self):
        cases = [
            ("CreateGameSession", {"FleetId": "fleet-local"}, "MaximumPlayerSessionCount"),
            ("CreateGameSession", {"FleetId": "fleet-local", "MaximumPlayerSessionCount": 201},
             "MaximumPlayerSessionCount"),
            ("CreateGameSession", {"FleetId": "fleet-local", "MaximumPlayerSessionCount": 2,
                                   "GameProperties": [{"Key": "k%d" % i, "Value": "v"} for i in range(17)]},
             "GameProperties"),
            ("CreateGameSession", {"FleetId": "fleet-local", "MaximumPlayerSessionCount": 2,
                                   "GameProperties": [{"Key": "k" * 33, "Value": "v"}]}, "GameProperties"),
            ("CreateGameSession", {"FleetId": "fleet-local", "MaximumPlayerSessionCount": 2,
                                   "IdempotencyToken": "not ok!"}, "IdempotencyToken"),
            ("CreateGameSession", {"FleetId": "fleet-local", "MaximumPlayerSessionCount": 2,
                                   "GameSessionData": "x" * 262145}, "GameSessionData"),
            ("CreatePlayerSessions", {"GameSessionId": "arn:x", "PlayerIds": ["p%d" % i for i in range(26)]},
             "PlayerIds"),
            ("CreatePlayerSessions", {"GameSessionId": "arn:x", "PlayerIds": ["a", "a"]}, "PlayerIds"),
            ("CreatePlayerSession", {"GameSessionId": "arn:x", "PlayerId": "p", "PlayerData": "d" * 2049},
             "PlayerData"),
            ("TerminateGameSession", {"GameSessionId": "arn:x", "TerminationMode": "NOW"}, "TerminationMode"),
            ("UpdateGameSession", {"GameSessionId": "arn:x", "ProtectionPolicy": "Some"}, "ProtectionPolicy"),
            ("DescribeGameSessions", {"FleetId": "fleet-local", "StatusFilter": "GONE"}, "StatusFilter"),
            ("DescribeGameSessions", {}, "FleetId"),
            ("DescribePlayerSessions", {}, "PlayerSessionId"),
        ]
        before = psql("SELECT count(*) FROM fleet.game_sessions")
        for op, body, member in cases:
            status, out, _ = raw(op, body)
            self.assertEqual((status, out["__type"]), (400, "InvalidRequestException"), (op, body, out))
            self.assertIn(member, out["message"], (op, out))
        self.assertEqual(psql("SELECT count(*) FROM fleet.game_sessions"), before)


if __name__ == "__main__":
    unittest.main()
