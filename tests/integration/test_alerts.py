"""The alert rules of config/prometheus/alerts.yml on a running stack: each
test causes a condition an on-call engineer must hear about, and the
stack's Prometheus (with every `for:` at 0 s, RALLY_ALERT_FOR) fires the
alert for it. promtool's cases (alerts_test.yml, `make alerts-check`)
check the rules' timing on synthetic series."""

import json
import os
import signal
import subprocess
import time
import unittest
import urllib.request

import rally
from rally import BIN, RUN, guest, psql, request, start_ticket, wait_until

PROMETHEUS = os.environ.get("RALLY_PROMETHEUS_URL")
TOPIC = "arn:aws:sns:local:000000000000:rally-alerts-test"
# Nothing listens on the discard port: every delivery there fails.
DEAD_ENDPOINT = "http://127.0.0.1:9/rally-alerts-test"


def alerts():
    with urllib.request.urlopen(PROMETHEUS + "/api/v1/alerts", timeout=10) as r:
        return json.load(r)["data"]["alerts"]


def firing(name, **labels):
    return [a for a in alerts() if a["labels"]["alertname"] == name and a["state"] == "firing"
            and all(a["labels"].get(k) == v for k, v in labels.items())]


@unittest.skipUnless(PROMETHEUS, "the stack runs no Prometheus")
class Alerts(unittest.TestCase):
    def assertFires(self, name, timeout=60, **labels):
        self.assertTrue(wait_until(lambda: firing(name, **labels), timeout, 1),
                        "%s%s did not fire; firing: %s" % (
                            name, labels, [a["labels"] for a in alerts() if a["state"] == "firing"]))

    def subscribe_dead_endpoint(self):
        psql("INSERT INTO events.subscriptions (topic_arn, endpoint) VALUES (:'p1', :'p2') "
             "ON CONFLICT DO NOTHING", TOPIC, DEAD_ENDPOINT)
        self.addCleanup(psql, "DELETE FROM events.subscriptions WHERE endpoint = :'p1'", DEAD_ENDPOINT)

    def test_tickets_timing_out_and_events_given_up(self):
        """A configuration whose tickets never match: they time out (the
        p95 wait is above the timeout), and its events go to a subscriber
        that is not there (given up: dead letters)."""
        conf = "AlertTimeouts"
        self.subscribe_dead_endpoint()
        rally.load_config(configurations={conf: {
            "Name": conf, "RuleSetName": "SampleRuleSet", "RequestTimeoutSeconds": 6,
            "AcceptanceRequired": False, "FlexMatchMode": "STANDALONE",
            "NotificationTarget": TOPIC}})
        for _ in range(3):
            r = start_ticket(guest()["auth_token"], latency={"us-east-1": 5000, "eu-west-1": 5000},
                             configuration=conf)
            self.assertEqual(r.status, 201, r)
        self.assertFires("RallyMatchmakingWaitAboveTimeout", configuration=conf)
        # Given up on after RALLY_OUTBOX_MAX_ATTEMPTS, and the alert says so.
        self.assertTrue(wait_until(lambda: int(psql(
            "SELECT count(*) FROM events.dead_letters WHERE endpoint = :'p1'", DEAD_ENDPOINT)[0]) > 0, 60))
        self.assertFires("RallyDeadLetters")

    def test_a_location_without_idle_processes(self):
        fleet = "fleet-alerts"
        rally.load_config(fleets={fleet: {
            "FleetId": fleet,
            "Locations": [{"Location": "us-east-1", "MinSize": 0, "DesiredInstances": 1, "MaxSize": 2}],
            "RuntimeConfiguration": {"ServerProcesses": [
                {"LaunchPath": "rally-gameserver", "Parameters": "--port 0", "ConcurrentExecutions": 1}]}}})
        # No agent runs its processes.
        self.assertFires("RallyNoIdleProcess", fleet=fleet, location="us-east-1")

    def test_an_outbox_backlog_that_grows(self):
        """Deliveries waiting on a subscriber that keeps failing (retries
        backed off into the future), more of them at every look."""
        self.subscribe_dead_endpoint()
        q = "rally_events_outbox_backlog"

        def add(n):
            psql("WITH m AS (INSERT INTO events.outbox (topic_arn, message) "
                 "  SELECT :'p1', '{}' FROM generate_series(1, %d) RETURNING message_id) "
                 "INSERT INTO events.deliveries (message_id, subscription_id, attempts, next_attempt_at) "
                 "SELECT m.message_id, s.subscription_id, 1, now() + interval '1 hour' "
                 "FROM m, events.subscriptions s WHERE s.endpoint = :'p2'" % n, TOPIC, DEAD_ENDPOINT)

        for _ in range(4):
            add(5)
            time.sleep(6)  # a scrape of state-metrics sees each step
        self.assertFires("RallyOutboxBacklogGrowing")

    def test_a_crash_looping_game_server(self):
        """An agent whose fleet's launch path exits at once, scraped as any
        new host's agent is: a file in Prometheus's targets directory."""
        fleet, name = "fleet-crashloop", "agent-crashloop"
        secret = os.path.join(RUN, "fleets", fleet + ".secret")
        with open(secret, "w") as f:
            f.write("crashloop-secret-0123456789abcdef\n")
        os.chmod(secret, 0o600)
        self.addCleanup(os.remove, secret)
        rally.load_config(fleets={fleet: {
            "FleetId": fleet, "Locations": [{"Location": "us-east-1"}],
            "RuntimeConfiguration": {"ServerProcesses": [
                {"LaunchPath": "/bin/false", "ConcurrentExecutions": 1}]}}})
        sock = os.path.join(os.environ["RALLY_RT_DIR"], "sock", name + ".metrics.sock")
        log = open(os.path.join(RUN, "logs", name + ".log"), "a")
        agent = subprocess.Popen(
            [os.path.join(BIN, "rally-agent"), "--url", "http://127.0.0.1:%d" % rally.PORT,
             "--fleet", fleet, "--location", "us-east-1", "--compute", "crashloop-host",
             "--game-dir", BIN, "--config-seconds", "1", "--drain-seconds", "1", "--metrics", sock],
            env=dict(os.environ, RALLY_FLEET_SECRET_FILE=secret), stdout=log, stderr=log)
        log.close()

        def stop():
            agent.send_signal(signal.SIGTERM)
            try:
                agent.wait(20)
            except subprocess.TimeoutExpired:
                agent.kill()
                agent.wait()
        self.addCleanup(stop)
        targets = os.path.join(RUN, "prometheus", "targets", "crashloop.json")
        with open(targets + ".tmp", "w") as f:
            json.dump([{"targets": ["127.0.0.1:%d" % rally.PORT],
                        "labels": {"service": name, "__metrics_path__": "/metrics/" + name}}], f)
        os.rename(targets + ".tmp", targets)  # whole, as Prometheus reads it
        self.addCleanup(os.remove, targets)
        self.assertFires("RallyGameServerCrashLooping", timeout=90, service=name, fleet=fleet)

    def test_postgres_down(self):
        rally.stop_postgres()
        try:
            self.assertFires("RallyPostgresDown")
        finally:
            rally.start_postgres()
        # rally recovers by itself, and the alert ends.
        self.assertTrue(wait_until(lambda: request("POST", "/v1/identity/guest", {}).status == 200, 30))
        self.assertTrue(wait_until(lambda: not firing("RallyPostgresDown"), 60, 1))


if __name__ == "__main__":
    unittest.main()
