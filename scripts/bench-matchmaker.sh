#!/usr/bin/env bash
# The FlexMatch engine alone (tools/rally-mm-bench) on 10,000 and 100,000
# queued tickets of config/rulesets/FiveVsFive.json (5v5, skill + latency):
# time until every ticket that can match has, matches per second, memory,
# and how the time grows from 10k to 100k. Target: 100k in under 5 s.
#   BUILD=build scripts/bench-matchmaker.sh      (part of `make bench`)
# BENCH_MM_SIZES overrides the pool sizes ("10000 100000").
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
BIN=$TOP/$BUILD/bin/rally-mm-bench
RULES=$TOP/config/rulesets/FiveVsFive.json
OUT=$TOP/$BUILD/bench-matchmaker.json
[ -x "$BIN" ] || { echo "bench: $BIN is missing: run make first" >&2; exit 1; }

results=()
for n in ${BENCH_MM_SIZES:-10000 100000}; do
    echo "bench: matchmaker on $n tickets" >&2
    results+=("$("$BIN" "$RULES" "$n")")
done
printf '%s\n' "${results[@]}" | python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin if l.strip()]
print()
print("rally matchmaker bench: %s, one core, engine only (no database)" % sys.argv[1])
print("%-10s %9s %8s %9s %12s %8s  %s" % ("tickets", "matched", "matches", "seconds", "matches/s", "MiB", "target"))
print("-" * 80)
for r in rows:
    target = ""
    if r["tickets"] == 100000:
        target = ("OK" if r["seconds"] < 5 else "MISS") + " < 5 s"
    print("%-10d %9d %8d %9.2f %12.0f %8.1f  %s" % (r["tickets"], r["matched"], r["matches"],
          r["seconds"], r["matches_per_second"], r["maxrss_kb"] / 1024, target))
if len(rows) >= 2:
    a, b = rows[0], rows[-1]
    print("growth: %.1fx the tickets took %.1fx the time" % (b["tickets"] / a["tickets"], b["seconds"] / max(a["seconds"], 1e-9)))
json.dump(rows, open(sys.argv[2], "w"), indent=1)
' "config/rulesets/FiveVsFive.json" "$OUT"
echo "bench: results in $OUT" >&2
