"""rally-relay's server scripts (docs/relay.md "Scripts"): a Lua script per
game session changes and filters messages, answers messages to the server,
refuses players and group joins, keeps timers; a new script reaches new
game sessions only; a script that fails, loops, eats memory or calls itself
unhealthy ends its own game session and nothing else."""

import json
import os
import select
import socket
import subprocess
import threading
import time
import unittest

import websocket

from rally import BIN, RUN, wait_until
from realtime import ALL_PLAYERS, GAME_END, GROUP_UPDATE, JOIN_GROUP, SERVER, Client
from test_relay import RelayFleet, connect, player_status, seat, terminate

SCRIPT = os.path.join(RUN, "relay-script.lua")

# What the tests ask of it, by opCode: 1 to a group is upper-cased, 2 to a
# player is dropped; to the server, 10 comes back reversed, 20 after a timer,
# 30 loops, 31 eats memory, 32 fails, 33 ends the session, 34 makes the
# health check fail, 40-42 describe the session and the sandbox.
SOURCE = r"""
local VERSION = %d
local session
local unhealthy = false
local count = 0

local function reply(op, to, text)
  session.sendReliableMessage(session.newTextGameMessage(op, session.getServerId(), text), to)
end

function init(s) session = s end
function onProcessStarted(args) return #args > 0 end
function onStartGameSession(gs) session.getLogger().info("starting", gs.gameSessionId) end

function onPlayerConnect(p) return p.payload ~= "deny" end
function onPlayerAccepted(p) reply(100, p.peerId, "welcome " .. p.peerId) end
function onPlayerDisconnect(peer)
  session.sendReliableGroupMessage(session.newTextGameMessage(101, -1, tostring(peer)), -1)
end
function onPlayerJoinGroup(group, peer) return group ~= 13 end

function onSendToGroup(m)
  if m.opCode == 1 then m.payload = string.upper(m.payload) end
  return true
end
function onSendToPlayer(m) return m.opCode ~= 2 end

function onHealthCheck() return not unhealthy end

function onMessage(m)
  count = count + 1
  if m.opCode == 10 then reply(11, m.sender, string.reverse(m.payload))
  elseif m.opCode == 20 then
    session.setTimeout(function() reply(21, m.sender, "later") end, 50)
  elseif m.opCode == 30 then while true do end
  elseif m.opCode == 31 then
    local t = {}
    while true do t[#t + 1] = string.rep("x", 1000) .. #t end
  elseif m.opCode == 32 then error("boom")
  elseif m.opCode == 33 then session.processEnding()
  elseif m.opCode == 34 then unhealthy = true
  elseif m.opCode == 35 then setmetatable({}, {__gc = function() while true do end end})
  elseif m.opCode == 36 then
    xpcall(function() while true do end end, function() while true do end end)
  elseif m.opCode == 37 then reply(38, m.sender, "[" .. string.rep("", math.maxinteger) .. "]")
  elseif m.opCode == 39 then
    table.insert(setmetatable({}, {__len = function() return math.maxinteger end}), 1, 1)
  elseif m.opCode == 46 then
    local t = {}
    for i = 1, 50000 do t[i] = (i * 7919) %% 50000 end
    while true do table.sort(t) end
  elseif m.opCode == 40 then
    local gs = session.getGameSession()
    reply(41, m.sender, table.concat({VERSION, count, gs.gameProperties.mode or "", gs.gameSessionId}, "|"))
  elseif m.opCode == 42 then
    reply(43, m.sender, table.concat(session.getPlayers(), ","))
  elseif m.opCode == 44 then
    reply(45, m.sender, table.concat({type(io), type(load), type(string.gsub), type(os.execute),
                                      type(coroutine), tostring(string.find("a.b", ".", 1))}, ","))
  end
end
"""


def write_script(version):
    tmp = SCRIPT + ".tmp"
    with open(tmp, "w") as f:
        f.write(SOURCE % version)
    os.rename(tmp, SCRIPT)


def setUpModule():
    global FLEET
    write_script(1)
    FLEET = RelayFleet("fleet-relay-script", 4,
                       "--idle-seconds 30 --reconnect-seconds 1 --script %s --script-ms 100 "
                       "--script-memory 8 --health-seconds 0.5" % SCRIPT)


