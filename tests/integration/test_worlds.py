"""World state, the block store (functions/world-state, docs/worlds.md),
against the real stack: a world hosted by a running game session, blocks
written in batches and read back by chunk, what changed since a version,
a chunk cleared; who may use a world (its fleet's game servers while their
game session runs, backend principals by admin token or by a backend
access key's signature); and bad input refused with nothing written."""

import base64
import hashlib
import http.client
import json
import os
import subprocess
import threading
import time
import unittest
import uuid

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

import rally
from rally import BIN, PORT, RUN, psql, request, wait_until
from test_fleet import Server, server_token
from test_gamelift import add_fleet, client, drop_fleets, local_key, raw

FLEET = "fleet-worlds"


def admin_token():
    out = subprocess.run([os.path.join(BIN, "rally-keys"), "mint", os.environ["RALLY_JWT_KEY_DIR"],
                          "admin", "1"], check=True, capture_output=True, text=True).stdout
    return out.split()[1]


def signed(method, path, body, key=None):
    """A request signed with an AWS access key (SigV4, as botocore signs)."""
    data = json.dumps(body).encode() if body is not None else b""
    req = AWSRequest(method=method, url="http://127.0.0.1:%d%s" % (PORT, path), data=data,
                     headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(*(key or local_key())), "gamelift", "us-east-1").add_auth(req)
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
    conn.request(method, path, data, dict(req.headers.items()))
    r = conn.getresponse()
    text = r.read()
    conn.close()
    return r.status, json.loads(text) if text else None


def setUpModule():
    add_fleet(FLEET, ["us-east-1"])
    with open(os.path.join(RUN, "fleets", FLEET + ".secret"), "w") as f:
        f.write("worlds-secret-0123456789abcdef\n")


def tearDownModule():
    os.remove(os.path.join(RUN, "fleets", FLEET + ".secret"))
    psql("DELETE FROM world.worlds WHERE world_id LIKE 'tw-%'")
    psql("UPDATE fleet.processes SET status = 'TERMINATED' WHERE fleet_id = :'p1'", FLEET)
    drop_fleets(FLEET)


