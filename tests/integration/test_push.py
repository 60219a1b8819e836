"""Push of ticket updates through nginx's nchan: GET /v1/matchmaking/{id}/events
by EventSource, long-poll and WebSocket. The subscriber is authorised once
(a valid token of a player on the ticket), gets the current status at once,
then every change, each message the MatchmakingTicket poll-ticket returns."""

import base64
import http.client
import json
import os
import socket
import struct
import threading
import time
import unittest

import pushload
import rally
from rally import PORT, URL_HOST, guest, psql, publish, request, start_ticket, wait_until
from test_outbox import NEVER, PARKED


def view(g, t):
    return request("GET", "/v1/matchmaking/" + t, token=g["auth_token"]).json


class EventSource:
    """A text/event-stream reader: yields each message's data as JSON."""

    def __init__(self, ticket, token):
        self.conn = http.client.HTTPConnection(URL_HOST, PORT, timeout=10)
        self.conn.request("GET", "/v1/matchmaking/%s/events" % ticket,
                          headers={"Accept": "text/event-stream", "Authorization": "Bearer " + token})
        self.resp = self.conn.getresponse()

    def next(self):
        data = []
        while True:
            line = self.resp.fp.readline().decode().rstrip("\r\n")
            if line.startswith("data: "):
                data.append(line[6:])
            elif line == "" and data:
                return json.loads("\n".join(data))

    def close(self):
        self.conn.close()


