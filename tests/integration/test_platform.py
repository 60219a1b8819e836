"""nginx edges, rate limits, the sweeper, PostgreSQL restarts, key rotation."""

import hashlib
import http.client
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

import rally
from edge import SideNginx
from rally import (ENV, PORT, RUN, URL_HOST, current_kid, decode_part, guest, jose_verify, pids, psql,
                   request, start_ticket, wait_until)


def setUpModule():
    rally.pause_matchmaker()  # these tests play the matchmaker themselves


def tearDownModule():
    rally.resume_matchmaker()


FUNCTIONS = ["auth-guest", "auth-refresh", "request-matchmaking", "poll-ticket",
             "ticket-actions", "event-ingest"]


class Edges(unittest.TestCase):
    def test_request_id_on_every_response(self):
        r = request("GET", "/.well-known/jwks.json")
        self.assertRegex(r.headers["x-request-id"], r"^[0-9a-f]{32}$")
        r = request("GET", "/nowhere", headers={"X-Request-Id": "client-abc.123"})
        self.assertEqual(r.headers["x-request-id"], "client-abc.123")
        self.assertEqual((r.status, r.json["error"]), (404, "not_found"))
        r = request("GET", "/nowhere", headers={"X-Request-Id": "bad id \x7f"})
        self.assertRegex(r.headers["x-request-id"], r"^[0-9a-f]{32}$")

    def test_request_id_reaches_the_function_log(self):
        request("POST", "/v1/identity/guest", {}, headers={"X-Request-Id": "trace-me-42"})
        def logged():
            with open(os.path.join(RUN, "logs", "auth-guest.log")) as f:
                return any('"request_id":"trace-me-42"' in l and '"status":200' in l for l in f)
        self.assertTrue(wait_until(logged, 5))

    def test_oversized_body_is_413_json_from_nginx(self):
        r = request("POST", "/v1/identity/guest", "x" * 20000)
        self.assertEqual((r.status, r.json["error"]), (413, "body_too_large"))
        self.assertIn("x-request-id", r.headers)

    def test_jwks_and_openid_configuration(self):
        jwks = request("GET", "/.well-known/jwks.json").json
        self.assertIn(current_kid(), [k["kid"] for k in jwks["keys"]])
        for k in jwks["keys"]:
            if k["kty"] == "EC":
                self.assertEqual((k["alg"], k["crv"], len(k["x"]), len(k["y"])), ("ES256", "P-256", 43, 43))
            else:
                self.assertEqual((k["kty"], k["alg"]), ("RSA", "RS256"))
        oidc = request("GET", "/.well-known/openid-configuration").json
        self.assertEqual(oidc["id_token_signing_alg_values_supported"][0],
                         next(k["alg"] for k in jwks["keys"] if k["kid"] == current_kid()))
        self.assertEqual(oidc["issuer"], ENV["RALLY_JWT_ISSUER"])
        self.assertEqual(oidc["jwks_uri"], ENV["RALLY_JWT_ISSUER"] + "/.well-known/jwks.json")


def raw_request(data, port=None):
    """Sends bytes as they are (requests no HTTP client would write); returns
    (status, headers with lower-case names, body)."""
    s = socket.create_connection((URL_HOST, port or PORT), timeout=20)
    chunks = []
    try:
        s.sendall(data)
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    finally:
        s.close()
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


