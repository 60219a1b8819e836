#!/usr/bin/python3
"""Realtime relay bench (make bench; issue 14's targets), against a running
stack (its env file sourced).

    bench-relay.py SECONDS OUT.json

1. Fast messages: sessions of 32 players, each sending 30 fast messages a
   second to all, at 1, 2, 4, 8 and 16 sessions (BENCH_RELAY_LEVELS); each
   level through rally-relay and through the baseline, a minimal C UDP
   fan-out (recvmmsg/sendmmsg, `rally-rt-bench fanout`) with the same load
   generator. Deliveries per second at the highest level each reaches, as a
   ratio (target 0.5); the relay's p99 one-way delay at the level nearest
   half its best (target under 2 ms).
2. The TCP path: 8 sessions of 32 players sending reliable messages to all
   over the WebSocket (target 100,000 deliveries a second).
3. Connected players: BENCH_RELAY_HOLD (5000) players logged in to one relay
   process (160 game sessions), holding, then every session's first player
   heard by all the others; the relay's memory (target 5,000).

Players log in with librally's realtime client (tools/rally-rt-bench.c);
rally validates every one. Prints one line of figures; writes them to
OUT.json."""

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))

from rally import BIN, RUN, wait_until  # noqa: E402
from test_gamelift import client, raw  # noqa: E402
from test_relay import RelayFleet  # noqa: E402

BENCH = os.path.join(BIN, "rally-rt-bench")
PER = 32


def seats(fleet, sessions, per=PER, last=None):
    """sessions game sessions of per seats (the last of `last`) on fleet: the
    seats file's path, and the game sessions."""
    gl = client()
    made = [gl.create_game_session(FleetId=fleet.fleet, MaximumPlayerSessionCount=per)["GameSession"]
            for _ in range(sessions)]

    def active():
        n, token = 0, None
        while True:
            kw = {"FleetId": fleet.fleet, "StatusFilter": "ACTIVE", "Limit": 100}
            if token:
                kw["NextToken"] = token
            page = gl.describe_game_sessions(**kw)
            n += len(page["GameSessions"])
            token = page.get("NextToken")
            if not token:
                return n >= len(made)
    assert wait_until(active, 60), "the relay's game sessions did not activate"
    path = os.path.join(RUN, "bench-seats-%d.txt" % time.monotonic_ns())
    with open(path, "w") as f:
        for n, g in enumerate(made):
            count = last if (last and n == len(made) - 1) else per
            players = ["bench-%d-%d-%d" % (n, i, time.monotonic_ns()) for i in range(count)]
            for i in range(0, count, 25):
                for ps in gl.create_player_sessions(GameSessionId=g["GameSessionId"],
                                                    PlayerIds=players[i:i + 25])["PlayerSessions"]:
                    f.write("%d %s %d %s\n" % (n, ps["IpAddress"], ps["Port"], ps["PlayerSessionId"]))
    return path, made


def end(fleet, made):
    for g in made:
        raw("TerminateGameSession", {"GameSessionId": g["GameSessionId"], "TerminationMode": "FORCE_TERMINATE"})
    wait_until(lambda: fleet.idle_slots() == fleet.sessions, 30)


