"""The client SDK (client-sdk/) against the real stack, through the `rally`
tool, the example client and a driver that exercises token handling:
returning guests, waiting by push and by polling, refresh before expiry,
a revoked refresh token, exit codes, and the library's exported symbols."""

import json
import os
import re
import signal
import stat
import subprocess
import tempfile
import unittest

import rally
from rally import BIN, RUN, TOP, psql, wait_until
from test_fleet import clear_pool
from test_outbox import NEVER, PARKED

DUO = {"ruleLanguageVersion": "1.0",
       "playerAttributes": [{"name": "skill", "type": "number", "default": 10}],
       "teams": [{"name": "duo", "minPlayers": 2, "maxPlayers": 2}]}
SDK_DUO = {"Name": "SdkDuo", "RuleSetName": "SdkDuoRules", "RequestTimeoutSeconds": 60,
           "AcceptanceRequired": False, "FlexMatchMode": "STANDALONE",
           "NotificationTarget": rally.TOPIC}
LIB = os.path.join(os.path.dirname(BIN), "lib")
TESTS = os.path.join(os.path.dirname(BIN), "tests")


def cli(*args, creds=None, timeout=60):
    cmd = [os.path.join(BIN, "rally"), "--url", "http://127.0.0.1:%d" % rally.PORT]
    if creds:
        cmd += ["--credentials", creds]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=timeout,
                          env=os.environ)