class ErrorPages(unittest.TestCase):
    """Every error nginx itself answers is rally's JSON envelope with the
    error's status, X-Request-Id and a JSON Content-Type, including requests
    so broken that nginx has no URI for them."""

    def assertEnvelope(self, got, status, code, what=""):
        st, headers, body = got
        self.assertEqual(st, status, (what, body[:200]))
        self.assertEqual(headers.get("content-type"), "application/json", what)
        self.assertIn("x-request-id", headers, what)
        doc = json.loads(body)
        self.assertEqual(set(doc), {"error", "message"}, what)
        self.assertEqual(doc["error"], code, what)
        self.assertTrue(doc["message"], what)
        return headers

    def test_malformed_requests(self):
        end = b"Host: x\r\nConnection: close\r\n\r\n"
        cases = [
            ("lower-case method", b"get / HTTP/1.1\r\n" + end, 400, "bad_request"),
            ("%00 in the path", b"GET /v1/matchmaking/a%00b HTTP/1.1\r\n" + end, 400, "bad_request"),
            ("a control character in the path", b"GET /v1/match\x01making HTTP/1.1\r\n" + end,
             400, "bad_request"),
            ("a path above the root", b"GET /../etc/passwd HTTP/1.1\r\n" + end, 400, "bad_request"),
            ("TLS on the HTTP port", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n",
             400, "bad_request"),
            ("no Host", b"GET /v1/matchmaking/x HTTP/1.1\r\nConnection: close\r\n\r\n",
             400, "bad_request"),
            ("a header line without a colon", b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n" + end,
             400, "bad_request"),
            ("an oversized header", b"GET /v1/matchmaking/x HTTP/1.1\r\nX-Big: " + b"a" * 10000 + b"\r\n" + end,
             431, "headers_too_large"),
            ("an overlong URI", b"GET /v1/matchmaking/" + b"a" * 10000 + b" HTTP/1.1\r\n" + end,
             414, "uri_too_long"),
            ("HTTP/2.0 in the request line", b"GET / HTTP/2.0\r\n" + end, 505, "http_version_not_supported"),
            ("an unknown Transfer-Encoding",
             b"POST /v1/identity/guest HTTP/1.1\r\nTransfer-Encoding: gzip\r\n" + end, 501, "not_implemented"),
            ("a broken chunk", b"POST /v1/identity/guest HTTP/1.1\r\nTransfer-Encoding: chunked\r\n" + end +
             b"zz\r\n", 400, "bad_request"),
            ("TRACE", b"TRACE /v1/matchmaking HTTP/1.1\r\n" + end, 405, "method_not_allowed"),
        ]
        for what, data, status, code in cases:
            with self.subTest(what):
                self.assertEnvelope(raw_request(data), status, code, what)

    def test_refused_before_the_body_is_judged(self):
        # nginx refuses these before it judges the body's size; its error
        # page's location then met the oversized body again, and nginx
        # answered with its HTML 413 (make fuzz found them).
        end = b"Host: x\r\nConnection: close\r\nContent-Length: 17000\r\n\r\n" + b"x" * 17000
        cases = [
            ("TRACE", b"TRACE /v1/matchmaking HTTP/1.1\r\n" + end, 405, "method_not_allowed"),
            ("an unknown Transfer-Encoding",
             b"POST /v1/identity/guest HTTP/1.1\r\nTransfer-Encoding: gzip\r\n" + end, 501, "not_implemented"),
        ]
        for what, data, status, code in cases:
            with self.subTest(what):
                self.assertEnvelope(raw_request(data), status, code, what)

    def test_unknown_paths_whatever_their_extension(self):
        # The type of nginx's own text followed the extension: /robots.txt
        # got its JSON as text/plain (make fuzz found it).
        for path in ("/robots.txt", "/favicon.ico", "/index.html", "/v1/identity/guest.txt"):
            r = request("GET", path)
            self.assertEnvelope((r.status, r.headers, r.body), 404, "not_found", path)

    def test_static_files_and_internal_locations(self):
        r = request("POST", "/.well-known/jwks.json", {})
        h = self.assertEnvelope((r.status, r.headers, r.body), 405, "method_not_allowed")
        self.assertEqual(h["allow"], "GET, HEAD")
        r = request("GET", "/.well-known/jwks.json", headers={"If-Match": '"other"'})
        self.assertEnvelope((r.status, r.headers, r.body), 412, "precondition_failed")
        r = request("GET", "/.well-known/jwks.json", headers={"Range": "bytes=100000-"})
        self.assertEqual(r.status, 200)  # no ranges: the whole document
        self.assertIn("keys", r.json)
        for path in ("/_rally/error", "/_rally/ticket-events-auth"):
            r = request("GET", path)
            self.assertEnvelope((r.status, r.headers, r.body), 404, "not_found", path)

    def test_functions_missing_or_silent(self):
        g = guest()
        t = start_ticket(g["auth_token"]).json["TicketId"]
        with SideNginx(missing=("auth-guest", "poll-ticket")) as side:
            r = request("POST", "/v1/identity/guest", {}, port=side.port)
            self.assertEnvelope((r.status, r.headers, r.body), 502, "bad_gateway")
            # The subscription check could not run: nginx's auth_request says 500.
            r = request("GET", "/v1/matchmaking/%s/events" % t, token=g["auth_token"], port=side.port)
            self.assertEnvelope((r.status, r.headers, r.body), 500, "internal")
            self.assertEqual(request("GET", "/v1/matchmaking/" + t, token=g["auth_token"],
                                     port=side.port).status, 502)
        with SideNginx(silent=("auth-guest",), read_timeout="1s") as side:
            r = request("POST", "/v1/identity/guest", {}, port=side.port)
            self.assertEnvelope((r.status, r.headers, r.body), 504, "timeout")


