"""Resilience: bursts of tickets that stress the matchmaker's outbox, and
(in other classes of this module) the failures a self-hosted stack meets."""

import asyncio
import os
import signal
import subprocess
import threading
import time
import unittest

import aclient
import rally
from rally import guest, psql, publish, request
from test_fleet import server_token

# Nobody ever matches: a duel between players of exactly equal skill, and
# every burst player has a skill of their own. Each ticket therefore makes
# exactly one event (MatchmakingSearching) while the burst is measured.
LONELY = {"ruleLanguageVersion": "1.0",
          "playerAttributes": [{"name": "skill", "type": "number"}],
          "teams": [{"name": "red", "minPlayers": 1, "maxPlayers": 1},
                    {"name": "blue", "minPlayers": 1, "maxPlayers": 1}],
          "rules": [{"name": "Equal", "type": "distance", "maxDistance": 0,
                     "measurements": ["flatten(teams[*].players.attributes[skill])"]}]}
BURST_CONFIG = {"Name": "Burst", "RuleSetName": "LonelyRules", "RequestTimeoutSeconds": 600,
                "AcceptanceRequired": False, "FlexMatchMode": "STANDALONE",
                "NotificationTarget": rally.TOPIC}


async def _burst(token, seconds, paths_and_bodies):
    """Sends the requests spread evenly over `seconds` on 50 kept-alive
    connections; returns the statuses."""
    conns = [aclient.Http() for _ in range(50)]
    step = seconds / len(paths_and_bodies)
    t0 = time.monotonic()

    async def one(i, path, body):
        await asyncio.sleep(max(0.0, t0 + i * step - time.monotonic()))
        conn = conns[i % len(conns)]
        async with locks[i % len(conns)]:
            status, _ = await conn.request("POST", path, body, token=token)
        return status

    locks = [asyncio.Lock() for _ in conns]
    try:
        return await asyncio.gather(*(one(i, p, b) for i, (p, b) in enumerate(paths_and_bodies)))
    finally:
        for c in conns:
            c.close()


class Burst(unittest.TestCase):
    """500 StartMatchmaking calls to one configuration within a second, twice:
    the matchmaker keeps running (no crash, no sanitizer report), and every
    ticket's MatchmakingSearching reaches the client's view."""

    @classmethod
    def setUpClass(cls):
        rally.load_config(rulesets={"LonelyRules": LONELY}, configurations={"Burst": BURST_CONFIG})
        cls.token = server_token("fleet-local")

    def test_five_hundred_tickets_a_second_twice(self):
        matchmaker = rally.pids("matchmaker")
        ids = []
        for round_ in range(2):
            tag = "burst%d-%s" % (round_, os.urandom(4).hex())
            reqs = [("/v1/fleet/matchmaking/start",
                     {"ConfigurationName": "Burst", "TicketId": "%s-%d" % (tag, i),
                      "Players": [{"PlayerId": "%s-p%d" % (tag, i),
                                   "PlayerAttributes": {"skill": {"N": 1000 * round_ + i}}}]})
                    for i in range(500)]
            statuses = asyncio.run(_burst(self.token, 1.0, reqs))
            self.assertEqual(sorted(set(statuses)), [200], statuses)
            ids += [b["TicketId"] for _, b in reqs]
        try:
            def searching():
                return psql("SELECT count(*) FROM backend.ticket_results WHERE ticket_id LIKE 'burst%' "
                            "AND status = 'SEARCHING'") == [str(len(ids))]
            self.assertTrue(rally.wait_until(searching, timeout=60, interval=0.5),
                            (psql("SELECT status, count(*) FROM backend.ticket_results "
                                  "WHERE ticket_id LIKE 'burst%' GROUP BY 1"),
                             psql("SELECT status, count(*) FROM matchmaking.tickets "
                                  "WHERE ticket_id LIKE 'burst%' GROUP BY 1"),
                             psql("SELECT last_error, count(*) FROM events.dead_letters GROUP BY 1")))
            os.kill(matchmaker, 0)  # still the same process: it never died
            self.assertEqual(rally.pids("matchmaker"), matchmaker)
            self.assertEqual(psql("SELECT count(*) FROM events.dead_letters "
                                  "WHERE message LIKE '%burst_-%'"), ["0"])
        finally:
            # Out of the pool, so later tests' ticks stay small.
            psql("UPDATE matchmaking.tickets SET status = 'CANCELLED', updated_at = now() "
                 "WHERE ticket_id LIKE 'burst%' AND status IN ('QUEUED', 'SEARCHING')")


