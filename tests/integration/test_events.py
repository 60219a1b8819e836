"""SNS event ingest: signatures, allowlists, dedupe, ordering, all eight events."""

import json
import os
import subprocess
import tempfile
import unittest
import uuid

import rally
from rally import (ENV, deliver, event, guest, now_iso, psql, publish, request, sign,
                   start_ticket)


def setUpModule():
    rally.pause_matchmaker()  # these tests play the matchmaker themselves


def tearDownModule():
    rally.resume_matchmaker()


def status(g, t):
    return request("GET", "/v1/matchmaking/" + t, token=g["auth_token"]).json


def ticket(g=None):
    g = g or guest()
    return g, start_ticket(g["auth_token"]).json["TicketId"]


def succeeded(pairs, ip="10.0.0.7", port=7777):
    """MatchmakingSucceeded for [(ticketId, playerId, psess)]."""
    tickets = [(t, [{"playerId": p, "playerSessionId": s, "team": "oneteam"}]) for t, p, s in pairs]
    return event("MatchmakingSucceeded", tickets, matchId=str(uuid.uuid4()),
                 gameSessionInfo={"gameSessionArn": "arn:aws:gamelift:local::gamesession/fleet-1/gs-1",
                                  "ipAddress": ip, "dnsName": "gs1.example", "port": port,
                                  "players": [{"playerId": p, "playerSessionId": s, "team": "oneteam"}
                                              for _, p, s in pairs]})