def hammer(path, token, port, threads=8, most=100):
    """Requests path with one token from several threads at once until one
    is refused (or each thread sent `most`); returns every response."""
    got = []
    refused = threading.Event()

    def run():
        for _ in range(most):
            if refused.is_set():
                return
            r = request("GET", path, token=token, port=port)
            got.append(r)
            if r.status == 429:
                refused.set()

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return got


class Subscription:
    """A held EventSource subscription (its status once the headers came)."""

    def __init__(self, ticket, token, port):
        self.conn = http.client.HTTPConnection(URL_HOST, port, timeout=20)
        self.conn.request("GET", "/v1/matchmaking/%s/events" % ticket,
                          headers={"Accept": "text/event-stream", "Authorization": "Bearer " + token})
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.body = self.resp.read() if self.status != 200 else b""

    def close(self):
        self.conn.close()


class RateLimits(unittest.TestCase):
    """The limits as a real deployment runs them (on, default rates), on a
    second nginx so that the stack's own keeps its limits off for the other
    tests: per token on player routes, so many players behind one address
    (a home router, a carrier's NAT) are not throttled together; per
    address for creating identities and refreshing tokens."""

    PLAYERS = 40

    @classmethod
    def setUpClass(cls):
        cls.side = SideNginx(env={"RALLY_RATE_LIMIT": "on", "RALLY_RATE_IDENTITY": None,
                                  "RALLY_RATE_REFRESH": None, "RALLY_RATE_MATCHMAKING": None})

    @classmethod
    def tearDownClass(cls):
        cls.side.stop()

    def player(self):
        """A guest with a ticket, made through the stack's nginx (no limits)."""
        g = guest()
        t = start_ticket(g["auth_token"])
        self.assertEqual(t.status, 201, t)
        return g, t.json["TicketId"]

    def test_forty_players_behind_one_address_poll_every_second(self):
        players = [self.player() for _ in range(self.PLAYERS)]
        port = self.side.port
        codes = []
        subscriptions = []
        start = time.time() + 0.5

        def play(g, t):
            # What a client does while it waits: subscribe, poll once a
            # second (the SDK's safety net, or a client without push), and
            # refresh its token when due.
            sub = Subscription(t, g["auth_token"], port)
            subscriptions.append(sub)
            codes.append(("events", sub.status))
            for i in range(5):
                time.sleep(max(0.0, start + i - time.time()))
                r = request("GET", "/v1/matchmaking/" + t, token=g["auth_token"], port=port)
                codes.append(("poll", r.status))
            r = request("POST", "/v1/identity/refresh", {"refresh_token": g["refresh_token"]}, port=port)
            codes.append(("refresh", r.status))

        threads = [threading.Thread(target=play, args=p) for p in players]
        try:
            for th in threads:
                th.start()
            for th in threads:
                th.join()
        finally:
            for sub in subscriptions:
                sub.close()
        self.assertEqual(len(codes), self.PLAYERS * 7)
        self.assertEqual([c for c in codes if c[1] != 200], [])

    def test_one_token_hammering_is_refused_alone(self):
        (g, t), (other, other_t) = self.player(), self.player()
        got = hammer("/v1/matchmaking/" + t, g["auth_token"], self.side.port)
        refused = [r for r in got if r.status == 429]
        self.assertTrue(refused, "%d requests, none refused" % len(got))
        self.assertEqual(set(r.status for r in got), {200, 429})
        self.assertEqual(refused[0].json, {"error": "rate_limited", "message": "too many requests, slow down"})
        self.assertEqual(refused[0].headers["retry-after"], "1")
        # Only that token: another player on the same address goes on.
        r = request("GET", "/v1/matchmaking/" + other_t, token=other["auth_token"], port=self.side.port)
        self.assertEqual(r.status, 200)

    def test_new_forged_tokens_meet_the_address_ceiling(self):
        # Each forged token is a new key of the per-token zone, so a host
        # minting them is bounded by the per-address ceiling of player
        # routes (RALLY_RATE_ADDRESS, here 5/s with nginx's burst of 200).
        with SideNginx(env={"RALLY_RATE_LIMIT": "on", "RALLY_RATE_ADDRESS": "5"}) as side:
            got = []
            for _ in range(400):
                token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0." + secrets.token_urlsafe(32)
                r = request("GET", "/v1/matchmaking/some-ticket", token=token, port=side.port)
                got.append(r.status)
                if r.status == 429:
                    break
            self.assertEqual(got[-1], 429, "%d forged tokens, none refused" % len(got))
            self.assertEqual(set(got[:-1]), {401})
            self.assertGreater(len(got), 200)

    def test_routes_with_an_id_reach_their_ticket(self):
        # The limits' maps run regexes, which reset nginx's $1: the {id}
        # must still reach the function on every route that has one.
        g, t = self.player()
        port = self.side.port
        r = request("POST", "/v1/matchmaking/%s/accept" % t, {"acceptanceType": "ACCEPT"},
                    token=g["auth_token"], port=port)
        self.assertEqual(r.status, 409, r)  # the ticket's, not "no such ticket"
        r = request("GET", "/v1/matchmaking/" + t, token=g["auth_token"], port=port)
        self.assertEqual((r.status, r.json["TicketId"]), (200, t))
        sub = Subscription(t, g["auth_token"], port)  # the check reads the ticket by its id
        sub.close()
        self.assertEqual(sub.status, 200)

    def test_guest_creation_is_limited_per_address(self):
        got = []
        for _ in range(200):
            r = request("POST", "/v1/identity/guest", {}, port=self.side.port)
            got.append(r.status)
            if r.status == 429:
                self.assertEqual(r.json["error"], "rate_limited")
                break
        self.assertIn(429, got)
        self.assertGreaterEqual(got.count(200), 20, "the burst is allowed")

    def test_held_subscriptions_per_token(self):
        g, t = self.player()
        port = self.side.port
        held = []
        try:
            for _ in range(4):
                held.append(Subscription(t, g["auth_token"], port))
                self.assertEqual(held[-1].status, 200)
            extra = Subscription(t, g["auth_token"], port)
            extra.close()
            self.assertEqual(extra.status, 429)
            self.assertEqual(json.loads(extra.body)["error"], "rate_limited")
            # Another player's subscription is not affected.
            g2, t2 = self.player()
            other = Subscription(t2, g2["auth_token"], port)
            other.close()
            self.assertEqual(other.status, 200)
            # A closed subscription frees its place.
            held.pop().close()

            def reopened():
                s = Subscription(t, g["auth_token"], port)
                if s.status == 200:
                    held.append(s)
                else:
                    s.close()
                return s.status == 200
            self.assertTrue(wait_until(reopened, 10, 0.3))
        finally:
            for s in held:
                s.close()

    def test_limits_off_never_refuses_a_burst(self):
        # limit_req counts in whole milliseconds: a huge rate with a burst of
        # 20 still refused the 22nd request of one millisecond. "off" must
        # count nothing, whatever the configured rate.
        g, t = self.player()
        with SideNginx(env={"RALLY_RATE_LIMIT": "off", "RALLY_RATE_IDENTITY": "1",
                            "RALLY_RATE_REFRESH": "1", "RALLY_RATE_MATCHMAKING": "1"}) as side:
            codes = []

            def burst():
                for _ in range(10):
                    codes.append(request("POST", "/v1/identity/refresh", {}, port=side.port).status)
                    codes.append(request("GET", "/v1/matchmaking/" + t, token=g["auth_token"],
                                         port=side.port).status)
            threads = [threading.Thread(target=burst) for _ in range(24)]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
        self.assertEqual(len(codes), 480)
        self.assertNotIn(429, codes)
        self.assertEqual(set(codes), {400, 200})


