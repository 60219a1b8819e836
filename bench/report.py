#!/usr/bin/env python3
"""Turns the figures of one scripts/bench.sh run into a table and a JSON file.

    report.py WORK_DIR CONFIG_JSON OUT_JSON

WORK_DIR holds one NAME.json per route (bench/rally.lua's done() line, plus
the 429s nginx logged during the run); CONFIG_JSON describes the run. Exit
status: 0, 3 when a route had too many errors to be a figure, 4 when a target
was missed and config.strict is set.
"""
import json
import os
import sys
import time

# (key, label, route, targets): a target is (source, minimum ratio to hello-world).
ROUTES = [
    ("hello", "hello-world", "GET /bench/hello", []),
    ("guest_login", "guest login", "POST /v1/identity/guest",
     [("issue", 0.25), ("DESIGN §9", 0.10), ("issue 16", 0.20)]),
    ("returning_login", "returning login", "POST /v1/identity/guest {user_id, guest_secret}",
     [("issue 16", 0.35)]),
    ("request_matchmaking", "request-matchmaking", "POST /v1/matchmaking",
     [("issue", 0.30), ("issue 16", 0.20)]),
    ("poll_ticket", "poll-ticket", "GET /v1/matchmaking/{id}", [("issue", 0.50), ("issue 16", 0.60)]),
    ("describe_game_sessions", "DescribeGameSessions", "POST / GameLift.DescribeGameSessions, 100 a page",
     [("issue", 0.30)]),
    ("create_player_session", "CreatePlayerSession", "POST / GameLift.CreatePlayerSession", []),
]
# The target whose miss counts as a miss: issue 16's, the latest, where a
# route has one.
BINDING = {"guest_login": "issue 16", "returning_login": "issue 16",
           "request_matchmaking": "issue 16", "poll_ticket": "issue 16"}


def main():
    work, config_path, out = sys.argv[1:4]
    config = json.load(open(config_path))
    max_err = config["max_error_rate"]
    res = {}
    for key, label, route, targets in ROUTES:
        r = json.load(open(os.path.join(work, key + ".json")))
        r["route"] = route
        r["errors"] = r["non2xx"] + r["socket_errors"] + r["timeouts"]
        r["error_rate"] = r["errors"] / r["requests"] if r["requests"] else 1.0
        # Only answered requests count: an error is not throughput.
        r["ok_rps"] = r["rps"] * (1 - r["error_rate"]) if r["requests"] else 0.0
        r["valid"] = r["requests"] > 0 and r["error_rate"] <= max_err
        res[key] = r
    base = res["hello"]["ok_rps"]
    invalid, missed = [], []
    for key, label, route, targets in ROUTES:
        r = res[key]
        r["ratio"] = r["ok_rps"] / base if base else 0.0
        r["targets"] = [{"source": s, "min": t, "pass": r["ratio"] >= t} for s, t in targets]
        if not r["valid"]:
            invalid.append(label)
        binding = BINDING.get(key, "issue")
        if any(t["source"] == binding and not t["pass"] for t in r["targets"]):
            missed.append(label)

    # One signature check on one core (rally-sigv4-bench); target under 5 µs.
    sigv4 = json.load(open(os.path.join(work, "sigv4.json")))
    sigv4["target_us"] = 5.0
    sigv4["pass"] = sigv4["us_per_check"] < 5.0
    doc = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "config": config,
        "routes": res,
        "sigv4": sigv4,
        "valid": not invalid,
        "missed": missed,
    }
    with open(out, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")

    c = config
    print()
    if c["pg_fast"]:
        print("*** RALLY_PG_FAST=1: PostgreSQL runs with fsync, synchronous_commit and "
              "full_page_writes OFF. Not rally's settings: do not quote these figures. ***")
    print(f"rally bench: wrk -t{c['wrk']['threads']} -c{c['wrk']['connections']} "
          f"-d{c['wrk']['duration_s']}s after a {c['wrk']['warmup_s']}s warm-up; {c['cores']} cores; "
          f"RALLY_WORKERS={c['rally_workers']}; nginx workers {c['nginx_workers']}; "
          f"{c['cores_busy_before']} cores busy before")
    head = (f"{'route':<21}{'req/s':>8}{'p50 ms':>8}{'p90 ms':>8}{'p99 ms':>8}"
            f"{'errors':>8}{'ratio':>7}  target")
    print(head)
    print("-" * 100)
    for key, label, route, targets in ROUTES:
        r = res[key]
        if key == "hello":
            tgt = "baseline"
        else:
            tgt = ", ".join(f"{'PASS' if t['pass'] else 'MISS'} >= {t['min']:.2f} ({t['source']})"
                            for t in r["targets"])
        if not r["valid"]:
            tgt = f"INVALID ({r['error_rate']:.1%} errors); {tgt}"
        if r.get("threads_out_of_tokens"):
            tgt += f"; stopped at {r['duration_s']:.1f}s: out of tokens"
        print(f"{label:<21}{r['ok_rps']:>8.0f}{r['p50_ms']:>8.2f}{r['p90_ms']:>8.2f}"
              f"{r['p99_ms']:>8.2f}{r['errors']:>8}{r['ratio']:>7.3f}  {tgt}")
    print(f"SigV4 check: {sigv4['us_per_check']:.2f} µs on one core "
          f"({'PASS' if sigv4['pass'] else 'MISS'} < 5 µs (issue))")
    print()
    print("req/s counts answered (2xx) requests only; errors are responses >= 400, "
          "socket errors and timeouts.")
    limited = {label: res[key]["rate_limited"] for key, label, *_ in ROUTES
               if res[key].get("rate_limited")}
    if limited:
        print("note: nginx answered 429 to " +
              ", ".join(f"{n} {label}" for label, n in limited.items()) +
              " requests although RALLY_RATE_LIMIT=off: its limit_req (burst 20 per client "
              "address) still rejects more than 21 requests arriving in the same millisecond.")
    if c["cores_busy_before"] > 0.2:
        print(f"note: {c['cores_busy_before']} cores were busy before the run: other work "
              "shared the CPU, so every figure is low (ratios suffer less).")
    print(f"results: {out}")
    if invalid:
        print(f"bench: INVALID: more than {max_err:.0%} errors on {', '.join(invalid)}; "
              f"see {work}/wrk-*.txt and {work}/stack/logs", file=sys.stderr)
        return 3
    if missed and c.get("strict"):
        print(f"bench: targets missed: {', '.join(missed)}", file=sys.stderr)
        return 4
    return 0


if __name__ == "__main__":
    sys.exit(main())
