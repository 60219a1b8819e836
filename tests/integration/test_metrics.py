"""Metrics (docs/observability.md): every process's endpoint through nginx,
the scrape token, one view of a function across its workers, and the real
Prometheus of the stack scraping them all, queried with PromQL for values
the tests caused."""

import json
import os
import re
import time
import unittest
import urllib.parse
import urllib.request

import rally
from rally import RUN, guest, psql, request, start_ticket, wait_until

PROMETHEUS = os.environ.get("RALLY_PROMETHEUS_URL")
FUNCTIONS = ["auth-guest", "auth-refresh", "dead-letters", "event-ingest", "fleet-api", "game-session-logs", "gamelift-config",
             "gamelift-placement", "gamelift-sessions", "poll-ticket", "request-matchmaking",
             "state-metrics", "ticket-actions", "world-state"]
DAEMONS = ["matchmaker", "gateway", "sweeper", "agent-us-east-1", "agent-eu-west-1",
           "agent-realtime"]


def token():
    with open(os.path.join(RUN, "secrets", "metrics-token")) as f:
        return f.read().strip()


def scrape(target, tok=None):
    return request("GET", "/metrics/" + target, token=tok if tok is not None else token())


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


def parse(text):
    """Prometheus's text format, strictly: {(name, frozenset(labels)): value}.
    Fails on a line that is neither a comment nor a sample, on a family
    whose HELP or TYPE comes twice, and on a sample seen twice."""
    out, typed = {}, set()
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            key = (line[:6], line.split(" ")[2])
            assert key not in typed, "repeated %r" % line
            typed.add(key)
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample: %r" % line
        labels = {}
        rest = m.group(3) or ""
        pos = 0
        while pos < len(rest):
            lm = LABEL.match(rest, pos)
            assert lm, "bad labels in %r" % line
            labels[lm.group(1)] = lm.group(2)
            pos = lm.end()
        key = (m.group(1), frozenset(labels.items()))
        assert key not in out, "sample twice: %r" % line
        out[key] = float(m.group(4))
    return out


