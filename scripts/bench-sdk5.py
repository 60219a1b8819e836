#!/usr/bin/python3
"""SDK 5 gateway bench (make bench), against a running stack (its env file
sourced).

    bench-sdk5.py CONNECTIONS SECONDS OUT.json

CONNECTIONS game-server processes of a fleet of their own
(fleet-bench-sdk5) connect to rally-gateway through nginx as GameLift's
server SDK 5 does, say ProcessReady, and keep 8 HeartbeatServerProcess
each in flight (tools/rally-sdk5-bench.c): heartbeats answered per second
over SECONDS, after a second of warm-up. Issue 12's target: 20,000 on this
machine. Prints one line of figures; writes them to OUT.json."""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))

import rally  # noqa: E402
import sdk5  # noqa: E402
from rally import BIN, PORT, RUN, psql  # noqa: E402

FLEET = "fleet-bench-sdk5"
COMPUTE = "bench-sdk5-%d" % os.getpid()


def main():
    connections, seconds, out = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
    psql("INSERT INTO fleet.fleets (fleet_id, locations, activation_timeout_seconds, "
         "reservation_timeout_seconds, heartbeat_timeout_seconds, body) VALUES "
         "(:'p1', ARRAY['us-east-1'], 60, 60, 30, jsonb_build_object('FleetId', :'p1')) "
         "ON CONFLICT DO NOTHING", FLEET)
    secret = os.path.join(RUN, "fleets", FLEET + ".secret")
    with open(secret, "w") as f:
        f.write("bench-sdk5-secret-0123456789abcdef\n")
    os.chmod(secret, 0o600)
    try:
        token = sdk5.fleet_token(FLEET)
        sdk5.register_compute(token, COMPUTE)
        r = rally.request("POST", "/v1/identity/server",
                          {"fleetId": FLEET, "fleetSecret": "bench-sdk5-secret-0123456789abcdef",
                           "tokenUse": "sdk5"})
        assert r.status == 200, r
        run = subprocess.run([os.path.join(BIN, "rally-sdk5-bench"), "127.0.0.1", str(PORT),
                              "/v1/fleet/sdk5", FLEET, COMPUTE, str(connections), str(seconds)],
                             env=dict(os.environ, RALLY_SDK_TOKEN=r.json["auth_token"]),
                             capture_output=True, text=True, timeout=120 + seconds)
        if run.returncode != 0:
            figures = {"error": run.stderr.strip() or "rally-sdk5-bench failed"}
        else:
            figures = json.loads(run.stdout)
            figures["target"] = 20000
            figures["meets_target"] = figures["heartbeats_per_second"] >= 20000
    finally:
        os.remove(secret)
        psql("UPDATE fleet.processes SET status = 'TERMINATED' WHERE fleet_id = :'p1'", FLEET)
    with open(out, "w") as f:
        json.dump(figures, f, indent=2)
    print(json.dumps(figures))
    return 0 if "error" not in figures else 1


if __name__ == "__main__":
    sys.exit(main())