def websocket_first_message(ticket, token):
    """Opens a WebSocket subscription and returns its first text frame."""
    key = base64.b64encode(os.urandom(16)).decode()
    s = socket.create_connection((URL_HOST, PORT), timeout=10)
    try:
        s.sendall(("GET /v1/matchmaking/%s/events HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                   "Authorization: Bearer %s\r\n\r\n" % (ticket, URL_HOST, key, token)).encode())
        f = s.makefile("rb")
        status = f.readline().decode()
        while f.readline() not in (b"\r\n", b""):
            pass
        if " 101 " not in status:
            return status.strip()
        head = f.read(2)
        length = head[1] & 0x7F
        if length == 126:
            length = struct.unpack(">H", f.read(2))[0]
        elif length == 127:
            length = struct.unpack(">Q", f.read(8))[0]
        return json.loads(f.read(length))
    finally:
        s.close()


class Push(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # Tickets of a configuration that never matches: only this test's
        # events and cancellations move them.
        rally.load_config(rulesets={"Never": NEVER}, configurations={"Parked": PARKED})

    def parked(self):
        g = guest()
        t = start_ticket(g["auth_token"], configuration="Parked").json["TicketId"]
        self.assertTrue(wait_until(lambda: view(g, t)["Status"] == "SEARCHING", 10))
        return g, t

    def test_eventsource_gets_the_current_status_then_each_change(self):
        g, t = self.parked()
        es = EventSource(t, g["auth_token"])
        self.addCleanup(es.close)
        self.assertEqual(es.resp.status, 200)
        self.assertEqual(es.next(), view(g, t))  # the retained message: SEARCHING
        r = publish("MatchmakingSucceeded",
                    [(t, [{"playerId": g["user_id"], "playerSessionId": "psess-push-1", "team": "red"}])],
                    configuration="Parked",
                    gameSessionInfo={"gameSessionArn": "arn:gs-push", "ipAddress": "10.1.2.3",
                                     "port": 7000, "players": []})
        self.assertEqual(r.status, 200, r.json)
        done = es.next()
        self.assertEqual(done["Status"], "COMPLETED")
        self.assertEqual(done, view(g, t))
        self.assertEqual(done["GameSessionConnectionInfo"]["IpAddress"], "10.1.2.3")

    def test_a_cancellation_is_pushed(self):
        g, t = self.parked()
        es = EventSource(t, g["auth_token"])
        self.addCleanup(es.close)
        self.assertEqual(es.next()["Status"], "SEARCHING")
        self.assertEqual(request("DELETE", "/v1/matchmaking/" + t, token=g["auth_token"]).status, 200)
        got = es.next()
        self.assertEqual((got["Status"], got["StatusMessage"]), ("CANCELLED", "Cancelled by request."))

    def test_long_poll_and_websocket_see_the_same(self):
        g, t = self.parked()
        r = request("GET", "/v1/matchmaking/%s/events" % t, token=g["auth_token"])
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json, view(g, t))
        self.assertEqual(websocket_first_message(t, g["auth_token"]), view(g, t))

    def test_refused_without_a_token_or_for_someone_elses_ticket(self):
        g, t = self.parked()
        r = request("GET", "/v1/matchmaking/%s/events" % t)
        self.assertEqual((r.status, r.json["error"]), (401, "unauthorized"))
        r = request("GET", "/v1/matchmaking/%s/events" % t, token=guest()["auth_token"])
        self.assertEqual((r.status, r.json["error"]), (403, "forbidden"))
        r = request("GET", "/v1/matchmaking/no-such-ticket/events", token=g["auth_token"])
        self.assertEqual(r.status, 403)
        r = request("GET", "/v1/matchmaking/%s/events" % t, token=g["auth_token"] + "x")
        self.assertEqual(r.status, 401)
        self.assertIn(" 401 ", websocket_first_message(t, "not-a-token"))

    def test_only_a_get_without_a_body_subscribes(self):
        # Anything else is refused in rally's JSON before the subscription
        # check runs (it used to reach poll-ticket and come back as a 500).
        g, t = self.parked()
        path = "/v1/matchmaking/%s/events" % t
        for method in ("POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"):
            for body in (None, "{}"):
                r = request(method, path, body, token=g["auth_token"])
                self.assertEqual((r.status, r.headers.get("allow")), (405, "GET"), (method, body, r))
                self.assertEqual(r.headers["content-type"], "application/json")
                self.assertIn("x-request-id", r.headers)
                if method != "HEAD":
                    self.assertEqual(r.json, {"error": "method_not_allowed",
                                              "message": "use GET on this route"})
        r = request("POST", path)  # no token: still the method's answer
        self.assertEqual((r.status, r.json["error"]), (405, "method_not_allowed"))

        for body in ("{}", "x" * 5000):
            r = request("GET", path, body, token=g["auth_token"])
            self.assertEqual((r.status, r.json), (400, {"error": "unexpected_body",
                                                        "message": "a subscription takes no request body"}))
        raw = socket.create_connection((URL_HOST, PORT), timeout=10)
        try:
            raw.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                         "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
                         % (path, g["auth_token"])).encode())
            status = raw.makefile("rb").readline().decode()
        finally:
            raw.close()
        self.assertIn(" 400 ", status)

        # An empty body is no body: the subscription works (long-poll).
        r = request("GET", path, token=g["auth_token"], headers={"Content-Length": "0"})
        self.assertEqual((r.status, r.json), (200, view(g, t)))

    def test_a_long_poll_resumes_after_the_id_it_was_given(self):
        # A long-poll answer's Etag is its message's id; sent back as
        # If-None-Match, the next long-poll waits for the next change.
        g, t = self.parked()
        path = "/v1/matchmaking/%s/events" % t
        first = request("GET", path, token=g["auth_token"])
        self.assertEqual(first.json, view(g, t))
        etag = first.headers["etag"]
        self.assertRegex(etag, r"^[0-9]+:[0-9]+$")
        answer = {}
        waiter = threading.Thread(target=lambda: answer.update(
            r=request("GET", path, token=g["auth_token"], headers={"If-None-Match": etag})))
        waiter.start()
        time.sleep(0.5)
        self.assertTrue(waiter.is_alive(), answer)  # not answered again with SEARCHING
        self.assertEqual(request("DELETE", "/v1/matchmaking/" + t, token=g["auth_token"]).status, 200)
        waiter.join(10)
        r = answer["r"]
        self.assertEqual((r.status, r.json["Status"]), (200, "CANCELLED"))
        self.assertNotEqual(r.headers["etag"], etag)

    def test_headers_nchan_cannot_use_are_refused_in_json(self):
        # nchan answered these in plain text (or a 304 with a body).
        g, t = self.parked()
        path = "/v1/matchmaking/%s/events" % t
        ws = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
              "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode()}
        refused = [
            (path, {"If-None-Match": "*"}, 400, "bad_message_id"),
            (path, {"If-None-Match": "0"}, 400, "bad_message_id"),
            (path, {"Last-Event-ID": "-1:-1"}, 400, "bad_message_id"),
            (path, {"Last-Event-ID": "1:0,1,2"}, 400, "bad_message_id"),
            (path + "?last_event_id=-1:0", {}, 400, "bad_message_id"),
            (path, dict(ws, **{"Sec-WebSocket-Version": "8"}), 426, "upgrade_required"),
            (path, dict(ws, **{"Sec-WebSocket-Key": ""}), 400, "bad_websocket_key"),
            (path, dict(ws, **{"Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits=8"}),
             400, "bad_websocket_extension"),
        ]
        for where, headers, status, error in refused:
            r = request("GET", where, token=g["auth_token"], headers=headers)
            self.assertEqual((r.status, r.json and r.json["error"]), (status, error), headers)
            self.assertEqual(r.headers["content-type"], "application/json")
            self.assertIn("x-request-id", r.headers)
            if status == 426:
                self.assertEqual(r.headers["sec-websocket-version"], "13")
        # What each transport's clients send is taken. Preconditions and
        # ranges are ignored: nginx's 412/206/416 for them, after nchan had
        # the subscriber, crashed the worker (even an empty If-Match did).
        for headers in ({"If-Modified-Since": "Thu, 01 Jan 2099 00:00:00 GMT"}, {"Last-Event-ID": "1:0"},
                        {"If-None-Match": "1:0"}, {"If-Match": '"x"'}, {"If-Match": ""},
                        {"If-Unmodified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"}, {"Range": "bytes=999-"},
                        {"Range": "bytes=0-5"}):
            r = request("GET", path, token=g["auth_token"], headers=headers)
            self.assertEqual((r.status, r.json), (200, view(g, t)), headers)
        with open(os.path.join(rally.RUN, "logs", "nginx-error.log")) as f:
            self.assertNotIn("exited on signal", f.read())

    def test_the_publisher_is_not_public(self):
        g, t = self.parked()
        r = request("POST", "/push/ticket/" + t, {"Status": "COMPLETED"}, token=g["auth_token"])
        self.assertEqual(r.status, 404)
        self.assertEqual(view(g, t)["Status"], "SEARCHING")
        self.assertEqual(psql("SELECT status FROM backend.ticket_results WHERE ticket_id = :'p1'", t),
                         ["SEARCHING"])