def value(samples, name, **labels):
    """The sum of name's samples whose labels include the given ones."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


def until_batched(test, service, burst, requests):
    """Runs burst() until a batch of the service (serve.c, "Batches") held
    two requests, five times at most: batches form when requests wait on the
    socket together, which 32 at once against a worker a core makes near
    certain, and a few bursts leave nothing to chance. Each burst must send
    at least `requests` requests through batches."""
    def counters():
        m = parse(scrape(service).body.decode())
        return value(m, "rally_batched_reads_total"), value(m, "rally_batched_requests_total")

    for _ in range(5):
        batches0, sent0 = counters()
        burst()
        batches1, sent1 = counters()
        test.assertGreaterEqual(sent1 - sent0, requests)  # every one went through a batch
        if batches1 - batches0 < sent1 - sent0:
            return
    test.fail("no batch of %s ever held two requests" % service)


def promql(query):
    url = PROMETHEUS + "/api/v1/query?" + urllib.parse.urlencode({"query": query})
    with urllib.request.urlopen(url, timeout=10) as r:
        body = json.load(r)
    assert body["status"] == "success", body
    return body["data"]["result"]


def scalar(query):
    result = promql(query)
    return float(result[0]["value"][1]) if result else 0.0


class Endpoints(unittest.TestCase):
    def test_every_process_answers_in_the_text_format(self):
        for target in FUNCTIONS + DAEMONS:
            r = scrape(target)
            self.assertEqual(r.status, 200, (target, r))
            self.assertEqual(r.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8")
            samples = parse(r.body.decode())
            # Every process says what it costs.
            self.assertGreater(value(samples, "process_resident_memory_bytes"), 0, target)

    def test_an_agent_passes_its_relays_metrics_on(self):
        """fleet-realtime's relay serves its metrics on a socket of its agent's;
        the agent's scrape carries them, labelled with the process."""
        def relay_series():
            samples = parse(scrape("agent-realtime").body.decode())
            return [dict(ls) for (n, ls), v in samples.items() if n == "rally_relay_sessions"]
        self.assertTrue(wait_until(lambda: relay_series(), 20))
        running = set(psql("SELECT process_id FROM fleet.processes WHERE compute_name = 'local-realtime' "
                           "AND status = 'ACTIVE' AND host_process IS NULL")) | set(psql(
            "SELECT host_process FROM fleet.processes WHERE compute_name = 'local-realtime' "
            "AND status = 'ACTIVE' AND host_process IS NOT NULL"))
        for labels in relay_series():
            self.assertEqual((labels["fleet"], labels["location"]), ("fleet-realtime", "us-east-1"))
            self.assertIn(labels["process_id"], running)
        samples = parse(scrape("agent-realtime").body.decode())
        self.assertGreaterEqual(value(samples, "rally_relay_deliveries_total", transport="udp"), 0)
        # The relay's own process_* are not passed on: the agent says them per process.
        self.assertFalse([ls for (n, ls) in samples if n == "process_cpu_seconds_total" and
                          dict(ls).get("process_id")])

    def test_a_scrape_takes_the_token(self):
        for target in ["poll-ticket", "matchmaker", "agent-us-east-1"]:
            for tok in ["", "wrong-token-of-enough-length", token() + "x", token()[:-1]]:
                r = scrape(target, tok)
                self.assertEqual(r.status, 401, (target, tok, r))
                self.assertNotIn(b"rally_", r.body)
            r = request("GET", "/metrics/" + target)  # no Authorization at all
            self.assertEqual(r.status, 401, (target, r))
        # A player's token is not the scrape token.
        r = scrape("poll-ticket", guest()["auth_token"])
        self.assertEqual(r.status, 401, r)

    def test_unknown_targets_are_not_routed(self):
        for path in ["/metrics/nonesuch", "/metrics/", "/metrics/poll-ticket/x",
                     "/metrics/agent-..%2f..%2fpg"]:
            self.assertEqual(request("GET", path, token=token()).status, 404, path)

    def test_a_function_counts_across_its_workers(self):
        """Requests answered by any worker land in the one view a scrape
        shows, whichever worker answers it; scrapes themselves are not
        counted."""
        g = guest()
        series = dict(route="ticket", method="GET", code="404")
        before = value(parse(scrape("poll-ticket").body.decode()), "rally_http_requests_total", **series)
        n = 40
        for i in range(n):
            r = request("GET", "/v1/matchmaking/no-such-ticket-%d" % i, token=g["auth_token"])
            self.assertEqual(r.status, 404)
        for _ in range(5):
            samples = parse(scrape("poll-ticket").body.decode())
            self.assertEqual(value(samples, "rally_http_requests_total", **series) - before, n)
        hist = value(samples, "rally_http_request_duration_seconds_count", route="ticket", method="GET")
        self.assertGreaterEqual(hist, n)
        self.assertGreaterEqual(value(samples, "rally_token_verifications_total", result="ok"), n)

    def test_no_secrets_in_any_endpoint(self):
        g = guest()
        r = start_ticket(g["auth_token"])
        self.assertEqual(r.status, 201, r)
        secrets = [token(), g["auth_token"], g["refresh_token"], g["guest_secret"]]
        for name in ["pg-rally", "pg-postgres"]:
            with open(os.path.join(RUN, "secrets", name)) as f:
                secrets.append(f.read().strip())
        with open(os.path.join(RUN, "fleets", "fleet-local.secret")) as f:
            secrets.append(f.read().strip())
        for target in FUNCTIONS + DAEMONS:
            body = scrape(target).body.decode()
            for s in secrets:
                self.assertNotIn(s, body, target)
            self.assertNotIn(g["user_id"], body, target)


