"""Game-session logs (game-session-logs, docs/observability.md): a fleet's
agent sends what its process wrote during a game session; the AWS SDK's
GetGameSessionLogUrl hands out a URL that reads it for 15 minutes without
other credentials; an operator's admin token reads it too; nothing else
does."""

import base64
import os
import subprocess
import unittest
import urllib.error
import urllib.parse
import urllib.request

import botocore.exceptions

import rally
from rally import BIN, RUN, guest, psql, request, wait_until
from test_fleet import server_token
from test_gamelift import client, raw

FLEET = "fleet-logs"
CREATED = []
LOG = b"starting\nplayer joined\n\xff\xfe not utf-8 \x00 and a NUL\nending\n"


def setUpModule():
    """fleet-logs: no agent runs it; each test's game session is hosted by a
    process the test registers itself, so only the test sends its log."""
    secret = os.path.join(RUN, "fleets", FLEET + ".secret")
    with open(secret, "w") as f:
        f.write("logs-secret-0123456789abcdef\n")
    os.chmod(secret, 0o600)
    rally.load_config(fleets={FLEET: {
        "FleetId": FLEET, "Locations": [{"Location": "us-east-1"}],
        "RuntimeConfiguration": {"ServerProcesses": [
            {"LaunchPath": "rally-gameserver", "ConcurrentExecutions": 1}]},
        "ProcessHeartbeatTimeoutSeconds": 600}})


def game_session():
    """A new game session of fleet-logs, on a process of its own: (its ARN,
    rally's id)."""
    r = request("POST", "/v1/fleet/processes", {"location": "us-east-1", "ipAddress": "127.0.0.1",
                                                "port": 9, "maxPlayers": 2}, token=server_token(FLEET))
    assert r.status == 201, r
    gs = client().create_game_session(FleetId=FLEET, MaximumPlayerSessionCount=2)["GameSession"]
    arn = gs["GameSessionId"]
    CREATED.append(arn)
    return arn, psql("SELECT game_session_id FROM fleet.game_sessions WHERE game_session_arn = :'p1'", arn)[0]


def put_log(gs_id, data, token=None, process="process-test-logs", **extra):
    body = dict({"processId": process, "log": base64.b64encode(data).decode()}, **extra)
    return request("PUT", "/v1/fleet/game-sessions/%s/log" % gs_id, body,
                   token=token or server_token(FLEET))


