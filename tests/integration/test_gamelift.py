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

from rally import BIN, PORT, RUN, psql, request, wait_until
from test_fleet import server_token

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
        status, body, _ = raw("ListFleets", {}, sign=False, headers={"Authorization": "Bearer abc"})
        self.assertEqual((status, body["__type"]), (400, "IncompleteSignatureException"))

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


if __name__ == "__main__":
    unittest.main()
