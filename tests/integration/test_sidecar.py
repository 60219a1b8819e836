"""rally-sidecar (sidecar/, docs/sidecar.md) beside a game server, against
the real stack: writes buffered and flushed in batches, durable writes that
return once committed, reads that see what was buffered, a clear in order
with the writes around it, everything else passed through with the fleet's
credentials; its key; bad input; pushing back with bounded memory when rally
does not take the writes; and what it acknowledged as durable surviving a
kill -9 of the game server and the sidecar, and a PostgreSQL restart in the
middle of its batches."""

import hashlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
import unittest
import uuid

import rally
from rally import BIN, RUN, request, start_postgres, stop_postgres, wait_until
from test_fleet import Server, server_token
from test_gamelift import add_fleet, client, drop_fleets


FLEET = "fleet-sidecar"
SECRET = os.path.join(RUN, "fleets", FLEET + ".secret")
KEY = "sidecar-key-" + uuid.uuid4().hex


class Sidecar:
    """A rally-sidecar process on 127.0.0.1:port, with the fleet's secret."""

    def __init__(self, port, *args, url=None, env=None):
        self.port = port
        env = dict(os.environ, RALLY_URL=url or rally.ENV["RALLY_URL"], GAMELIFT_SDK_FLEET_ID=FLEET,
                   RALLY_FLEET_SECRET_FILE=SECRET, RALLY_SIDECAR_KEY=KEY, **(env or {}))
        self.log = open(os.path.join(RUN, "logs", "sidecar-%d.log" % port), "ab")
        self.proc = subprocess.Popen([os.path.join(BIN, "rally-sidecar"), "--port", str(port)] +
                                     list(args), env=env, stdout=self.log, stderr=self.log)
        assert wait_until(lambda: self.up(), 10), "the sidecar did not start"

    def up(self):
        try:
            return self.call("GET", "/v1/sidecar/status").status == 200
        except OSError:
            return False

    def call(self, method, path, body=None, key=KEY, headers=None):
        return request(method, path, body, token=key, port=self.port, headers=headers)

    def write(self, wid, blocks, durable=None):
        q = "" if durable is None else "?durable=%s" % ("true" if durable else "false")
        return self.call("POST", "/v1/worlds/%s/blocks%s" % (wid, q), {"blocks": blocks})

    def status(self):
        return self.call("GET", "/v1/sidecar/status").json

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=30)
        self.log.close()
        return code


def setUpModule():
    add_fleet(FLEET, ["us-east-1"])
    with open(SECRET, "w") as f:
        f.write("sidecar-secret-0123456789abcdef\n")
    os.chmod(SECRET, 0o600)


def tearDownModule():
    os.remove(SECRET)
    rally.psql("DELETE FROM world.worlds WHERE world_id LIKE 'ts-%'")
    rally.psql("UPDATE fleet.processes SET status = 'TERMINATED' WHERE fleet_id = :'p1'", FLEET)
    drop_fleets(FLEET)


class SidecarCase(unittest.TestCase):
    """A running game session of the fleet to host worlds, and a sidecar."""
    port = 7650
    args = ()
    url = None  # rally's, unless a test points the sidecar elsewhere
    env = None  # more of the sidecar's environment

    @classmethod
    def setUpClass(cls):
        cls.token = server_token(FLEET)
        cls.server = Server(cls.token, "us-east-1", 7310)
        gs = client().create_game_session(FleetId=FLEET, MaximumPlayerSessionCount=4)["GameSession"]
        cls.game_session = gs["GameSessionId"]
        assert wait_until(lambda: client().describe_game_sessions(GameSessionId=cls.game_session)
                          ["GameSessions"][0]["Status"] == "ACTIVE", 10)
        cls.sidecar = Sidecar(cls.port, *cls.args, url=cls.url, env=cls.env)

    @classmethod
    def tearDownClass(cls):
        if cls.sidecar.proc.poll() is None:
            cls.sidecar.stop()
        cls.server.stop()

    def world(self):
        """A world hosted by the class's game session, through the sidecar."""
        wid = "ts-" + uuid.uuid4().hex[:12]
        r = self.sidecar.call("POST", "/v1/worlds/%s/host" % wid, {"gameSessionId": self.game_session})
        self.assertEqual(r.status, 200, r)
        return wid

    def stored(self, wid, chunks):
        """The chunks as rally has them, read past the sidecar."""
        r = request("POST", "/v1/worlds/%s/chunks" % wid, {"chunks": chunks}, token=self.token)
        self.assertEqual(r.status, 200, r)
        return {(c["p"], c["q"]): sorted(map(tuple, c["blocks"])) for c in r.json["chunks"]}