class Sweeper(unittest.TestCase):
    def test_expired_rows_are_deleted_in_batches(self):
        g = guest()
        t = start_ticket(g["auth_token"]).json["TicketId"]
        psql("UPDATE backend.ticket_results SET expires_at = now() - interval '1 second' WHERE ticket_id = :'p1'", t)
        gone = lambda: psql("SELECT count(*) FROM backend.ticket_results WHERE ticket_id = :'p1'", t) == ["0"]
        self.assertTrue(wait_until(gone, 10, 0.5))
        self.assertEqual(psql("SELECT count(*) FROM backend.ticket_players WHERE ticket_id = :'p1'", t), ["0"])


class DatabaseRestart(unittest.TestCase):
    def test_restart_under_load_gives_503s_then_recovers(self):
        g = guest()
        t = start_ticket(g["auth_token"]).json["TicketId"]
        masters = {f: pids(f) for f in FUNCTIONS}
        codes = []
        stop = threading.Event()

        def load():
            while not stop.is_set():
                try:
                    r = request("GET", "/v1/matchmaking/" + t, token=g["auth_token"])
                    codes.append(r.status)
                    if r.status == 503:
                        self.assertEqual(r.json["error"], "unavailable")
                except OSError:
                    codes.append(-1)

        threads = [threading.Thread(target=load) for _ in range(4)]
        for th in threads:
            th.start()
        time.sleep(1.0)
        rally.stop_postgres()
        time.sleep(1.5)  # requests while the database is down
        rally.start_postgres()
        time.sleep(1.5)
        stop.set()
        for th in threads:
            th.join()
        self.assertTrue(codes)
        self.assertEqual(set(codes) - {200, 503}, set(), "only 200 and 503 while the database restarts")
        self.assertIn(503, codes)
        self.assertEqual(codes[-1], 200)
        for _ in range(20):
            self.assertEqual(request("GET", "/v1/matchmaking/" + t, token=g["auth_token"]).status, 200)
        # No function master was replaced and no worker crashed.
        self.assertEqual({f: pids(f) for f in FUNCTIONS}, masters)
        for f in FUNCTIONS:
            with open(os.path.join(RUN, "logs", f + ".log")) as fh:
                self.assertNotIn("crashed", fh.read(), f)

    def test_push_subscription_is_503_while_the_database_is_down(self):
        # nginx's auth_request makes a 500 of any status of the check but
        # 2xx, 401 and 403: the check's 503 became a 500 (make fuzz found it).
        g = guest()
        t = start_ticket(g["auth_token"]).json["TicketId"]
        rally.stop_postgres()
        try:
            r = request("GET", "/v1/matchmaking/%s/events" % t, token=g["auth_token"])
        finally:
            rally.start_postgres()
        self.assertEqual((r.status, r.json["error"]), (503, "unavailable"), r)
        self.assertEqual(r.headers["retry-after"], "1")
        self.assertIn("x-request-id", r.headers)
        # Back up, the check reads the ticket again (a stranger is refused).
        self.assertTrue(wait_until(lambda: request("GET", "/v1/matchmaking/" + t,
                                                   token=g["auth_token"]).status == 200, 10))
        r = request("GET", "/v1/matchmaking/%s/events" % t, token=guest()["auth_token"])
        self.assertEqual(r.status, 403, r)


