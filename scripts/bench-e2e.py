#!/usr/bin/env python3
"""End-to-end bench (make bench): N simulated players from guest login to a
seat on a sample game server, against a running stack (its env file sourced:
RALLY_HTTP_PORT, RALLY_BIN, RALLY_RUN_DIR, PG*).

Each player logs in as a guest, starts a TeamDeathmatch (5v5) ticket, polls
it every second (with jitter) until COMPLETED, connects to the game server it
was placed on and is admitted with its PlayerSessionId. SERVERS sample game
servers of fleet-local (half per location) host the matches, each ending its
process when its ten players came and left, and registering again.

    bench-e2e.py PLAYERS SERVERS FIRST_PORT OUT.json

Prints one line of figures; writes them to OUT.json."""

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))

import players  # noqa: E402
from rally import psql, wait_until  # noqa: E402


def main():
    n, servers, first_port, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    procs = players.start_gameservers(servers, first_port, heartbeat_ms=200)
    try:
        ready = lambda: int(psql("SELECT count(*) FROM fleet.processes WHERE fleet_id = 'fleet-local' "
                                 "AND status = 'ACTIVE'")[0]) >= servers
        if not wait_until(ready, 30):
            sys.exit("bench-e2e: the game servers did not register")
        results, wall = players.simulate(n, "TeamDeathmatch", timeout=120, poll=1.0)
    finally:
        players.stop_gameservers(procs)
    ok = sorted(r["seconds"] for r in results if r["ok"])
    failed = [r for r in results if not r["ok"]]
    pct = lambda q: ok[min(len(ok) - 1, int(q * len(ok)))] if ok else None
    figures = {"players": n, "servers": servers, "seated": len(ok), "failed": len(failed),
               "wall_seconds": round(wall, 2), "player_p50_seconds": pct(0.5) and round(pct(0.5), 2),
               "player_p99_seconds": pct(0.99) and round(pct(0.99), 2),
               "matches_per_second": round(len(ok) / 10 / wall, 1) if wall > 0 else None,
               "first_failures": [f["why"][:200] for f in failed[:3]],
               "failures_by_status": {}}
    for f in failed:
        key = str(f["status"])
        figures["failures_by_status"][key] = figures["failures_by_status"].get(key, 0) + 1
    with open(out, "w") as f:
        json.dump(figures, f)
    print("e2e: %(seated)d/%(players)d players seated in %(wall_seconds)s s "
          "(per player p50 %(player_p50_seconds)s s, p99 %(player_p99_seconds)s s; "
          "%(matches_per_second)s matches/s; %(servers)d game servers)" % figures)
    if failed:
        print("e2e: failures, e.g. %s" % figures["first_failures"], file=sys.stderr)
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
