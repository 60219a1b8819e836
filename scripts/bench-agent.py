#!/usr/bin/python3
"""Fleet agent bench (make bench), against a running stack (its env file
sourced).

    bench-agent.py PROCESSES KILLS OUT.json

One rally-agent on a fleet of its own (fleet-bench-agent, one location),
whose RuntimeConfiguration runs rally-gameserver PROCESSES times (each
heartbeating every second, as the sample does):

  start     from the agent's start until all PROCESSES are ready in rally
            (ProcessReady);
  keep      the agent's own CPU and memory over 10 s while it keeps them
            (issue 12's target: at least 200 sample servers one agent keeps);
  replace   KILLS processes killed with -9, half a second apart: from each
            kill to its replacement's ProcessReady, p50 and p99, by the
            database's clock (the same machine's).

Prints one line of figures; writes them to OUT.json."""

import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))

import agents  # noqa: E402
import rally  # noqa: E402
from rally import BIN, RUN, psql, wait_until  # noqa: E402

FLEET = "fleet-bench-agent"
COMPUTE = "bench-agent-%d" % os.getpid()


def active():
    return agents.active(COMPUTE)


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        return int([l for l in f if l.startswith("VmRSS:")][0].split()[1])


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100.0 * (len(values) - 1))))]


def main():
    n, kills, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    secret = os.path.join(RUN, "fleets", FLEET + ".secret")
    with open(secret, "w") as f:
        f.write("bench-agent-secret-0123456789\n")
    os.chmod(secret, 0o600)
    rally.load_config(fleets={FLEET: {
        "FleetId": FLEET, "Locations": [{"Location": "us-east-1"}],
        "RuntimeConfiguration": {"ServerProcesses": [
            {"LaunchPath": "rally-gameserver", "ConcurrentExecutions": n}]}}})
    log = open(os.path.join(RUN, "logs", "bench-agent.log"), "w")
    t0 = time.time()
    agent = subprocess.Popen(
        [os.path.join(BIN, "rally-agent"), "--url", "http://127.0.0.1:%d" % rally.PORT, "--fleet", FLEET,
         "--location", "us-east-1", "--compute", COMPUTE, "--game-dir", BIN, "--drain-seconds", "0"],
        env=dict(os.environ, RALLY_FLEET_SECRET_FILE=secret), stdout=log, stderr=log)
    try:
        ok = wait_until(lambda: len(active()) >= n, 120, 0.2)
        start_s = time.time() - t0
        if not ok:
            raise SystemExit("bench-agent: only %d of %d processes ready after 120 s" % (len(active()), n))
        ticks, t1 = cpu_ticks(agent.pid), time.time()
        time.sleep(10)
        keep_cpu = (cpu_ticks(agent.pid) - ticks) / os.sysconf("SC_CLK_TCK") / (time.time() - t1)
        keep_rss = rss_kb(agent.pid)
        latencies = []
        for victim in sorted(active())[:kills]:
            before = active()
            killed_at = float(psql("SELECT extract(epoch FROM clock_timestamp())")[0])
            os.kill(agents.pid_of(victim), signal.SIGKILL)
            if not wait_until(lambda: len(active() - before) >= 1, 10, 0.02):
                raise SystemExit("bench-agent: %s was not replaced within 10 s" % victim)
            new = sorted(active() - before)[0]
            ready = float(psql("SELECT extract(epoch FROM created_at) FROM fleet.processes "
                               "WHERE process_id = :'p1'", new)[0])
            latencies.append(ready - killed_at)
            time.sleep(0.5)
    finally:
        agent.send_signal(signal.SIGTERM)
        try:
            agent.wait(60)
        except subprocess.TimeoutExpired:
            agent.kill()
        log.close()
        os.remove(secret)
        rally.load_config()
    result = {"processes": n, "start_s": round(start_s, 2), "agent_cpu_keeping": round(keep_cpu, 4),
              "agent_rss_kb": keep_rss, "kills": len(latencies),
              "replace_p50_s": round(pct(latencies, 50), 3), "replace_p99_s": round(pct(latencies, 99), 3)}
    with open(out, "w") as f:
        json.dump(result, f, indent=2)
    print("fleet agent: %d processes ready %.2f s after its start; keeping them costs it %.1f%% of a core, "
          "%d KB; a killed process's replacement ready p50 %.3f s, p99 %.3f s (%d kills); target >= 200 "
          "processes: %s" % (n, start_s, 100 * keep_cpu, keep_rss, result["replace_p50_s"],
                             result["replace_p99_s"], len(latencies), n >= 200))


if __name__ == "__main__":
    main()