def run(*args, timeout=300):
    r = subprocess.run([BENCH, *map(str, args)], capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError("rally-rt-bench %s: %s" % (args[0], r.stderr.strip()[-300:]))
    return json.loads(r.stdout)


def baseline(sessions, seconds):
    """The same load through a fresh fan-out server (its players are the
    run's alone)."""
    fanout = subprocess.Popen([BENCH, "fanout", "0"], stdout=subprocess.PIPE, text=True)
    try:
        port = int(fanout.stdout.readline())
        return run("udp", "127.0.0.1:%d" % port, sessions, PER, 30, seconds)
    finally:
        fanout.kill()
        fanout.wait()


def fast_messages(seconds):
    levels = [int(x) for x in os.environ.get("BENCH_RELAY_LEVELS", "1 2 4 8 16").split()]
    fleet = RelayFleet("fleet-bench-relay", max(levels),
                       "--player-rate 1000 --idle-seconds 600 --reconnect-seconds 1")
    rows = []
    try:
        for s in levels:
            base = baseline(s, seconds)
            path, made = seats(fleet, s)
            try:
                relay = run("udp", path, s, PER, 30, seconds)
            finally:
                os.remove(path)
                end(fleet, made)
            rows.append({"sessions": s, "expected": base["expected_per_second"],
                         "baseline": base["deliveries_per_second"], "relay": relay["deliveries_per_second"],
                         "baseline_p99_us": base["p99_us"], "relay_p50_us": relay["p50_us"],
                         "relay_p99_us": relay["p99_us"]})
            print("  %2d sessions: offered %7.0f/s, baseline %7.0f/s (p99 %5.0f us), relay %7.0f/s "
                  "(p50 %5.0f us, p99 %5.0f us)" % (s, base["expected_per_second"], base["deliveries_per_second"],
                                                    base["p99_us"], relay["deliveries_per_second"],
                                                    relay["p50_us"], relay["p99_us"]), file=sys.stderr)
    finally:
        fleet.stop()
    best_base = max(r["baseline"] for r in rows)
    best_relay = max(r["relay"] for r in rows)
    half = [r for r in rows if r["expected"] <= best_relay / 2] or rows[:1]
    at_half = half[-1]
    return {"levels": rows, "baseline_best_per_second": best_base, "relay_best_per_second": best_relay,
            "ratio": round(best_relay / best_base, 3), "ratio_target": 0.5,
            "half_load_sessions": at_half["sessions"], "half_load_p99_us": at_half["relay_p99_us"],
            "p99_target_us": 2000,
            "meets_target": best_relay / best_base >= 0.5 and at_half["relay_p99_us"] < 2000}


def tcp_path(seconds):
    fleet = RelayFleet("fleet-bench-relay-tcp", 8, "--player-rate 1000 --idle-seconds 600")
    try:
        path, made = seats(fleet, 8)
        try:
            r = run("tcp", path, 30, seconds)
        finally:
            os.remove(path)
            end(fleet, made)
    finally:
        fleet.stop()
    r["target"] = 100000
    r["meets_target"] = r["deliveries_per_second"] >= 100000
    return r


def relay_rss_kb(fleet):
    out = subprocess.run(["pgrep", "-f", "rally-relay --sessions %d" % fleet.sessions],
                         capture_output=True, text=True).stdout.split()
    for pid in out:
        try:
            with open("/proc/%s/status" % pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            pass
    return None


def hold(players):
    sessions = (players + PER - 1) // PER
    fleet = RelayFleet("fleet-bench-relay-hold", sessions, "--idle-seconds 600")
    try:
        rest = players - (sessions - 1) * PER
        path, made = seats(fleet, sessions, last=rest)
        try:
            started = time.monotonic()
            bench = subprocess.Popen([BENCH, "hold", path, "5"], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
            rss_peak = 0
            while bench.poll() is None:
                rss_peak = max(rss_peak, relay_rss_kb(fleet) or 0)
                time.sleep(0.5)
            out, err = bench.communicate()
            if bench.returncode != 0 and not out:
                raise RuntimeError("rally-rt-bench hold: %s" % err.strip()[-300:])
            r = json.loads(out)
            r["wall_seconds"] = round(time.monotonic() - started, 1)
        finally:
            os.remove(path)
            end(fleet, made)
    finally:
        fleet.stop()
    r["relay_rss_mb"] = round(rss_peak / 1024, 1)
    r["target"] = 5000
    r["meets_target"] = r["players"] >= 5000 and r["heard"] == r["expected"]
    return r


def main():
    seconds, out = float(sys.argv[1]), sys.argv[2]
    figures = {}
    parts = os.environ.get("BENCH_RELAY_PARTS", "fast tcp hold").split()
    for name, part in (("fast", lambda: fast_messages(seconds)), ("tcp", lambda: tcp_path(seconds)),
                       ("hold", lambda: hold(int(os.environ.get("BENCH_RELAY_HOLD", "5000"))))):
        if name not in parts:
            continue
        try:
            figures[name] = part()
        except Exception as e:  # one part failing still reports the others
            figures[name] = {"error": str(e)}
    with open(out, "w") as f:
        json.dump(figures, f, indent=2)
    print(json.dumps(figures))
    return 0 if all("error" not in v for v in figures.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