def gone(pid):
    """Exited (a zombie nobody reaped counts as gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def access_log():
    with open(os.path.join(RUN, "logs", "nginx-access.log")) as f:
        return f.read()


class Sdk(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        rally.load_config(rulesets={"SdkDuoRules": DUO, "Never": NEVER},
                          configurations={"SdkDuo": SDK_DUO, "Parked": PARKED})

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="rally-sdk-test-")

    def creds(self, name="guest.json"):
        return os.path.join(self.dir, name)

    def test_login_new_then_returning(self):
        first = cli("--json", "login", creds=self.creds())
        self.assertEqual(first.returncode, 0, first.stderr)
        player = json.loads(first.stdout)["PlayerId"]
        self.assertEqual(stat.S_IMODE(os.stat(self.creds()).st_mode), 0o600)
        saved = json.load(open(self.creds()))
        self.assertEqual(saved["user_id"], player)
        again = cli("--json", "login", creds=self.creds())
        self.assertEqual(json.loads(again.stdout)["PlayerId"], player)
        # A saved guest rally does not know: refused, exit 3, nothing overwritten.
        json.dump({"user_id": "6b7c0b1e-0000-4000-8000-000000000000", "guest_secret": "x" * 43},
                  open(self.creds("stranger.json"), "w"))
        r = cli("login", creds=self.creds("stranger.json"))
        self.assertEqual(r.returncode, 3, r.stderr)

    def pair(self, *extra):
        procs = [subprocess.Popen(
            [os.path.join(BIN, "rally"), "--url", "http://127.0.0.1:%d" % rally.PORT, "--json",
             "--credentials", self.creds("p%d.json" % i)] + list(extra) +
            ["matchmake", "--config", "SdkDuo", "--latency", "us-east-1=20", "--wait"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ)
            for i in range(2)]
        out = [p.communicate(timeout=60) for p in procs]
        for p, (o, e) in zip(procs, out):
            self.assertEqual(p.returncode, 0, (o, e))
        return [json.loads(o.strip().splitlines()[-1]) for o, _ in out]

    def test_matchmake_and_wait_by_push(self):
        clear_pool("SdkDuo")
        tickets = self.pair()
        for t in tickets:
            self.assertEqual(t["Status"], "COMPLETED")
            log = access_log()
            self.assertIn("GET /v1/matchmaking/%s/events " % t["TicketId"], log)
            # Told by push: the ticket itself was never polled.
            self.assertNotIn("GET /v1/matchmaking/%s " % t["TicketId"], log)

    def test_matchmake_and_wait_by_polling(self):
        clear_pool("SdkDuo")
        tickets = self.pair("--no-push")
        for t in tickets:
            self.assertEqual(t["Status"], "COMPLETED")
            log = access_log()
            self.assertNotIn("/v1/matchmaking/%s/events" % t["TicketId"], log)
            self.assertIn("GET /v1/matchmaking/%s " % t["TicketId"], log)

    def swap_poll_ticket(self, env):
        """Runs poll-ticket (it answers the push subscription check) with env
        in place of the stack's own, whose supervisor is held meanwhile; the
        stack's own comes back at cleanup."""
        supervisor = rally.pids("poll-ticket.supervisor")
        old = rally.pids("poll-ticket")
        os.kill(supervisor, signal.SIGSTOP)
        os.kill(old, signal.SIGTERM)
        self.assertTrue(wait_until(lambda: gone(old), 15))
        log = open(os.path.join(RUN, "logs", "poll-ticket.log"), "a")
        p = subprocess.Popen([os.path.join(BIN, "poll-ticket")], stdout=log, stderr=subprocess.STDOUT,
                             env=env, start_new_session=True)
        self.wait_for_poll_ticket()

        def restore():
            p.terminate()
            p.wait()
            log.close()
            os.kill(supervisor, signal.SIGCONT)  # it starts the stack's own again
            self.assertTrue(wait_until(lambda: rally.pids("poll-ticket") != old, 15))
            self.wait_for_poll_ticket()
        self.addCleanup(restore)

    def wait_for_poll_ticket(self):
        sock = os.path.join(os.environ["RALLY_SOCKET_DIR"], "poll-ticket.sock")
        self.assertTrue(wait_until(lambda: os.path.exists(sock) and
                                   rally.request("GET", "/v1/matchmaking/x", token="x").status == 401, 15))

    def test_polling_when_push_is_off_on_the_server(self):
        clear_pool("SdkDuo")
        self.swap_poll_ticket({k: v for k, v in os.environ.items() if k != "RALLY_PUSH_SOCKET"})
        # The subscriber is told why, in rally's envelope.
        r = rally.request("GET", "/v1/matchmaking/any-ticket/events", token=rally.guest()["auth_token"])
        self.assertEqual((r.status, r.json), (403, {"error": "push_off",
                                                    "message": "push is off here: poll the ticket"}))
        tickets = self.pair()  # the SDK tries push, is told push_off, polls
        log = access_log()
        for t in tickets:
            self.assertEqual(t["Status"], "COMPLETED")
            self.assertRegex(log, r"GET /v1/matchmaking/%s/events HTTP/1\.1\" 403" % t["TicketId"])
            self.assertIn("GET /v1/matchmaking/%s " % t["TicketId"], log)

    def test_refresh_before_expiry_and_after_revocation(self):
        d = subprocess.Popen([os.path.join(TESTS, "sdk-driver"), "http://127.0.0.1:%d" % rally.PORT,
                              self.creds(), "Parked"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=os.environ)
        lines = []
        while True:
            line = d.stdout.readline().strip()
            self.assertTrue(line, lines)
            lines.append(line)
            if line == "ready" or line.startswith("fail"):
                break
        self.assertEqual(lines[0], "ok login", lines)
        self.assertIn("ok refreshed", lines)
        player = lines[1].split()[1]
        # The refresh before expiry rotated the session's token.
        self.assertGreaterEqual(int(psql(
            "SELECT count(*) FROM identity.refresh_tokens t JOIN identity.refresh_families f "
            "USING (family_id) WHERE f.user_id = :'p1' AND t.used_at IS NOT NULL", player)[0]), 1)
        # Every session of the player revoked, as a logout elsewhere would.
        psql("UPDATE identity.refresh_families SET revoked_at = now(), revoked_reason = 'test' "
             "WHERE user_id = :'p1'", player)
        rest, _ = d.communicate("go\n", timeout=30)
        self.assertEqual(d.returncode, 0, rest)
        self.assertIn("ok relogin", rest)
        self.assertIn("player %s" % player, rest)  # the same player, logged in again
        self.assertIn("ok cancel", rest)

    def test_exit_codes(self):
        creds = self.creds()
        self.assertEqual(cli("login", creds=creds).returncode, 0)
        self.assertEqual(cli("ticket", "no-such-ticket", creds=creds).returncode, 4)
        self.assertEqual(cli("frobnicate", creds=creds).returncode, 2)
        self.assertEqual(cli("matchmake", "--latency", "us-east-1=abc", creds=creds).returncode, 2)
        r = cli("--json", "matchmake", "--config", "Parked", "--latency", "us-east-1=20", creds=creds)
        self.assertEqual(r.returncode, 0, r.stderr)
        tid = json.loads(r.stdout)["TicketId"]
        again = cli("matchmake", "--config", "Parked", "--latency", "us-east-1=20", creds=creds)
        self.assertEqual(again.returncode, 5)  # an active ticket
        self.assertIn(tid, again.stderr)
        self.assertEqual(cli("cancel", tid, creds=creds).returncode, 0)
        self.assertEqual(cli("cancel", tid, creds=creds).returncode, 5)  # already ended
        r = cli("--json", "--timeout", "2", "wait", tid, creds=creds)
        self.assertEqual(r.returncode, 6)  # CANCELLED: the match was not made
        self.assertEqual(json.loads(r.stdout)["Status"], "CANCELLED")
        dead = subprocess.run([os.path.join(BIN, "rally"), "--url", "http://127.0.0.1:1",
                               "--credentials", creds, "login"], capture_output=True, text=True)
        self.assertEqual(dead.returncode, 7)

    def test_example_client_takes_its_seat(self):
        clear_pool("SampleFlexMatchConfiguration")
        self.assertTrue(rally.fresh_fleet_local())
        r = subprocess.run([os.path.join(BIN, "rally-example-client"),
                            "http://127.0.0.1:%d" % rally.PORT],
                           capture_output=True, text=True, timeout=90, env=os.environ)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"game server 127\.0\.0\.1:\d+ says: OK [0-9a-f-]{36}")
        # The tool does the same with --connect.
        r = cli("matchmake", "--latency", "us-east-1=23", "--latency", "eu-west-1=81", "--wait",
                "--connect", creds=self.creds(), timeout=90)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"game server 127\.0\.0\.1:\d+ says: OK [0-9a-f-]{36}")

    def test_the_library_exports_only_its_api(self):
        nm = subprocess.run(["nm", "-D", "--defined-only", os.path.join(LIB, "librally.so.0")],
                            capture_output=True, text=True, check=True).stdout
        names = [l.split()[-1] for l in nm.splitlines() if l.strip()]
        self.assertIn("rally_wait_for_match", names)
        self.assertIn("rally_rt_connect", names)
        self.assertEqual([n for n in names if not n.startswith("rally_")], [])
        with open(os.path.join(LIB, "pkgconfig", "rally.pc")) as f:
            pc = f.read()
        self.assertIn("Libs: -L${libdir} -lrally", pc)
        header = os.path.join(TOP, "client-sdk", "include", "rally", "rally.h")
        self.assertTrue(re.search(r"Threads:", open(header).read()))