class Signatures(unittest.TestCase):
    def test_both_signature_versions_are_accepted(self):
        for version in ("1", "2"):
            g, t = ticket()
            ps = "psess-" + str(uuid.uuid4())
            r = deliver(sign(succeeded([(t, g["user_id"], ps)]), version=version))
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json["status"], "applied")
            got = status(g, t)
            self.assertEqual(got["Status"], "COMPLETED")
            self.assertEqual(got["GameSessionConnectionInfo"]["MatchedPlayerSessions"],
                             [{"PlayerId": g["user_id"], "PlayerSessionId": ps}])

    def test_bad_signature_is_rejected_and_writes_nothing(self):
        g, t = ticket()
        n = sign(succeeded([(t, g["user_id"], "psess-x")]))
        n["Message"] = n["Message"].replace("10.0.0.7", "10.6.6.6")
        r = deliver(n)
        self.assertEqual((r.status, r.json["error"]), (403, "bad_signature"))
        self.assertEqual(status(g, t)["Status"], "QUEUED")
        self.assertEqual(psql("SELECT count(*) FROM backend.sns_messages WHERE message_id = :'p1'",
                              n["MessageId"]), ["0"])

    def test_signature_version_mislabelled_is_rejected(self):
        g, t = ticket()
        n = sign(succeeded([(t, g["user_id"], "psess-x")]), version="1")
        n["SignatureVersion"] = "2"
        self.assertEqual(deliver(n).status, 403)
        n["SignatureVersion"] = "3"
        self.assertEqual(deliver(n).status, 403)
        self.assertEqual(status(g, t)["Status"], "QUEUED")

    def test_unlisted_cert_url_topic_or_unknown_cert(self):
        g, t = ticket()
        ev = succeeded([(t, g["user_id"], "psess-x")])
        key = ENV["RALLY_SNS_SIGNING_KEY"]
        cases = [
            (sign(ev, cert_url="https://evil.example/rally-local-sns.pem"), "certificate_not_allowed"),
            (sign(ev, cert_url="https://sns.local.rally.invalid/other.pem"), "certificate_unknown"),
            (sign(ev, cert_url="https://sns.local.rally.invalid/../sns/signing.key"), "certificate_unknown"),
            (sign(ev, topic="arn:aws:sns:local:000000000000:not-ours"), "topic_not_allowed"),
        ]
        with tempfile.TemporaryDirectory() as d:
            other = os.path.join(d, "k.pem")
            subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-out", other,
                            "-pkeyopt", "rsa_keygen_bits:2048"], check=True, capture_output=True)
            cases.append((sign(ev, key=other), "bad_signature"))
        for n, code in cases:
            r = deliver(n)
            self.assertEqual((r.status, r.json["error"]), (403, code), n["SigningCertURL"])
            self.assertEqual(psql("SELECT count(*) FROM backend.sns_messages WHERE message_id = :'p1'",
                                  n["MessageId"]), ["0"])
        self.assertEqual(status(g, t)["Status"], "QUEUED")
        self.assertTrue(os.path.exists(key))

    def test_malformed_deliveries_are_400(self):
        g, t = ticket()
        good = sign(succeeded([(t, g["user_id"], "psess-x")]))
        r = request("POST", "/v1/events/sns", json.dumps(good))
        self.assertEqual((r.status, r.json["error"]), (400, "missing_message_type"))
        r = deliver(good, message_type="SubscriptionConfirmation")
        self.assertEqual((r.status, r.json["error"]), (400, "type_mismatch"))
        r = deliver(good, headers={"x-amz-sns-message-id": "other"})
        self.assertEqual((r.status, r.json["error"]), (400, "invalid_message_id"))
        r = request("POST", "/v1/events/sns", "{not json", headers={"x-amz-sns-message-type": "Notification"})
        self.assertEqual(r.status, 400)
        for bad in ({"detail-type": "Other"}, {"detail": {"type": "MatchmakingExploded", "tickets": [{"ticketId": t}]}},
                    {"time": "yesterday"}, {"detail": {"type": "MatchmakingSearching", "tickets": []}}):
            ev = succeeded([(t, g["user_id"], "psess-x")])
            ev.update(bad)
            r = deliver(sign(ev))
            self.assertEqual(r.status, 400, bad)
        stale = deliver(sign(succeeded([(t, g["user_id"], "psess-x")]), timestamp="2020-01-01T00:00:00.000Z"))
        self.assertEqual((stale.status, stale.json["error"]), (400, "stale_message"))
        self.assertEqual(status(g, t)["Status"], "QUEUED")

    def test_subscription_confirmation_is_recorded(self):
        # rally-sns-sign only makes Notifications; build the confirmation by
        # signing its canonical string with openssl, as SNS would.
        import base64
        msg = {"Type": "SubscriptionConfirmation", "MessageId": str(uuid.uuid4()),
               "Token": "tok123", "TopicArn": ENV["RALLY_SNS_TOPICS"].split(",")[0],
               "Message": "You have chosen to subscribe.",
               "SubscribeURL": "https://sns.local.rally.invalid/?Action=ConfirmSubscription&Token=tok123",
               "Timestamp": now_iso(), "SignatureVersion": "2",
               "SigningCertURL": ENV["RALLY_SNS_SIGNING_CERT_URL"]}
        keys = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
        text = "".join("%s\n%s\n" % (k, msg[k]) for k in keys)
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", ENV["RALLY_SNS_SIGNING_KEY"]],
                             input=text.encode(), capture_output=True, check=True).stdout
        msg["Signature"] = base64.b64encode(sig).decode()
        r = deliver(msg)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(psql("SELECT token FROM backend.sns_subscriptions WHERE message_id = :'p1'",
                              msg["MessageId"]), ["tok123"])


class OperatorCertificates(unittest.TestCase):
    """RALLY_SNS_CERT_DIR set by the operator (here: scripts/integration.sh)
    joins the local signer's directory instead of replacing it: a message
    signed with a certificate placed there verifies, and so do the local
    matchmaker's (every other test)."""

    def test_a_certificate_in_the_operators_directory_is_trusted(self):
        d = os.path.join(rally.RUN, "operator-certs")
        self.assertIn(d, ENV["RALLY_SNS_CERT_DIR"].split(","))
        name = "operator-%s.pem" % uuid.uuid4().hex[:8]
        key = os.path.join(tempfile.mkdtemp(), "operator.key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=operator sns", "-keyout", key, "-out", os.path.join(d, name)],
                       check=True, capture_output=True)
        g, t = ticket()
        n = sign(succeeded([(t, g["user_id"], "psess-op")]), key=key,
                 cert_url="https://sns.local.rally.invalid/" + name)
        r = deliver(n)
        self.assertEqual((r.status, r.json.get("status")), (200, "applied"), r)
        self.assertEqual(status(g, t)["Status"], "COMPLETED")


