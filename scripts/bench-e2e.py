#!/usr/bin/env python3
"""End-to-end bench (make bench): N simulated players from guest login to a
seat on a sample game server, against a running stack (its env file sourced:
RALLY_HTTP_PORT, RALLY_BIN, RALLY_RUN_DIR, PG*).

Each player logs in as a guest, starts a TeamDeathmatch (5v5) ticket, waits
until it is COMPLETED, connects to the game server it was placed on and is
admitted with its PlayerSessionId. WAIT says how a player waits: "push" (the
default) as rally's client SDK does, by the ticket's EventSource with a read
every 15 s as a safety net; "poll", a read of the ticket every second (with
jitter), as the issue-3 bench did. SERVERS sample game servers of
fleet-local (half per location) host the matches, run by a rally-agent in
each location (fleet-local's capacity fixed at SERVERS/2 a location for
the run): each ends its process when its ten players came and left, and
the agent launches another.

The players are tests/integration/players.py's, as in the end-to-end test:
one asyncio loop over kept-alive HTTP/1.1 connections, so the simulation
costs the machine little next to what it measures.

    bench-e2e.py PLAYERS SERVERS FIRST_PORT OUT.json [push|poll]

Prints one line of figures; writes them to OUT.json."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))

import agents  # noqa: E402
import players  # noqa: E402
import rally  # noqa: E402
from rally import psql, wait_until  # noqa: E402


def main():
    n, servers, first_port, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    mode = sys.argv[5] if len(sys.argv) > 5 else "push"
    if mode not in ("push", "poll"):
        sys.exit("bench-e2e: WAIT is push or poll")
    procs = agents.start_agents("fleet-local", servers // 2, first_port,
                                "--heartbeat-ms 200 --idle-seconds 20")
    try:
        ready = lambda: int(psql("SELECT count(*) FROM fleet.processes WHERE fleet_id = 'fleet-local' "
                                 "AND status = 'ACTIVE'")[0]) >= servers
        if not wait_until(ready, 30):
            sys.exit("bench-e2e: the game servers did not register")
        cpu0 = os.times()
        results, wall = players.simulate(n, "TeamDeathmatch", timeout=120, wait=mode, poll=1.0)
        cpu1 = os.times()
    finally:
        agents.stop_agents(procs)
        rally.load_config()
    ok = sorted(r["seconds"] for r in results if r["ok"])
    failed = [r for r in results if not r["ok"]]
    pct = lambda q: round(ok[min(len(ok) - 1, int(q * len(ok)))], 2) if ok else None
    figures = {"players": n, "servers": servers, "wait": mode, "seated": len(ok), "failed": len(failed),
               "wall_seconds": round(wall, 2), "player_p50_seconds": pct(0.5),
               "player_p99_seconds": pct(0.99),
               "matches_per_second": round(len(ok) / 10 / wall, 1) if wall > 0 else None,
               "client_cpu_seconds": round((cpu1.user - cpu0.user) + (cpu1.system - cpu0.system), 1),
               "first_failures": [f["why"][:200] for f in failed[:3]]}
    with open(out, "w") as f:
        json.dump(figures, f)
    print("e2e (%(wait)s): %(seated)d/%(players)d players seated in %(wall_seconds)s s "
          "(per player p50 %(player_p50_seconds)s s, p99 %(player_p99_seconds)s s; "
          "%(matches_per_second)s matches/s; %(servers)d game servers; "
          "simulated clients used %(client_cpu_seconds)s s of CPU)" % figures)
    if failed:
        print("e2e: failures, e.g. %s" % figures["first_failures"], file=sys.stderr)
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
