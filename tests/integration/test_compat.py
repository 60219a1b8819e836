"""The AWS sample clients' dialects, byte for byte (reference/aws-flow.md §1-2)."""

import json
import re
import unittest
import uuid

import rally
from rally import deliver, guest, request, sign
from test_events import succeeded


def setUpModule():
    rally.pause_matchmaker()  # these tests play the matchmaker themselves


def tearDownModule():
    rally.resume_matchmaker()


PY_TIME = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}\+00:00"


class GuidanceDialect(unittest.TestCase):
    def test_login_as_guest_new_and_returning(self):
        r = request("GET", "/prod/login-as-guest")
        self.assertEqual(r.status, 200)
        self.assertEqual(list(r.json), ["guest_secret", "user_id", "auth_token", "refresh_token",
                                        "auth_token_expires_in", "refresh_token_expires_in"])
        again = request("GET", "/login-as-guest?user_id=%s&guest_secret=%s"
                        % (r.json["user_id"], r.json["guest_secret"]))
        self.assertEqual(again.status, 200)
        self.assertNotIn("guest_secret", again.json)
        bad = request("GET", "/login-as-guest?user_id=%s&guest_secret=wrong" % r.json["user_id"])
        self.assertEqual(bad.status, 401)
        self.assertIsInstance(bad.json, str)
        fresh = request("GET", "/refresh-access-token?refresh_token=" + r.json["refresh_token"])
        self.assertEqual(fresh.status, 200)
        self.assertIn("auth_token", fresh.json)

    def test_request_matchmaking_python_shape(self):
        g = guest()
        r = request("POST", "/prod/request-matchmaking", {"latencyInMs": {"us-east-1": 10, "us-west-2": 20}},
                    token=g["auth_token"], bare=True)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers["access-control-allow-origin"], "*")
        self.assertEqual(r.headers["access-control-allow-credentials"], "True")
        t = r.json
        expected = ('{"TicketId": "%s", "ConfigurationName": "SampleFlexMatchConfiguration", '
                    '"ConfigurationArn": "arn:aws:gamelift:local:000000000000:matchmakingconfiguration/'
                    'SampleFlexMatchConfiguration", "Status": "QUEUED", "StartTime": "%s", '
                    '"Players": [{"PlayerId": "%s", "PlayerAttributes": {"skill": {"N": 10}}, '
                    '"LatencyInMs": {"us-east-1": 10, "us-west-2": 20}}]}'
                    % (t["TicketId"], t["StartTime"], g["user_id"]))
        self.assertEqual(r.body.decode(), expected)
        self.assertRegex(t["StartTime"], "^" + PY_TIME + "$")
        # Errors are JSON string literals.
        bad = request("POST", "/Prod/request-matchmaking", {"nothing": 1}, token=g["auth_token"], bare=True)
        self.assertEqual((bad.status, bad.body), (400, b'"No latency data provided"'))

    def test_restarting_matchmaking_returns_the_active_ticket(self):
        g = guest()
        first = request("POST", "/request-matchmaking", {"latencyInMs": {"a": 0}}, token=g["auth_token"])
        self.assertEqual(first.json["Players"][0]["LatencyInMs"], {"a": 1})  # 0 clamped to 1
        again = request("POST", "/request-matchmaking", {"latencyInMs": {"a": 5}}, token=g["auth_token"])
        self.assertEqual(again.json["TicketId"], first.json["TicketId"])

    def test_get_match_status(self):
        g = guest()
        t = request("POST", "/prod/request-matchmaking", {"latencyInMs": {"a": 10}}, token=g["auth_token"]).json["TicketId"]
        before = request("GET", "/prod/get-match-status?&ticketId=" + t, token=g["auth_token"], bare=True)
        self.assertEqual((before.status, before.body), (400, b'"TicketId not found in DynamoDB table"'))
        missing = request("GET", "/prod/get-match-status", token=g["auth_token"], bare=True)
        self.assertEqual((missing.status, missing.body), (400, b'"ticketId not available in querystrings"'))
        deliver(sign(succeeded([(t, g["user_id"], "psess-123")], ip="11.111.111.111", port=7777)))
        r = request("GET", "/prod/get-match-status?&ticketId=" + t, token=g["auth_token"], bare=True)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b'{"MatchmakingStatus": "MatchmakingSucceeded", "Port": "7777", '
                                 b'"IpAddress": "11.111.111.111", "DnsName": "gs1.example", '
                                 b'"PlayerSessionId": "psess-123"}')
        other = guest()
        r = request("GET", "/get-match-status?ticketId=" + t, token=other["auth_token"], bare=True)
        self.assertEqual(r.status, 400)


class LegacyDialect(unittest.TestCase):
    def test_requestmatchmaking_underscore_and_space_lists(self):
        for sep in ("_", "%20", "+"):
            g = guest()
            r = request("GET", "/Prod/requestmatchmaking?latencies=us-east-1_23%sus-west-2_81" % sep,
                        token=g["auth_token"])
            self.assertEqual(r.status, 200, (sep, r))
            self.assertTrue(r.body.startswith(b'{"TicketId":"'), r.body)
            self.assertEqual(r.json["Players"][0]["LatencyInMs"], {"us-east-1": 23, "us-west-2": 81})
            self.assertRegex(r.json["StartTime"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        bad = request("GET", "/requestmatchmaking?latencies=us-east-1_x", token=guest()["auth_token"])
        self.assertEqual(bad.status, 400)
        self.assertEqual(list(bad.json), ["message"])
        missing = request("GET", "/requestmatchmaking", token=guest()["auth_token"])
        self.assertEqual(missing.status, 400)

    def test_requestmatchstatus_sentinel_then_connection(self):
        g = guest()
        t = request("GET", "/prod/requestmatchmaking?latencies=us-east-1_23", token=g["auth_token"]).json["TicketId"]
        r = request("GET", "/prod/requestmatchstatus?ticketId=" + t, token=g["auth_token"])
        self.assertEqual((r.status, r.body), (200, b'{"IpAddress":"","Port":0,"PlayerSessionId":"NotPlacedYet"}'))
        deliver(sign(succeeded([(t, g["user_id"], "psess-9")], ip="54.1.2.3", port=1935)))
        r = request("GET", "/Prod/requestmatchstatus?ticketId=" + t, token=g["auth_token"])
        self.assertEqual(r.body, b'{"IpAddress":"54.1.2.3","Port":1935,"PlayerSessionId":"psess-9",'
                                 b'"DnsName":"gs1.example"}')

    def test_stage_prefixes(self):
        g = guest()
        for prefix in ("", "/prod", "/Prod"):
            r = request("GET", prefix + "/requestmatchstatus?ticketId=x", token=g["auth_token"])
            self.assertEqual(r.status, 200, prefix)
        r = request("GET", "/PROD/requestmatchstatus?ticketId=x", token=g["auth_token"])
        self.assertEqual(r.status, 404)
        self.assertEqual(r.json["error"], "not_found")
