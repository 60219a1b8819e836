#!/usr/bin/env python3
"""End-to-end bench (make bench): N simulated players from guest login to a
seat on a sample game server, against a running stack (its env file sourced:
RALLY_HTTP_PORT, RALLY_BIN, RALLY_RUN_DIR, PG*).

Each player logs in as a guest, starts a TeamDeathmatch (5v5) ticket, polls
it every second (with jitter) until COMPLETED, connects to the game server it
was placed on and is admitted with its PlayerSessionId. SERVERS sample game
servers of fleet-local (half per location) host the matches, each ending its
process when its ten players came and left, and registering again.

The players run on one asyncio loop over kept-alive HTTP/1.1 connections
(tests/integration/aclient.py), so the simulation costs the machine little
next to what it measures.

    bench-e2e.py PLAYERS SERVERS FIRST_PORT OUT.json

Prints one line of figures; writes them to OUT.json."""

import asyncio
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))

import players  # noqa: E402
from aclient import Http, raise_fd_limit  # noqa: E402
from rally import psql, wait_until  # noqa: E402

TERMINAL = ("COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT")


async def player(i, configuration, timeout, poll):
    t0 = time.time()
    out = {"ok": False, "status": None, "why": "", "seconds": 0.0}
    http = Http()
    try:
        status, g = await http.request("POST", "/v1/identity/guest", {})
        if status != 200:
            out["why"] = "login: %s %s" % (status, g)
            return out
        status, view = await http.request("POST", "/v1/matchmaking",
                                          {"latencyInMs": players.latency_for(i),
                                           "configuration": configuration},
                                          token=g["auth_token"])
        if status not in (200, 201):
            out["why"] = "StartMatchmaking: %s %s" % (status, view)
            return out
        tid = view["TicketId"]
        while view.get("Status") not in TERMINAL and time.time() - t0 < timeout:
            await asyncio.sleep(poll * (0.75 + random.random() / 2))
            status, js = await http.request("GET", "/v1/matchmaking/" + tid, token=g["auth_token"])
            if status == 200:
                view = js
        out["status"] = view.get("Status")
        if out["status"] != "COMPLETED":
            out["why"] = "ticket %s ended %s" % (tid, out["status"])
            return out
        info = view["GameSessionConnectionInfo"]
        seat = [m["PlayerSessionId"] for m in info["MatchedPlayerSessions"]
                if m["PlayerId"] == g["user_id"]][0]
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(info["IpAddress"], info["Port"]), 10)
        writer.write((seat + "\n").encode())
        answer = (await asyncio.wait_for(reader.readline(), 10)).decode().strip()
        writer.close()
        out["ok"] = answer == "OK " + g["user_id"]
        out["why"] = "" if out["ok"] else "game server said %r" % answer
    except Exception as e:  # a player's failure is a result, not a crash
        out["why"] = "%s: %s" % (type(e).__name__, e)
    finally:
        http.close()
        out["seconds"] = time.time() - t0
    return out


async def simulate(n, configuration, timeout, poll):
    t0 = time.time()
    results = await asyncio.gather(*(player(i, configuration, timeout, poll) for i in range(n)))
    return results, time.time() - t0


def main():
    n, servers, first_port, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    raise_fd_limit()
    procs = players.start_gameservers(servers, first_port, heartbeat_ms=200)
    try:
        ready = lambda: int(psql("SELECT count(*) FROM fleet.processes WHERE fleet_id = 'fleet-local' "
                                 "AND status = 'ACTIVE'")[0]) >= servers
        if not wait_until(ready, 30):
            sys.exit("bench-e2e: the game servers did not register")
        cpu0 = os.times()
        results, wall = asyncio.run(simulate(n, "TeamDeathmatch", 120, 1.0))
        cpu1 = os.times()
    finally:
        players.stop_gameservers(procs)
    ok = sorted(r["seconds"] for r in results if r["ok"])
    failed = [r for r in results if not r["ok"]]
    pct = lambda q: round(ok[min(len(ok) - 1, int(q * len(ok)))], 2) if ok else None
    figures = {"players": n, "servers": servers, "seated": len(ok), "failed": len(failed),
               "wall_seconds": round(wall, 2), "player_p50_seconds": pct(0.5),
               "player_p99_seconds": pct(0.99),
               "matches_per_second": round(len(ok) / 10 / wall, 1) if wall > 0 else None,
               "client_cpu_seconds": round((cpu1.user - cpu0.user) + (cpu1.system - cpu0.system), 1),
               "first_failures": [f["why"][:200] for f in failed[:3]]}
    with open(out, "w") as f:
        json.dump(figures, f)
    print("e2e: %(seated)d/%(players)d players seated in %(wall_seconds)s s "
          "(per player p50 %(player_p50_seconds)s s, p99 %(player_p99_seconds)s s; "
          "%(matches_per_second)s matches/s; %(servers)d game servers; "
          "simulated clients used %(client_cpu_seconds)s s of CPU)" % figures)
    if failed:
        print("e2e: failures, e.g. %s" % figures["first_failures"], file=sys.stderr)
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
