"""What tests and the bench ask of the processes a rally-agent runs: which
of a compute's processes rally has ACTIVE, the OS process behind a process
id (the agent hands it over in the environment, never argv), its
environment and its sidecar, and agents
started for a fleet (the end-to-end bench's game servers)."""

import os
import subprocess

import rally
from rally import psql


def active(compute):
    """The process ids rally has ACTIVE on a compute."""
    return set(psql("SELECT process_id FROM fleet.processes WHERE compute_name = :'p1' "
                    "AND status = 'ACTIVE'", compute)) - {""}


def pid_of(process_id):
    """The OS process an agent launched as process_id, or None."""
    needle = ("GAMELIFT_SDK_PROCESS_ID=%s" % process_id).encode()
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/environ" % d, "rb") as f:
                    if needle in f.read().split(b"\0"):
                        return int(d)
            except OSError:
                pass
    return None


def environ(pid):
    """A process's environment, as a dict."""
    with open("/proc/%d/environ" % pid, "rb") as f:
        return dict(v.decode().split("=", 1) for v in f.read().split(b"\0") if b"=" in v)


def sidecar_of(pid):
    """The pid of the rally-sidecar beside process pid (its --watch-pid), or None."""
    needle = ["--watch-pid", str(pid)]
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/cmdline" % d, "rb") as f:
                    argv = f.read().decode().split("\0")
            except OSError:
                continue
            if argv[0].endswith("rally-sidecar") and any(argv[i:i + 2] == needle for i in range(len(argv))) \
                    and alive(int(d)):
                return int(d)
    return None


def alive(pid):
    """Whether pid runs (a zombie does not)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def start_agents(fleet, per_location, first_port, parameters, locations=("us-east-1", "eu-west-1")):
    """A rally-agent per location of `fleet`, each keeping per_location
    rally-gameserver processes (with `parameters`) on ports from first_port
    on: the fleet's configuration is loaded with its capacity fixed at
    per_location. Returns the Popen objects (stop them with stop_agents)."""
    rally.load_config(fleets={fleet: {
        "FleetId": fleet,
        "Locations": [{"Location": loc, "MinSize": per_location, "DesiredInstances": per_location,
                       "MaxSize": per_location} for loc in locations],
        "RuntimeConfiguration": {"GameSessionActivationTimeoutSeconds": 60, "ServerProcesses": [
            {"LaunchPath": "rally-gameserver", "Parameters": parameters,
             "ConcurrentExecutions": per_location}]},
        "PlayerSessionReservationTimeoutSeconds": 60, "ProcessHeartbeatTimeoutSeconds": 30}})
    env = dict(os.environ, RALLY_FLEET_SECRET_FILE=os.path.join(rally.RUN, "fleets", fleet + ".secret"))
    procs = []
    for i, loc in enumerate(locations):
        first = first_port + i * per_location
        log = open(os.path.join(rally.RUN, "logs", "agent-%s-%s.log" % (fleet, loc)), "a")
        procs.append(subprocess.Popen(
            [os.path.join(rally.BIN, "rally-agent"), "--url", "http://127.0.0.1:%d" % rally.PORT,
             "--fleet", fleet, "--location", loc, "--compute", "%s-%s" % (fleet, loc),
             "--game-dir", rally.BIN, "--ports", "%d-%d" % (first, first + per_location - 1),
             "--drain-seconds", "2", "--config-seconds", "2"],
            env=env, stdout=log, stderr=subprocess.STDOUT))
        log.close()
    return procs


def stop_agents(procs):
    """SIGTERM: each drains (2 s) and ends its processes."""
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