class Blocks(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.token = server_token(FLEET)
        cls.server = Server(cls.token, "us-east-1", 7300)
        gs = client().create_game_session(FleetId=FLEET, MaximumPlayerSessionCount=4)["GameSession"]
        cls.game_session = gs["GameSessionId"]
        assert wait_until(lambda: client().describe_game_sessions(GameSessionId=cls.game_session)
                          ["GameSessions"][0]["Status"] == "ACTIVE", 10)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def world(self):
        """A world hosted by this class's running game session."""
        wid = "tw-" + uuid.uuid4().hex[:12]
        r = request("POST", "/v1/worlds/%s/host" % wid, {"gameSessionId": self.game_session},
                    token=self.token)
        self.assertEqual(r.status, 200, r)
        return wid

    def write(self, wid, blocks, token=None):
        return request("POST", "/v1/worlds/%s/blocks" % wid, {"blocks": blocks},
                       token=token or self.token)

    def read(self, wid, chunks, since=None, token=None):
        body = {"chunks": chunks}
        if since is not None:
            body["since"] = since
        return request("POST", "/v1/worlds/%s/chunks" % wid, body, token=token or self.token)

    def test_blocks_written_in_a_batch_are_read_by_chunk(self):
        wid = self.world()
        r = self.write(wid, [[0, 10, 0, 1], [31, 255, 31, 2], [32, 0, 0, 3], [-1, 5, -1, 4],
                             [0, 10, 0, 7]])  # the same block again: the last one counts
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["chunks"], [{"p": -1, "q": -1, "version": 1}, {"p": 0, "q": 0, "version": 1},
                                            {"p": 1, "q": 0, "version": 1}])
        got = self.read(wid, [[0, 0], [1, 0], [-1, -1], [5, 5]]).json["chunks"]
        self.assertEqual([(c["p"], c["q"], c["version"]) for c in got],
                         [(0, 0, 1), (1, 0, 1), (-1, -1, 1), (5, 5, 0)])
        self.assertEqual(sorted(got[0]["blocks"]), [[0, 10, 0, 7], [31, 255, 31, 2]])
        self.assertEqual(got[1]["blocks"], [[32, 0, 0, 3]])
        self.assertEqual(got[2]["blocks"], [[-1, 5, -1, 4]])
        self.assertEqual(got[3]["blocks"], [])
        # A chunk once read is kept; a write changes what is read next.
        self.write(wid, [[5, 5, 5, 9], [31, 255, 31, 0]])
        [c] = self.read(wid, [[0, 0]]).json["chunks"]
        self.assertEqual((c["version"], sorted(c["blocks"])), (2, [[0, 10, 0, 7], [5, 5, 5, 9]]))
        self.assertEqual(self.read(wid, [[0, 0]]).json["chunks"], [c])

    def test_writes_and_reads_are_counted(self):
        """world-state's metrics (docs/observability.md): blocks written and
        chunks read, whichever worker answered."""
        from test_metrics import parse, scrape, value
        counts = lambda: [value(parse(scrape("world-state").body.decode()), name)
                          for name in ("rally_world_blocks_written_total", "rally_world_chunks_read_total")]
        before = counts()
        wid = self.world()
        for _ in range(3):
            self.assertEqual(self.write(wid, [[i, 1, 0, 1] for i in range(10)]).status, 200)
        self.assertEqual(self.write(wid, [[0, 0, 0, "x"]]).status, 400)  # refused: not counted
        self.assertEqual(self.read(wid, [[0, 0], [1, 0], [2, 2]]).status, 200)
        after = counts()
        self.assertEqual([a - b for a, b in zip(after, before)], [30, 3])

    def test_a_chunk_written_over_and_over_reads_its_last_values(self):
        """A chunk's log: the last value of each block, air left out, in
        (x, y, z) order; past 16 parts or 64 KB it is rewritten as one, and
        reads the same. Negative coordinates too."""
        wid = self.world()
        expect = {}
        for round_ in range(20):  # 20 parts of 4,800 bytes
            batch = [[-32 + (i % 32), (i // 32) % 50, -1 - (i % 7) * 3, (round_ + i) % 4]
                     for i in range(300)]
            self.assertEqual(self.write(wid, batch).status, 200)
            for x, y, z, w in batch:
                expect[(x, y, z)] = w
            solid = sorted((x, y, z, w) for (x, y, z), w in expect.items() if w != 0)
            got = self.read(wid, [[-1, -1]]).json["chunks"][0]["blocks"]
            self.assertEqual([tuple(b) for b in got], solid, round_)
        # Rewritten once its parts passed 64 KB (the 14th), and counted right.
        self.assertEqual(psql("SELECT c.log_parts || ' ' || count(*) FROM world.chunks c JOIN world.worlds w "
                              "USING (world_key) JOIN world.chunk_log l USING (world_key, p, q) "
                              "WHERE w.world_id = :'p1' GROUP BY c.log_parts", wid), ["7 7"])

    def test_a_clear_waiting_for_a_write_clears_what_it_wrote(self):
        """A write holds the chunk (a transaction of its own, kept open); the
        clear waits for it, then deletes what it committed too."""
        wid = self.world()
        self.assertEqual(self.write(wid, [[1, 1, 1, 1]]).status, 200)
        key = psql("SELECT world_key FROM world.worlds WHERE world_id = :'p1'", wid)[0]
        holder = subprocess.Popen(["psql", "-XAtq", "-v", "ON_ERROR_STOP=1"], stdin=subprocess.PIPE,
                                  stdout=subprocess.DEVNULL, text=True)
        holder.stdin.write("BEGIN;\nSELECT count(*) FROM world.write_blocks(%d, '{2,3}', '{2,3}', '{2,3}', "
                           "'{5,6}');\n" % int(key))
        holder.stdin.flush()
        self.assertTrue(wait_until(lambda: psql(
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "WHERE c.relname = 'chunks' AND l.mode = 'RowExclusiveLock' AND l.pid <> pg_backend_pid()")[0] != "0",
            5))
        cleared = {}
        clear = threading.Thread(target=lambda: cleared.update(r=request(
            "POST", "/v1/worlds/%s/chunks/clear" % wid, {"p": 0, "q": 0}, token=self.token)))
        clear.start()
        time.sleep(0.5)  # the clear waits for the chunk
        self.assertTrue(clear.is_alive())
        holder.stdin.write("COMMIT;\n")
        holder.stdin.close()
        holder.wait(10)
        clear.join(10)
        self.assertEqual(cleared["r"].status, 200, cleared["r"])
        got = self.read(wid, [[0, 0]]).json["chunks"][0]
        self.assertEqual(got["blocks"], [])
        self.assertEqual(self.read(wid, [[0, 0]], since=1).json["chunks"][0]["blocks"], [])
        self.assertEqual(psql("SELECT (SELECT count(*) FROM world.blocks WHERE world_key = :'p1') + "
                              "(SELECT count(*) FROM world.chunk_log WHERE world_key = :'p1')", key), ["0"])

    def test_what_changed_since_a_version_air_included(self):
        wid = self.world()
        self.write(wid, [[1, 1, 1, 5], [2, 2, 2, 6]])
        self.write(wid, [[1, 1, 1, 0], [3, 3, 3, 8]])  # one removed (air), one added
        [c] = self.read(wid, [[0, 0]], since=1).json["chunks"]
        self.assertEqual(c["version"], 2)
        self.assertEqual(sorted(c["blocks"]), [[1, 1, 1, 0], [3, 3, 3, 8]])
        [c] = self.read(wid, [[0, 0]]).json["chunks"]  # a full read: solid blocks only
        self.assertEqual(sorted(c["blocks"]), [[2, 2, 2, 6], [3, 3, 3, 8]])
        # Cleared: a reader behind it starts over.
        r = request("POST", "/v1/worlds/%s/chunks/clear" % wid, {"p": 0, "q": 0}, token=self.token)
        self.assertEqual((r.status, r.json["version"]), (200, 3))
        [c] = self.read(wid, [[0, 0]], since=2).json["chunks"]
        self.assertEqual((c["version"], c.get("reset"), c["blocks"]), (3, True, []))
        self.write(wid, [[4, 4, 4, 9]])
        [c] = self.read(wid, [[0, 0]], since=3).json["chunks"]
        self.assertEqual((c["version"], c.get("reset"), c["blocks"]), (4, None, [[4, 4, 4, 9]]))

    def test_bad_input_is_refused_and_nothing_is_written(self):
        wid = self.world()
        for blocks, words in (([[0, 256, 0, 1]], "y"), ([[0, -1, 0, 1]], "y"),
                              ([[1 << 25, 0, 0, 1]], "x and z"), ([[0, 0, 0]], "four integers"),
                              ([[0, 0, 0, 1.5]], "four integers"), ([[0, 0, 0, 1 << 31]], "w"),
                              ([], "1 to 10000"), ([[0, 1, 0, 1]] * 10001, "1 to 10000")):
            r = self.write(wid, [[5, 5, 5, 1]] + blocks if blocks else blocks)
            self.assertEqual(r.status, 400, (blocks[:1], r))
            self.assertIn(words, r.json["message"])
        self.assertEqual(self.read(wid, [[0, 0]]).json["chunks"][0], {"p": 0, "q": 0, "version": 0,
                                                                       "blocks": []})
        for body in ({"chunks": []}, {"chunks": [[0]]}, {"chunks": [[0, 0]], "since": -1},
                     {"chunks": [[1 << 21, 0]]}, {"chunks": [[0, 0]] * 65}):
            r = request("POST", "/v1/worlds/%s/chunks" % wid, body, token=self.token)
            self.assertEqual(r.status, 400, body)
        # Too large for one request: nginx's 413, in rally's JSON.
        r = request("POST", "/v1/worlds/%s/blocks" % wid, {"blocks": [[0, 0, 0, 1]] * 200000},
                    token=self.token)
        self.assertEqual(r.status, 413)

    def test_who_may_use_a_world(self):
        wid = self.world()
        self.assertEqual(self.write(wid, [[0, 0, 0, 1]]).status, 200)
        # Another fleet's game server: as if the world did not exist.
        other = server_token("fleet-local")
        self.assertEqual(self.write(wid, [[0, 0, 0, 2]], token=other).status, 404)
        self.assertEqual(self.read(wid, [[0, 0]], token=other).status, 404)
        self.assertEqual(self.write("tw-nothing-here", [[0, 0, 0, 1]]).status, 404)
        # A player's token is no use at all.
        self.assertIn(self.write(wid, [[0, 0, 0, 2]], token=rally.guest()["auth_token"]).status, (401, 403))
        # A backend: by admin token, or by a backend access key's signature.
        admin = admin_token()
        self.assertEqual(self.read(wid, [[0, 0]], token=admin).json["chunks"][0]["blocks"], [[0, 0, 0, 1]])
        status, body = signed("POST", "/v1/worlds/%s/chunks" % wid, {"chunks": [[0, 0]]})
        self.assertEqual((status, body["chunks"][0]["blocks"]), (200, [[0, 0, 0, 1]]))
        status, body = signed("POST", "/v1/worlds/%s/blocks" % wid, {"blocks": [[0, 0, 0, 3]]})
        self.assertEqual(status, 200, body)
        # A backend makes worlds; a game server hosts them (making one when new).
        fresh = "tw-" + uuid.uuid4().hex[:12]
        self.assertEqual(request("PUT", "/v1/worlds/" + fresh, token=self.token).status, 403)
        self.assertEqual(request("PUT", "/v1/worlds/" + fresh, token=admin).status, 201)
        self.assertEqual(request("PUT", "/v1/worlds/" + fresh, token=admin).status, 200)
        self.assertEqual(self.read(fresh, [[0, 0]]).status, 404)  # not hosted: not the server's
        # No such running game session of the fleet: nothing to host it.
        r = request("POST", "/v1/worlds/%s/host" % wid, {"gameSessionId": "gsess-nope"}, token=self.token)
        self.assertEqual(r.status, 404)

    def test_a_world_follows_its_running_game_session(self):
        second = Server(self.token, "us-east-1", 7301)
        self.addCleanup(second.stop)
        gs = client().create_game_session(FleetId=FLEET, MaximumPlayerSessionCount=2)["GameSession"]
        self.assertTrue(wait_until(lambda: second.session is not None, 10))
        wid = "tw-" + uuid.uuid4().hex[:12]
        r = request("POST", "/v1/worlds/%s/host" % wid, {"gameSessionId": gs["GameSessionId"]},
                    token=self.token)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.write(wid, [[0, 0, 0, 1]]).status, 200)
        # Hosted by a running game session: another may not take it.
        r = request("POST", "/v1/worlds/%s/host" % wid, {"gameSessionId": self.game_session},
                    token=self.token)
        self.assertEqual((r.status, r.json["error"]), (409, "hosted_elsewhere"))
        # Its game session ended: the fleet's servers lose the world, and the
        # next game session may host it, its blocks kept.
        raw("TerminateGameSession", {"GameSessionId": gs["GameSessionId"], "TerminationMode": "FORCE_TERMINATE"})
        self.assertEqual(self.write(wid, [[0, 0, 0, 2]]).status, 404)
        r = request("POST", "/v1/worlds/%s/host" % wid, {"gameSessionId": self.game_session},
                    token=self.token)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.read(wid, [[0, 0]]).json["chunks"][0]["blocks"], [[0, 0, 0, 1]])


