"""The events outbox: rally-matchmaker delivers what events.publish() wrote as
signed SNS Notifications, to the local event-ingest when an operator
subscribes it and to any subscriber; retries while an endpoint is down;
dead-letters after the last attempt."""

import http.server
import json
import socket
import threading
import time
import unittest

import rally
from rally import TOPIC, event, guest, psql, request, start_ticket, wait_until


def publish_via_outbox(message):
    return psql("SELECT events.publish(:'p1', :'p2')", TOPIC, json.dumps(message))[0]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


NEVER = {"ruleLanguageVersion": "1.0",
         "playerAttributes": [{"name": "skill", "type": "number", "default": 10}],
         "teams": [{"name": "all", "minPlayers": 2, "maxPlayers": 2}],
         "rules": [{"name": "Impossible", "type": "comparison", "operation": "<",
                    "measurements": ["avg(teams[all].players.attributes[skill])"],
                    "referenceValue": 0}]}
PARKED = {"Name": "Parked", "RuleSetName": "Never", "RequestTimeoutSeconds": 3600,
          "AcceptanceRequired": False, "FlexMatchMode": "STANDALONE", "NotificationTarget": TOPIC}


class Receiver:
    """An HTTP subscriber on 127.0.0.1 that records what it is sent."""

    def __init__(self, port):
        self.port = port
        self.received = []
        self.status = 200
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), json.loads(body)))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Outbox(unittest.TestCase):
    def subscribe(self, endpoint):
        psql("INSERT INTO events.subscriptions (topic_arn, endpoint) VALUES (:'p1', :'p2')",
             TOPIC, endpoint)
        self.addCleanup(psql, "DELETE FROM events.subscriptions WHERE endpoint = :'p1'", endpoint)

    def test_events_reach_event_ingest(self):
        # The stack's own events are applied in place; an operator may still
        # subscribe event-ingest to the topic, SNS's way round.
        self.subscribe("http://127.0.0.1:%d/v1/events/sns" % rally.PORT)
        # A configuration whose tickets never match: only this test's event
        # moves the ticket.
        rally.load_config(rulesets={"Never": NEVER}, configurations={"Parked": PARKED})
        g = guest()
        t = start_ticket(g["auth_token"], configuration="Parked").json
        publish_via_outbox(event("MatchmakingSearching",
                                 [(t["TicketId"], [{"playerId": g["user_id"]}])],
                                 estimatedWaitMillis="NOT_AVAILABLE"))
        def searching():
            r = request("GET", "/v1/matchmaking/" + t["TicketId"], token=g["auth_token"])
            return r.json["Status"] == "SEARCHING"
        self.assertTrue(wait_until(searching, 10))
        self.assertTrue(wait_until(lambda: psql("SELECT count(*) FROM events.outbox") == ["0"], 5))

    def test_retried_while_down_then_delivered_once(self):
        port = free_port()
        self.subscribe("http://127.0.0.1:%d/sns" % port)
        message = event("MatchmakingSearching", [("outbox-ticket-1", [{"playerId": "p"}])])
        message_id = publish_via_outbox(message)
        # Nobody listens yet: two attempts fail, then the endpoint comes up.
        self.assertTrue(wait_until(lambda: psql(
            "SELECT attempts >= 2 FROM events.deliveries d JOIN events.subscriptions s "
            "USING (subscription_id) WHERE d.message_id = :'p1' AND s.endpoint = :'p2'",
            message_id, "http://127.0.0.1:%d/sns" % port) == ["t"], 10))
        receiver = Receiver(port)
        self.addCleanup(receiver.close)
        # The subscription is the topic's: the running matchmaker's own events
        # arrive too. Only this message counts.
        mine = lambda: [r for r in list(receiver.received) if r[1]["MessageId"] == message_id]
        self.assertTrue(wait_until(lambda: len(mine()) == 1, 10))
        headers, body = mine()[0]
        self.assertEqual(headers["x-amz-sns-message-type"], "Notification")
        self.assertEqual(headers["x-amz-sns-message-id"], message_id)
        self.assertEqual(body["MessageId"], message_id)
        self.assertEqual(body["TopicArn"], TOPIC)
        self.assertEqual(body["SignatureVersion"], "2")
        self.assertEqual(json.loads(body["Message"]), message)
        time.sleep(2)  # and never again
        self.assertEqual(len(mine()), 1)
        self.assertEqual(psql("SELECT count(*) FROM events.deliveries WHERE message_id = :'p1'",
                              message_id), ["0"])

    def test_a_refused_message_is_not_retried(self):
        port = free_port()
        endpoint = "http://127.0.0.1:%d/sns" % port
        receiver = Receiver(port)
        self.addCleanup(receiver.close)
        receiver.status = 400
        self.subscribe(endpoint)
        message_id = publish_via_outbox(
            event("MatchmakingSearching", [("outbox-ticket-3", [{"playerId": "p"}])]))
        self.assertTrue(wait_until(lambda: psql(
            "SELECT attempts || ' ' || last_error FROM events.dead_letters "
            "WHERE message_id = :'p1' AND endpoint = :'p2'", message_id, endpoint) == ["1 HTTP 400"], 10))
        self.assertEqual(len([r for r in receiver.received if r[1]["MessageId"] == message_id]), 1)

    def test_dead_letter_after_the_last_attempt(self):
        port = free_port()
        endpoint = "http://127.0.0.1:%d/never" % port
        self.subscribe(endpoint)
        message_id = publish_via_outbox(
            event("MatchmakingSearching", [("outbox-ticket-2", [{"playerId": "p"}])]))
        # RALLY_OUTBOX_MAX_ATTEMPTS=3 in the test stack: 0 s, 1 s, 3 s.
        self.assertTrue(wait_until(lambda: psql(
            "SELECT attempts || ' ' || last_error FROM events.dead_letters "
            "WHERE message_id = :'p1' AND endpoint = :'p2'",
            message_id, endpoint) == ["3 Couldn't connect to server"], 15))
        self.assertEqual(psql("SELECT count(*) FROM events.deliveries d JOIN events.subscriptions s "
                              "USING (subscription_id) WHERE d.message_id = :'p1' AND s.endpoint = :'p2'",
                              message_id, endpoint), ["0"])

    def test_a_message_whose_subscription_went_away_is_dropped(self):
        endpoint = "http://127.0.0.1:%d/gone" % free_port()
        psql("INSERT INTO events.subscriptions (topic_arn, endpoint) VALUES (:'p1', :'p2')", TOPIC, endpoint)
        message_id = publish_via_outbox(
            event("MatchmakingSearching", [("outbox-ticket-4", [{"playerId": "p"}])]))
        # Unsubscribed before it arrived: its deliveries go with the
        # subscription, and the message they leave goes with them.
        psql("DELETE FROM events.subscriptions WHERE endpoint = :'p1'", endpoint)
        self.assertTrue(wait_until(lambda: psql("SELECT count(*) FROM events.outbox WHERE message_id = :'p1'",
                                                message_id) == ["0"], 10))
