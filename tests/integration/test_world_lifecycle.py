"""A world's lifecycle (docs/worlds.md "Lifecycle", sql/functions/world.sql
world.join, world.tend) on a real fleet: a rally-agent running sample game
servers (rally-gameserver) with a rally-sidecar beside each. Players join a
world by name and its game session is started for them; what they build
survives a kill -9 of the server and its sidecar (the world comes back by
itself); an idle world is saved and ends, and the next player to join gets
a new game session restored from that save; a world stopped, or whose game
session TerminateGameSession ended, stays ended; bad input is refused."""

import os
import signal
import socket
import subprocess
import time
import unittest
import uuid

import rally
from rally import BIN, RUN, psql, request, wait_until
from agents import alive, pid_of, sidecar_of
from test_gamelift import raw
from test_worlds import admin_token

FLEET = "fleet-lifecycle"
SECRET = os.path.join(RUN, "fleets", FLEET + ".secret")


def setUpModule():
    global AGENT, TOKEN
    with open(SECRET, "w") as f:
        f.write("lifecycle-secret-0123456789abcdef\n")
    os.chmod(SECRET, 0o600)
    rally.load_config(fleets={FLEET: {
        "FleetId": FLEET, "Locations": [{"Location": "us-east-1"}],
        "RuntimeConfiguration": {
            "GameSessionActivationTimeoutSeconds": 10,
            "ServerProcesses": [{"LaunchPath": "rally-gameserver", "Parameters": "--heartbeat-ms 200",
                                 "ConcurrentExecutions": 3}],
            "Sidecar": {"FlushMillis": 20}},
        "ProcessHeartbeatTimeoutSeconds": 5}})
    log = open(os.path.join(RUN, "logs", "agent-%s.log" % FLEET), "a")
    AGENT = subprocess.Popen(
        [os.path.join(BIN, "rally-agent"), "--url", "http://127.0.0.1:%d" % rally.PORT, "--fleet", FLEET,
         "--location", "us-east-1", "--compute", "lifecycle-host", "--game-dir", BIN, "--config-seconds", "1",
         "--drain-seconds", "5"],
        env=dict(os.environ, RALLY_FLEET_SECRET_FILE=SECRET), stdout=log, stderr=log)
    log.close()
    TOKEN = admin_token()
    assert wait_until(lambda: ready_processes() == 3, 20), "the agent's servers did not come up"


def tearDownModule():
    psql("UPDATE world.worlds SET running = false WHERE world_id LIKE 'lc-%'")
    AGENT.send_signal(signal.SIGTERM)
    try:
        AGENT.wait(30)
    except subprocess.TimeoutExpired:
        AGENT.kill()
        AGENT.wait()
    psql("DELETE FROM world.worlds WHERE world_id LIKE 'lc-%'")
    psql("UPDATE fleet.processes SET status = 'TERMINATED' WHERE fleet_id = :'p1'", FLEET)
    os.remove(SECRET)
    rally.load_config()


def ready_processes():
    return int(psql("SELECT count(*) FROM fleet.processes WHERE fleet_id = :'p1' AND status = 'ACTIVE' "
                    "AND game_session_id IS NULL", FLEET)[0])


def world(**settings):
    wid = "lc-" + uuid.uuid4().hex[:10]
    r = request("PUT", "/v1/worlds/" + wid, dict({"fleetId": FLEET}, **settings), token=TOKEN)
    assert r.status == 201, r
    return wid


def describe(wid):
    return request("GET", "/v1/worlds/" + wid, token=TOKEN).json


def join(wid, player, timeout=20):
    """A seat in the world, asking again while its game session starts."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = request("POST", "/v1/worlds/%s/join" % wid, {"playerId": player}, token=TOKEN)
        if r.status == 200:
            return r.json["playerSession"]
        assert r.status in (202, 503), r
        if r.status == 202:
            assert r.headers["retry-after"] == "1"
        time.sleep(0.2)
    raise AssertionError("no seat in %s within %d s" % (wid, timeout))


class Player:
    """A player on the sample server's TCP protocol."""

    def __init__(self, seat):
        self.sock = socket.create_connection((seat["IpAddress"], seat["Port"]), timeout=10)
        self.file = self.sock.makefile("rw")
        self.welcome = self.say(seat["PlayerSessionId"])

    def say(self, line):
        self.file.write(line + "\n")
        self.file.flush()
        return self.file.readline().strip()

    def close(self):
        self.file.close()
        self.sock.close()


