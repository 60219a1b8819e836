#!/usr/bin/python3
"""What metrics cost (make bench 5h; issue 15's targets), against a running
stack (its env file sourced).

    bench-metrics.py POLL-TICKETS SECONDS OUT.json

1. poll-ticket with metrics on and off: the function started again with
   RALLY_METRICS=on or off between rounds, and measured as bench.sh measures
   it (wrk, bench/rally.lua's poll mode on POLL-TICKETS, after a warm-up), in
   BENCH_METRICS_PAIRS (3) pairs of rounds on, off, with the matchmaker
   paused. The ratio of the best of each (target >= 0.97).
2. Scrapes with 10,000 game sessions and 100,000 tickets: tickets of ended
   statuses added until there are 100,000 (removed afterwards), then every
   target of the stack's Prometheus fetched 5 times with the scrape token:
   each target's median and worst, and Prometheus's own last scrape
   duration of each (target: every scrape under 100 ms).

Prints one line of figures; writes them to OUT.json."""

import json
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))

from rally import BIN, RUN, TOP, psql, request, wait_until  # noqa: E402

THREADS = os.environ.get("BENCH_THREADS", "2")
CONNS = os.environ.get("BENCH_CONNECTIONS", "32")
PROMETHEUS = os.environ.get("RALLY_PROMETHEUS_URL")
TICKETS = int(os.environ.get("BENCH_METRICS_TICKETS", "100000"))
PAIRS = int(os.environ.get("BENCH_METRICS_PAIRS", "3"))


def pid(name):
    try:
        with open(os.path.join(RUN, "pids", name + ".pid")) as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


def stop(p):
    if p is None:
        return
    try:
        os.kill(p, signal.SIGTERM)
    except ProcessLookupError:
        return
    wait_until(lambda: not os.path.exists("/proc/%d" % p) or
               open("/proc/%d/stat" % p).read().split(") ")[1][0] == "Z", 20)