class Ordering(unittest.TestCase):
    def test_duplicate_message_id_is_acknowledged_and_ignored(self):
        g, t = ticket()
        mid = str(uuid.uuid4())
        searching = event("MatchmakingSearching", [(t, [{"playerId": g["user_id"]}])], estimatedWaitMillis=11500)
        self.assertEqual(deliver(sign(searching, message_id=mid)).json["status"], "applied")
        # Same MessageId, different content: a retry must not take effect twice.
        r = deliver(sign(succeeded([(t, g["user_id"], "psess-dup")]), message_id=mid))
        self.assertEqual((r.status, r.json), (200, {"status": "duplicate"}))
        got = status(g, t)
        self.assertEqual(got["Status"], "SEARCHING")
        self.assertEqual(got["EstimatedWaitTime"], 12)  # seconds, rounded up

    def test_terminal_status_is_never_overwritten(self):
        g, t = ticket()
        publish_ok = deliver(sign(succeeded([(t, g["user_id"], "psess-1")])))
        self.assertEqual(publish_ok.status, 200)
        for late in ("MatchmakingSearching", "PotentialMatchCreated", "MatchmakingTimedOut",
                     "MatchmakingCancelled"):
            r = publish(late, [(t, [{"playerId": g["user_id"]}])], matchId="late", acceptanceRequired=False)
            self.assertEqual(r.status, 200)
        got = status(g, t)
        self.assertEqual(got["Status"], "COMPLETED")
        self.assertEqual(got["GameSessionConnectionInfo"]["IpAddress"], "10.0.0.7")

    def test_searching_never_overwrites_potential_match(self):
        g, t = ticket()
        p = [(t, [{"playerId": g["user_id"], "team": "red"}])]
        publish("PotentialMatchCreated", p, matchId="m1", acceptanceRequired=True, acceptanceTimeout=10)
        # A Searching event from before the match, delivered late.
        publish("MatchmakingSearching", [(t, [{"playerId": g["user_id"]}])], when=now_iso(-3))
        self.assertEqual(status(g, t)["Status"], "REQUIRES_ACCEPTANCE")
        # After a failed acceptance round the ticket goes back to searching.
        publish("AcceptMatchCompleted", p, matchId="m1", acceptance="TimedOut", when=now_iso(1))
        self.assertEqual(status(g, t)["Status"], "SEARCHING")
        publish("MatchmakingSearching", [(t, [{"playerId": g["user_id"]}])], when=now_iso(2))
        self.assertEqual(status(g, t)["Status"], "SEARCHING")

    def test_each_player_gets_its_own_player_session(self):
        a, ta = ticket()
        b, tb = ticket()
        r = deliver(sign(succeeded([(ta, a["user_id"], "psess-aaa"), (tb, b["user_id"], "psess-bbb")])))
        self.assertEqual(r.json["tickets"], 2)
        for g, t, ps in ((a, ta, "psess-aaa"), (b, tb, "psess-bbb")):
            v2 = request("GET", "/get-match-status?ticketId=" + t, token=g["auth_token"], bare=True)
            self.assertEqual(v2.json["PlayerSessionId"], ps)
            v1 = request("GET", "/requestmatchstatus?ticketId=" + t, token=g["auth_token"])
            self.assertEqual(v1.json["PlayerSessionId"], ps)
        # Still owner-only: b cannot read a's ticket.
        self.assertEqual(request("GET", "/v1/matchmaking/" + ta, token=b["auth_token"]).status, 404)

    def test_all_eight_event_types(self):
        cases = [
            ("MatchmakingSearching", {"estimatedWaitMillis": "NOT_AVAILABLE"}, "SEARCHING", None),
            ("PotentialMatchCreated", {"acceptanceRequired": True, "acceptanceTimeout": 10,
                                       "ruleEvaluationMetrics": []}, "REQUIRES_ACCEPTANCE", None),
            ("MatchmakingTimedOut", {"reason": "TimedOut", "message": "Removed from matchmaking due to timing out."},
             "TIMED_OUT", "TimedOut"),
            ("MatchmakingCancelled", {"reason": "Cancelled", "message": "Cancelled by request."},
             "CANCELLED", "Cancelled"),
            ("MatchmakingFailed", {"reason": "UNEXPECTED_ERROR", "customEventData": "foo",
                                   "message": "An unexpected error was encountered during match placing."},
             "FAILED", "UNEXPECTED_ERROR"),
        ]
        for etype, detail, expected, reason in cases:
            g, t = ticket()
            r = publish(etype, [(t, [{"playerId": g["user_id"]}])], matchId="m-" + t, **detail)
            self.assertEqual(r.status, 200, (etype, r))
            got = status(g, t)
            self.assertEqual(got["Status"], expected, etype)
            self.assertEqual(got.get("StatusReason"), reason, etype)
            if expected in ("TIMED_OUT", "CANCELLED", "FAILED"):
                self.assertEqual(got["StatusMessage"], detail["message"])
                self.assertIn("EndTime", got)
                # A final ticket frees the player for a new one.
                self.assertEqual(start_ticket(g["auth_token"]).status, 201)
        # The acceptance flow: AcceptMatch keeps REQUIRES_ACCEPTANCE and records
        # who accepted; AcceptMatchCompleted(Accepted) moves to PLACING.
        g, t = ticket()
        p = [(t, [{"playerId": g["user_id"], "team": "red"}])]
        publish("PotentialMatchCreated", p, matchId="acc", acceptanceRequired=True, acceptanceTimeout=10)
        publish("AcceptMatch", [(t, [{"playerId": g["user_id"], "team": "red", "accepted": True}])],
                matchId="acc", when=now_iso(1))
        self.assertEqual(status(g, t)["Status"], "REQUIRES_ACCEPTANCE")
        self.assertEqual(psql("SELECT accepted FROM backend.ticket_players WHERE ticket_id = :'p1'", t), ["t"])
        publish("AcceptMatchCompleted", p, matchId="acc", acceptance="Accepted", when=now_iso(2))
        self.assertEqual(status(g, t)["Status"], "PLACING")
        deliver(sign(succeeded([(t, g["user_id"], "psess-acc")])))
        self.assertEqual(status(g, t)["Status"], "COMPLETED")

    def test_event_naming_a_player_active_on_another_ticket(self):
        # The event applies to its own ticket (which the player may read);
        # the player's active ticket stays the one it had. It was a 500 on
        # every retry of the message (make fuzz found it).
        g, mine = ticket()
        other = "external-" + str(uuid.uuid4())
        r = publish("PotentialMatchCreated", [(other, [{"playerId": g["user_id"], "team": "red"}])],
                    matchId="m-" + other, acceptanceRequired=False)
        self.assertEqual((r.status, r.json.get("status")), (200, "applied"), r)
        self.assertEqual(status(g, other)["Status"], "PLACING")
        self.assertEqual(psql("SELECT ticket_id FROM backend.ticket_players WHERE player_id = :'p1' AND active",
                              g["user_id"]), [mine])
        again = start_ticket(g["auth_token"])
        self.assertEqual((again.status, again.json["TicketId"]), (409, mine))

    def test_event_for_a_ticket_started_elsewhere(self):
        # Tickets started by AWS FlexMatch itself or a trusted backend: the
        # event's players become the ticket's readers.
        g = guest()
        t = "external-" + str(uuid.uuid4())
        r = deliver(sign(succeeded([(t, g["user_id"], "psess-ext")])))
        self.assertEqual(r.status, 200)
        got = status(g, t)
        self.assertEqual(got["Status"], "COMPLETED")
        self.assertEqual(request("GET", "/v1/matchmaking/" + t, token=guest()["auth_token"]).status, 404)