@unittest.skipUnless(PROMETHEUS, "the stack runs no Prometheus")
class Prometheus(unittest.TestCase):
    """The stack's own Prometheus (Debian's), scraping through nginx."""

    def wait_for(self, query, predicate, timeout=40):
        seen = []
        ok = wait_until(lambda: predicate(seen.append(scalar(query)) or seen[-1]), timeout, 0.5)
        self.assertTrue(ok, "%s stayed %s" % (query, seen[-3:]))
        return seen[-1]

    def scraped_since(self, t0, *services):
        """Waits until Prometheus has scraped each service after t0: what
        it answers then is the process's own count, not a sample of an
        earlier run of the stack still within its lookback."""
        q = 'min(timestamp(up{service=~"%s"}))' % "|".join(services)
        self.wait_for(q, lambda v: v > t0)

    def test_every_target_is_up(self):
        def all_up():
            with urllib.request.urlopen(PROMETHEUS + "/api/v1/targets", timeout=10) as r:
                targets = json.load(r)["data"]["activeTargets"]
            self.states = {t["labels"]["service"]: (t["health"], t["lastError"]) for t in targets}
            return (set(self.states) == set(FUNCTIONS + DAEMONS + ["nginx", "postgres"]) and
                    all(h == "up" for h, _ in self.states.values()))
        self.states = {}
        self.assertTrue(wait_until(all_up, 40, 0.5), self.states)
        self.assertEqual(scalar("pg_up"), 1)
        self.assertEqual(scalar("nginx_up"), 1)

    def test_tickets_started_move_the_counters_by_n(self):
        # A configuration of its own, whose tickets never match (no latency
        # passes SampleRuleSet's rule even expanded): each is Searching once.
        conf = "MetricsCount"
        rally.load_config(configurations={conf: {
            "Name": conf, "RuleSetName": "SampleRuleSet", "RequestTimeoutSeconds": 600,
            "AcceptanceRequired": False, "FlexMatchMode": "STANDALONE"}})
        searching = ('sum(rally_matchmaking_events_total{configuration="%s",'
                     'type="MatchmakingSearching"}) or vector(0)' % conf)
        started = ('sum(rally_http_requests_total{service="request-matchmaking",route="start",'
                   'code="201"})')
        self.scraped_since(time.time(), "matchmaker", "request-matchmaking")
        before = {q: scalar(q) for q in (searching, started)}
        n = 5
        slow = {"us-east-1": 5000, "eu-west-1": 5000}
        for _ in range(n):
            tok = guest()["auth_token"]
            r = start_ticket(tok, latency=slow, configuration=conf)
            self.assertEqual(r.status, 201, r)
            self.addCleanup(request, "DELETE", "/v1/matchmaking/" + r.json["TicketId"], token=tok)
        self.wait_for(started, lambda v: v - before[started] >= n)
        self.wait_for(searching, lambda v: v - before[searching] >= n)
        self.scraped_since(time.time(), "matchmaker", "request-matchmaking")
        self.assertEqual(scalar(searching) - before[searching], n)
        # Only this test starts tickets meanwhile.
        self.assertEqual(scalar(started) - before[started], n)

    def test_state_gauges_follow_the_database(self):
        conf = "MetricsState"
        rally.load_config(configurations={conf: {
            "Name": conf, "RuleSetName": "SampleRuleSet", "RequestTimeoutSeconds": 600,
            "AcceptanceRequired": False, "FlexMatchMode": "STANDALONE"}})
        q = ('sum(rally_matchmaking_tickets{configuration="%s",status="SEARCHING"}) or vector(0)'
             % conf)
        started = []
        for _ in range(2):
            tok = guest()["auth_token"]
            r = start_ticket(tok, latency={"us-east-1": 5000, "eu-west-1": 5000}, configuration=conf)
            self.assertEqual(r.status, 201, r)
            started.append((tok, r.json["TicketId"]))
        self.wait_for(q, lambda v: v == 2)
        self.wait_for('rally_matchmaking_request_timeout_seconds{configuration="%s"}' % conf,
                      lambda v: v == 600)
        for tok, ticket in started:
            r = request("DELETE", "/v1/matchmaking/" + ticket, token=tok)
            self.assertIn(r.status, (200, 204), r)
        self.wait_for(q, lambda v: v == 0)
        idle = self.wait_for('min(rally_fleet_idle_processes{fleet="fleet-local"})', lambda v: v > 0)
        self.assertGreater(idle, 0)

if __name__ == "__main__":
    unittest.main()
