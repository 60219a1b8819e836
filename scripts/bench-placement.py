#!/usr/bin/python3
"""Game session bench (make bench), against a running stack (its env file
sourced). Debian's python3, for its botocore, which signs as boto3 does.

    bench-placement.py PLACEMENTS FIRST_PORT OUT.json

Two parts, on a fleet of real rally-gameserver processes (fleet-bench-gs,
us-east-1 and eu-west-1, heartbeating every second as the sample does):

  create    CreateGameSession on 40 idle processes, all at once: the time
            from each game session's creation to its ACTIVE (its server
            learns of it on its next heartbeat), p50 and p99, from the
            database's own timestamps.
  placement PLACEMENTS StartGameSessionPlacement calls at once over the two
            locations (each with two players' latencies favouring one of
            them, and seats for both), on PLACEMENTS idle processes: the
            time from the first call until every placement is FULFILLED
            (target: 1,000 in under 10 s), and each placement's own time
            from start to FULFILLED.

Prints one line of figures; writes them to OUT.json."""

import concurrent.futures
import configparser
import http.client
import json
import os
import random
import socket
import sys
import threading
import time

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))

import players  # noqa: E402
import rally  # noqa: E402
from rally import PORT, RUN, psql, wait_until  # noqa: E402

FLEET = "fleet-bench-gs"
QUEUE = "bench-gs-queue"
CREATE_SESSIONS = 40
LOCATIONS = ["us-east-1", "eu-west-1"]


def key():
    c = configparser.ConfigParser()
    c.read(os.path.join(RUN, "aws", "credentials"))
    return Credentials(c["default"]["aws_access_key_id"], c["default"]["aws_secret_access_key"])


_local = threading.local()


def call(operation, body):
    """One signed GameLift call on this thread's kept-alive connection."""
    if not hasattr(_local, "conn"):
        _local.conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    data = json.dumps(body).encode()
    req = AWSRequest(method="POST", url="http://127.0.0.1:%d/" % PORT, data=data,
                     headers={"X-Amz-Target": "GameLift." + operation,
                              "Content-Type": "application/x-amz-json-1.1"})
    SigV4Auth(key(), "gamelift", "us-east-1").add_auth(req)
    _local.conn.request("POST", "/", data, dict(req.headers.items()))
    r = _local.conn.getresponse()
    out = json.loads(r.read() or b"{}")
    if r.status != 200:
        raise RuntimeError("%s: %d %s" % (operation, r.status, out))
    return out


def free_ports(first, n):
    """The first run of n free TCP ports from `first`."""
    port = first
    while True:
        ok = True
        for p in range(port, port + n):
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                ok = False
            finally:
                s.close()
            if not ok:
                port = p + 1
                break
        if ok:
            return port


def idle_processes():
    return int(psql("SELECT count(*) FROM fleet.processes WHERE fleet_id = :'p1' "
                    "AND status = 'ACTIVE' AND game_session_id IS NULL", FLEET)[0])


def percentiles(values):
    v = sorted(values)
    pick = lambda q: round(v[min(len(v) - 1, int(q * len(v)))], 3) if v else None
    return pick(0.5), pick(0.99)


def bench_create(pool):
    """CREATE_SESSIONS game sessions at once on idle processes; seconds from
    creation to ACTIVE, from the database's clock."""
    t0 = time.time()
    name = "bench-%d" % t0
    made = list(pool.map(lambda i: call("CreateGameSession", {
        "FleetId": FLEET, "Location": LOCATIONS[i % 2], "MaximumPlayerSessionCount": 10,
        "Name": name})["GameSession"]["GameSessionId"], range(CREATE_SESSIONS)))
    active = lambda: int(psql("SELECT count(*) FROM fleet.game_sessions WHERE fleet_id = :'p1' "
                              "AND status = 'ACTIVE' AND name = :'p2'", FLEET, name)[0])
    wait_until(lambda: active() == len(made), 30)
    waits = [float(x) for x in psql(
        "SELECT extract(epoch FROM activated_at - created_at) FROM fleet.game_sessions "
        "WHERE fleet_id = :'p1' AND name = :'p2' AND activated_at IS NOT NULL", FLEET, name)]
    p50, p99 = percentiles(waits)
    for gs in made:
        call("TerminateGameSession", {"GameSessionId": gs, "TerminationMode": "FORCE_TERMINATE"})
    return {"game_sessions": CREATE_SESSIONS, "activated": len(waits), "p50_seconds": p50,
            "p99_seconds": p99, "wall_seconds": round(time.time() - t0, 2)}