def tearDownModule():
    FLEET.stop()
    os.remove(SCRIPT)


def ask(c, op, payload=b"", answer=None, timeout=5):
    c.message(op, payload, target_player=SERVER)
    return c.recv_op(answer, timeout=timeout).payload.decode() if answer else None


def ended(c, timeout=5):
    """Whether c hears GAME_END and its connection closes."""
    try:
        c.recv_op(GAME_END, timeout=timeout)
        while True:
            c.recv_ws(timeout)
    except websocket.WebSocketConnectionClosedException:
        return True
    except websocket.WebSocketTimeoutException:
        return False


class Script(unittest.TestCase):
    def setUp(self):
        self.clients, self.sessions = [], []

    def tearDown(self):
        for c in self.clients:
            c.close()
        for gs in self.sessions:
            terminate(gs)
        wait_until(lambda: FLEET.idle_slots() == 4, 10)

    def game_session(self, **kw):
        gs = FLEET.game_session(**kw)
        self.sessions.append(gs)
        return gs

    def players(self, gs, n, **kw):
        cs = [connect(gs, "rt-script-%d-%d" % (i, time.monotonic_ns()), **kw) for i in range(n)]
        self.clients += cs
        return cs

    def test_the_script_changes_and_filters_messages(self):
        gs = self.game_session()
        a, b = self.players(gs, 2)
        for fast in (False, True):
            a.message(1, b"hello", target_group=ALL_PLAYERS, fast=fast)
            got = b.recv_udp() if fast else b.recv_op(1)
            self.assertEqual((got.sender, got.payload), (a.peer_id, b"HELLO"))
        a.message(2, b"dropped", target_player=b.peer_id)
        a.message(3, b"kept", target_player=b.peer_id)
        self.assertEqual(b.recv_op(3).payload, b"kept")
        self.assertNotIn(2, [p.opCode for p in b.inbox])

    def test_the_script_answers_messages_to_the_server(self):
        gs = self.game_session(GameProperties=[{"Key": "mode", "Value": "duel"}])
        a, b = self.players(gs, 2, udp=False)
        self.assertEqual(a.recv_op(100).payload.decode(), "welcome %d" % a.peer_id)
        self.assertEqual(ask(a, 10, b"stressed", 11), "desserts")
        self.assertEqual(ask(a, 20, b"", 21), "later")
        version, count, mode, gsid = ask(b, 40, b"", 41).split("|")
        self.assertEqual((version, mode, gsid), ("1", "duel", gs["GameSessionId"]))
        self.assertEqual(int(count), 3)  # this session's state: a's two messages and b's one
        self.assertEqual(sorted(map(int, ask(a, 42, b"", 43).split(","))), sorted([a.peer_id, b.peer_id]))
        # The sandbox: no files, no loading code, no patterns, no processes;
        # string.find is plain.
        self.assertEqual(ask(a, 44, b"", 45), "nil,nil,nil,nil,nil,2")
        b.close()
        self.assertEqual(a.recv_op(101).payload.decode(), str(b.peer_id))

    def test_the_script_refuses_players_and_group_joins(self):
        gs = self.game_session()
        a, = self.players(gs, 1, udp=False)
        ps = seat(gs, "rt-script-denied")
        c = Client(ps["IpAddress"], ps["Port"])
        self.clients.append(c)
        self.assertFalse(c.login(ps["PlayerSessionId"], payload=b"deny").loginResult.success)
        self.assertTrue(wait_until(lambda: player_status(ps["PlayerSessionId"]) == "COMPLETED", 5))
        a.group(JOIN_GROUP, 13)
        self.assertEqual(list(a.recv_op(GROUP_UPDATE).groupMembershipUpdate.players), [])
        a.group(JOIN_GROUP, 14)
        self.assertEqual(list(a.recv_op(GROUP_UPDATE).groupMembershipUpdate.players), [a.peer_id])

    def test_a_failing_script_goes_on_and_a_looping_one_ends_only_its_session(self):
        looping, eating, other = self.game_session(), self.game_session(), self.game_session()
        a, = self.players(looping, 1, udp=False)
        b, = self.players(eating, 1, udp=False)
        c, d = self.players(other, 2, udp=False)
        # An error is logged; the script and its session go on.
        ask(c, 32)
        self.assertEqual(ask(c, 10, b"ab", 11), "ba")
        started = time.monotonic()
        ask(a, 30)
        ask(b, 31)
        self.assertTrue(ended(a))
        self.assertTrue(ended(b))
        # The other session kept relaying while they ran, and still does.
        self.assertLess(time.monotonic() - started, 5)
        c.message(7, b"fine", target_player=d.peer_id)
        self.assertEqual(d.recv_op(7).payload, b"fine")
        self.assertEqual(ask(c, 10, b"xy", 11), "yx")
        self.assertTrue(wait_until(lambda: FLEET.idle_slots() == 3, 10))

    def test_what_would_escape_the_bounds_is_refused_or_stopped(self):
        gs, sorting = self.game_session(), self.game_session()
        a, = self.players(gs, 1, udp=False)
        b, = self.players(sorting, 1, udp=False)
        ask(a, 35)  # a finalizer (it would run with the hook off): refused
        self.assertEqual(ask(a, 37, b"", 38), "[]")  # an empty string repeated forever
        ask(a, 39)  # a table whose length lies: refused
        self.assertEqual(ask(a, 10, b"ok", 11), "ko")  # the session went on
        started = time.monotonic()
        ask(b, 46)  # sorting forever: each sort is a call the hook sees
        ask(a, 36)  # xpcall's handler looping too
        self.assertTrue(ended(b))
        self.assertTrue(ended(a))
        self.assertLess(time.monotonic() - started, 5)

    def test_the_script_ends_its_session(self):
        for op in (33, 34):  # processEnding(); three failed health checks
            gs = self.game_session()
            a, = self.players(gs, 1, udp=False)
            ask(a, op)
            self.assertTrue(ended(a, timeout=5), op)

    def test_a_new_script_reaches_new_sessions_only(self):
        old = self.game_session()
        a, = self.players(old, 1, udp=False)
        try:
            write_script(2)
            new = self.game_session()
            b, = self.players(new, 1, udp=False)
            self.assertEqual(ask(b, 40, b"", 41).split("|")[0], "2")
            self.assertEqual(ask(a, 40, b"", 41).split("|")[0], "1")
        finally:
            write_script(1)