def server_of(wid):
    """The OS process of the sample server running the world now."""
    process = psql("SELECT g.process_id FROM world.worlds w JOIN fleet.game_sessions g "
                   "ON g.game_session_id = w.game_session_id WHERE w.world_id = :'p1'", wid)[0]
    return pid_of(process)


class Lifecycle(unittest.TestCase):
    def test_what_players_built_survives_kill_9_of_server_and_sidecar(self):
        wid = world()
        ann = Player(join(wid, "ann"))
        self.assertEqual(ann.welcome, "OK ann")
        for b in ("1 2 3 7", "40 9 -5 3", "2 2 3 8"):
            self.assertEqual(ann.say("/place " + b), "PLACED " + b)
        first = describe(wid)
        self.assertEqual((first["status"], first["sessions"], first["running"]), ("ACTIVE", 1, True))
        server = server_of(wid)
        side = sidecar_of(server)
        self.assertIsNotNone(side)
        os.kill(server, signal.SIGKILL)
        os.kill(side, signal.SIGKILL)
        ann.close()
        # It comes back by itself (rally-sweeper's world.tend), no player asking.
        self.assertTrue(wait_until(lambda: describe(wid)["sessions"] == 2 and
                                   describe(wid).get("status") == "ACTIVE", 20), describe(wid))
        again = Player(join(wid, "ann"))
        self.assertEqual(again.say("/look 0 0"), "CHUNK 0 0: 2 blocks; 1 2 3 7, 2 2 3 8")
        self.assertEqual(again.say("/look 1 -1"), "CHUNK 1 -1: 1 blocks; 40 9 -5 3")
        again.close()
        self.assertEqual(request("POST", "/v1/worlds/%s/stop" % wid, token=TOKEN).status, 202)

    def test_an_idle_world_is_saved_ends_and_is_restored_on_join(self):
        wid = world(idleSeconds=2, maxPlayers=4)
        ann = Player(join(wid, "ann"))
        self.assertEqual(ann.say("remember the castle"), "ann: remember the castle")
        self.assertEqual(ann.say("/place 5 5 5 5"), "PLACED 5 5 5 5")
        server = server_of(wid)
        ann.close()
        # No player for 2 s: asked to end; the server saves and ends.
        self.assertTrue(wait_until(lambda: describe(wid).get("status") == "TERMINATED", 20), describe(wid))
        ended = describe(wid)
        self.assertEqual((ended["running"], ended["sessions"]), (False, 1))
        self.assertEqual(ended["saveVersion"], 1)
        self.assertTrue(wait_until(lambda: not alive(server), 10))
        time.sleep(2)  # and it is not started again by itself
        self.assertEqual(describe(wid)["sessions"], 1)
        # The next player gets a new game session, restored from that save.
        bob = Player(join(wid, "bob"))
        now = describe(wid)
        self.assertEqual((now["sessions"], now["running"]), (2, True))
        data = psql("SELECT g.game_session_data FROM world.worlds w JOIN fleet.game_sessions g "
                    "ON g.game_session_id = w.game_session_id WHERE w.world_id = :'p1'", wid)[0]
        self.assertIn('"saveVersion": 1', data)
        self.assertIn('"worldId": "%s"' % wid, data)
        self.assertEqual(bob.say("/history"), "HISTORY ann: remember the castle")
        self.assertEqual(bob.say("/look 0 0"), "CHUNK 0 0: 1 blocks; 5 5 5 5")
        bob.close()
        request("POST", "/v1/worlds/%s/stop" % wid, token=TOKEN)

    def test_a_world_asked_to_end_stays_ended(self):
        for how in ("stop", "TerminateGameSession"):
            wid = world()
            Player(join(wid, "ann")).close()
            if how == "stop":
                r = request("POST", "/v1/worlds/%s/stop" % wid, token=TOKEN)
                self.assertEqual((r.status, r.json["status"]), (202, "TERMINATING"))
            else:
                # Debian's botocore predates it: the GameLift API's own JSON, signed.
                status, _, _ = raw("TerminateGameSession", {"GameSessionId": describe(wid)["gameSessionId"],
                                                            "TerminationMode": "TRIGGER_ON_PROCESS_TERMINATE"})
                self.assertEqual(status, 200)
            self.assertTrue(wait_until(lambda: describe(wid).get("status") == "TERMINATED", 20), how)
            time.sleep(2.5)  # two passes of world.tend at least
            now = describe(wid)
            self.assertEqual((now["sessions"], now["running"], now["saveVersion"]), (1, False, 1), how)
            self.assertEqual(request("POST", "/v1/worlds/%s/stop" % wid, token=TOKEN).json["status"], "STOPPED")

    def test_rally_world_shows_it(self):
        """The demo of README: build in a world with `rally world`, kill -9
        its server, join again, and it is there."""
        env = dict(os.environ, AWS_SHARED_CREDENTIALS_FILE=os.path.join(RUN, "aws", "credentials"))

        def cli(*args):
            out = subprocess.run([os.path.join(BIN, "rally"), "--url", "http://127.0.0.1:%d" % rally.PORT,
                                  "world"] + list(args), env=env, capture_output=True, text=True, timeout=90)
            return out.returncode, out.stdout
        wid = "lc-cli-" + uuid.uuid4().hex[:6]
        self.assertEqual(cli("create", wid, "--fleet", FLEET, "--idle-seconds", "60"),
                         (0, "world %s on fleet %s created\n" % (wid, FLEET)))
        rc, out = cli("join", wid, "--player", "ann", "--say", "/place 1 2 3 7", "--say", "hello")
        self.assertEqual(rc, 0, out)
        self.assertIn("says: OK ann\n> /place 1 2 3 7\nPLACED 1 2 3 7\n> hello\nann: hello\n", out)
        os.kill(server_of(wid), signal.SIGKILL)
        rc, out = cli("join", wid, "--player", "ann", "--say", "/look 0 0")
        self.assertEqual(rc, 0, out)
        self.assertIn("> /look 0 0\nCHUNK 0 0: 1 blocks; 1 2 3 7\n", out)
        rc, out = cli("show", wid)
        self.assertEqual(rc, 0)
        self.assertRegex(out, r"^%s ACTIVE sessions=2 players=\d " % wid)
        self.assertEqual(cli("end", wid), (0, "world %s: ending (its server saves it first)\n" % wid))
        self.assertEqual(cli("show", "lc-nope")[0], 4)

    def test_bad_input_is_refused(self):
        for body in ({"fleetId": "fleet-nope"}, {"fleetId": FLEET, "location": "mars-1"},
                     {"fleetId": FLEET, "maxPlayers": 0}, {"fleetId": FLEET, "idleSeconds": "soon"},
                     {"fleetId": FLEET, "gameProperties": [{"Key": "k"}]}, {"fleetId": FLEET, "extra": 1}):
            r = request("PUT", "/v1/worlds/lc-bad", body, token=TOKEN)
            self.assertEqual(r.status, 400, body)
        self.assertEqual(request("GET", "/v1/worlds/lc-bad", token=TOKEN).status, 404)
        self.assertEqual(request("POST", "/v1/worlds/lc-nope/join", {"playerId": "p"}, token=TOKEN).status, 404)
        storage = "lc-storage-" + uuid.uuid4().hex[:6]
        self.assertEqual(request("PUT", "/v1/worlds/" + storage, token=TOKEN).status, 201)
        r = request("POST", "/v1/worlds/%s/join" % storage, {"playerId": "p"}, token=TOKEN)
        self.assertEqual((r.status, r.json["error"]), (409, "no_fleet"))
        wid = world()
        for body in ({}, {"playerId": ""}, {"playerId": "p", "more": 1}, {"playerId": 5}):
            self.assertEqual(request("POST", "/v1/worlds/%s/join" % wid, body, token=TOKEN).status, 400, body)
        # Joining and stopping are a backend's; a game server of the fleet may not.
        with open(SECRET) as f:
            server = request("POST", "/v1/identity/server", {"fleetId": FLEET, "fleetSecret": f.read().strip()})
        token = server.json["auth_token"]
        self.assertEqual(request("POST", "/v1/worlds/%s/join" % wid, {"playerId": "p"}, token=token).status, 403)
        self.assertEqual(request("POST", "/v1/worlds/%s/stop" % wid, token=token).status, 403)
        self.assertEqual(describe(wid)["sessions"], 0)


if __name__ == "__main__":
    unittest.main()
