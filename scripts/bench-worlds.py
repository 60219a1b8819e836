#!/usr/bin/python3
"""World state bench (make bench), against a running stack (its env file
sourced).

    bench-worlds.py BATCHES OUT.json

One world, written by a backend principal (an admin token) through nginx
and world-state, as a game server's writes reach it:

  blocks   BATCHES batches of 1,000 blocks each (random blocks of 5x5
           chunks around the origin), 4 connections at once, every batch
           one committed transaction: blocks per second;
  chunk    a chunk of 2,000 solid blocks read once just after it was
           written (cold: from its block rows) and 300 times more (warm:
           the blocks kept with the chunk): p50 and p99 (issue 13's target:
           p99 under 5 ms);
  around   the 25 chunks around a player (5x5), 2,000 solid blocks each,
           read in one call: cold once, then 100 times (target: under
           25 ms);
  pgbench  the baseline beside blocks: pgbench's single-row inserts, one
           committed transaction each, over the same 4 connections for 5 s
           (a scratch table, dropped after);
  save     a 64 MiB save (random bytes: nothing to compress) uploaded in 8
           parts of 8 MiB over 2 connections and completed (its SHA-256
           checked over what was stored), then restored part by part:
           MiB/s each way (target: 100).

Prints one line of figures; writes them to OUT.json."""

import hashlib
import http.client
import json
import os
import random
import subprocess
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))

from rally import BIN, PORT, psql  # noqa: E402
from pgbench_baseline import pgbench_inserts  # noqa: E402

CONNECTIONS = 4
PER_BATCH = 1000


def admin_token():
    out = subprocess.run([os.path.join(BIN, "rally-keys"), "mint", os.environ["RALLY_JWT_KEY_DIR"],
                          "admin", "1", "3600"], check=True, capture_output=True, text=True).stdout
    return out.split()[1]


def post(conn, path, body, token, expect=200):
    conn.request("POST", path, body, {"Content-Type": "application/json",
                                      "Authorization": "Bearer " + token})
    r = conn.getresponse()
    data = r.read()
    if r.status != expect:
        raise RuntimeError("%s: %d %s" % (path, r.status, data[:200]))
    return data


def pct(values, q):
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))] * 1000, 2)





def in_parallel(items, connections, work, errors=None):
    """work(connection, item) for every item, over `connections` threads of
    one kept-alive connection each. A failure stops its thread; it is kept
    in errors, or raised again when there is none."""
    queue = list(items)
    lock = threading.Lock()
    failures = []

    def worker():
        c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
        while True:
            with lock:
                if not queue:
                    return
                item = queue.pop()
            try:
                work(c, item)
            except Exception as e:  # noqa: BLE001 - reported by the caller
                failures.append(str(e))
                return

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors is not None:
        errors.extend(failures)
    elif failures:
        raise RuntimeError(failures[0])


def put_part(conn, world, version, n, data, token):
    conn.request("PUT", "/v1/worlds/%s/saves/part?version=%d&part=%d" % (world, version, n), data,
                 {"Authorization": "Bearer " + token, "Content-Type": "application/octet-stream"})
    r = conn.getresponse()
    r.read()
    if r.status != 200:
        raise RuntimeError("part %d: %d" % (n, r.status))


def save_rates(world, token):
    """A 64 MiB save written (8 parts over 2 connections, then completed)
    and restored part by part: (MiB/s written, MiB/s read)."""
    parts = [os.urandom(8 << 20) for _ in range(8)]
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
    version = json.loads(post(conn, "/v1/worlds/%s/saves" % world, b"", token, expect=201))["version"]
    started = time.monotonic()
    in_parallel(range(1, 9), 2, lambda c, n: put_part(c, world, version, n, parts[n - 1], token))
    post(conn, "/v1/worlds/%s/saves/complete" % world,
         json.dumps({"version": version, "parts": 8, "sha256": hashlib.sha256(b"".join(parts)).hexdigest()}),
         token)
    written = time.monotonic() - started
    started = time.monotonic()
    got = []
    for n in range(1, 9):
        conn.request("GET", "/v1/worlds/%s/saves/part?version=%d&part=%d" % (world, version, n),
                     headers={"Authorization": "Bearer " + token})
        r = conn.getresponse()
        got.append(r.read())
    read = time.monotonic() - started
    assert got == parts
    return round(64 / written, 1), round(64 / read, 1)


def main():
    batches, out = int(sys.argv[1]), sys.argv[2]
    token = admin_token()
    world = "bench-" + uuid.uuid4().hex[:10]
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    conn.request("PUT", "/v1/worlds/" + world, headers={"Authorization": "Bearer " + token})
    assert conn.getresponse().read() is not None
    rng = random.Random(12)
    bodies = [json.dumps({"blocks": [[rng.randrange(-80, 80), rng.randrange(0, 256), rng.randrange(-80, 80),
                                      rng.randrange(1, 64)] for _ in range(PER_BATCH)]})
              for _ in range(batches)]
    path = "/v1/worlds/%s/blocks" % world
    errors = []
    started = time.monotonic()
    in_parallel(range(batches), CONNECTIONS, lambda c, i: post(c, path, bodies[i], token), errors)
    wall = time.monotonic() - started
    # 25 chunks of 2,000 solid blocks each: one read alone, and all of them
    # (the 5x5 around a player).
    for p in range(8, 13):
        for q in range(-2, 3):
            cells = rng.sample([(x, y, z) for x in range(p * 32, p * 32 + 32)
                                for z in range(q * 32, q * 32 + 32) for y in range(0, 3)], 2000)
            for half in (cells[:1000], cells[1000:]):
                post(conn, path, json.dumps({"blocks": [[x, y, z, 1] for x, y, z in half]}), token)
    one = json.dumps({"chunks": [[10, 0]]})
    around = json.dumps({"chunks": [[p, q] for p in range(8, 13) for q in range(-2, 3)]})
    # The first read of a chunk after it changed reads its block rows (cold);
    # later ones the blocks kept with the chunk (warm). Both are measured.
    times = {"chunk": [], "around": []}
    cold = {}
    for name, body, n in (("chunk", one, 300), ("around", around, 100)):
        for k in range(n + 1):
            t0 = time.monotonic()
            data = post(conn, "/v1/worlds/%s/chunks" % world, body, token)
            if k == 0:
                cold[name] = round((time.monotonic() - t0) * 1000, 2)
            else:
                times[name].append(time.monotonic() - t0)
        assert all(len(c["blocks"]) == 2000 for c in json.loads(data)["chunks"])
    save_write, save_read = save_rates(world, token)
    baseline = pgbench_inserts()
    psql("DELETE FROM world.worlds WHERE world_id = :'p1'", world)
    figures = {"batches": batches, "blocks_per_batch": PER_BATCH, "connections": CONNECTIONS,
               "blocks_per_second": round(batches * PER_BATCH / wall) if not errors else None,
               "pgbench_single_row_inserts_per_second": baseline,
               "errors": errors[:3],
               "chunk_read_ms_p50": pct(times["chunk"], 0.5), "chunk_read_ms_p99": pct(times["chunk"], 0.99),
               "around_read_ms_p50": pct(times["around"], 0.5), "around_read_ms_p99": pct(times["around"], 0.99),
               "chunk_cold_read_ms": cold["chunk"], "around_cold_read_ms": cold["around"],
               "save_64mib_write_mib_per_second": save_write, "save_64mib_restore_mib_per_second": save_read}
    with open(out, "w") as f:
        json.dump(figures, f, indent=2)
    print(json.dumps(figures))
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