def restart_poll_ticket(metrics):
    """poll-ticket again under its supervisor, with RALLY_METRICS=metrics."""
    stop(pid("poll-ticket.supervisor"))
    stop(pid("poll-ticket"))
    try:
        os.remove(os.path.join(RUN, "pids", "poll-ticket.pid"))
    except FileNotFoundError:
        pass  # its supervisor removed it
    log = open(os.path.join(RUN, "logs", "poll-ticket.log"), "a")
    sup = subprocess.Popen(
        ["setsid", os.path.join(BIN, "rally-supervise"), "poll-ticket-supervisor",
         os.path.join(RUN, "pids", "poll-ticket.pid"), os.path.join(BIN, "poll-ticket")],
        env=dict(os.environ, RALLY_METRICS=metrics), stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    log.close()
    with open(os.path.join(RUN, "pids", "poll-ticket.supervisor.pid"), "w") as f:
        f.write(str(sup.pid))
    # Up when it answers (an unknown ticket: 401 without a token).
    assert wait_until(lambda: pid("poll-ticket") is not None and
                      request("GET", "/v1/matchmaking/bench-nonesuch").status == 401, 20), \
        "poll-ticket did not come back"


def wrk(tickets, seconds):
    lua = os.path.join(TOP, "bench", "rally.lua")
    url = os.environ["RALLY_URL"]
    subprocess.run(["wrk", "-t" + THREADS, "-c" + CONNS, "-d1s", "-s", lua, url, "--", "poll", THREADS,
                    tickets], check=True, capture_output=True)
    out = subprocess.run(["wrk", "-t" + THREADS, "-c" + CONNS, "-d%ss" % seconds, "-s", lua, url, "--",
                          "poll", THREADS, tickets], check=True, capture_output=True, text=True).stdout
    line = [x for x in out.splitlines() if x.startswith("BENCH-JSON ")][-1]
    figures = json.loads(line.split(" ", 1)[1])
    assert figures.get("errors", 0) <= figures["requests"] * 0.01, figures
    return figures["rps"]


def on_off(tickets, seconds):
    """Alternating rounds, the matchmaker paused as bench.sh pauses it for
    the routes (poll-ticket does not involve it, and its ticks would share
    the cores with the rounds)."""
    rounds = []
    mm = pid("matchmaker")
    if mm:
        os.kill(mm, signal.SIGSTOP)
    try:
        for metrics in ("on", "off") * PAIRS:
            restart_poll_ticket(metrics)
            rounds.append((metrics, wrk(tickets, seconds)))
        restart_poll_ticket("on")
    finally:
        if mm:
            os.kill(mm, signal.SIGCONT)
    best = {m: max(r for mm, r in rounds if mm == m) for m in ("on", "off")}
    return {"rounds": [{"metrics": m, "rps": r} for m, r in rounds],
            "best_on_rps": best["on"], "best_off_rps": best["off"],
            "ratio": round(best["on"] / best["off"], 3), "target_ratio": 0.97,
            "meets_target": best["on"] / best["off"] >= 0.97}


def scrape_token():
    with open(os.path.join(RUN, "secrets", "metrics-token")) as f:
        return f.read().strip()


def targets():
    with urllib.request.urlopen(PROMETHEUS + "/api/v1/targets", timeout=10) as r:
        return json.load(r)["data"]["activeTargets"]


def timed_scrape(url, auth):
    req = urllib.request.Request(url, headers={"Authorization": auth})
    t0 = time.monotonic()
    with urllib.request.urlopen(req, timeout=10) as r:
        body = r.read()
    return (time.monotonic() - t0) * 1000, len(body)


def scrapes():
    have = int(psql("SELECT count(*) FROM matchmaking.tickets")[0])
    add = max(0, TICKETS - have)
    psql("INSERT INTO matchmaking.tickets (ticket_id, configuration_name, status, players) "
         "SELECT 'bench-metrics-' || g, 'SampleFlexMatchConfiguration', "
         "(ARRAY['COMPLETED', 'CANCELLED', 'TIMED_OUT', 'FAILED'])[1 + g %% 4], '[]' "
         "FROM generate_series(1, %d) g" % add)
    psql("ANALYZE matchmaking.tickets")
    try:
        counts = {"tickets": int(psql("SELECT count(*) FROM matchmaking.tickets")[0]),
                  "game_sessions": int(psql("SELECT count(*) FROM fleet.game_sessions")[0]),
                  "player_sessions": int(psql("SELECT count(*) FROM fleet.player_sessions")[0])}
        token = scrape_token()
        import base64
        basic = "Basic " + base64.b64encode(("prometheus:" + token).encode()).decode()
        per = {}
        for t in targets():
            auth = basic if t["labels"]["job"] == "postgres" else "Bearer " + token
            try:
                times = [timed_scrape(t["scrapeUrl"], auth) for _ in range(5)]
            except OSError as e:  # urllib's HTTPError too: a target down is said, not fatal
                per[t["labels"]["service"]] = {"error": str(e), "median_ms": 0, "worst_ms": 1e9, "bytes": 0}
                continue
            per[t["labels"]["service"]] = {"median_ms": round(statistics.median(x for x, _ in times), 1),
                                           "worst_ms": round(max(x for x, _ in times), 1),
                                           "bytes": times[-1][1]}
        time.sleep(11)  # two of Prometheus's own scrapes with the data in
        prom = {t["labels"]["service"]: round(t["lastScrapeDuration"] * 1000, 1) for t in targets()}
    finally:
        psql("DELETE FROM matchmaking.tickets WHERE ticket_id LIKE 'bench-metrics-%'")
    worst = max(v["worst_ms"] for v in per.values())
    return {"data": counts, "targets": per, "prometheus_last_scrape_ms": prom,
            "worst_ms": worst, "slowest": max(per, key=lambda k: per[k]["worst_ms"]),
            "target_ms": 100, "meets_target": worst < 100 and max(prom.values()) < 100}


def main():
    tickets, seconds, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    result = {"poll_ticket_metrics": on_off(tickets, seconds)}
    if PROMETHEUS:
        result["scrapes"] = scrapes()
    with open(out, "w") as f:
        json.dump(result, f, indent=2)
    p = result["poll_ticket_metrics"]
    line = "metrics: poll-ticket on/off %.3f (%.0f vs %.0f req/s)" % (p["ratio"], p["best_on_rps"],
                                                                      p["best_off_rps"])
    if "scrapes" in result:
        s = result["scrapes"]
        line += "; scrapes with %(tickets)d tickets, %(game_sessions)d game sessions: " % s["data"]
        line += "worst %.1f ms (%s)" % (s["worst_ms"], s["slowest"])
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