def remove_path(path):
    """Removes a file, a symlink (not what it points to) or a tree, if there."""
    if os.path.islink(path) or os.path.isfile(path):
        os.unlink(path)
    elif os.path.isdir(path):
        shutil.rmtree(path, True)


class LocalUsers(unittest.TestCase):
    """The stack is closed to the machine's other users: as `nobody`, the
    database, the FastCGI sockets (nginx and its limits bypassed) and the
    push publisher all refuse, while the stack's own user gets in."""

    RT = ENV["RALLY_RT_DIR"]

    def as_nobody(self, *argv):
        if os.getuid() != 0:
            self.skipTest("needs root to become another user")
        return subprocess.run(["runuser", "-u", "nobody", "--"] + list(argv), capture_output=True,
                              text=True, env={"PATH": os.environ["PATH"]}, timeout=20)

    def connect_script(self, path, payload):
        """Python run as nobody: connects to a unix socket, sends payload,
        prints what came back or the error."""
        return ("import socket,sys\n"
                "s=socket.socket(socket.AF_UNIX)\n"
                "try:\n"
                "    s.connect(%r); s.sendall(%r); print('OPEN', s.recv(200))\n"
                "except OSError as e:\n"
                "    print('REFUSED', e.errno); sys.exit(3)\n") % (path, payload)

    def test_a_runtime_directory_someone_else_made_is_refused(self):
        # As root with a state directory postgres cannot enter, the sockets
        # live in /tmp/rally-rt-<hash of the path>: a name anyone can take
        # first. stack.sh must refuse it, not fill it.
        if os.getuid() != 0:
            self.skipTest("the /tmp runtime directory is made only as root")
        top = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, top, True)
        os.chmod(top, 0o700)
        run = os.path.join(top, "run")
        rt = "/tmp/rally-rt-" + hashlib.sha1(run.encode()).hexdigest()[:12]
        for plant in ("dir", "symlink"):
            if plant == "dir":
                os.mkdir(rt)
                os.chown(rt, pwd.getpwnam("nobody").pw_uid, -1)
            else:
                os.symlink(top, rt)
            self.addCleanup(remove_path, rt)
            r = subprocess.run([os.path.join(rally.TOP, "scripts", "stack.sh"), "start", run],
                               capture_output=True, text=True, timeout=60,
                               env=dict(os.environ, RALLY_HTTP_PORT="1"))
            self.assertNotEqual(r.returncode, 0, r.stdout)
            self.assertIn("is not a directory of root's", r.stderr)
            if plant == "dir":
                self.assertEqual(os.listdir(rt), [])
            else:
                self.assertEqual(sorted(os.listdir(top)), ["run"])
            remove_path(rt)

    def test_postgres_refuses_other_users(self):
        for user in ("postgres", "rally"):
            r = self.as_nobody("psql", "-h", os.path.join(self.RT, "pg"), "-U", user, "-d", "postgres",
                               "-XAtc", "SELECT 1", "-w")
            self.assertNotEqual(r.returncode, 0, r.stdout)
            self.assertNotIn("1", r.stdout)
        # Even with the socket reachable, trust is gone: a password is asked.
        with open(os.path.join(self.RT, "pg", "data", "pg_hba.conf")) as f:
            rules = [l.split() for l in f if l.strip() and not l.startswith("#")]
        self.assertEqual({r[-1] for r in rules}, {"scram-sha-256"})
        self.assertEqual(psql("SELECT 1"), ["1"])  # the stack's own user

    def test_function_sockets_refuse_other_users(self):
        for f in FUNCTIONS:
            path = os.path.join(self.RT, "sock", f + ".sock")
            self.assertTrue(os.path.exists(path), path)
            r = self.as_nobody("python3", "-c", self.connect_script(path, b"\x01\x01\x00\x01\x00\x08\x00\x00"))
            self.assertEqual(r.returncode, 3, (f, r.stdout, r.stderr))
            self.assertIn("REFUSED", r.stdout)
        self.assertEqual(request("POST", "/v1/identity/guest", {}).status, 200)  # nginx still gets in

    def test_push_publisher_refuses_other_users(self):
        path = ENV["RALLY_PUSH_SOCKET"]
        self.assertTrue(path and os.path.exists(path), path)
        forged = (b"POST /push/ticket/x HTTP/1.0\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 20\r\n\r\n{\"Status\":\"FAILED\"}")
        r = self.as_nobody("python3", "-c", self.connect_script(path, forged))
        self.assertEqual(r.returncode, 3, (r.stdout, r.stderr))
        self.assertIn("REFUSED", r.stdout)