class RallyRt:
    """`rally rt connect` driven through its stdin and --json output."""

    def __init__(self, host, port, psess, *extra):
        self.proc = subprocess.Popen([os.path.join(BIN, "rally"), "--json", "rt", "connect",
                                      "%s:%d" % (host, port), psess, *extra],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, bufsize=1)
        self.pending = b""  # read from stdout, not yet a whole line
        self.connected = self.next("connected")

    def say(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def next(self, event, timeout=5):
        """The next event of that kind (others are skipped). Lines are read
        from the descriptor itself: a buffered reader would hide lines from
        select()."""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while True:
            while b"\n" in self.pending:
                line, self.pending = self.pending.split(b"\n", 1)
                if json.loads(line)["event"] == event:
                    return json.loads(line)
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise AssertionError("no %s event" % event)
            data = os.read(fd, 65536)
            if not data:
                raise AssertionError("rally rt ended: %s" % self.proc.stderr.read())
            self.pending += data

    def close(self):
        if self.proc.poll() is None:
            self.say("quit")
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdin.close()
        self.proc.stdout.close()
        self.proc.stderr.close()


class Proxy(threading.Thread):
    """TCP to the relay through a port of ours, so a test can cut a
    player's connection as a network would (no closing handshake)."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.target = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.pairs = []
        self.start()

    def run(self):
        while True:
            try:
                a, _ = self.listener.accept()
            except OSError:
                return
            b = socket.create_connection(("127.0.0.1", self.target))
            self.pairs.append((a, b))
            threading.Thread(target=self.pump, args=(a, b), daemon=True).start()

    @staticmethod
    def pump(a, b):
        socks = [a, b]
        try:
            while True:
                for s in select.select(socks, [], [])[0]:
                    data = s.recv(65536)
                    if not data:
                        return
                    (b if s is a else a).sendall(data)
        except OSError:
            return

    def cut(self):
        for a, b in self.pairs:
            for s in (a, b):
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                s.close()  # a reset, no WebSocket close
        self.pairs = []

    def stop(self):
        self.listener.close()


class Cli(unittest.TestCase):
    """librally's realtime client, through the rally tool."""

    def setUp(self):
        self.gs = FLEET.game_session()
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            p.close()
        terminate(self.gs)
        wait_until(lambda: FLEET.idle_slots() == 4, 10)

    def rt(self, host=None, port=None, *extra):
        ps = seat(self.gs, "rt-cli-%d" % time.monotonic_ns())
        c = RallyRt(host or ps["IpAddress"], port or ps["Port"], ps["PlayerSessionId"], *extra)
        self.procs.append(c)
        return c

    def test_two_clients_exchange_messages_through_the_script(self):
        a, b = self.rt(), self.rt()
        self.assertTrue(a.connected["fast"])
        me, other = a.connected["peerId"], b.connected["peerId"]
        self.assertEqual(a.next("player_joined")["peerId"], other)
        self.assertEqual(b.next("message")["payload"], "welcome %d" % other)
        for verb in ("send", "fast"):
            a.say("%s 1 all hello from a" % verb)
            got = b.next("message")
            self.assertEqual((got["opCode"], got["sender"], got["payload"], got["fast"]),
                             (1, me, "HELLO FROM A", verb == "fast"))
        b.say("send 10 server stressed")
        self.assertEqual(b.next("message")["payload"], "desserts")
        a.say("join 6")
        a.say("members 6")
        self.assertEqual(a.next("group_members")["members"], [me])
        b.close()
        self.assertEqual(a.next("player_left")["peerId"], other)

    def test_a_refused_login_says_why(self):
        ps = seat(self.gs, "rt-cli-refused")
        p = subprocess.run([os.path.join(BIN, "rally"), "rt", "connect", "%s:%d" % (ps["IpAddress"], ps["Port"]),
                            ps["PlayerSessionId"], "--payload", "deny"], capture_output=True, text=True,
                           timeout=10)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("refused the player", p.stderr)

    def test_a_dropped_client_reconnects_into_its_place(self):
        proxy = Proxy(self.gs["Port"])
        self.addCleanup(proxy.stop)
        a = self.rt("127.0.0.1", proxy.port, "--tcp-only")
        b = self.rt()
        me = a.connected["peerId"]
        a.say("join 3")
        self.assertEqual(a.next("group_members")["members"], [me])
        proxy.cut()
        a.next("reconnecting")
        self.assertEqual(a.next("reconnected")["peerId"], me)
        b.say("send 5 group:3 still in the group")
        self.assertEqual(a.next("message")["payload"], "still in the group")
        a.say("send 10 server ab")
        self.assertEqual(a.next("message")["payload"], "ba")


class Matched(unittest.TestCase):
    """make run's Realtime configuration as it ships: RelayChat matches two
    players onto fleet-realtime's relays (started by the stack, as make run
    starts them), whose config/scripts/chat.lua masks words and replays the
    last lines to a player who joins later."""

    def test_two_matched_players_chat_through_the_shipped_script(self):
        def chat(name, line):
            creds = os.path.join(RUN, "chat-%s-%d.json" % (name, time.monotonic_ns()))
            self.addCleanup(lambda: os.path.exists(creds) and os.remove(creds))
            return subprocess.Popen([os.path.join(BIN, "rally-example-chat"), "--credentials", creds,
                                     "--say", line, "--seconds", "30"],
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        one = chat("one", "hello noob")
        two = chat("two", "no lag here")
        out_one, out_two = one.communicate(60)[0], two.communicate(60)[0]
        self.assertEqual((one.returncode, two.returncode), (0, 0), out_one + out_two)
        self.assertIn("no l** here", out_one)
        self.assertIn("hello n***", out_two)
        self.assertIn("fleet-realtime", out_one)


if __name__ == "__main__":
    unittest.main()