class Saves(unittest.TestCase):
    """A world's snapshot blobs: uploaded in parts, SHA-256 checked when
    completed, listed, read back part by part, kept up to the retention."""

    @classmethod
    def setUpClass(cls):
        cls.admin = admin_token()

    def world(self):
        wid = "tw-" + uuid.uuid4().hex[:12]
        self.assertEqual(request("PUT", "/v1/worlds/" + wid, token=self.admin).status, 201)
        return wid

    def put(self, wid, version, part, data):
        return request("PUT", "/v1/worlds/%s/saves/part?version=%d&part=%d" % (wid, version, part), data,
                       token=self.admin, headers={"Content-Type": "application/octet-stream"})

    def save(self, wid, parts):
        """A complete save of these parts: its version."""
        r = request("POST", "/v1/worlds/%s/saves" % wid, token=self.admin)
        self.assertEqual(r.status, 201, r)
        version = r.json["version"]
        for i, data in enumerate(parts, 1):
            self.assertEqual(self.put(wid, version, i, data).status, 200)
        digest = hashlib.sha256(b"".join(parts)).hexdigest()
        r = request("POST", "/v1/worlds/%s/saves/complete" % wid,
                    {"version": version, "parts": len(parts), "sha256": digest}, token=self.admin)
        self.assertEqual((r.status, r.json.get("sha256")), (200, digest), r)
        return version

    def test_a_save_in_parts_is_checked_and_read_back(self):
        wid = self.world()
        parts = [os.urandom(1 << 20), os.urandom(1 << 20), os.urandom(100000)]
        version = self.save(wid, parts)
        m = request("GET", "/v1/worlds/%s/saves/manifest" % wid, token=self.admin).json
        self.assertEqual((m["version"], m["parts"], m["size"], m["partSizes"]),
                         (version, 3, (2 << 20) + 100000, [1 << 20, 1 << 20, 100000]))
        got = b""
        for i in range(1, 4):
            r = request("GET", "/v1/worlds/%s/saves/part?version=%d&part=%d" % (wid, version, i),
                        token=self.admin)
            self.assertEqual((r.status, r.headers["content-type"]), (200, "application/octet-stream"))
            got += r.body
        self.assertEqual(hashlib.sha256(got).hexdigest(), m["sha256"])
        [listed] = request("GET", "/v1/worlds/%s/saves" % wid, token=self.admin).json["saves"]
        self.assertEqual((listed["version"], listed["status"], listed["size"]), (version, "COMPLETE", m["size"]))
        # Final: no part changes it any more.
        self.assertEqual(self.put(wid, version, 1, b"x").status, 409)

    def test_a_wrong_checksum_or_a_missing_part_is_refused(self):
        wid = self.world()
        version = request("POST", "/v1/worlds/%s/saves" % wid, token=self.admin).json["version"]
        self.put(wid, version, 1, b"first")
        self.put(wid, version, 3, b"third")
        complete = lambda parts, digest: request("POST", "/v1/worlds/%s/saves/complete" % wid,
                                                 {"version": version, "parts": parts, "sha256": digest},
                                                 token=self.admin)
        r = complete(3, hashlib.sha256(b"firstthird").hexdigest())
        self.assertEqual((r.status, r.json["error"]), (409, "missing_parts"))
        self.put(wid, version, 2, b"second")
        r = complete(3, hashlib.sha256(b"nope").hexdigest())
        self.assertEqual((r.status, r.json["error"]), (400, "checksum_mismatch"))
        self.assertIn(hashlib.sha256(b"firstsecondthird").hexdigest(), r.json["message"])
        # Not complete: not readable, not in the manifest.
        self.assertEqual(request("GET", "/v1/worlds/%s/saves/part?version=%d&part=1" % (wid, version),
                                 token=self.admin).status, 404)
        self.assertEqual(request("GET", "/v1/worlds/%s/saves/manifest" % wid, token=self.admin).status, 404)
        r = complete(3, hashlib.sha256(b"firstsecondthird").hexdigest())
        self.assertEqual(r.status, 200, r)
        for query in ("version=0&part=1", "version=1", "part=1", "version=1&part=100001", "version=x&part=1"):
            r = request("PUT", "/v1/worlds/%s/saves/part?%s" % (wid, query), b"x", token=self.admin)
            self.assertEqual(r.status, 400, query)
        self.assertEqual(self.put(wid, version, 1, b"").status, 400)
        self.assertEqual(self.put(wid, version, 1, os.urandom((8 << 20) + 1)).status, 413)
        self.assertEqual(self.put(wid, 999, 1, b"x").status, 404)
        self.assertEqual(self.put("tw-no-such-world", 1, 1, b"x").status, 404)

    def test_saves_are_kept_up_to_the_retention(self):
        wid = self.world()
        versions = [self.save(wid, [("save %d" % i).encode()]) for i in range(7)]
        listed = [s["version"] for s in request("GET", "/v1/worlds/%s/saves" % wid, token=self.admin).json["saves"]]
        self.assertEqual(listed, versions[::-1][:5])
        m = request("GET", "/v1/worlds/%s/saves/manifest?version=%d" % (wid, versions[0]), token=self.admin)
        self.assertEqual(m.status, 404)
        r = request("GET", "/v1/worlds/%s/saves/part?version=%d&part=1" % (wid, versions[-1]), token=self.admin)
        self.assertEqual(r.body, b"save 6")


