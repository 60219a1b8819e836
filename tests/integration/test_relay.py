"""rally-relay (docs/relay.md) on a real fleet: a rally-agent runs one relay
process hosting four game sessions; game sessions and player sessions are
made with the GameLift API (boto3), and players connect with a Realtime
client built on Google's protobuf runtime (realtime.py). Logins are
validated by rally, messages relayed over WebSocket and UDP, groups kept,
and bad input refused without costing other players anything."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import websocket

import rally
from rally import BIN, RUN, psql, wait_until
from realtime import (ALL_PLAYERS, GAME_END, GROUP_UPDATE, JOIN_GROUP, LEAVE_GROUP, LOGIN, PING,
                      PING_RESULT, PLAYER_CONNECT, PLAYER_DISCONNECT, REQUEST_GROUP, Client, Packet,
                      encode)
from test_gamelift import client, raw

SESSIONS = 4


class RelayFleet:
    """A fleet whose one process is a rally-relay hosting `sessions` game
    sessions, run by a real rally-agent."""

    def __init__(self, fleet, sessions, parameters):
        self.fleet, self.sessions = fleet, sessions
        self.secret = os.path.join(RUN, "fleets", fleet + ".secret")
        with open(self.secret, "w") as f:
            f.write("relay-secret-0123456789abcdef\n")
        os.chmod(self.secret, 0o600)
        rally.load_config(fleets={fleet: {
            "FleetId": fleet, "Locations": [{"Location": "us-east-1"}],
            "RuntimeConfiguration": {
                "GameSessionActivationTimeoutSeconds": 10,
                "ServerProcesses": [{
                    "LaunchPath": "rally-relay",
                    "Parameters": "--sessions %d %s" % (sessions, parameters),
                    "ConcurrentExecutions": 1}]},
            "ProcessHeartbeatTimeoutSeconds": 5}})
        log = open(os.path.join(RUN, "logs", "agent-%s.log" % fleet), "a")
        self.agent = subprocess.Popen(
            [os.path.join(BIN, "rally-agent"), "--url", "http://127.0.0.1:%d" % rally.PORT, "--fleet", fleet,
             "--location", "us-east-1", "--compute", fleet + "-host", "--game-dir", BIN,
             "--config-seconds", "1", "--drain-seconds", "2"],
            env=dict(os.environ, RALLY_FLEET_SECRET_FILE=self.secret), stdout=log, stderr=log)
        log.close()
        assert wait_until(lambda: self.idle_slots() == sessions, 20), "the relay's slots did not come up"

    def stop(self):
        self.agent.send_signal(signal.SIGTERM)
        try:
            self.agent.wait(30)
        except subprocess.TimeoutExpired:
            self.agent.kill()
            self.agent.wait()
        psql("UPDATE fleet.processes SET status = 'TERMINATED' WHERE fleet_id = :'p1'", self.fleet)
        os.remove(self.secret)
        rally.load_config()

    def idle_slots(self):
        return int(psql("SELECT count(*) FROM fleet.processes WHERE fleet_id = :'p1' AND status = 'ACTIVE' "
                        "AND game_session_id IS NULL AND host_process IS NOT NULL", self.fleet)[0])

    def game_session(self, players=8, **kw):
        gl = client()
        gs = gl.create_game_session(FleetId=self.fleet, MaximumPlayerSessionCount=players, **kw)["GameSession"]
        active = lambda: gl.describe_game_sessions(GameSessionId=gs["GameSessionId"])[
            "GameSessions"][0]["Status"] == "ACTIVE"
        assert wait_until(active, 10), "the relay did not activate the game session"
        return gs


def setUpModule():
    global FLEET
    FLEET = RelayFleet("fleet-relay", SESSIONS, "--idle-seconds 30 --reconnect-seconds 2 --player-rate 100")


def tearDownModule():
    FLEET.stop()


def idle_slots():
    return FLEET.idle_slots()


def game_session(players=8):
    return FLEET.game_session(players)


def seat(gs, player):
    return client().create_player_session(GameSessionId=gs["GameSessionId"], PlayerId=player)["PlayerSession"]


def terminate(gs):
    status, body, _ = raw("TerminateGameSession", {"GameSessionId": gs["GameSessionId"],
                                                   "TerminationMode": "FORCE_TERMINATE"})
    assert status in (200, 400), (status, body)


def player_status(psess):
    return client().describe_player_sessions(PlayerSessionId=psess)["PlayerSessions"][0]["Status"]


def connect(gs, player, udp=True, payload=b""):
    ps = seat(gs, player)
    c = Client(ps["IpAddress"], ps["Port"])
    result = c.login(ps["PlayerSessionId"], payload=payload)
    assert result.loginResult.success, result
    c.psess = ps["PlayerSessionId"]
    if udp:
        c.open_udp()
    return c


class Relay(unittest.TestCase):
    def setUp(self):
        self.clients = []
        self.gs = game_session()

    def tearDown(self):
        for c in self.clients:
            c.close()
        terminate(self.gs)

    def players(self, n, **kw):
        cs = [connect(self.gs, "rt-player-%d-%d" % (i, time.monotonic_ns()), **kw) for i in range(n)]
        self.clients += cs
        return cs

    def test_login_is_validated_by_rally(self):
        a, = self.players(1, udp=False)
        self.assertEqual(player_status(a.psess), "ACTIVE")
        self.assertGreater(a.peer_id, 0)
        self.assertEqual(a.result.loginResult.fastPort, self.gs["Port"])
        # A player session that rally never made, and one already connected.
        for psess in ("psess-not-made", a.psess):
            c = Client(self.gs["IpAddress"], self.gs["Port"])
            self.clients.append(c)
            self.assertFalse(c.login(psess).loginResult.success)
            with self.assertRaises(websocket.WebSocketConnectionClosedException):
                c.recv_ws(3)

    def test_messages_reach_players_and_groups_over_both_channels(self):
        a, b, c = self.players(3)
        for fast in (False, True):
            a.message(7, b"to-all-%d" % fast, target_group=ALL_PLAYERS, fast=fast)
            for other in (b, c):
                got = other.recv_udp() if fast else other.recv_op(7)
                self.assertEqual((got.opCode, got.sender, got.payload), (7, a.peer_id, b"to-all-%d" % fast))
            b.message(8, b"direct", target_player=c.peer_id, fast=fast)
            got = c.recv_udp() if fast else c.recv_op(8)
            self.assertEqual((got.sender, got.payload), (b.peer_id, b"direct"))
        # A group: join, the members hear who is in it, a message reaches only them.
        a.group(JOIN_GROUP, 5)
        b.group(JOIN_GROUP, 5)
        update = a.recv_op(GROUP_UPDATE)
        while sorted(update.groupMembershipUpdate.players) != sorted([a.peer_id, b.peer_id]):
            update = a.recv_op(GROUP_UPDATE)
        c.message(9, b"team", target_group=5)
        a.message(9, b"team-a", target_group=5)
        # From two connections: in either order.
        self.assertEqual(sorted([b.recv_op(9).payload, b.recv_op(9).payload]), [b"team", b"team-a"])
        a.group(LEAVE_GROUP, 5)
        # a hears the group without itself once it left (its own connection:
        # c's request could otherwise overtake it).
        update = a.recv_op(GROUP_UPDATE)
        while a.peer_id in update.groupMembershipUpdate.players:
            update = a.recv_op(GROUP_UPDATE)
        c.group(REQUEST_GROUP, 5)
        self.assertEqual(list(c.recv_op(GROUP_UPDATE).groupMembershipUpdate.players), [b.peer_id])

    def test_aws_clients_bind_udp_with_udp_connect(self):
        # AWS's client without DTLS: UDP_CONNECT from the WebSocket's address.
        a, b = self.players(2, udp=False)
        self.assertEqual(a.open_udp(verify=False).opCode, -6)  # UDP_CONNECT_SERVER_ACK
        b.open_udp()
        b.message(4, b"fast to aws", target_player=a.peer_id, fast=True)
        got = a.recv_udp()
        self.assertEqual((got.sender, got.payload), (b.peer_id, b"fast to aws"))

    def test_sender_is_the_authenticated_player(self):
        a, b = self.players(2)
        p = Packet(opCode=3, sender=b.peer_id + 1000, targetPlayer=b.peer_id, payload=b"forged", reliable=True)
        a.send(p)
        self.assertEqual(b.recv_op(3).sender, a.peer_id)

    def test_ping_answers_with_the_payload(self):
        a, = self.players(1)
        a.send(Packet(opCode=PING, targetPlayer=-1, payload=b"t=1"))
        self.assertEqual(a.recv_op(PING_RESULT).payload, b"t=1")

    def test_players_hear_of_each_other(self):
        a, = self.players(1)
        b, = self.players(1)
        self.assertEqual(a.recv_op(PLAYER_CONNECT).playerConnect.peerId, b.peer_id)
        b.close()
        self.assertEqual(a.recv_op(PLAYER_DISCONNECT).playerDisconnect.peerId, b.peer_id)
        self.assertTrue(wait_until(lambda: player_status(b.psess) == "COMPLETED", 5))

    def test_malformed_and_oversized_input_is_refused_and_costs_others_nothing(self):
        a, b = self.players(2)
        # A UDP datagram from an address no player has, claiming a's peer id.
        spoof = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        spoof.sendto(encode(Packet(opCode=4, sender=a.peer_id, targetPlayer=b.peer_id, payload=b"spoof")),
                     (a.host, a.port))
        spoof.sendto(b"\x05garbage", (a.host, a.port))
        spoof.close()
        # Bytes that are not a Packet on the WebSocket: closed with 1007.
        bad = connect(self.gs, "rt-bad-%d" % time.monotonic_ns(), udp=False)
        self.clients.append(bad)
        bad.ws.send_binary(b"\x03\xff\xff\xff")
        with self.assertRaises(websocket.WebSocketConnectionClosedException):
            while True:
                bad.recv_ws(3)
        # An oversized payload: 1009.
        big = connect(self.gs, "rt-big-%d" % time.monotonic_ns(), udp=False)
        self.clients.append(big)
        big.message(4, b"x" * 5000, target_group=ALL_PLAYERS)
        with self.assertRaises(websocket.WebSocketConnectionClosedException):
            while True:
                big.recv_ws(3)
        # The others go on: nothing of the spoofed datagram reached b.
        a.message(4, b"still here", target_player=b.peer_id)
        got = b.recv_op(4)
        self.assertEqual((got.sender, got.payload), (a.peer_id, b"still here"))

    def test_a_flooding_player_is_disconnected(self):
        a, b = self.players(2, udp=False)
        for i in range(800):
            a.message(6, b"flood", target_player=b.peer_id)
        with self.assertRaises((websocket.WebSocketConnectionClosedException, ConnectionError)):
            while True:
                a.recv_ws(3)
        received = 0
        try:
            while True:
                b.recv_op(6, timeout=0.5)
                received += 1
        except websocket.WebSocketTimeoutException:
            pass
        self.assertLess(received, 800)
        self.assertGreaterEqual(received, 100)

    def test_a_dropped_player_reconnects_into_its_place(self):
        a, b = self.players(2, udp=False)
        a.group(JOIN_GROUP, 2)
        token = a.result.loginResult.reconnectToken
        a.ws.sock.shutdown(socket.SHUT_RDWR)  # no closing handshake: a network drop
        a.ws.sock.close()
        c = Client(a.host, a.port)
        self.clients.append(c)
        self.assertTrue(c.login(a.psess, reconnect_token=token).loginResult.success)
        self.assertEqual(c.peer_id, a.peer_id)
        b.message(5, b"welcome back", target_group=2)
        self.assertEqual(c.recv_op(5).payload, b"welcome back")
        # A wrong token is refused.
        d = Client(a.host, a.port)
        self.clients.append(d)
        self.assertFalse(d.login(a.psess, reconnect_token="0" * 32).loginResult.success)

    def test_a_handshake_never_finished_is_closed(self):
        s = socket.create_connection((self.gs["IpAddress"], self.gs["Port"]))
        s.sendall(b"GET /websocket HTTP/1.1\r\nHost: x\r\n")
        s.settimeout(15)
        self.assertEqual(s.recv(100), b"")  # closed by the relay after its handshake time
        s.close()
        s = socket.create_connection((self.gs["IpAddress"], self.gs["Port"]))
        s.sendall(b"GET /other HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
        self.assertTrue(s.recv(100).startswith(b"HTTP/1.1 404"))
        s.close()

    def test_terminating_the_game_session_ends_it_for_its_players(self):
        a, = self.players(1, udp=False)
        terminate(self.gs)
        self.assertEqual(a.recv_op(GAME_END, timeout=5).opCode, GAME_END)
        # The slot is registered again and hosts the next game session.
        self.assertTrue(wait_until(lambda: idle_slots() == SESSIONS, 10))
        self.gs = game_session()
        b, = self.players(1)
        self.assertGreater(b.peer_id, a.peer_id)

    def test_players_leaving_as_their_game_session_is_terminated(self):
        # Each leaving player is a RemovePlayerSession from the relay; they
        # once deadlocked with TerminateGameSession (seat, then game session,
        # against game session, then seats).
        for round in range(3):
            gs = game_session(players=32)
            cs = [connect(gs, "rt-leaving-%d-%d" % (i, time.monotonic_ns()), udp=False) for i in range(12)]
            for c in cs:
                c.close()
            terminate(gs)

    def test_a_killed_relay_is_replaced_and_its_players_join_a_new_session(self):
        a, = self.players(1, udp=False)
        pids = subprocess.run(["pgrep", "-f", "rally-relay --sessions %d --idle-seconds 30" % SESSIONS],
                              capture_output=True, text=True).stdout.split()
        self.assertEqual(len(pids), 1, pids)
        os.kill(int(pids[0]), signal.SIGKILL)
        with self.assertRaises((websocket.WebSocketConnectionClosedException, ConnectionError)):
            while True:
                a.recv_ws(5)
        # rally ends its game sessions; the agent runs a new relay, whose
        # slots take the next ones.
        gl = client()
        status = lambda: gl.describe_game_sessions(GameSessionId=self.gs["GameSessionId"])[
            "GameSessions"][0]["Status"]
        self.assertTrue(wait_until(lambda: status() in ("TERMINATED", "ERROR"), 20), status())
        self.assertTrue(wait_until(lambda: idle_slots() == SESSIONS, 30))
        self.gs = game_session()
        b, = self.players(1)
        b.message(3, b"new home", target_player=b.peer_id)
        self.assertEqual(b.recv_op(3).payload, b"new home")


class Tls(unittest.TestCase):
    """wss: a relay with --tls-cert and --tls-key, its certificate checked
    by the clients (Python's ssl, and librally through `rally rt`)."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="rally-relay-tls-")
        cls.cert, cls.key = os.path.join(cls.dir, "relay.pem"), os.path.join(cls.dir, "relay.key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-nodes", "-days", "1", "-subj", "/CN=relay.test", "-addext",
                        "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", cls.key, "-out", cls.cert],
                       check=True, capture_output=True)
        cls.fleet = RelayFleet("fleet-relay-tls", 2, "--idle-seconds 30 --tls-cert %s --tls-key %s"
                               % (cls.cert, cls.key))

    @classmethod
    def tearDownClass(cls):
        cls.fleet.stop()
        shutil.rmtree(cls.dir)

    def setUp(self):
        self.gs = self.fleet.game_session()
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            c.close()
        terminate(self.gs)

    def player(self, **kw):
        ps = seat(self.gs, "rt-tls-%d" % time.monotonic_ns())
        c = Client(ps["IpAddress"], ps["Port"], ca=self.cert, **kw)
        self.clients.append(c)
        self.assertTrue(c.login(ps["PlayerSessionId"]).loginResult.success)
        return c

    def test_players_talk_over_wss_and_udp(self):
        a, b = self.player(), self.player()
        a.message(4, b"secret", target_player=b.peer_id)
        self.assertEqual(b.recv_op(4).payload, b"secret")
        a.open_udp()
        b.open_udp()
        a.message(5, b"fast", target_group=ALL_PLAYERS, fast=True)
        self.assertEqual(b.recv_udp().payload, b"fast")

    def test_plain_websockets_and_untrusted_certificates_are_refused(self):
        with self.assertRaises(Exception):
            Client(self.gs["IpAddress"], self.gs["Port"])  # ws:// to a wss port
        ps = seat(self.gs, "rt-tls-cli-%d" % time.monotonic_ns())
        rt = [os.path.join(BIN, "rally"), "rt", "connect", "%s:%d" % (ps["IpAddress"], ps["Port"]),
              ps["PlayerSessionId"]]
        # The system's CAs do not know this certificate: refused before any login.
        r = subprocess.run(rt + ["--tls"], capture_output=True, text=True, timeout=20, input="")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("TLS with the relay", r.stderr)
        # With its CA, the same seat logs in: librally over wss.
        r = subprocess.run(rt + ["--ca", self.cert], capture_output=True, text=True, timeout=20,
                           input="send 1 server hi\nquit\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("connected as peer", r.stdout)


class Silent(unittest.TestCase):
    """A player whose connection goes silent (no data, not even the answers
    to the relay's pings) is dropped, and leaves once its reconnect window
    passes; the others keep answering and stay."""

    def setUp(self):
        self.fleet = RelayFleet("fleet-relay-silent", 1, "--ping-seconds 0.5 --reconnect-seconds 1")
        self.gs = self.fleet.game_session()

    def tearDown(self):
        terminate(self.gs)
        self.fleet.stop()

    def test_a_silent_peer_is_dropped(self):
        a, b = connect(self.gs, "rt-silent-a", udp=False), connect(self.gs, "rt-silent-b", udp=False)
        try:
            # a reads nothing from now on, so it answers no ping; b's reads
            # answer its pings.
            self.assertEqual(b.recv_op(PLAYER_DISCONNECT, timeout=10).playerDisconnect.peerId, a.peer_id)
            self.assertTrue(wait_until(lambda: player_status(a.psess) == "COMPLETED", 5))
            self.assertEqual(player_status(b.psess), "ACTIVE")
        finally:
            a.close()
            b.close()


if __name__ == "__main__":
    unittest.main()