class Writes(SidecarCase):
    args = ("--flush-ms", "200")
    # Its metrics where an agent would have it serve them (agent/child_metrics.h).
    env = {"RALLY_METRICS_LISTEN": os.path.join(RUN, "sidecar-test.metrics.sock")}

    def metrics(self):
        """The sidecar's metrics from its socket, with the scrape token."""
        import socket
        from test_metrics import parse, token
        s = socket.socket(socket.AF_UNIX)
        s.connect(self.env["RALLY_METRICS_LISTEN"])
        s.sendall(("GET /metrics HTTP/1.0\r\nAuthorization: Bearer %s\r\n\r\n" % token()).encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        head, body = data.split(b"\r\n\r\n", 1)
        self.assertTrue(head.startswith(b"HTTP/1.0 200") or head.startswith(b"HTTP/1.1 200"), head)
        return parse(body.decode())

    def test_its_metrics_say_how_long_writes_wait(self):
        from test_metrics import value
        wid = self.world()
        before = self.metrics()
        blocks = [[x, 1, 5, 2] for x in range(40)]
        self.assertEqual(self.sidecar.write(wid, blocks).status, 202)
        self.assertTrue(wait_until(lambda: value(self.metrics(), "rally_sidecar_entries_flushed_total") -
                                   value(before, "rally_sidecar_entries_flushed_total") == 40, 5))
        after = self.metrics()
        self.assertGreater(value(after, "rally_sidecar_flushes_total"), value(before, "rally_sidecar_flushes_total"))
        waited = value(after, "rally_sidecar_flush_wait_seconds_sum") - value(before, "rally_sidecar_flush_wait_seconds_sum")
        self.assertGreater(waited, 0.1)  # a buffered write waits its --flush-ms (200) for company

    def test_buffered_writes_reach_rally_in_batches(self):
        wid = self.world()
        before = self.sidecar.status()
        blocks = [[x, y, 5, 1 + (x + y) % 7] for x in range(64) for y in range(4)]
        for i in range(0, len(blocks), 16):
            r = self.sidecar.write(wid, blocks[i:i + 16])
            self.assertEqual(r.status, 202, r)
            self.assertEqual(r.json, {"buffered": 16})
        # Not there yet: they wait for the flush (200 ms here).
        self.assertEqual(self.stored(wid, [[0, 0]])[(0, 0)], [])
        self.assertTrue(wait_until(lambda: len(self.stored(wid, [[0, 0], [1, 0]])[(1, 0)]) == 128, 5))
        got = self.stored(wid, [[0, 0], [1, 0]])
        self.assertEqual(sorted(got[(0, 0)] + got[(1, 0)]), sorted(map(tuple, blocks)))
        after = self.sidecar.status()
        self.assertEqual(after["written"] - before["written"], len(blocks))
        # 16 writes, a handful of flushes.
        self.assertLess(after["flushes"] - before["flushes"], 8)

    def test_a_durable_write_returns_once_committed(self):
        wid = self.world()
        r = self.sidecar.write(wid, [[1, 2, 3, 4], [40, 2, 3, 5]], durable=True)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, {"written": 2})
        self.assertEqual(self.stored(wid, [[0, 0], [1, 0]]), {(0, 0): [(1, 2, 3, 4)], (1, 0): [(40, 2, 3, 5)]})

    def test_reads_through_the_sidecar_see_what_it_buffered(self):
        wid = self.world()
        self.assertEqual(self.sidecar.write(wid, [[7, 7, 7, 9]]).status, 202)
        r = self.sidecar.call("POST", "/v1/worlds/%s/chunks" % wid, {"chunks": [[0, 0]]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["chunks"][0]["blocks"], [[7, 7, 7, 9]])
        # And the flush route waits for everything buffered.
        self.assertEqual(self.sidecar.write(wid, [[8, 8, 8, 3]]).status, 202)
        self.assertEqual(self.sidecar.call("POST", "/v1/sidecar/flush").status, 200)
        self.assertIn((8, 8, 8, 3), self.stored(wid, [[0, 0]])[(0, 0)])

    def test_a_clear_keeps_its_place_among_the_writes(self):
        wid = self.world()
        self.assertEqual(self.sidecar.write(wid, [[1, 1, 1, 1], [2, 2, 2, 2]]).status, 202)
        r = self.sidecar.call("POST", "/v1/worlds/%s/chunks/clear" % wid, {"p": 0, "q": 0})
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json["p"], r.json["q"]), (0, 0))
        self.assertGreater(r.json["version"], 0)
        self.assertEqual(self.sidecar.write(wid, [[3, 3, 3, 3]]).status, 202)
        self.assertEqual(self.sidecar.call("POST", "/v1/sidecar/flush").status, 200)
        self.assertEqual(self.stored(wid, [[0, 0]])[(0, 0)], [(3, 3, 3, 3)])

    def test_everything_else_passes_through_with_the_fleets_credentials(self):
        wid = self.world()
        r = self.sidecar.call("POST", "/v1/worlds/%s/items" % wid,
                              {"items": [{"key": "inv/ann", "value": {"gold": 5}, "ifVersion": 0}]})
        self.assertEqual(r.status, 200, r)
        r = self.sidecar.call("GET", "/v1/worlds/%s/items?key=inv%%2Fann" % wid)
        self.assertEqual((r.status, r.json["value"]), (200, {"gold": 5}))
        # A save: binary bytes in and out unchanged.
        blob = os.urandom(300000) + b"\0\0end"
        v = self.sidecar.call("POST", "/v1/worlds/%s/saves" % wid).json["version"]
        r = self.sidecar.call("PUT", "/v1/worlds/%s/saves/part?version=%d&part=1" % (wid, v), blob,
                              headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(r.status, 200, r)
        r = self.sidecar.call("POST", "/v1/worlds/%s/saves/complete" % wid,
                              {"version": v, "parts": 1, "sha256": hashlib.sha256(blob).hexdigest()})
        self.assertEqual(r.status, 200, r)
        r = self.sidecar.call("GET", "/v1/worlds/%s/saves/part?version=%d&part=1" % (wid, v))
        self.assertEqual((r.status, r.headers["content-type"], r.body), (200, "application/octet-stream", blob))
        # rally's refusals come back as they are.
        r = self.sidecar.call("POST", "/v1/worlds/%s/items" % wid,
                              {"items": [{"key": "inv/ann", "value": 1, "ifVersion": 0}]})
        self.assertEqual((r.status, r.json["error"]), (409, "version_conflict"))

    def test_only_the_key_opens_it(self):
        wid = self.world()
        for key in (None, "wrong", KEY + "x", self.token):
            r = self.sidecar.call("POST", "/v1/worlds/%s/blocks" % wid, {"blocks": [[0, 0, 0, 1]]}, key=key)
            self.assertEqual(r.status, 401, key)
        self.assertEqual(self.sidecar.call("GET", "/v1/sidecar/status", key=None).status, 401)

    def test_bad_input_is_refused_and_nothing_is_buffered(self):
        wid = self.world()
        before = self.sidecar.status()["received"]
        for body in ({"blocks": [[0, 0, 0, 1], [0, 256, 0, 1]]}, {"blocks": [[0, 0, 0]]},
                     {"blocks": []}, {"blocks": [[0, 0, 0, 1]], "more": 1}, {"blocks": [[1 << 25, 0, 0, 1]]},
                     {"blocks": [[0, 0, 0, 1 << 31]]}, "not json"):
            r = self.sidecar.call("POST", "/v1/worlds/%s/blocks" % wid, body)
            self.assertEqual(r.status, 400, body)
            self.assertIn(r.json["error"], ("invalid_body", "invalid_block"))
        # Over the limit: refused from its Content-Length, before the body.
        with socket.create_connection(("127.0.0.1", self.sidecar.port), timeout=5) as c:
            c.sendall(b"POST /v1/worlds/%s/blocks HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer %s\r\n"
                      b"Content-Length: %d\r\n\r\n" % (wid.encode(), KEY.encode(), 2 << 20))
            self.assertIn(b" 413 ", c.recv(4096).split(b"\r\n")[0] + b" ")
        r = self.sidecar.call("POST", "/v1/worlds/%s/chunks/clear" % wid, {"p": 0})
        self.assertEqual(r.status, 400)
        self.assertEqual(self.sidecar.call("POST", "/v1/worlds/bad%20id/blocks", {"blocks": [[0, 0, 0, 1]]}).status, 404)
        self.assertEqual(self.sidecar.call("GET", "/v1/fleet/processes").status, 404)
        self.assertEqual(self.sidecar.status()["received"], before)

    def test_clears_in_one_flush_each_get_their_own_answer(self):
        wid = self.world()
        side = Sidecar(7656, "--lanes", "1")
        answers = {}
        try:
            # world-state held still: the first flush stays in flight while
            # both clears come, so that the next flush takes them together.
            stopped = [int(pid) for pid in subprocess.run(
                ["pgrep", "-f", "^%s/world-state" % BIN], capture_output=True, text=True).stdout.split()]
            self.assertTrue(stopped)
            for pid in stopped:
                os.kill(pid, signal.SIGSTOP)
            try:
                first = threading.Thread(target=side.write, args=(wid, [[0, 0, 0, 1]], True))
                first.start()
                time.sleep(0.3)
                clears = [threading.Thread(target=lambda pq: answers.__setitem__(pq, side.call(
                    "POST", "/v1/worlds/%s/chunks/clear" % wid, {"p": pq[0], "q": pq[1]})), args=(pq,))
                    for pq in ((0, 0), (5, 3))]
                for t in clears:
                    t.start()
                time.sleep(0.3)
            finally:
                for pid in stopped:
                    os.kill(pid, signal.SIGCONT)
            first.join()
            for t in clears:
                t.join()
        finally:
            side.stop()
        for (p, q), r in answers.items():
            self.assertEqual(r.status, 200, r)
            self.assertEqual((r.json["p"], r.json["q"]), (p, q))

    def test_writes_as_its_process_only(self):
        """With --process-id (as the agent starts it), a sidecar may use only
        the world a game session of that process hosts."""
        wid = self.world()
        wrong = Sidecar(7657, "--process-id", "process-" + uuid.uuid4().hex)
        right = Sidecar(7658, "--process-id", self.server.process_id)
        try:
            r = wrong.write(wid, [[0, 0, 0, 1]], durable=True)
            self.assertEqual(r.status, 404, r)
            self.assertIn("this process", r.json["message"])
            self.assertEqual(wrong.call("GET", "/v1/worlds/%s/items?key=k" % wid).status, 404)
            self.assertEqual(right.write(wid, [[0, 0, 0, 2]], durable=True).status, 200)
        finally:
            wrong.stop()
            right.stop()
        self.assertEqual(self.stored(wid, [[0, 0]])[(0, 0)], [(0, 0, 0, 2)])

    def test_worlds_come_and_go_past_its_slots(self):
        for i in range(70):  # more than its 64 world slots, one after another
            r = self.sidecar.write("ts-gone-%d" % i, [[0, 0, 0, 1]], durable=True)
            self.assertEqual(r.status, 404, (i, r))

    def test_a_query_over_its_limit_is_414(self):
        wid = self.world()
        r = self.sidecar.call("GET", "/v1/worlds/%s/items?key=%s" % (wid, ":" * 1024))
        self.assertEqual(r.status, 404, r)  # passed on: rally has no such item
        r = self.sidecar.call("GET", "/v1/worlds/%s/items?key=%s" % (wid, ":" * 2100))
        self.assertEqual(r.status, 414, r)

    def test_malformed_http_costs_it_nothing(self):
        auth = b"Authorization: Bearer " + KEY.encode() + b"\r\n"
        for raw in (b"GARBAGE\r\n\r\n", b"\x00\xff" * 500,
                    b"POST /v1/worlds/x/blocks HTTP/1.1\r\nHost: a\r\n" + auth + b"Content-Length: -5\r\n\r\n",
                    b"POST /v1/worlds/x/blocks HTTP/1.1\r\nHost: a\r\n" + auth + b"Content-Length: 10\r\n\r\nabc",
                    b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\nHost: a\r\n\r\n",
                    b"POST /v1/worlds/x/blocks HTTP/1.1\r\nHost: a\r\n" + auth +
                    b"Transfer-Encoding: chunked\r\n\r\nzz\r\n"):
            with socket.create_connection(("127.0.0.1", self.sidecar.port), timeout=5) as c:
                c.sendall(raw)
                c.shutdown(socket.SHUT_WR)
                try:
                    c.recv(4096)
                except OSError:
                    pass
        # A chunked body, well formed, is taken like any other.
        wid = self.world()
        body = json.dumps({"blocks": [[9, 9, 9, 9]]}).encode()
        with socket.create_connection(("127.0.0.1", self.sidecar.port), timeout=5) as c:
            c.sendall(b"POST /v1/worlds/%s/blocks?durable=true HTTP/1.1\r\nHost: a\r\n%sTransfer-Encoding: "
                      b"chunked\r\nConnection: close\r\n\r\n%x\r\n%s\r\n0\r\n\r\n"
                      % (wid.encode(), auth, len(body), body))
            self.assertIn(b" 200 ", c.recv(4096).split(b"\r\n")[0] + b" ")
        self.assertEqual(self.stored(wid, [[0, 0]])[(0, 0)], [(9, 9, 9, 9)])
        self.assertIsNone(self.sidecar.proc.poll())
        self.assertEqual(self.sidecar.call("GET", "/v1/sidecar/status").status, 200)

    def test_a_world_this_fleet_does_not_host_is_refused_by_rally(self):
        r = self.sidecar.write("ts-nobody-" + uuid.uuid4().hex[:6], [[0, 0, 0, 1]], durable=True)
        self.assertEqual(r.status, 404, r)
        self.assertIn("HTTP 404", r.json["message"])
        r = self.sidecar.call("POST", "/v1/worlds/ts-nobody/chunks", {"chunks": [[0, 0]]})
        self.assertEqual(r.status, 404)


class Backpressure(SidecarCase):
    """A sidecar whose rally does not answer (nothing listens where it
    points): writes fill its lanes, then it refuses with 429 and its memory
    stays where it was."""
    port = 7651
    args = ("--capacity", "10000", "--lanes", "1", "--wait-ms", "100", "--timeout-ms", "500")
    url = "http://127.0.0.1:7653"
    # Under AddressSanitizer (make test), freed memory waits in a quarantine
    # of up to 256 MB before it is reused, so resident memory grows with any
    # churn: the quarantine is off here, to measure the sidecar's own.
    env = {"ASAN_OPTIONS": ":".join(filter(None, [os.environ.get("ASAN_OPTIONS"), "quarantine_size_mb=0",
                                                  "thread_local_quarantine_size_kb=0"]))}


    def test_it_pushes_back_and_its_memory_stays_bounded(self):
        wid = "ts-" + uuid.uuid4().hex[:12]
        batch = [[x, y, z, 1] for x in range(10) for y in range(10) for z in range(10)]  # 1,000 blocks
        accepted = 0
        while self.sidecar.write(wid, batch).status == 202:
            accepted += 1
            self.assertLessEqual(accepted, 20)
        # The ring's 10,000, and what the flush in flight took (up to 10,000).
        self.assertGreaterEqual(accepted, 10)
        r = self.sidecar.write(wid, batch)
        self.assertEqual(r.status, 429)
        self.assertEqual((r.json["error"], r.headers["retry-after"]), ("backpressure", "1"))
        self.assertIn("not yet written", r.json["message"])
        rss = [rss_kib(self.sidecar.proc.pid)]
        for _ in range(200):
            self.sidecar.write(wid, batch)
        rss.append(rss_kib(self.sidecar.proc.pid))
        st = self.sidecar.status()
        self.assertLessEqual(st["held"], 10000)
        self.assertGreater(st["refused"], 200 * 1000 - 1)
        self.assertLess(rss[1] - rss[0], 2048, rss)
        # A durable write cannot be committed: 504 after its timeout, kept.
        r = self.sidecar.call("POST", "/v1/worlds/%s/chunks" % wid, {"chunks": [[0, 0]]})
        self.assertEqual(r.status, 504)
        self.assertIn("stays buffered", r.json["message"])


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Durability(SidecarCase):
    """What the sidecar acknowledged as durable is in rally after a kill -9
    of the game server and the sidecar, and after PostgreSQL restarts in
    the middle of its batches."""
    port = 7654
    args = ("--durable",)

    def writer(self, wid, acked, stop, base):
        """A game server writing durable batches of 200 blocks, each block
        value unique to its batch, until stop; acked gets each committed
        batch."""
        i = 0
        while not stop.is_set():
            i += 1
            batch = [[x, 1 + (i % 250), (i // 250) % 32 + 32 * base, i] for x in range(200)]
            try:
                r = self.sidecar.write(wid, batch)
            except OSError:
                return
            if r.status == 200:
                acked.append(batch)

    def check(self, wid, acked):
        """Every acknowledged batch is stored (or overwritten by a later
        batch of the same blocks)."""
        chunks = sorted({(x // 32, z // 32) for b in acked for x, _, z, _ in b})
        stored = {}
        for i in range(0, len(chunks), 64):
            for blocks in self.stored(wid, [list(c) for c in chunks[i:i + 64]]).values():
                for x, y, z, w in blocks:
                    stored[(x, y, z)] = w
        for batch in acked:
            for x, y, z, w in batch:
                self.assertGreaterEqual(stored.get((x, y, z), -1), w, (x, y, z))

    def test_what_was_acknowledged_survives_kill_9(self):
        wid = self.world()
        acked, stop = [], threading.Event()
        threads = [threading.Thread(target=self.writer, args=(wid, acked, stop, k)) for k in range(4)]
        for t in threads:
            t.start()
        self.assertTrue(wait_until(lambda: len(acked) >= 40, 20))
        os.kill(self.sidecar.proc.pid, signal.SIGKILL)  # mid-write: batches in flight
        stop.set()
        for t in threads:
            t.join()
        self.sidecar.proc.wait()
        self.sidecar.log.close()
        n = len(acked)
        self.check(wid, acked)
        # A new sidecar on the same port goes on.
        type(self).sidecar = Sidecar(self.port, *self.args)
        self.assertEqual(self.sidecar.write(wid, [[0, 0, 0, 1]]).status, 200)
        self.assertGreater(n, 0)

    def test_what_was_acknowledged_survives_a_postgres_restart(self):
        wid = self.world()
        acked, stop = [], threading.Event()
        threads = [threading.Thread(target=self.writer, args=(wid, acked, stop, k)) for k in range(2)]
        for t in threads:
            t.start()
        self.assertTrue(wait_until(lambda: len(acked) >= 20, 20))
        stop_postgres()
        try:
            time.sleep(1.5)
            during = len(acked)
        finally:
            start_postgres()
        # The writers were held, not failed: they go on once it is back.
        self.assertTrue(wait_until(lambda: len(acked) >= during + 20, 30))
        stop.set()
        for t in threads:
            t.join()
        st = self.sidecar.status()
        self.assertGreater(st["retries"], 0)
        self.assertEqual(st["dropped"], 0)
        self.check(wid, acked)

    def test_stopping_gives_up_after_its_stop_seconds(self):
        """rally accepting the connection and never answering: SIGTERM ends
        the sidecar within --stop-seconds, saying what it could not write."""
        hang = socket.socket()
        hang.bind(("127.0.0.1", 0))
        hang.listen(16)
        try:
            side = Sidecar(7659, "--stop-seconds", "2", url="http://127.0.0.1:%d" % hang.getsockname()[1])
            self.assertEqual(side.write("ts-hang", [[0, 0, 0, 1]], durable=False).status, 202)
            time.sleep(0.2)
            started = time.monotonic()
            self.assertEqual(side.stop(), 1)
            self.assertLess(time.monotonic() - started, 6)
        finally:
            hang.close()

    def test_stopping_writes_out_what_is_buffered(self):
        wid = self.world()
        side = Sidecar(7655, "--flush-ms", "60000")
        try:
            self.assertEqual(side.write(wid, [[5, 5, 5, 5]], durable=False).status, 202)
            self.assertEqual(self.stored(wid, [[0, 0]])[(0, 0)], [])
        finally:
            self.assertEqual(side.stop(), 0)
        self.assertEqual(self.stored(wid, [[0, 0]])[(0, 0)], [(5, 5, 5, 5)])


if __name__ == "__main__":
    unittest.main()
