#!/usr/bin/env python3
"""Push bench (make bench): SUBSCRIBERS players wait for their match by
EventSource at once, held by nginx, while the matchmaker pairs them
(tests/integration/pushload.py). Reports the delay from the transaction that
applied a ticket's MatchmakingSucceeded to the subscriber reading it (median,
p99), the mean wait from the matchmaker's resumption, and what the same
players would cost polling every 1.5 s.

    bench-push.py SUBSCRIBERS OUT.json      (against a running stack, env sourced)
"""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))

import pushload  # noqa: E402
import rally  # noqa: E402


def main():
    n, out = int(sys.argv[1]), sys.argv[2]
    rally.load_config(rulesets={"PushPairsRules": pushload.PAIRS_RULES},
                      configurations={"PushPairs": pushload.pairs_configuration(rally.TOPIC)})
    f = pushload.run(n, rally.TOPIC)
    # The burst waits on matching, not on delivery (issue 10): every
    # subscriber told, the functions free while all are held, and a mean
    # wait under 5 s. The delay is from the start of the transaction that
    # applied the event, so it includes the rest of that tick.
    f["target_mean_wait_seconds"] = 5
    f["meets_target"] = (f["completed_pushed"] == n and f["refused"] == 0
                         and f["function_answered_while_held"] == 200
                         and f["mean_wait_seconds"] is not None and f["mean_wait_seconds"] < 5)
    with open(out, "w") as fh:
        json.dump(f, fh)
    print("push: %(completed_pushed)d/%(subscribers)d subscribers told COMPLETED, mean wait "
          "%(mean_wait_seconds)s s (target < 5 s: %(meets_target)s); delay from the applying transaction's "
          "start p50 %(delay_p50_ms)s ms, p99 %(delay_p99_ms)s ms; "
          "functions answered while all were held: HTTP %(function_answered_while_held)s; "
          "polling every 1.5 s would cost %(polling_rps_for_same_players)s req/s for the same players, "
          "push cost %(push_requests_total)d requests in all" % f)
    return 0 if f["meets_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
