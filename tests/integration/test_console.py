"""The console (console/, docs/observability.md) in headless Chromium: an
operator logs in and reads a game session and a ticket the test made, every
string stays text (a game session named with markup and a script shows as
those characters), and a player's token gets the login page. Screenshots go
to RALLY_ARTIFACT_DIR (make test: build-san/artifacts/console/)."""

import json
import os
import shutil
import unittest

import rally
from rally import RUN, guest, start_ticket
from test_gamelift import client, raw

ARTIFACTS = os.environ.get("RALLY_ARTIFACT_DIR", os.path.join(RUN, "artifacts"))
CONSOLE = os.environ["RALLY_URL"] + "/console/"
HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
CONF = "ConsoleWaits"


def setUpModule():
    global Browser
    if shutil.which("chromium") is None:
        raise unittest.SkipTest("chromium is not installed (scripts/deps.sh installs it)")
    from browser import Browser  # noqa: F401 (python3-websocket, with chromium)


def password():
    with open(os.path.join(RUN, "secrets", "admin-password")) as f:
        return f.read().strip()


class Console(unittest.TestCase):
    def setUp(self):
        self.b = Browser()
        self.addCleanup(self.b.close)

    def shot(self, name):
        self.b.screenshot(os.path.join(ARTIFACTS, "console", name + ".png"))

    def log_in(self):
        self.b.goto(CONSOLE)
        self.b.wait("!document.getElementById('login').hidden")
        self.b.eval("const f = document.getElementById('login');"
                    "f.username.value = 'admin'; f.password.value = %s;"
                    "f.requestSubmit(); true" % json.dumps(password()))
        self.b.wait("document.body.dataset.view === 'fleets'")

    def view(self, name):
        before = self.b.eval("document.body.dataset.rendered || ''")
        self.b.eval("document.querySelector('nav button[data-view=%s]').click(); true" % name)
        self.b.wait("document.body.dataset.view === %s && document.body.dataset.rendered !== %s"
                    % (json.dumps(name), json.dumps(before)))

    def text(self):
        return self.b.eval("document.getElementById('view').innerText")

    def test_an_operator_sees_a_game_session_and_a_ticket(self):
        gl = client()
        gs = gl.create_game_session(FleetId="fleet-local", MaximumPlayerSessionCount=4,
                                    Name=HOSTILE)["GameSession"]
        self.addCleanup(raw, "TerminateGameSession",
                        {"GameSessionId": gs["GameSessionId"], "TerminationMode": "FORCE_TERMINATE"})
        rally.wait_until(lambda: gl.describe_game_sessions(GameSessionId=gs["GameSessionId"])
                         ["GameSessions"][0]["Status"] == "ACTIVE", 20)
        gl.create_player_session(GameSessionId=gs["GameSessionId"], PlayerId="player-<b>bold</b>")
        rally.load_config(configurations={CONF: {
            "Name": CONF, "RuleSetName": "SampleRuleSet", "RequestTimeoutSeconds": 600,
            "AcceptanceRequired": False, "FlexMatchMode": "STANDALONE"}})
        g = guest()
        ticket = start_ticket(g["auth_token"], latency={"us-east-1": 5000, "eu-west-1": 5000},
                              configuration=CONF).json["TicketId"]
        self.addCleanup(rally.request, "DELETE", "/v1/matchmaking/" + ticket, token=g["auth_token"])

        self.log_in()
        self.b.wait("document.getElementById('view').innerText.includes('fleet-local')")
        self.shot("fleets")

        self.view("sessions")
        self.b.wait("document.getElementById('view').innerText.includes(%s)" % json.dumps(gs["GameSessionId"]))
        self.assertIn(HOSTILE, self.text())  # the name as the characters it is
        self.assertIsNone(self.b.eval("window.__pwned"))
        self.assertEqual(self.b.eval("document.querySelectorAll('script').length"), 1)  # console.js alone
        self.assertEqual(self.b.eval("document.querySelectorAll('#view img').length"), 0)
        # Its players, on the button of its row.
        self.b.eval("""[...document.querySelectorAll('#view tr')]
            .find((tr) => tr.innerText.includes(%s)).querySelector('button').click(); true"""
                    % json.dumps(gs["GameSessionId"]))
        self.b.wait("document.getElementById('view').innerText.includes('player-<b>bold</b>')")
        self.assertEqual(self.b.eval("document.querySelectorAll('#view b').length"), 0)
        self.shot("game-sessions")

        self.view("ticket")
        self.b.eval("document.getElementById('ticket-id').value = %s;"
                    "document.querySelector('#view form').requestSubmit(); true" % json.dumps(ticket))
        self.b.wait("document.getElementById('explain').innerText.includes(%s)" % json.dumps(ticket))
        report = json.loads(self.b.eval("document.getElementById('explain').innerText"))
        self.assertEqual(report["TicketId"], ticket)
        self.shot("ticket-explain")

        self.view("matchmaking")
        self.b.wait("document.getElementById('view').innerText.includes(%s)" % json.dumps(CONF))
        self.shot("matchmaking")
        self.view("events")
        self.shot("events")
        self.view("errors")
        self.shot("errors")

    def test_a_player_token_gets_the_login_page(self):
        self.b.goto(CONSOLE)
        self.b.eval("sessionStorage.setItem('rally.console.token', %s); true" % json.dumps(guest()["auth_token"]))
        self.b.goto(CONSOLE + "?again")
        self.b.wait("!document.getElementById('login').hidden")
        self.assertIn("operator", self.b.eval("document.getElementById('login-message').innerText"))
        self.assertIsNone(self.b.eval("sessionStorage.getItem('rally.console.token')"))
        self.shot("player-token-refused")

    def test_a_wrong_password_is_refused(self):
        self.b.goto(CONSOLE)
        self.b.eval("const f = document.getElementById('login'); f.username.value = 'admin';"
                    "f.password.value = 'not-the-password'; f.requestSubmit(); true")
        self.b.wait("document.getElementById('login-message').innerText.length > 0")
        self.assertTrue(self.b.eval("document.getElementById('nav').hidden"))


if __name__ == "__main__":
    unittest.main()