class Items(unittest.TestCase):
    """Keys with JSON or binary values, versions, conditional writes in
    all-or-nothing batches, reads by key and by prefix."""

    @classmethod
    def setUpClass(cls):
        cls.admin = admin_token()

    def setUp(self):
        self.wid = "tw-" + uuid.uuid4().hex[:12]
        self.assertEqual(request("PUT", "/v1/worlds/" + self.wid, token=self.admin).status, 201)

    def put(self, *items):
        return request("POST", "/v1/worlds/%s/items" % self.wid, {"items": list(items)}, token=self.admin)

    def get(self, query):
        return request("GET", "/v1/worlds/%s/items?%s" % (self.wid, query), token=self.admin)

    def upload(self, name, part, data):
        return request("PUT", "/v1/worlds/%s/items/upload?upload=%s&part=%d" % (self.wid, name, part), data,
                       token=self.admin, headers={"Content-Type": "application/octet-stream"})

    def test_a_value_larger_than_a_request_goes_in_parts(self):
        parts = [os.urandom(3 << 20) for _ in range(4)]  # 12 MiB: past a request's 8 MiB
        value = b"".join(parts)
        digest = hashlib.sha256(value).hexdigest()
        for n in (1, 2, 4):  # part 3 not yet
            r = self.upload("u1", n, parts[n - 1])
            self.assertEqual((r.status, r.json["size"]), (200, 3 << 20), r)
        item = {"key": "world/terrain", "upload": "u1", "parts": 4, "sha256": digest}
        r = self.put({"key": "other", "value": 1}, item)
        self.assertEqual((r.status, r.json["error"], r.json["problems"]),
                         (409, "missing_parts", [{"key": "world/terrain", "error": "missing_parts", "parts": 3}]))
        self.assertEqual(self.get("key=other").status, 404)  # nothing written
        self.assertEqual(self.upload("u1", 3, parts[2]).status, 200)
        r = self.put(dict(item, sha256="0" * 64))
        self.assertEqual((r.status, r.json["problems"][0]["sha256"]), (400, digest))
        r = self.put(dict(item, ifVersion=0))
        self.assertEqual(r.json, {"items": [{"key": "world/terrain", "version": 1}]})
        got = self.get("key=world/terrain").json
        self.assertEqual((got["parts"], got["size"], got["sha256"], "binary" in got), (4, len(value), digest, False))
        back = b"".join(request("GET", "/v1/worlds/%s/items/part?key=world/terrain&part=%d" % (self.wid, n),
                                token=self.admin).body for n in range(1, 5))
        self.assertEqual(back, value)
        # The upload is used up; an inline value replaces the parts.
        self.assertEqual(self.put(dict(item, ifVersion=1)).json["error"], "missing_parts")
        self.assertEqual(self.put({"key": "world/terrain", "value": "small", "ifVersion": 1}).status, 200)
        self.assertEqual(request("GET", "/v1/worlds/%s/items/part?key=world/terrain&part=1" % self.wid,
                                 token=self.admin).status, 404)
        self.assertEqual(self.get("key=world/terrain").json["value"], "small")
        # Bad uploads and references.
        for q in ("upload=u2&part=0", "upload=u2&part=33", "upload=bad%20name&part=1", "part=1"):
            r = request("PUT", "/v1/worlds/%s/items/upload?%s" % (self.wid, q), b"x", token=self.admin)
            self.assertEqual(r.status, 400, q)
        self.assertEqual(self.upload("u2", 1, b"").status, 400)
        for bad in ({"key": "k", "upload": "u2", "parts": 1}, {"key": "k", "upload": "u2", "parts": 33, "sha256": digest},
                    {"key": "k", "upload": "u2", "parts": 1, "sha256": "ABC"},
                    {"key": "k", "upload": "u2", "parts": 1, "sha256": digest, "value": 1}):
            self.assertEqual(self.put(bad).status, 400, bad)

    def test_values_versions_and_conditions(self):
        big = os.urandom(3 << 20)  # far past DynamoDB's 400 KB
        r = self.put({"key": "player/1", "value": {"hp": 10, "inv": ["axe"]}},
                     {"key": "map", "binary": base64.b64encode(big).decode()},
                     {"key": "motd", "value": "héllo"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["items"], [{"key": "player/1", "version": 1}, {"key": "map", "version": 1},
                                           {"key": "motd", "version": 1}])
        got = self.get("key=player/1").json
        self.assertEqual((got["value"], got["version"]), ({"hp": 10, "inv": ["axe"]}, 1))
        self.assertEqual(base64.b64decode(self.get("key=map").json["binary"]), big)
        self.assertEqual(self.get("key=motd").json["value"], "héllo")
        # If-Match: the right version writes; a stale one conflicts, and the
        # whole batch writes nothing.
        r = self.put({"key": "player/1", "value": {"hp": 9}, "ifVersion": 1})
        self.assertEqual(r.json["items"], [{"key": "player/1", "version": 2}])
        r = self.put({"key": "motd", "value": "changed"}, {"key": "player/1", "value": {"hp": 0}, "ifVersion": 1})
        self.assertEqual((r.status, r.json["error"], r.json["conflicts"]),
                         (409, "version_conflict", [{"key": "player/1", "version": 2}]))
        self.assertEqual(self.get("key=motd").json["value"], "héllo")
        # Create-only: 0 means it must not exist.
        self.assertEqual(self.put({"key": "new", "value": 1, "ifVersion": 0}).status, 200)
        r = self.put({"key": "new", "value": 2, "ifVersion": 0})
        self.assertEqual((r.status, r.json["conflicts"]), (409, [{"key": "new", "version": 1}]))
        # Deleted, conditionally too.
        self.assertEqual(self.put({"key": "new", "delete": True, "ifVersion": 1}).json["items"],
                         [{"key": "new", "version": 0}])
        self.assertEqual(self.get("key=new").status, 404)

    def test_prefix_reads_page_in_key_order(self):
        keys = ["p/%03d" % i for i in range(7)]
        self.put(*[{"key": k, "value": i} for i, k in enumerate(keys)], {"key": "q/0", "value": 0})
        page = self.get("prefix=p/&limit=3").json
        self.assertEqual([i["key"] for i in page["items"]], keys[:3])
        seen = [i["key"] for i in page["items"]]
        while "next" in page:
            page = self.get("prefix=p/&limit=3&after=" + page["next"]).json
            seen += [i["key"] for i in page["items"]]
        self.assertEqual(seen, keys)

    def test_bad_input_writes_nothing(self):
        for item in ({"key": ""}, {"key": "a\nb", "value": 1}, {"key": "k"}, {"key": "k", "value": 1, "binary": "AA=="},
                     {"key": "k", "binary": "not base64!"}, {"key": "k", "value": 1, "ifVersion": -1},
                     {"key": "k", "value": 1, "delete": True}, {"key": "x" * 1025, "value": 1}, {"key": "k", "value": 1, "extra": 1}):
            r = self.put({"key": "good", "value": 1}, item)
            self.assertEqual(r.status, 400, item)
        self.assertEqual(request("POST", "/v1/worlds/%s/items" % self.wid, {"items": []}, token=self.admin).status, 400)
        self.assertEqual(self.get("key=good").status, 404)
        for query in ("", "key=a&prefix=b", "prefix=a&limit=0", "prefix=a&limit=101", "key=" + "x" * 1025):
            self.assertEqual(self.get(query).status, 400, query)
        self.assertEqual(request("GET", "/v1/worlds/tw-nowhere/items?key=a", token=self.admin).status, 404)


class Restart(unittest.TestCase):
    """A batch of blocks is one statement: across a PostgreSQL restart each
    is there whole (all acknowledged ones among them) or not at all, and
    writes work again without anyone's help."""

    def test_batches_are_whole_or_absent_across_a_database_restart(self):
        admin = admin_token()
        wid = "tw-" + uuid.uuid4().hex[:12]
        self.assertEqual(request("PUT", "/v1/worlds/" + wid, token=admin).status, 201)
        results, stop = [], threading.Event()

        def writer():
            for i in range(2000):  # batch i: x = i, 50 blocks, chunks p = i // 32
                if stop.is_set():
                    return
                r = request("POST", "/v1/worlds/%s/blocks" % wid,
                            {"blocks": [[i, y, 7, i + 1] for y in range(50)]}, token=admin)
                results.append((i, r.status))
                if r.status != 200:
                    time.sleep(0.05)  # a client backing off while the database is away

        t = threading.Thread(target=writer)
        t.start()
        try:
            self.assertTrue(wait_until(lambda: len(results) > 20, 20))
            rally.stop_postgres()
            time.sleep(1.5)
        finally:
            rally.start_postgres()
        ok_after = lambda: any(s == 200 for _, s in results[-3:]) and any(s != 200 for _, s in results)
        self.assertTrue(wait_until(ok_after, 30), results[-5:])
        stop.set()
        t.join()
        self.assertEqual({s for _, s in results} - {200, 503}, set(), results)
        last = max(i for i, _ in results)
        chunks = request("POST", "/v1/worlds/%s/chunks" % wid,
                         {"chunks": [[p, 0] for p in range(last // 32 + 1)]}, token=admin).json["chunks"]
        count = {}
        for c in chunks:
            for x, y, z, w in c["blocks"]:
                count[x] = count.get(x, 0) + 1
        for i, status in results:
            self.assertIn(count.get(i, 0), (50,) if status == 200 else (0, 50), (i, status))