# A configuration whose tickets never match (every skill is 990 from the
# reference), so the tickets of the restart test keep their state.
NEVER = {"ruleLanguageVersion": "1.0",
         "playerAttributes": [{"name": "skill", "type": "number", "default": 10}],
         "teams": [{"name": "red", "minPlayers": 1, "maxPlayers": 1},
                   {"name": "blue", "minPlayers": 1, "maxPlayers": 1}],
         "rules": [{"name": "Unreachable", "type": "distance", "referenceValue": 1000, "maxDistance": 0,
                    "measurements": ["teams[*].players.attributes[skill]"]}]}
RESTART_CONFIG = {"Name": "Restart", "RuleSetName": "NeverRules", "RequestTimeoutSeconds": 600,
                  "AcceptanceRequired": False, "FlexMatchMode": "STANDALONE",
                  "NotificationTarget": rally.TOPIC}


def postmaster():
    """The postmaster's pid and its children (the backends)."""
    with open(os.path.join(ENV_RT, "pg", "data", "postmaster.pid")) as f:
        pid = int(f.readline())
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        return pid, [int(c) for c in f.read().split()]


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


ENV_RT = os.environ["RALLY_RT_DIR"]


class PostgresRestart(unittest.TestCase):
    """kill -9 of the postmaster under load of every route family, then a
    restart as `make run` would do it: every request sent once PostgreSQL is
    back answers 2xx at once (no SIGHUP, no idle worker failing its first
    request), the daemons carry on, and no delivery is dead-lettered."""

    @classmethod
    def setUpClass(cls):
        rally.load_config(rulesets={"NeverRules": NEVER}, configurations={"Restart": RESTART_CONFIG})

    def remember(self, r):
        """The status, keeping the last refusal's body for the failure message."""
        if r.status >= 400:
            self.last_refusal = r
        return r.status

    def family_calls(self):
        """One callable per route family; each makes one request, returns
        its status."""
        guests = [guest() for _ in range(2)]
        poller = guests.pop()
        polled = rally.start_ticket(poller["auth_token"], configuration="Restart").json["TicketId"]
        acceptor = guests.pop()
        accepted = rally.start_ticket(acceptor["auth_token"], configuration="Restart").json["TicketId"]
        self.accepted = accepted
        # The matchmaker's MatchmakingSearching first: a Searching newer than
        # a match replaces it (sql/009), so the proposal must come after it.
        self.assertTrue(rally.wait_until(lambda: request("GET", "/v1/matchmaking/" + accepted,
                                                         token=acceptor["auth_token"]).json["Status"]
                                         == "SEARCHING", 15))
        publish("PotentialMatchCreated", [(accepted, [{"playerId": acceptor["user_id"], "team": "red"}])],
                matchId="m-" + accepted, acceptanceRequired=True, acceptanceTimeout=600,
                configuration="Restart")
        elsewhere = "restart-elsewhere-" + os.urandom(4).hex()
        server = server_token("fleet-local")
        r = request("POST", "/v1/fleet/processes",
                    {"location": "us-east-1", "ipAddress": "127.0.0.1", "dnsName": "localhost",
                     "port": 7391, "maxPlayers": 2}, token=server)
        self.assertEqual(r.status, 201, r)
        process = r.json["processId"]
        fresh = iter(guests + [guest() for _ in range(300)])

        def start():
            """A new ticket for a player without one (each player once)."""
            g = next(fresh, None) or guest()
            r = rally.start_ticket(g["auth_token"], configuration="Restart")
            return r.status, g, (r.json or {}).get("TicketId")

        def cancel():
            status, g, t = start()
            if status not in (200, 201):
                return "start failed: %s" % status
            return request("DELETE", "/v1/matchmaking/" + t, token=g["auth_token"]).status

        return {
            "login": lambda: request("POST", "/v1/identity/guest", {}).status,
            "start": lambda: start()[0],
            "cancel": cancel,
            "poll": lambda: request("GET", "/v1/matchmaking/" + polled, token=poller["auth_token"]).status,
            "accept": lambda: self.remember(request("POST", "/v1/matchmaking/%s/accept" % accepted,
                                                    {"acceptanceType": "ACCEPT"}, token=acceptor["auth_token"])),
            "events": lambda: publish("MatchmakingSearching", [(elsewhere, [{"playerId": "p-" + elsewhere}])],
                                      configuration="Restart").status,
            "fleet": lambda: request("POST", "/v1/fleet/processes/%s/heartbeat" % process,
                                     token=server).status,
        }

    def test_every_route_serves_once_postgres_is_back(self):
        calls = self.family_calls()
        for name, call in calls.items():
            self.assertIn(call(), (200, 201), name)  # each works before the crash
        dead_before = psql("SELECT count(*) FROM events.dead_letters")
        matchmaker, sweeper = rally.pids("matchmaker"), rally.pids("sweeper")
        log = {name: [] for name in calls}
        stop = threading.Event()

        def load(name, call):
            while not stop.is_set():
                t0 = time.monotonic()
                try:
                    status = call()
                except Exception as e:  # recorded: a failure, not a crash of the load
                    status = repr(e)
                log[name].append((t0, status))
                time.sleep(0.05)

        threads = [threading.Thread(target=load, args=item) for item in calls.items()]
        for t in threads:
            t.start()
        try:
            time.sleep(1.0)
            pid, backends = postmaster()
            killed = time.monotonic()
            os.kill(pid, signal.SIGKILL)
            # The backends notice their postmaster died and leave.
            self.assertTrue(rally.wait_until(lambda: not any(alive(b) for b in [pid] + backends), 10))
            time.sleep(1.0)  # an outage, under load
            subprocess.run([os.path.join(rally.TOP, "scripts", "stack.sh"), "pg-start", rally.RUN],
                           check=True, capture_output=True, env=os.environ)
            back = time.monotonic()
            time.sleep(6.0)
        finally:
            # Whatever failed above, the tests after this one get their
            # PostgreSQL back (pg-start does nothing to a running one).
            subprocess.run([os.path.join(rally.TOP, "scripts", "stack.sh"), "pg-start", rally.RUN],
                           capture_output=True, env=os.environ)
            stop.set()
            for t in threads:
                t.join()
        firsts = {name: min((t0 for t0, s in entries if t0 >= back and s in (200, 201)), default=None)
                  for name, entries in log.items()}
        print("\n  PostgreSQL killed, restarted %.1f s later; first 2xx per family %s s after" %
              (back - killed, ", ".join("%s %.2f" % (n, t - back) for n, t in firsts.items() if t)), end=" ")
        for name, entries in log.items():
            during = [s for t0, s in entries if t0 < back]
            after = [s for t0, s in entries if t0 >= back]
            if name == "poll":
                self.assertIn(503, during)  # the outage was real
            self.assertGreater(len(after), 3, name)
            self.assertEqual([s for s in after if s not in (200, 201)], [], (name, getattr(self, "last_refusal", None),
                             psql("SELECT status || ' ' || coalesce(last_event, '-') FROM backend.ticket_results "
                                  "WHERE ticket_id = :'p1'", self.accepted),
                             psql("SELECT status FROM matchmaking.tickets WHERE ticket_id = :'p1'", self.accepted)))
        # The daemons carried on by themselves: the same processes, and a
        # ticket started now is searching in the client's view (the
        # matchmaker back, its events applied).
        self.assertEqual((rally.pids("matchmaker"), rally.pids("sweeper")), (matchmaker, sweeper))
        self.assertTrue(alive(matchmaker) and alive(sweeper))
        g = guest()
        t = rally.start_ticket(g["auth_token"], configuration="Restart").json["TicketId"]
        self.assertTrue(rally.wait_until(
            lambda: request("GET", "/v1/matchmaking/" + t, token=g["auth_token"]).json["Status"] == "SEARCHING",
            15))
        self.assertEqual(psql("SELECT count(*) FROM events.dead_letters"), dead_before)