def fetch(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


def admin_token():
    out = subprocess.run([os.path.join(BIN, "rally-keys"), "mint", os.environ["RALLY_JWT_KEY_DIR"],
                          "admin", "1"], check=True, capture_output=True, text=True).stdout
    return out.split()[1]


def tearDownModule():
    for arn in CREATED:  # (Debian's botocore predates TerminateGameSession)
        raw("TerminateGameSession", {"GameSessionId": arn, "TerminationMode": "FORCE_TERMINATE"})
    os.remove(os.path.join(RUN, "fleets", FLEET + ".secret"))


class GameSessionLogs(unittest.TestCase):
    def test_a_log_sent_is_read_back_by_its_url(self):
        arn, gs_id = game_session()
        r = put_log(gs_id, LOG)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, {"gameSessionId": gs_id, "bytes": len(LOG)})
        url = client().get_game_session_log_url(GameSessionId=arn)["PreSignedUrl"]
        self.assertTrue(url.startswith(os.environ["RALLY_JWT_ISSUER"] + "/v1/game-sessions/"), url)
        status, body, headers = fetch(url)
        self.assertEqual(status, 200, body)
        self.assertEqual(body, LOG)  # the bytes as they were, invalid UTF-8 and NUL included
        self.assertTrue(headers["Content-Type"].startswith("text/plain"))
        self.assertNotIn("X-Rally-Log-Truncated", headers)
        # Sent again (the whole log at the game session's end), it replaces
        # the one before; a cut head is said.
        r = put_log(gs_id, b"the tail\n", truncated=True)
        self.assertEqual(r.status, 200, r)
        status, body, headers = fetch(url)
        self.assertEqual((status, body, headers.get("X-Rally-Log-Truncated")), (200, b"the tail\n", "true"))

    def test_the_url_reads_its_game_session_alone(self):
        arn_a, a = game_session()
        _, b = game_session()
        for gs in (a, b):
            self.assertEqual(put_log(gs, b"log of " + gs.encode()).status, 200)
        url = client().get_game_session_log_url(GameSessionId=arn_a)["PreSignedUrl"]
        token = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)["token"][0]
        base = os.environ["RALLY_URL"] + "/v1/game-sessions/%s/log?token="
        self.assertEqual(fetch(base % a + token)[0], 200)
        self.assertEqual(fetch(base % b + token)[0], 403)
        # A token changed by one character is refused.
        forged = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
        self.assertEqual(fetch(base % a + forged)[0], 401)
        # nginx's access log keeps the requests, not the credential.
        with open(os.path.join(RUN, "logs", "nginx-access.log")) as f:
            seen = f.read()
        self.assertIn("/v1/game-sessions/%s/log?token=-" % a, seen)
        self.assertNotIn(token, seen)

    def test_who_may_read(self):
        _, gs = game_session()
        self.assertEqual(put_log(gs, LOG).status, 200)
        path = "/v1/game-sessions/%s/log" % gs
        self.assertEqual(request("GET", path).status, 401)
        self.assertEqual(request("GET", path, token=guest()["auth_token"]).status, 403)
        self.assertEqual(request("GET", path, token=server_token(FLEET)).status, 403)
        r = request("GET", path, token=admin_token())
        self.assertEqual((r.status, r.body), (200, LOG))

    def test_sending_is_for_the_fleets_own_game_sessions(self):
        _, gs = game_session()
        self.assertEqual(put_log(gs, LOG, token=server_token("fleet-realtime")).status, 404)
        self.assertEqual(put_log("gsess-no-such-one", LOG).status, 404)
        self.assertEqual(put_log(gs, LOG, token=guest()["auth_token"]).status, 403)
        self.assertEqual(psql("SELECT count(*) FROM fleet.game_session_logs WHERE game_session_id = :'p1'",
                              gs)[0], "0")
        # Bad bodies change nothing either.
        for body in ({"processId": "p"}, {"log": "aGk="}, {"processId": "p", "log": "***"},
                     {"processId": "p", "log": "aGk=", "truncated": "yes"}):
            r = request("PUT", "/v1/fleet/game-sessions/%s/log" % gs, body, token=server_token(FLEET))
            self.assertEqual(r.status, 400, (body, r))
        r = put_log(gs, b"x" * (1024 * 1024 + 1))
        self.assertEqual(r.status, 413, r)

    def test_no_log_no_url(self):
        arn, _ = game_session()
        with self.assertRaises(botocore.exceptions.ClientError) as e:
            client().get_game_session_log_url(GameSessionId=arn)
        self.assertEqual(e.exception.response["Error"]["Code"], "NotFoundException")

    def test_the_agent_sends_what_its_game_server_wrote(self):
        """A game session of fleet-local on one of the stack's sample game
        servers: its agent sends what the server wrote while hosting it,
        when the game session ends."""
        gl = client()
        arn = gl.create_game_session(FleetId="fleet-local", MaximumPlayerSessionCount=2)["GameSession"]["GameSessionId"]
        gs = psql("SELECT game_session_id FROM fleet.game_sessions WHERE game_session_arn = :'p1'", arn)[0]
        self.assertTrue(wait_until(lambda: gl.describe_game_sessions(GameSessionId=arn)["GameSessions"][0]["Status"]
                                   == "ACTIVE", 20))
        raw("TerminateGameSession", {"GameSessionId": arn, "TerminationMode": "TRIGGER_ON_PROCESS_TERMINATE"})
        self.assertTrue(wait_until(lambda: psql(
            "SELECT count(*) FROM fleet.game_session_logs WHERE game_session_id = :'p1'", gs)[0] == "1", 30))
        status, body, _ = fetch(gl.get_game_session_log_url(GameSessionId=arn)["PreSignedUrl"])
        self.assertEqual(status, 200)
        self.assertIn(b"starting game session " + arn.encode(), body)
        self.assertIn(b"termination asked", body)

    def test_each_process_writes_to_a_file_of_its_own(self):
        running = psql("SELECT process_id FROM fleet.processes WHERE compute_name = 'local-us-east-1' "
                       "AND status = 'ACTIVE' LIMIT 3")
        self.assertTrue(running)
        for process in running:
            path = os.path.join(RUN, "agents", "local-us-east-1.logs", process + ".log")
            self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
            with open(path, "rb") as f:
                self.assertIn(("process %s ready in us-east-1" % process).encode(), f.read())

    def test_logs_expire(self):
        arn, gs = game_session()
        self.assertEqual(put_log(gs, LOG).status, 200)
        days = psql("SELECT round(extract(epoch FROM expires_at - uploaded_at) / 86400) "
                    "FROM fleet.game_session_logs WHERE game_session_id = :'p1'", gs)[0]
        self.assertEqual(days, "14")
        url = client().get_game_session_log_url(GameSessionId=arn)["PreSignedUrl"]
        psql("UPDATE fleet.game_session_logs SET expires_at = now() WHERE game_session_id = :'p1'", gs)
        self.assertEqual(fetch(url)[0], 404)
        # The sweeper deletes it.
        self.assertTrue(wait_until(lambda: psql(
            "SELECT count(*) FROM fleet.game_session_logs WHERE game_session_id = :'p1'", gs)[0] == "0", 15))


if __name__ == "__main__":
    unittest.main()
