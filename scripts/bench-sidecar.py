#!/usr/bin/python3
"""rally-sidecar bench (make bench 5f), against a running stack (its env
file sourced).

    bench-sidecar.py BLOCKS OUT.json

A world hosted by a game session of fleet-local (on a process the bench
registers and keeps heartbeating itself), a rally-sidecar beside it
with the fleet's secret (as the agent starts one), and a game server's
writes through it over 8 connections, batches of 250 random blocks of the
25 chunks around the origin:

  durable   BLOCKS blocks, each write answered once committed: blocks per
            second (issue 13's target: 30,000, aiming at 100,000), next to
            pgbench's single-row inserts (the same baseline as 5e's, 4
            clients, one committed row a transaction);
  buffered  BLOCKS blocks answered at once, then POST /v1/sidecar/flush:
            blocks per second until all were committed;
  memory    the sidecar's resident memory at rest, at its peak under both
            (VmHWM), and with rally unreachable, where it holds what its
            lanes take and refuses the rest with 429: how much memory a
            writer faster than the database costs.

Prints one line of figures; writes them to OUT.json."""

import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))

from rally import BIN, ENV, RUN, psql, request, wait_until  # noqa: E402
from pgbench_baseline import pgbench_inserts  # noqa: E402
from test_fleet import Server  # noqa: E402
from test_gamelift import client  # noqa: E402

FLEET = "fleet-local"
CONNECTIONS = 8
PER_BATCH = 250
KEY = "bench-" + uuid.uuid4().hex


def proc_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def server_token():
    with open(os.path.join(RUN, "fleets", FLEET + ".secret")) as f:
        secret = f.read().strip()
    r = request("POST", "/v1/identity/server", {"fleetId": FLEET, "fleetSecret": secret})
    assert r.status == 200, r
    return r.json["auth_token"]


def hosted_world():
    """A world hosted by a new ACTIVE game session of fleet-local, on a
    process of the bench's own (make bench's stack runs no agents, and with
    agents it would be one more idle process): (world, the process)."""
    token = server_token()
    server = Server(token, "us-east-1", 7689)
    gs = client().create_game_session(FleetId=FLEET, MaximumPlayerSessionCount=4)["GameSession"]
    assert wait_until(lambda: client().describe_game_sessions(GameSessionId=gs["GameSessionId"])
                      ["GameSessions"][0]["Status"] == "ACTIVE", 30)
    world = "bench-sidecar-" + uuid.uuid4().hex[:8]
    r = request("POST", "/v1/worlds/%s/host" % world, {"gameSessionId": gs["GameSessionId"]}, token=token)
    assert r.status == 200, r
    return world, server


class Sidecar:
    def __init__(self, port, url=None, *args):
        env = dict(os.environ, RALLY_URL=url or ENV["RALLY_URL"], GAMELIFT_SDK_FLEET_ID=FLEET,
                   RALLY_FLEET_SECRET_FILE=os.path.join(RUN, "fleets", FLEET + ".secret"),
                   RALLY_SIDECAR_KEY=KEY)
        self.port = port
        self.log = open(os.path.join(RUN, "logs", "bench-sidecar-%d.log" % port), "ab")
        self.proc = subprocess.Popen([os.path.join(BIN, "rally-sidecar"), "--port", str(port)] + list(args),
                                     env=env, stdout=self.log, stderr=self.log)
        assert wait_until(lambda: self.ready(), 10)

    def ready(self):
        try:
            return request("GET", "/v1/sidecar/status", token=KEY, port=self.port).status == 200
        except OSError:
            return False

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)
        self.log.close()


def write_all(port, path, bodies, expect):
    """Posts every body over CONNECTIONS kept-alive connections; seconds."""
    queue = list(bodies)
    lock = threading.Lock()
    failures = []

    def worker():
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                if not queue or failures:
                    return
                body = queue.pop()
            c.request("POST", path, body, {"Authorization": "Bearer " + KEY, "Content-Type": "application/json"})
            r = c.getresponse()
            data = r.read()
            if r.status != expect:
                failures.append("%d %s" % (r.status, data[:200]))

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(CONNECTIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise RuntimeError(failures[0])
    return time.monotonic() - started


def bodies(n, seed):
    rng = random.Random(seed)
    return [json.dumps({"blocks": [[rng.randrange(-80, 80), rng.randrange(0, 256), rng.randrange(-80, 80),
                                    rng.randrange(1, 64)] for _ in range(PER_BATCH)]})
            for _ in range(n // PER_BATCH)]


def main():
    blocks, out = int(sys.argv[1]), sys.argv[2]
    world, server = hosted_world()
    side = Sidecar(7690)
    rest_kib = proc_kib(side.proc.pid, "VmRSS")
    path = "/v1/worlds/%s/blocks" % world
    durable_s = write_all(7690, path + "?durable=true", bodies(blocks, 1), 200)
    started = time.monotonic()
    buffered_s = write_all(7690, path + "?durable=false", bodies(blocks, 2), 202)
    r = request("POST", "/v1/sidecar/flush", token=KEY, port=7690)
    assert r.status == 200, r
    flushed_s = time.monotonic() - started
    status = request("GET", "/v1/sidecar/status", token=KEY, port=7690).json
    peak_kib = proc_kib(side.proc.pid, "VmHWM")
    side.stop()

    # A writer faster than the database: rally unreachable, the lanes fill,
    # the rest is refused; memory measured after 200 more batches refused.
    slow = Sidecar(7691, "http://127.0.0.1:7692", "--wait-ms", "0")
    c = http.client.HTTPConnection("127.0.0.1", 7691, timeout=60)
    refused = 0
    for body in bodies(PER_BATCH * 3000, 3):
        c.request("POST", path, body, {"Authorization": "Bearer " + KEY, "Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        refused += r.status == 429
    full = request("GET", "/v1/sidecar/status", token=KEY, port=7691).json
    full_kib = proc_kib(slow.proc.pid, "VmHWM")
    slow.proc.send_signal(signal.SIGKILL)
    slow.proc.wait()
    slow.log.close()

    baseline = pgbench_inserts()
    server.stop()
    request("DELETE", "/v1/fleet/processes/" + server.process_id, token=server_token())
    psql("DELETE FROM world.worlds WHERE world_id = :'p1'", world)
    figures = {"blocks": blocks, "blocks_per_batch": PER_BATCH, "connections": CONNECTIONS,
               "durable_blocks_per_second": round(blocks / durable_s),
               "buffered_blocks_per_second": round(blocks / flushed_s),
               "buffered_acknowledged_per_second": round(blocks / buffered_s),
               "flushes": status["flushes"], "written": status["written"],
               "pgbench_single_row_inserts_per_second": baseline,
               "rss_at_rest_kib": rest_kib, "rss_peak_kib": peak_kib,
               "unreachable_held_entries": full["held"], "unreachable_refused_batches": refused,
               "unreachable_rss_peak_kib": full_kib, "lanes_buffer_bytes": full["bufferBytes"]}
    with open(out, "w") as f:
        json.dump(figures, f, indent=2)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