class Supervision(unittest.TestCase):
    """`make run` keeps its daemons alive: a matchmaker, sweeper or fleet
    agent killed with -9 is started again and goes back to work (the agent
    taking over the game servers its predecessor left running)."""

    @classmethod
    def setUpClass(cls):
        rally.load_config(rulesets={"NeverRules": NEVER}, configurations={"Restart": RESTART_CONFIG})

    def restarted(self, name):
        """Kills name with -9; returns when its successor runs (the kill's
        monotonic time is kept in self.killed)."""
        old = rally.pids(name)
        self.killed = time.monotonic()
        os.kill(old, signal.SIGKILL)
        self.assertTrue(rally.wait_until(lambda: os.path.exists(os.path.join(rally.RUN, "pids", name + ".pid"))
                                         and rally.pids(name) != old and alive(rally.pids(name)), 10), name)
        return rally.pids(name)

    def measured(self, what):
        print("\n  %s: back %.2f s after kill -9" % (what, time.monotonic() - self.killed), end=" ")

    def test_killed_daemons_come_back(self):
        self.restarted("matchmaker")
        g = guest()
        t = rally.start_ticket(g["auth_token"], configuration="Restart").json["TicketId"]
        self.assertTrue(rally.wait_until(
            lambda: request("GET", "/v1/matchmaking/" + t, token=g["auth_token"]).json["Status"] == "SEARCHING",
            15, interval=0.02))
        self.measured("matchmaker (a new ticket searching)")

        self.restarted("sweeper")

        running = lambda: set(psql("SELECT process_id FROM fleet.processes WHERE status = 'ACTIVE' "
                                   "AND compute_name = 'local-us-east-1'")) - {""}
        before = running()
        self.assertGreater(len(before), 0)
        log = os.path.join(rally.RUN, "logs", "agent-us-east-1.log")
        adopted = lambda: open(log).read().count("adopted process")
        adopted_before = adopted()
        self.restarted("agent-us-east-1")
        # The new agent takes over the game servers the killed one left
        # running, rather than launching others beside them.
        self.assertTrue(rally.wait_until(lambda: adopted() > adopted_before, 10, interval=0.05),
                        open(log).read()[-2000:])
        self.measured("fleet agent (its game servers taken over)")
        time.sleep(1)
        # Every one still running was taken over (a game may have ended meanwhile).
        self.assertGreaterEqual(adopted() - adopted_before, len(before & running()))

    def test_killed_function_master_and_nginx_come_back(self):
        g = guest()
        t = rally.start_ticket(g["auth_token"], configuration="Restart").json["TicketId"]
        read = lambda: request("GET", "/v1/matchmaking/" + t, token=g["auth_token"]).status
        self.assertEqual(read(), 200)
        old_workers = [int(p) for p in open("/proc/%d/task/%d/children" % ((rally.pids("poll-ticket"),) * 2))
                       .read().split()]
        self.restarted("poll-ticket")
        self.assertTrue(rally.wait_until(lambda: read() == 200, 10, interval=0.02))
        self.measured("function master (poll-ticket answering)")
        # The killed master's workers left instead of holding their
        # database connections on a socket nobody reaches any more.
        self.assertTrue(rally.wait_until(lambda: not any(alive(w) for w in old_workers), 10), old_workers)

        self.restarted("nginx")
        ok = lambda: _status_or_none(read) == 200
        self.assertTrue(rally.wait_until(ok, 10, interval=0.02))
        self.measured("nginx (answering)")


def _status_or_none(call):
    try:
        return call()
    except OSError:
        return None