class KeyRotation(unittest.TestCase):
    """Runs last: it changes the signing keys of the whole stack."""

    def reload_functions(self):
        for f in FUNCTIONS:
            os.kill(pids(f), signal.SIGHUP)

    def works(self, token, n=12):
        return all(request("GET", "/v1/matchmaking/none", token=token).status == 404 for _ in range(n))

    def rotate(self, alg):
        bin_, keydir = ENV["RALLY_BIN"], ENV["RALLY_JWT_KEY_DIR"]
        wk = os.path.join(ENV["RALLY_RT_DIR"], "www", ".well-known")
        subprocess.run([bin_ + "/rally-keys", "rotate", keydir, alg], check=True, capture_output=True)
        subprocess.run([bin_ + "/rally-keys", "jwks", keydir, wk], check=True, capture_output=True)
        self.reload_functions()
        kid = current_kid()
        self.assertTrue(wait_until(lambda: decode_part(guest()["auth_token"].split(".")[0])["kid"] == kid, 15, 0.3))
        return kid

    def test_rotation_keeps_old_tokens_until_they_expire(self):
        first = guest()
        old = first["auth_token"]
        old_header = decode_part(old.split(".")[0])
        # A second session whose refresh token is used only after the
        # second rotation.
        later = request("POST", "/v1/identity/guest",
                        {"user_id": first["user_id"], "guest_secret": first["guest_secret"]}).json
        self.assertEqual(old_header["alg"], "ES256")  # rally-keys' default

        # ES256 -> RS256: the algorithm changes with the key.
        new_kid = self.rotate("RS256")
        self.assertNotEqual(new_kid, old_header["kid"])
        new = guest()["auth_token"]
        self.assertEqual(decode_part(new.split(".")[0])["alg"], "RS256")
        self.assertTrue(wait_until(lambda: self.works(new), 15, 0.3))
        self.assertTrue(self.works(old), "a token of the previous key still verifies")
        jwks = request("GET", "/.well-known/jwks.json").json["keys"]
        self.assertEqual([(k["kid"], k["alg"]) for k in jwks], [(new_kid, "RS256"), (old_header["kid"], "ES256")])
        oidc = request("GET", "/.well-known/openid-configuration").json
        self.assertEqual(oidc["id_token_signing_alg_values_supported"], ["RS256", "ES256"])
        # The previous key's refresh tokens still refresh (its private half
        # is kept until the next rotation), into tokens of the new key.
        refreshed = request("POST", "/v1/identity/refresh", {"refresh_token": first["refresh_token"]})
        self.assertEqual(refreshed.status, 200, refreshed)
        self.assertEqual(decode_part(refreshed.json["auth_token"].split(".")[0])["kid"], new_kid)
        # An independent verifier takes both kinds from the published set.
        answers = jose_verify([old, new])
        self.assertEqual([(a["ok"], a["alg"]) for a in answers], [(True, "ES256"), (True, "RS256")], answers)

        # RS256 -> ES256 retires the first key: its tokens stop working, in
        # rally and in jose; the RS256 ones go on.
        third_kid = self.rotate("ES256")
        gone = lambda: all(request("GET", "/v1/matchmaking/none", token=old).status == 401 for _ in range(12))
        self.assertTrue(wait_until(gone, 15, 0.3))
        # As patient as after the first rotation: workers are replaced one
        # at a time, and the token's own rate limit (10/s) counts these
        # dozens of reads.
        self.assertTrue(wait_until(lambda: self.works(new), 15, 0.3))
        third = guest()["auth_token"]
        # Two rotations on, a refresh token of the first key is refused (its
        # player logs in again with the guest secret); one of the second
        # key's still refreshes.
        self.assertEqual(request("POST", "/v1/identity/refresh",
                                 {"refresh_token": later["refresh_token"]}).status, 401)
        self.assertEqual(request("POST", "/v1/identity/refresh",
                                 {"refresh_token": refreshed.json["refresh_token"]}).status, 200)
        answers = jose_verify([old, new, third])
        self.assertEqual([(a["ok"], a["alg"]) for a in answers],
                         [(False, "ES256"), (True, "RS256"), (True, "ES256")], answers)
        self.assertEqual(answers[2]["kid"], third_kid)