def placement_body(i, run):
    near = LOCATIONS[i % 2]
    lat = []
    for p in ("a", "b"):
        for loc in LOCATIONS:
            ms = random.randint(15, 40) if loc == near else random.randint(90, 140)
            lat.append({"PlayerId": "%s-%d" % (p, i), "RegionIdentifier": loc, "LatencyInMilliseconds": ms})
    return {"PlacementId": "bench-%s-%d" % (run, i), "GameSessionQueueName": QUEUE,
            "MaximumPlayerSessionCount": 10, "PlayerLatencies": lat,
            "DesiredPlayerSessions": [{"PlayerId": "a-%d" % i}, {"PlayerId": "b-%d" % i}]}


def bench_placement(pool, n):
    run = "%d" % time.time()
    fulfilled = lambda: int(psql("SELECT count(*) FROM fleet.placements WHERE queue_name = :'p1' "
                                 "AND placement_id LIKE :'p2' AND status = 'FULFILLED'",
                                 QUEUE, "bench-%s-%%" % run)[0])
    t0 = time.time()
    list(pool.map(lambda i: call("StartGameSessionPlacement", placement_body(i, run)), range(n)))
    calls = time.time() - t0
    wait_until(lambda: fulfilled() == n, 60, interval=0.05)
    wall = time.time() - t0
    rows = [r.split("|") for r in psql(
        "SELECT extract(epoch FROM end_time - start_time), location, "
        "(location = CASE WHEN split_part(placement_id, '-', 3)::integer % 2 = 0 "
        "THEN 'us-east-1' ELSE 'eu-west-1' END) FROM fleet.placements "
        "WHERE placement_id LIKE :'p1' AND status = 'FULFILLED'", "bench-%s-%%" % run)]
    p50, p99 = percentiles([float(r[0]) for r in rows])
    return {"placements": n, "fulfilled": len(rows), "calls_seconds": round(calls, 2),
            "wall_seconds": round(wall, 2), "p50_seconds": p50, "p99_seconds": p99,
            "in_lowest_latency_location": sum(1 for r in rows if r[2] == "t"),
            "by_location": {loc: sum(1 for r in rows if r[1] == loc) for loc in LOCATIONS},
            "target_seconds": 10, "meets_target": len(rows) == n and wall < 10}


def main():
    n, first_port, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    servers = max(n, CREATE_SESSIONS)
    rally.load_config(
        fleets={FLEET: {"FleetId": FLEET, "Locations": [{"Location": loc} for loc in LOCATIONS]}},
        queues={QUEUE: {"Name": QUEUE, "TimeoutInSeconds": 60,
                        "Destinations": [{"DestinationArn": "arn:aws:gamelift:local:000000000000:fleet/" + FLEET}],
                        "PlayerLatencyPolicies": [{"MaximumIndividualPlayerLatencyMilliseconds": 100}]}})
    with open(os.path.join(RUN, "fleets", FLEET + ".secret"), "w") as f:
        f.write("bench-gs-secret-0123456789abcdef\n")
    procs = players.start_gameservers(servers, free_ports(first_port, servers), heartbeat_ms=1000,
                                      fleet=FLEET, idle_seconds=3600)
    figures = {}
    try:
        if not wait_until(lambda: idle_processes() >= servers, 120, interval=0.5):
            sys.exit("bench-placement: %d of %d game servers registered" % (idle_processes(), servers))
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            figures["create"] = bench_create(pool)
            wait_until(lambda: idle_processes() >= servers, 60, interval=0.5)
            figures["placement"] = bench_placement(pool, n)
    finally:
        players.stop_gameservers(procs)
        os.remove(os.path.join(RUN, "fleets", FLEET + ".secret"))
    with open(out, "w") as f:
        json.dump(figures, f)
    c, p = figures["create"], figures["placement"]
    print("CreateGameSession to ACTIVE: p50 %s s, p99 %s s (%d game sessions on idle processes); "
          "%d/%d placements FULFILLED in %s s (calls %s s; each p50 %s s, p99 %s s), target < 10 s: %s"
          % (c["p50_seconds"], c["p99_seconds"], c["game_sessions"], p["fulfilled"], p["placements"],
             p["wall_seconds"], p["calls_seconds"], p["p50_seconds"], p["p99_seconds"], p["meets_target"]))
    return 0 if p["meets_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