class Load(unittest.TestCase):
    """5,000 EventSource subscribers held by nginx at once while their
    tickets complete (DESIGN: push without a FastCGI worker per waiter)."""

    N = int(os.environ.get("RALLY_PUSH_LOAD", "5000"))

    def test_five_thousand_subscribers_told_their_match(self):
        rally.load_config(rulesets={"PushPairsRules": pushload.PAIRS_RULES},
                          configurations={"PushPairs": pushload.pairs_configuration(rally.TOPIC)})
        figures = pushload.run(self.N, rally.TOPIC)
        self.assertEqual(figures["refused"], 0, figures)
        # With every subscriber held, the functions still had a worker free.
        self.assertEqual(figures["function_answered_while_held"], 200, figures)
        self.assertEqual(figures["completed_pushed"], self.N, figures)
        # The next tests' events queue behind this burst's: let it drain.
        self.assertTrue(wait_until(lambda: psql("SELECT count(*) FROM events.outbox") == ["0"], 120),
                        psql("SELECT count(*) FROM events.outbox"))
        print("\n  %d subscribers: delay p50 %s ms, p99 %s ms, %d resubscribed" %
              (self.N, figures["delay_p50_ms"], figures["delay_p99_ms"], figures["reconnects"]), end=" ")


if __name__ == "__main__":
    unittest.main()
