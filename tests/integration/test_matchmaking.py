"""Starting, reading, cancelling and accepting tickets on the native routes."""

import concurrent.futures
import json
import os
import signal
import subprocess
import threading
import time
import unittest

import rally
from rally import ENV, RUN, guest, psql, publish, request, start_ticket, wait_until

ENV_SOCKETS = ENV["RALLY_SOCKET_DIR"]


def setUpModule():
    rally.pause_matchmaker()  # these tests play the matchmaker themselves


def tearDownModule():
    rally.resume_matchmaker()


def count_tickets(player):
    return psql("SELECT count(*) FROM backend.ticket_players WHERE player_id = :'p1'", player)[0]


def read_back(g, ticket):
    """The ticket as a poll of its player reads it."""
    r = request("GET", "/v1/matchmaking/" + ticket["TicketId"], token=g["auth_token"])
    assert r.status == 200, r
    return r.json


class StartMatchmaking(unittest.TestCase):
    def test_new_ticket(self):
        g = guest()
        r = start_ticket(g["auth_token"])
        self.assertEqual(r.status, 201, r)
        t = r.json
        self.assertEqual(list(t), ["TicketId", "ConfigurationName", "ConfigurationArn", "Status",
                                   "StartTime", "Players"])
        self.assertEqual(t["Status"], "QUEUED")
        self.assertEqual(t["ConfigurationName"], "SampleFlexMatchConfiguration")
        self.assertRegex(t["StartTime"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertEqual(t["Players"], [{"PlayerId": g["user_id"],
                                         "PlayerAttributes": {"skill": {"N": 10}},
                                         "LatencyInMs": {"us-east-1": 20, "eu-west-1": 90}}])
        # The players row now exists with the rule set's default skill, and
        # the pool has the ticket for the matchmaker.
        self.assertEqual(psql("SELECT attributes->'skill'->>'N' FROM backend.players WHERE player_id = :'p1'",
                              g["user_id"]), ["10"])
        self.assertEqual(psql("SELECT status FROM matchmaking.tickets WHERE ticket_id = :'p1'",
                              t["TicketId"]), ["QUEUED"])
        # The answer is rendered from the start call, not read back: it must
        # be what a read of the stored ticket says.
        self.assertEqual(read_back(g, t), t)

    def test_server_side_skill_is_used(self):
        g = guest()
        psql("INSERT INTO backend.players (player_id, attributes) VALUES (:'p1', '{\"skill\": {\"N\": 42}}')",
             g["user_id"])
        r = start_ticket(g["auth_token"])
        self.assertEqual(r.json["Players"][0]["PlayerAttributes"], {"skill": {"N": 42}})
        self.assertEqual(read_back(g, r.json), r.json)

    def test_same_ticket_id_is_idempotent(self):
        g = guest()
        first = start_ticket(g["auth_token"], ticketId="my-ticket-" + g["user_id"][:8])
        self.assertEqual(first.status, 201)
        again = start_ticket(g["auth_token"], ticketId=first.json["TicketId"])
        self.assertEqual(again.status, 200)
        self.assertEqual(again.json, first.json)
        self.assertEqual(count_tickets(g["user_id"]), "1")

    def test_second_ticket_while_active_is_409_with_active_id(self):
        g = guest()
        first = start_ticket(g["auth_token"]).json
        r = start_ticket(g["auth_token"])
        self.assertEqual(r.status, 409)
        self.assertEqual(r.json["TicketId"], first["TicketId"])
        self.assertEqual(r.json["error"], "active_ticket")

    def test_ticket_id_of_another_player_is_409(self):
        a, b = guest(), guest()
        t = start_ticket(a["auth_token"], ticketId="shared-" + a["user_id"][:8]).json["TicketId"]
        r = start_ticket(b["auth_token"], ticketId=t)
        self.assertEqual(r.status, 409)
        self.assertEqual(r.json["error"], "ticket_id_taken")

    def test_new_ticket_after_the_old_one_ended(self):
        g = guest()
        t = start_ticket(g["auth_token"]).json["TicketId"]
        self.assertEqual(request("DELETE", "/v1/matchmaking/" + t, token=g["auth_token"]).status, 200)
        self.assertEqual(start_ticket(g["auth_token"]).status, 201)

    def test_client_settable_attributes(self):
        g = guest()
        r = start_ticket(g["auth_token"], configuration="ModesConfiguration",
                         attributes={"gameMode": {"S": "ctf"}, "maps": {"SL": ["a", "b"]},
                                     "roles": {"SDM": {"tank": 2.5}}})
        self.assertEqual(r.status, 201, r)
        attrs = r.json["Players"][0]["PlayerAttributes"]
        self.assertEqual(attrs["gameMode"], {"S": "ctf"})
        self.assertEqual(attrs["skill"], {"N": 10})
        self.assertEqual(attrs["roles"], {"SDM": {"tank": 2.5}})
        self.assertEqual(read_back(g, r.json), r.json)

    def test_bad_input_is_400_and_writes_nothing(self):
        g = guest()
        tok = g["auth_token"]
        many = {"r%d" % i: 10 for i in range(33)}
        huge = {"r%d" % i: 10 for i in range(2000)}
        cases = [
            ({"latencyInMs": {"us-east-1": 0}}, "invalid_latency"),
            ({"latencyInMs": {"us-east-1": -5}}, "invalid_latency"),
            ({"latencyInMs": {"us-east-1": 1.5}}, "invalid_latency"),
            ({"latencyInMs": {"us-east-1": "20"}}, "invalid_latency"),
            ({"latencyInMs": {"us east 1": 20}}, "invalid_latency"),
            ({"latencyInMs": {}}, "invalid_latency"),
            ({"latencyInMs": []}, "invalid_latency"),
            ({"latencyInMs": many}, "invalid_latency"),
            ({"latencyInMs": {"a": 10}, "extra": 1}, "invalid_body"),
            ({"latencyInMs": {"a": 10}, "ticketId": "bad id!"}, "invalid_body"),
            ({"latencyInMs": {"a": 10}, "ticketId": 7}, "invalid_body"),
            ({"latencyInMs": {"a": 10}, "configuration": "Nope"}, "unknown_configuration"),
            ({"latencyInMs": {"a": 10}, "attributes": {"skill": {"N": 99}}}, "attribute_not_settable"),
            ({"latencyInMs": {"a": 10}, "configuration": "ModesConfiguration",
              "attributes": {"gameMode": {"N": 3}}}, "attribute_type"),
            ({"latencyInMs": {"a": 10}, "configuration": "ModesConfiguration",
              "attributes": {"gameMode": {"S": "x", "N": 1}}}, "invalid_attributes"),
            ({"latencyInMs": {"a": 10}, "configuration": "ModesConfiguration",
              "attributes": {"gameMode": {"S": ""}}}, "invalid_attributes"),
            ({}, "invalid_body"),
        ]
        for body, code in cases:
            r = request("POST", "/v1/matchmaking", body, token=tok)
            self.assertEqual((r.status, r.json["error"]), (400, code), body)
        for raw in (b"{", b"[1]", b'{"latencyInMs": {"\xc3\x28": 5}}', b"\xff\xfe{}", b"null"):
            r = request("POST", "/v1/matchmaking", raw, token=tok)
            self.assertEqual(r.status, 400, raw)
            self.assertIn(r.json["error"], ("invalid_json", "invalid_body"))
        # A huge latency map is refused whole: by the function's body limit
        # (413) or by validation (400), never stored.
        r = request("POST", "/v1/matchmaking", {"latencyInMs": huge}, token=tok)
        self.assertIn(r.status, (400, 413))
        self.assertEqual(r.json["error"], "body_too_large")
        self.assertEqual(count_tickets(g["user_id"]), "0")
        self.assertEqual(psql("SELECT count(*) FROM backend.players WHERE player_id = :'p1'",
                              g["user_id"]), ["0"])


# A map the player must choose: declared without a default.
MAP_VOTE = {"ruleLanguageVersion": "1.0",
            "playerAttributes": [{"name": "skill", "type": "number", "default": 10},
                                 {"name": "map", "type": "string"}],
            "teams": [{"name": "red", "minPlayers": 1, "maxPlayers": 1},
                      {"name": "blue", "minPlayers": 1, "maxPlayers": 1}],
            "rules": [{"name": "SameMap", "type": "comparison", "operation": "=",
                       "measurements": ["flatten(teams[*].players.attributes[map])"]}]}


class RequiredAttributes(unittest.TestCase):
    """FlexMatch cannot match a player without an attribute that has no
    default; GameLift refuses such a request at StartMatchmaking."""

    @classmethod
    def setUpClass(cls):
        rally.load_config(rulesets={"MapVoteRules": MAP_VOTE},
                          configurations={"MapVote": {
                              "Name": "MapVote", "RuleSetName": "MapVoteRules",
                              "RequestTimeoutSeconds": 60, "AcceptanceRequired": False,
                              "FlexMatchMode": "STANDALONE", "ClientSettableAttributes": ["map"]}})

    def test_a_missing_attribute_without_default_is_400_and_writes_nothing(self):
        g = guest()
        r = start_ticket(g["auth_token"], configuration="MapVote")
        self.assertEqual((r.status, r.json["error"]), (400, "attribute_missing"), r.json)
        self.assertIn("map", r.json["message"])
        self.assertEqual(count_tickets(g["user_id"]), "0")
        self.assertEqual(psql("SELECT count(*) FROM backend.players WHERE player_id = :'p1'",
                              g["user_id"]), ["0"])
        r = start_ticket(g["auth_token"], configuration="MapVote", attributes={"map": {"S": "dust"}})
        self.assertEqual(r.status, 201, r.json)
        self.assertEqual(r.json["Players"][0]["PlayerAttributes"],
                         {"skill": {"N": 10}, "map": {"S": "dust"}})

    def test_a_server_side_value_will_do(self):
        g = guest()
        psql("INSERT INTO backend.players (player_id, attributes) VALUES "
             "(:'p1', '{\"map\": {\"S\": \"mine\"}}')", g["user_id"])
        r = start_ticket(g["auth_token"], configuration="MapVote")
        self.assertEqual(r.status, 201, r.json)
        self.assertEqual(r.json["Players"][0]["PlayerAttributes"]["map"], {"S": "mine"})


class ReadTicket(unittest.TestCase):
    def test_owner_reads_others_get_404(self):
        a, b = guest(), guest()
        t = start_ticket(a["auth_token"]).json["TicketId"]
        mine = request("GET", "/v1/matchmaking/" + t, token=a["auth_token"])
        self.assertEqual(mine.status, 200)
        self.assertEqual(mine.json["TicketId"], t)
        theirs = request("GET", "/v1/matchmaking/" + t, token=b["auth_token"])
        unknown = request("GET", "/v1/matchmaking/no-such-ticket", token=b["auth_token"])
        # Indistinguishable: never reveal that someone else's ticket exists.
        self.assertEqual((theirs.status, theirs.body), (unknown.status, unknown.body))
        self.assertEqual(theirs.status, 404)

    def test_expired_result_is_404_before_any_sweep(self):
        # The sweeper is paused so that it cannot delete the row first.
        with open(os.path.join(RUN, "pids", "sweeper.pid")) as f:
            sweeper = int(f.read())
        os.kill(sweeper, signal.SIGSTOP)
        self.addCleanup(os.kill, sweeper, signal.SIGCONT)
        g = guest()
        t = start_ticket(g["auth_token"]).json["TicketId"]
        psql("UPDATE backend.ticket_results SET expires_at = now() - interval '1 millisecond' "
             "WHERE ticket_id = :'p1'", t)
        self.assertEqual(request("GET", "/v1/matchmaking/" + t, token=g["auth_token"]).status, 404)
        r = request("GET", "/get-match-status?ticketId=" + t, token=g["auth_token"])
        self.assertEqual(r.status, 400)
        r = request("GET", "/requestmatchstatus?ticketId=" + t, token=g["auth_token"])
        self.assertEqual(r.json["PlayerSessionId"], "NotPlacedYet")
        # The row is still there (no sweep has run on it yet)...
        self.assertEqual(psql("SELECT count(*) FROM backend.ticket_results WHERE ticket_id = :'p1'", t), ["1"])
        # ...and an expired ticket no longer blocks a new one.
        self.assertEqual(start_ticket(g["auth_token"]).status, 201)


class PollsInBatches(unittest.TestCase):
    """poll-ticket answers the polls waiting on its socket with one read
    (serve.c, "Batches"). Under concurrency each answer must still be the
    caller's own ticket, and 404 for one that is not theirs, as alone."""

    def test_concurrent_polls_are_read_together_and_each_gets_its_own_answer(self):
        from rally import deliver, sign
        from test_events import succeeded
        from test_metrics import until_batched
        players = [guest() for _ in range(6)]
        tickets = [start_ticket(g["auth_token"]).json["TicketId"] for g in players]
        # Half of them matched, each with its own player session and port.
        for i in range(0, 6, 2):
            deliver(sign(succeeded([(tickets[i], players[i]["user_id"], "psess-%d" % i)],
                                   ip="10.0.0.%d" % i, port=7000 + i)))
        native = "/v1/matchmaking/%s"
        guidance = "/get-match-status?ticketId=%s"
        legacy = "/requestmatchstatus?ticketId=%s"
        cases = []  # (path, player, what the answer must be)
        for k in range(240):
            i, kind, route = k % 6, (k // 6) % 3, k % 3
            tid = [tickets[i], tickets[i], "nope-%d" % k][kind]
            g = players[i] if kind == 0 else players[(i + 1) % 6]
            path = [native, guidance, legacy][route] % tid
            mine, matched = kind == 0, i % 2 == 0
            if route == 0:
                want = ("ticket", tickets[i]) if mine else ("404",)
            elif route == 1:
                want = ("succeeded", 7000 + i) if mine and matched else ("400",)
            else:
                want = ("placed", "psess-%d" % i) if mine and matched else ("not placed",)
            cases.append((path, g, want))

        def poll(case):
            path, g, want = case
            r = request("GET", path, token=g["auth_token"], bare=True)
            if want[0] == "ticket":
                return (r.status == 200 and r.json["TicketId"] == want[1]
                        and [p["PlayerId"] for p in r.json["Players"]] == [g["user_id"]])
            if want[0] == "404":
                return r.status == 404 and r.json["error"] == "not_found"
            if want[0] == "succeeded":
                return r.status == 200 and r.json["Port"] == str(want[1])
            if want[0] == "400":
                return r.status == 400 and r.json == "TicketId not found in DynamoDB table"
            if want[0] == "placed":
                return r.status == 200 and r.json["PlayerSessionId"] == want[1]
            return r.status == 200 and r.json["PlayerSessionId"] == "NotPlacedYet"

        def burst():
            with concurrent.futures.ThreadPoolExecutor(32) as pool:
                results = list(pool.map(poll, cases))
            self.assertEqual([c for c, ok in zip(cases, results) if not ok], [])

        until_batched(self, "poll-ticket", burst, len(cases))


class StartsInBatches(unittest.TestCase):
    """request-matchmaking runs the player starts waiting on its socket in
    one transaction (start_matchmaking_many). Under concurrency each must
    still get the answer it would get alone."""

    def burst(self):
        """36 new players start at once, two requests each: a native route
        pair (one 201, one 409 naming it), a GUIDANCE pair (the same ticket
        twice: those clients restart blindly), and pairs of players racing
        for one client-chosen ticketId (one wins it)."""
        players = [guest() for _ in range(36)]
        race = ["race-%s-%d" % (os.urandom(6).hex(), k) for k in range(6)]
        calls = []  # (player index, path, body)
        for i, g in enumerate(players):
            lat = {"us-east-1": 10 + i}
            if i < 12:
                calls += [(i, "/v1/matchmaking", {"latencyInMs": lat})] * 2
            elif i < 24:
                calls += [(i, "/request-matchmaking", {"latencyInMs": lat})] * 2
            else:
                calls.append((i, "/v1/matchmaking", {"latencyInMs": lat, "ticketId": race[(i - 24) // 2]}))

        def call(c):
            i, path, body = c
            return i, request("POST", path, body, token=players[i]["auth_token"], bare=True)

        with concurrent.futures.ThreadPoolExecutor(32) as pool:
            got = list(pool.map(call, calls))
        by_player = {}
        for i, r in got:
            by_player.setdefault(i, []).append(r)
        for i, g in enumerate(players):
            rs = by_player[i]
            if i < 12:
                rs.sort(key=lambda r: r.status)
                self.assertEqual([r.status for r in rs], [201, 409], rs)
                self.assertEqual(rs[1].json["TicketId"], rs[0].json["TicketId"])
                self.assertEqual(read_back(g, rs[0].json), rs[0].json)
                self.assertEqual(rs[0].json["Players"][0]["LatencyInMs"], {"us-east-1": 10 + i})
            elif i < 24:
                self.assertEqual([r.status for r in rs], [200, 200], rs)
                self.assertEqual(rs[0].json["TicketId"], rs[1].json["TicketId"])
                self.assertEqual(rs[0].json["Players"][0]["PlayerId"], g["user_id"])
            if i < 24:
                self.assertEqual(count_tickets(g["user_id"]), "1")
        for k, tid in enumerate(race):
            a, b = by_player[24 + 2 * k][0], by_player[25 + 2 * k][0]
            won, lost = (a, b) if a.status == 201 else (b, a)
            self.assertEqual((won.status, won.json["TicketId"]), (201, tid), (a, b))
            self.assertEqual((lost.status, lost.json["error"]), (409, "ticket_id_taken"), (a, b))

    def test_concurrent_starts_each_get_their_own_answer(self):
        from test_metrics import until_batched
        until_batched(self, "request-matchmaking", self.burst, 60)  # the player starts of a burst

    def session(self, sql):
        """A psql session holding a transaction open after running sql."""
        h = subprocess.Popen(["psql", "-XAtq", "-v", "ON_ERROR_STOP=1"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
        h.stdin.write("BEGIN;\n" + sql + "\nSELECT 'ready', pg_backend_pid();\n")
        h.stdin.flush()
        for line in h.stdout:  # BEGIN and each SELECT print a line first
            if line.startswith("ready|"):
                h.backend = int(line.split("|")[1])
                return h
        self.fail("psql ended before its transaction was open")

    def end(self, h):
        if h.returncode is None:
            h.stdin.write("COMMIT;\n")
            h.stdin.close()
            self.assertEqual(h.wait(10), 0)

    def blocked_by(self, h):
        """request-matchmaking's backends waiting for h's transaction."""
        return int(psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                        "'request-matchmaking' AND :'p1'::integer = ANY (pg_blocking_pids(pid))", h.backend)[0])

    def hold(self, players):
        """A transaction holding these players' locks, as a start of theirs
        would."""
        return self.session("".join("SELECT pg_advisory_xact_lock(hashtextextended('%s', 0));\n" % g["user_id"]
                                    for g in players))

    def start_later(self, answers, g, **body):
        t = threading.Thread(target=lambda: answers.update({g["user_id"]: start_ticket(g["auth_token"], **body)}))
        t.start()
        return t

    def queue_then_run(self, answers, starts):
        """Holds every worker with a busy player's start, queues starts
        ([(player, body)]) on the socket behind them in that order, and lets
        the workers go, which then take the queued starts together. Returns
        the held players and the threads of every start; None when the
        workers could not be held long enough (a held start waits at most
        the 5 s statement timeout, which a loaded machine can outlast):
        nothing then was tested, and the caller tries again."""
        master = rally.pids("request-matchmaking")
        with open("/proc/%d/task/%d/children" % (master, master)) as f:
            held = [guest() for _ in f.read().split()]
        sock = os.path.join(ENV_SOCKETS, "request-matchmaking.sock")

        def backlog():
            out = subprocess.run(["ss", "-xlnH", "src", sock], capture_output=True, text=True,
                                 check=True).stdout.split()
            return int(out[2]) if len(out) > 2 else 0

        locks, threads, queued = self.hold(held), [], True
        try:
            for k, g in enumerate(held):  # one worker each
                threads.append(self.start_later(answers, g))
                self.assertTrue(wait_until(lambda: self.blocked_by(locks) == k + 1, 10), "worker %d not held" % k)
            for k, (g, body) in enumerate(starts):  # queued in this order
                threads.append(self.start_later(answers, g, **body))
                queued = queued and wait_until(lambda: backlog() == k + 1, 4)
            queued = queued and not any(g["user_id"] in answers for g in held)  # none timed out
        finally:
            self.end(locks)
        if queued:
            return held, threads
        for t in threads:
            t.join(10)
        return None

    def until_held(self, attempt):
        """Runs attempt() until it could hold the workers, three times at
        most."""
        for _ in range(3):
            if attempt():
                return
        self.fail("the workers could not be held while starts queued")

    def test_a_busy_player_holds_up_no_one_else(self):
        """A player whose lock is held elsewhere (a start of theirs, a party
        start waiting on the matchmaker) is left out of the batch and run
        again, waiting, once the others, queued after it, are answered."""

        def attempt():
            busy, *others = [guest() for _ in range(6)]
            answers = {}
            locks = self.hold([busy])
            try:
                got = self.queue_then_run(answers, [(g, {}) for g in [busy] + others])
                if got is None:
                    return False
                held, threads = got
                waiting = threads[len(held)]
                for t in threads:
                    if t is not waiting:
                        t.join(10)
                self.assertTrue(waiting.is_alive(), "the busy start did not wait")
                self.assertEqual(self.blocked_by(locks), 1)
                for g in held + others:
                    self.assertEqual(answers[g["user_id"]].status, 201, answers[g["user_id"]])
            finally:
                self.end(locks)
            waiting.join(10)
            r = answers[busy["user_id"]]
            self.assertEqual(r.status, 201, r)
            self.assertEqual(read_back(busy, r.json), r.json)
            return True

        self.until_held(attempt)

    def test_a_start_kept_waiting_runs_again_and_holds_up_no_one_before_it(self):
        """Five starts queue behind the workers, the last for a ticketId
        another transaction has written and not committed. The four are
        answered; the fifth waits for that transaction no more than 200 ms
        in its batch, is undone, and runs again, waiting. It is told the
        ticketId is taken once that transaction commits."""

        def attempt():
            *others, loser = [guest() for _ in range(5)]
            tid = "race-" + os.urandom(6).hex()
            answers, threads = {}, []
            taken = self.session("INSERT INTO backend.ticket_results (ticket_id, configuration_name, status, "
                                 "expires_at) VALUES ('%s', 'SampleFlexMatchConfiguration', 'QUEUED', "
                                 "now() + interval '1 hour');" % tid)
            try:
                got = self.queue_then_run(answers, [(g, {}) for g in others] + [(loser, {"ticketId": tid})])
                if got is None:
                    return False
                held, threads = got
                waiting = threads[-1]
                for t in threads[:-1]:
                    t.join(10)
                self.assertTrue(waiting.is_alive(), "the loser did not wait")
                for g in held + others:
                    r = answers[g["user_id"]]
                    self.assertEqual(r.status, 201, r)
                    self.assertEqual(read_back(g, r.json), r.json)
                time.sleep(0.5)  # past the first run's 200 ms: only the second run waits now
                self.assertTrue(wait_until(lambda: self.blocked_by(taken) == 1, 10), "the loser did not run again")
            finally:
                self.end(taken)
                for t in threads:
                    t.join(10)
            self.assertEqual((answers[loser["user_id"]].status, answers[loser["user_id"]].json["error"]),
                             (409, "ticket_id_taken"))
            return True

        self.until_held(attempt)


class CancelAndAccept(unittest.TestCase):
    def test_cancel(self):
        g = guest()
        t = start_ticket(g["auth_token"]).json["TicketId"]
        r = request("DELETE", "/v1/matchmaking/" + t, token=g["auth_token"])
        self.assertEqual((r.status, r.json), (200, {}))
        got = request("GET", "/v1/matchmaking/" + t, token=g["auth_token"]).json
        self.assertEqual(got["Status"], "CANCELLED")
        self.assertIn("EndTime", got)
        self.assertEqual(psql("SELECT status FROM matchmaking.tickets WHERE ticket_id = :'p1'", t), ["CANCELLED"])
        again = request("DELETE", "/v1/matchmaking/" + t, token=g["auth_token"])
        self.assertEqual(again.status, 409)

    def test_cancel_someone_elses_ticket_is_404(self):
        a, b = guest(), guest()
        t = start_ticket(a["auth_token"]).json["TicketId"]
        self.assertEqual(request("DELETE", "/v1/matchmaking/" + t, token=b["auth_token"]).status, 404)
        self.assertEqual(request("GET", "/v1/matchmaking/" + t, token=a["auth_token"]).json["Status"], "QUEUED")

    def test_cancel_refused_while_placing(self):
        g = guest()
        t = start_ticket(g["auth_token"]).json["TicketId"]
        r = publish("PotentialMatchCreated", [(t, [{"playerId": g["user_id"], "team": "oneteam"}])],
                    matchId="m-" + t, acceptanceRequired=False, acceptanceTimeout=0,
                    ruleEvaluationMetrics=[])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(request("GET", "/v1/matchmaking/" + t, token=g["auth_token"]).json["Status"], "PLACING")
        r = request("DELETE", "/v1/matchmaking/" + t, token=g["auth_token"])
        self.assertEqual(r.status, 409)
        self.assertEqual(r.json["message"], "Matchmaking ticket is in PLACING status and cannot be canceled.")

    def test_accept_only_when_acceptance_is_required(self):
        g = guest()
        t = start_ticket(g["auth_token"]).json["TicketId"]
        path = "/v1/matchmaking/%s/accept" % t
        self.assertEqual(request("POST", path, {"acceptanceType": "ACCEPT"}, token=g["auth_token"]).status, 409)
        publish("PotentialMatchCreated", [(t, [{"playerId": g["user_id"], "team": "red"}])],
                matchId="m-" + t, acceptanceRequired=True, acceptanceTimeout=30, ruleEvaluationMetrics=[])
        got = request("GET", "/v1/matchmaking/" + t, token=g["auth_token"]).json
        self.assertEqual(got["Status"], "REQUIRES_ACCEPTANCE")
        for bad in ({"acceptanceType": "MAYBE"}, {"acceptanceType": 1}, {}, {"acceptanceType": "ACCEPT", "x": 1}):
            self.assertEqual(request("POST", path, bad, token=g["auth_token"]).status, 400, bad)
        r = request("POST", path, {"acceptanceType": "ACCEPT"}, token=g["auth_token"])
        self.assertEqual((r.status, r.json), (200, {}))
        self.assertEqual(psql("SELECT accepted FROM backend.ticket_players WHERE ticket_id = :'p1'", t), ["t"])
        other = guest()
        self.assertEqual(request("POST", path, {"acceptanceType": "REJECT"}, token=other["auth_token"]).status, 404)