class ServerCommands(unittest.TestCase):
    """`rally server ...`: fleet operations with the fleet's secret."""

    @classmethod
    def setUpClass(cls):
        rally.load_config(rulesets={"Never": NEVER}, configurations={"Parked": PARKED})

    def server(self, *args):
        env = dict(os.environ, RALLY_FLEET_SECRET_FILE=os.path.join(RUN, "fleets", "fleet-local.secret"))
        return subprocess.run([os.path.join(BIN, "rally"), "--url", "http://127.0.0.1:%d" % rally.PORT,
                               "server"] + list(args), capture_output=True, text=True, env=env,
                              timeout=30)

    def test_start_describe_explain_stop(self):
        r = self.server("start", "--config", "Parked", "--player", "srv-cli-1:us-east-1=30",
                        "--player", "srv-cli-2")
        self.assertEqual(r.returncode, 0, r.stderr)
        ticket = json.loads(r.stdout)["MatchmakingTicket"]
        self.assertEqual([p["PlayerId"] for p in ticket["Players"]], ["srv-cli-1", "srv-cli-2"])
        self.assertEqual(ticket["Players"][0]["LatencyInMs"], {"us-east-1": 30})
        tid = ticket["TicketId"]
        searching = lambda: json.loads(self.server("describe", tid).stdout)["TicketList"][0]["Status"] \
            == "SEARCHING"
        self.assertTrue(wait_until(searching, 10))
        r = self.server("explain", tid)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["TicketId"], tid)
        self.assertEqual(self.server("stop", tid).returncode, 0)
        self.assertEqual(self.server("stop", tid).returncode, 1)  # 409: already ended
        self.assertEqual(self.server("explain", "no-such-ticket").returncode, 4)
        self.assertEqual(self.server("frob").returncode, 2)
        env = dict(os.environ, RALLY_FLEET_SECRET_FILE="/dev/null")
        bad = subprocess.run([os.path.join(BIN, "rally"), "--url", "http://127.0.0.1:%d" % rally.PORT,
                              "server", "describe", tid], capture_output=True, text=True, env=env)
        self.assertEqual(bad.returncode, 3)  # an empty secret is refused


if __name__ == "__main__":
    unittest.main()
