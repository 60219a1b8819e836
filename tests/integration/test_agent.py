"""rally-agent (agent/) against the real stack: it runs the fleet's
RuntimeConfiguration with real rally-gameserver processes, replaces those
that die, backs off a server that fails at start, kills one that never
calls ProcessReady, follows a change of the configuration without a
restart, carries out FORCE_TERMINATE, and drains on SIGTERM."""

import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import rally
from rally import BIN, RUN, psql, wait_until
from agents import active, alive, environ, pid_of, sidecar_of
from test_gamelift import client, raw

FLEET = "fleet-agent"
SECRET = os.path.join(RUN, "fleets", FLEET + ".secret")
# Quick to notice a dead process (heartbeats every 0.2 s, lost after 5 s).
SERVER = {"LaunchPath": "rally-gameserver", "Parameters": "--port 0 --heartbeat-ms 200",
          "ConcurrentExecutions": 3}

_computes = iter(range(1, 1 << 30))


def configure(*processes, capacity=None, policy=None, sidecar=None):
    """The fleet's RuntimeConfiguration, loaded as an operator would; with
    capacity ({"MinSize", ...}) its location sizes itself, with policy (a
    TargetValue) by a target-based ScalingPolicy, with sidecar (its
    settings) a rally-sidecar beside each process."""
    body = {"FleetId": FLEET, "Locations": [dict({"Location": "us-east-1"}, **(capacity or {}))],
            "RuntimeConfiguration": {"ServerProcesses": list(processes),
                                     "GameSessionActivationTimeoutSeconds": 5},
            "ProcessHeartbeatTimeoutSeconds": 5}
    if sidecar is not None:
        body["RuntimeConfiguration"]["Sidecar"] = sidecar
    if policy is not None:
        body["ScalingPolicy"] = {"PolicyType": "TargetBased", "MetricName": "PercentAvailableGameSessions",
                                 "TargetConfiguration": {"TargetValue": policy}}
    rally.load_config(fleets={FLEET: body})


def bindable(port):
    """Whether a game server could listen on port now (as it does: IPv6, any
    address, IPv4 too)."""
    s = socket.socket(socket.AF_INET6)
    try:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.bind(("::", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def port_pair():
    """The first of two free ports in a row, below the system's ephemeral
    range (32768 and up), whose ports go to other sockets all the time
    (connections, the sidecars' listeners)."""
    while True:
        first = random.randrange(21000, 31000)
        if bindable(first) and bindable(first + 1):
            return first


def settled(compute, n, without=()):
    """n processes ACTIVE on compute, none of them in `without`, by one read
    (two reads could each see a different moment)."""
    now = active(compute)
    return len(now) == n and not (now & set(without))


AGENT_ENV = dict(os.environ, RALLY_FLEET_SECRET_FILE=SECRET)


def agent_argv(compute, *extra):
    """An agent of FLEET in us-east-1 on `compute`, with `extra` options."""
    return [os.path.join(BIN, "rally-agent"), "--url", "http://127.0.0.1:%d" % rally.PORT, "--fleet", FLEET,
            "--location", "us-east-1", "--compute", compute, "--game-dir", BIN] + list(extra)


def setUpModule():
    with open(SECRET, "w") as f:
        f.write("agent-secret-0123456789abcdef\n")
    os.chmod(SECRET, 0o600)


def tearDownModule():
    os.remove(SECRET)
    psql("UPDATE fleet.processes SET status = 'TERMINATED' WHERE fleet_id = :'p1'", FLEET)
    rally.load_config()


class AgentCase(unittest.TestCase):
    """Agents a test starts, stopped with it, and what they launched."""

    def agent(self, *extra, compute=None):
        """A running agent on a compute of its own (or `compute`): (compute,
        its log's path)."""
        compute = compute or "host-%d-%d" % (os.getpid(), next(_computes))
        log = os.path.join(RUN, "logs", "agent-%s-%d.log" % (compute, next(_computes)))
        out = open(log, "w")
        proc = subprocess.Popen(agent_argv(compute, "--config-seconds", "0.5", *extra),
                                env=AGENT_ENV, stdout=out, stderr=out)
        out.close()

        def stop():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            # What it launched goes with it, whatever happened in the test.
            for pid in self.launched(log):
                if alive(pid):
                    os.kill(pid, signal.SIGKILL)
        self.addCleanup(stop)
        self.proc = proc
        return compute, log

    def state_dir(self):
        """A --state-dir of this test's own."""
        state = tempfile.mkdtemp(prefix="rally-agent-state-")
        self.addCleanup(shutil.rmtree, state)
        return state

    @staticmethod
    def launched(log):
        with open(log) as f:
            return [int(m) for m in re.findall(r"\(pid (\d+)\)\"", f.read())]

    @staticmethod
    def count(log, text):
        with open(log) as f:
            return f.read().count(text)


class Agent(AgentCase):
    def test_runs_the_configuration_and_replaces_a_process_that_dies(self):
        configure(SERVER)
        compute, log = self.agent()
        self.assertTrue(wait_until(lambda: len(active(compute)) == 3, 15), active(compute))
        first = active(compute)
        victim = sorted(first)[0]
        pid = pid_of(victim)
        self.assertIsNotNone(pid)
        # The agent hands the process its identity in the environment, not argv.
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            self.assertNotIn(victim.encode(), f.read())
        os.kill(pid, signal.SIGKILL)
        # Replaced by a new process, and rally told at once (not after the
        # heartbeat timeout): three ready again, the dead one ended.
        replaced = lambda: settled(compute, 3, without={victim})
        self.assertTrue(wait_until(replaced, 10), active(compute))
        self.assertEqual(psql("SELECT status FROM fleet.processes WHERE process_id = :'p1'", victim),
                         ["TERMINATED"])
        self.assertEqual(len(first & active(compute)), 2)

    def test_each_process_gets_a_port_of_the_range_while_there_is_one(self):
        configure(dict(SERVER, Parameters="--heartbeat-ms 200"))
        first = port_pair()
        compute, log = self.agent("--ports", "%d-%d" % (first, first + 1), "--ip", "127.0.0.2")
        self.assertTrue(wait_until(lambda: len(active(compute)) == 2, 15), active(compute))
        time.sleep(1)
        # Three asked for, two ports: the third is not launched.
        self.assertEqual(len(self.launched(log)), 2, open(log).read())
        self.assertIn("no port left", open(log).read())
        ports = psql("SELECT port || ' ' || ip_address FROM fleet.processes WHERE compute_name = :'p1' "
                     "AND status = 'ACTIVE' ORDER BY port", compute)
        self.assertEqual(ports, ["%d 127.0.0.2" % first, "%d 127.0.0.2" % (first + 1)])

    def test_an_agent_killed_and_started_again_takes_its_processes_over(self):
        configure(dict(SERVER, ConcurrentExecutions=2))
        state = self.state_dir()
        compute, _ = self.agent("--state-dir", state)
        self.assertTrue(wait_until(lambda: len(active(compute)) == 2, 15))
        before = active(compute)
        self.proc.kill()  # -9: no draining, its processes run on
        self.proc.wait()
        time.sleep(1)
        self.assertEqual(active(compute), before)
        _, log = self.agent("--state-dir", state, compute=compute)
        self.assertTrue(wait_until(lambda: self.count(log, "adopted process") == 2, 10), open(log).read())
        time.sleep(1.5)
        # Taken over, not launched again: the same two processes, nothing new.
        self.assertEqual(active(compute), before)
        self.assertEqual(self.count(log, "launched "), 0, open(log).read())
        # And looked after as its own: one that dies is replaced.
        victim = sorted(before)[0]
        os.kill(pid_of(victim), signal.SIGKILL)
        replaced = lambda: settled(compute, 2, without={victim})
        self.assertTrue(wait_until(replaced, 10), active(compute))
        self.assertEqual(self.count(log, "launched "), 1)

    def test_new_slots_take_the_ports_the_old_ones_free(self):
        # A range as big as the processes, as make run's: a configuration
        # that replaces the slots must still run them all once the old
        # processes have gone.
        configure(dict(SERVER, Parameters="--heartbeat-ms 200", ConcurrentExecutions=2))
        first = port_pair()
        compute, log = self.agent("--ports", "%d-%d" % (first, first + 1))
        self.assertTrue(wait_until(lambda: len(active(compute)) == 2, 15))
        old = active(compute)
        configure(dict(SERVER, Parameters="--heartbeat-ms 250", ConcurrentExecutions=2))
        renewed = lambda: settled(compute, 2, without=old)
        self.assertTrue(wait_until(renewed, 15), open(log).read()[-3000:])
        ports = psql("SELECT port FROM fleet.processes WHERE compute_name = :'p1' AND status = 'ACTIVE' "
                     "ORDER BY port", compute)
        self.assertEqual(ports, [str(first), str(first + 1)])

    def test_one_agent_per_compute_and_state(self):
        configure(dict(SERVER, ConcurrentExecutions=1))
        state = self.state_dir()
        compute, _ = self.agent("--state-dir", state)
        self.assertTrue(wait_until(lambda: len(active(compute)) == 1, 15))
        second = subprocess.run(agent_argv(compute, "--state-dir", state), env=AGENT_ENV,
                                capture_output=True, text=True, timeout=10)
        self.assertEqual(second.returncode, 1)
        self.assertIn("another agent runs this compute", second.stderr)
        self.assertEqual(len(active(compute)), 1)

    def test_a_server_failing_at_start_is_relaunched_with_backoff(self):
        configure({"LaunchPath": "/bin/false", "ConcurrentExecutions": 1})
        compute, log = self.agent()
        time.sleep(6.5)
        # 1 s, 2 s, 4 s between launches: four or five in 6.5 s, not thirty.
        launches = self.count(log, "launched /bin/false")
        self.assertGreaterEqual(launches, 3, open(log).read())
        self.assertLessEqual(launches, 5, open(log).read())

    def test_a_process_that_never_calls_process_ready_is_killed(self):
        configure({"LaunchPath": "/bin/sleep", "Parameters": "600", "ConcurrentExecutions": 1})
        compute, log = self.agent("--ready-timeout", "1.5")
        self.assertTrue(wait_until(lambda: self.count(log, "did not call ProcessReady") >= 1, 10))
        first = self.launched(log)[0]
        self.assertTrue(wait_until(lambda: not alive(first), 5))
        # And another is launched in its place.
        self.assertTrue(wait_until(lambda: len(self.launched(log)) >= 2, 10), open(log).read())

    def test_the_configuration_is_followed_without_a_restart(self):
        configure(SERVER)
        compute, log = self.agent()
        self.assertTrue(wait_until(lambda: len(active(compute)) == 3, 15))
        configure(dict(SERVER, ConcurrentExecutions=1))
        self.assertTrue(wait_until(lambda: len(active(compute)) == 1, 10), active(compute))
        running = [p for p in self.launched(log) if alive(p)]
        self.assertEqual(len(running), 1, running)
        configure(dict(SERVER, ConcurrentExecutions=2))
        self.assertTrue(wait_until(lambda: len(active(compute)) == 2, 10), active(compute))

    def test_force_terminate_ends_the_process_and_another_takes_its_place(self):
        configure(dict(SERVER, ConcurrentExecutions=1))
        compute, log = self.agent()
        self.assertTrue(wait_until(lambda: len(active(compute)) == 1, 15))
        [host] = active(compute)
        pid = pid_of(host)
        gl = client()
        gs = gl.create_game_session(FleetId=FLEET, Location="us-east-1",
                                    MaximumPlayerSessionCount=2)["GameSession"]
        hosting = lambda: gl.describe_game_sessions(GameSessionId=gs["GameSessionId"])[
            "GameSessions"][0]["Status"] == "ACTIVE"
        self.assertTrue(wait_until(hosting, 10))
        status, _, _ = raw("TerminateGameSession", {"GameSessionId": gs["GameSessionId"],
                                                    "TerminationMode": "FORCE_TERMINATE"})
        self.assertEqual(status, 200)
        self.assertTrue(wait_until(lambda: not alive(pid), 5))
        self.assertTrue(wait_until(lambda: settled(compute, 1, without={host}), 10))

    def test_sigterm_drains_idle_processes_first_then_stops(self):
        configure(dict(SERVER, ConcurrentExecutions=2))
        compute, log = self.agent("--drain-seconds", "3")
        self.assertTrue(wait_until(lambda: len(active(compute)) == 2, 15))
        gl = client()
        gs = gl.create_game_session(FleetId=FLEET, Location="us-east-1",
                                    MaximumPlayerSessionCount=2)["GameSession"]
        hosting = lambda: gl.describe_game_sessions(GameSessionId=gs["GameSessionId"])[
            "GameSessions"][0]["Status"] == "ACTIVE"
        self.assertTrue(wait_until(hosting, 10))
        [host] = psql("SELECT process_id FROM fleet.processes WHERE game_session_id IS NOT NULL "
                      "AND compute_name = :'p1' AND status = 'ACTIVE'", compute)
        [idle] = active(compute) - {host}
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        # The idle process ends at once; the one hosting gets its 3 s.
        self.assertTrue(wait_until(lambda: idle not in active(compute), 3))
        self.assertIn(host, active(compute))
        self.proc.wait(15)
        self.assertGreaterEqual(time.monotonic() - started, 2.5)
        self.assertEqual(self.proc.returncode, 0)
        self.assertEqual(active(compute), set())
        self.assertFalse(any(alive(p) for p in self.launched(log)))
        # Nothing was launched while draining.
        self.assertEqual(len(self.launched(log)), 2, open(log).read())


if __name__ == "__main__":
    unittest.main()


def capacity():
    """us-east-1's InstanceCounts, as DescribeFleetCapacity tells them."""
    [c] = client().describe_fleet_capacity(FleetIds=[FLEET])["FleetCapacity"]
    return c["InstanceCounts"]


class Sidecars(AgentCase):
    def status(self, env, key=None):
        port = int(env["RALLY_SIDECAR_URL"].rsplit(":", 1)[1])
        try:
            return rally.request("GET", "/v1/sidecar/status", token=key or env["RALLY_SIDECAR_KEY"], port=port)
        except OSError:
            return None

    def test_each_process_gets_a_sidecar_the_agent_keeps_running(self):
        configure(dict(SERVER, ConcurrentExecutions=2), sidecar={"FlushMillis": 20, "Durable": True})
        compute, log = self.agent()
        self.assertTrue(wait_until(lambda: len(active(compute)) == 2, 15), active(compute))
        victim = sorted(active(compute))[0]
        pid = pid_of(victim)
        env = environ(pid)
        self.assertTrue(env["RALLY_SIDECAR_URL"].startswith("http://127.0.0.1:"))
        self.assertEqual(len(env["RALLY_SIDECAR_KEY"]), 64)
        self.assertTrue(wait_until(lambda: self.status(env) is not None, 5))
        st = self.status(env)
        self.assertEqual((st.status, st.json["flushMs"], st.json["durableByDefault"]), (200, 20, True))
        self.assertEqual(self.status(env, key="x" * 64).status, 401)
        # A sidecar killed is launched again on the same port and key.
        side = sidecar_of(pid)
        self.assertIsNotNone(side)
        os.kill(side, signal.SIGKILL)
        self.assertTrue(wait_until(lambda: sidecar_of(pid) not in (None, side), 10))
        self.assertTrue(wait_until(lambda: (self.status(env) or st).status == 200 and
                                   self.status(env).json["received"] == 0, 5))
        # Its process killed: the sidecar goes with it, the replacement has
        # one of its own.
        side = sidecar_of(pid)
        os.kill(pid, signal.SIGKILL)
        self.assertTrue(wait_until(lambda: not alive(side), 10))
        self.assertTrue(wait_until(lambda: settled(compute, 2, without={victim}), 15))
        fresh = environ(pid_of(sorted(active(compute) - {victim})[0]))
        self.assertTrue(wait_until(lambda: (self.status(fresh) or st).status == 200, 5))
        self.assertIn("is launched again", open(log).read())

    def test_a_bad_sidecar_configuration_is_refused(self):
        for bad in ({"FlushBlocks": 0}, {"Durable": "yes"}, {"Lanes": 2}, []):
            with self.assertRaises(subprocess.CalledProcessError):
                configure(SERVER, sidecar=bad)


class Capacity(AgentCase):
    """A location that sizes itself: its desired count of processes (config,
    UpdateFleetCapacity, a target-based ScalingPolicy) split among its live
    computes, each agent running its share."""

    def setUp(self):
        # Computes of earlier tests would count as live for 30 s.
        psql("DELETE FROM fleet.computes WHERE fleet_id = :'p1'", FLEET)
        psql("DELETE FROM fleet.location_capacity WHERE fleet_id = :'p1'", FLEET)

    def test_update_fleet_capacity_resizes_the_location(self):
        configure(dict(SERVER, ConcurrentExecutions=4), capacity={"MinSize": 1, "DesiredInstances": 2,
                                                                  "MaxSize": 4})
        compute, log = self.agent()
        self.assertTrue(wait_until(lambda: settled(compute, 2), 15), active(compute))
        counts = capacity()
        self.assertEqual((counts["DESIRED"], counts["MINIMUM"], counts["MAXIMUM"], counts["ACTIVE"]),
                         (2, 1, 4, 2))
        gl = client()
        out = gl.update_fleet_capacity(FleetId=FLEET, DesiredInstances=3, Location="us-east-1")
        self.assertEqual((out["FleetId"], out["Location"]), (FLEET, "us-east-1"))
        self.assertTrue(wait_until(lambda: settled(compute, 3), 10), active(compute))
        gl.update_fleet_capacity(FleetId=FLEET, DesiredInstances=1)  # the first location
        self.assertTrue(wait_until(lambda: settled(compute, 1), 10), active(compute))
        self.assertEqual(len([p for p in self.launched(log) if alive(p)]), 1)
        # Outside its bounds, or of a location the fleet has not: refused, nothing changed.
        from test_gamelift import error_code
        self.assertEqual(error_code(gl.update_fleet_capacity, FleetId=FLEET, DesiredInstances=5),
                         "InvalidRequestException")
        self.assertEqual(error_code(gl.update_fleet_capacity, FleetId=FLEET, MinSize=2, MaxSize=1),
                         "InvalidRequestException")
        self.assertEqual(error_code(gl.update_fleet_capacity, FleetId=FLEET, DesiredInstances=1,
                                    Location="ap-south-1"), "InvalidRequestException")
        self.assertEqual(error_code(gl.update_fleet_capacity, FleetId="fleet-nope", DesiredInstances=1),
                         "NotFoundException")
        self.assertEqual(capacity()["DESIRED"], 1)
        # A reload of an unchanged config/ keeps what UpdateFleetCapacity set.
        configure(dict(SERVER, ConcurrentExecutions=4), capacity={"MinSize": 1, "DesiredInstances": 2,
                                                                  "MaxSize": 4})
        self.assertEqual(capacity()["DESIRED"], 1)

    def test_the_location_is_split_among_its_computes(self):
        configure(dict(SERVER, ConcurrentExecutions=4), capacity={"DesiredInstances": 3, "MaxSize": 8})
        a, _ = self.agent()
        b, _ = self.agent()
        # The first to report runs all 3 for a moment, then gives one up.
        self.assertTrue(wait_until(lambda: sorted([len(active(a)), len(active(b))]) == [1, 2], 15),
                        (active(a), active(b)))
        # What one host allows (its ConcurrentExecutions) bounds its share.
        client().update_fleet_capacity(FleetId=FLEET, DesiredInstances=8)
        self.assertTrue(wait_until(lambda: len(active(a)) == 4 and len(active(b)) == 4, 15),
                        (active(a), active(b)))

    def test_a_target_based_policy_keeps_processes_free(self):
        configure(dict(SERVER, ConcurrentExecutions=6), capacity={"MinSize": 1, "MaxSize": 5},
                  policy=50)
        compute, log = self.agent()
        # Nothing hosted: one process, free.
        self.assertTrue(wait_until(lambda: settled(compute, 1), 15), active(compute))
        gl = client()
        sessions = []
        for want in (2, 4):  # half of them kept free, and at least one
            sessions.append(gl.create_game_session(FleetId=FLEET, MaximumPlayerSessionCount=2)["GameSession"])
            self.assertTrue(wait_until(lambda: settled(compute, want), 15), (want, active(compute)))
        self.assertEqual(capacity()["DESIRED"], 4)
        # Scaling in waits a minute after the last change: made a minute old.
        for gs in sessions:
            raw("TerminateGameSession", {"GameSessionId": gs["GameSessionId"],
                                         "TerminationMode": "FORCE_TERMINATE"})
        psql("UPDATE fleet.location_capacity SET changed_at = now() - interval '2 minutes' "
             "WHERE fleet_id = :'p1'", FLEET)
        self.assertTrue(wait_until(lambda: settled(compute, 1), 15), active(compute))
        self.assertEqual(capacity()["DESIRED"], 1)
