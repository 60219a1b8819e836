"""A GameLift Realtime client for the relay's tests, on Google's protobuf
runtime (python3-protobuf) rather than rally's codec, so that the relay is
checked against an independent implementation of the wire format: the
Packet schema of AWS's Realtime client SDK (reference/gamelift-api.md §7a),
built here as a descriptor, each message preceded by its varint length,
binary WebSocket messages at ws://HOST:PORT/websocket and UDP datagrams."""

import socket
import time

import websocket
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.internal.decoder import _DecodeVarint
from google.protobuf.internal.encoder import _VarintBytes

LOGIN, LOGIN_RESPONSE, PING, PING_RESULT = 0, -1, -2, -3
UDP_CONNECT, UDP_SERVER_ACK, UDP_CLIENT_ACK = -5, -6, -7
JOIN_GROUP, LEAVE_GROUP, REQUEST_GROUP, GROUP_UPDATE = -10, -11, -12, -13
VERIFY_IDENTITY, VERIFY_IDENTITY_RESPONSE = -14, -15
PLAYER_CONNECT, PLAYER_DISCONNECT, GAME_END = -101, -103, -1001
SERVER, ALL_PLAYERS = -1, -1

T = descriptor_pb2.FieldDescriptorProto


def _schema():
    f = descriptor_pb2.FileDescriptorProto(name="rally_rt_test.proto", package="rt", syntax="proto3")

    def message(name, *fields, oneof=None):
        m = f.message_type.add(name=name)
        if oneof:
            m.oneof_decl.add(name=oneof)
        for fname, number, ftype, *rest in fields:
            fd = m.field.add(name=fname, number=number, type=ftype, label=T.LABEL_OPTIONAL)
            for r in rest:
                if r == "repeated":
                    fd.label = T.LABEL_REPEATED
                elif r == "oneof":
                    fd.oneof_index = 0
                else:
                    fd.type_name = ".rt." + r
        return m

    message("LoginCommand", ("playerSessionId", 1, T.TYPE_STRING), ("clientVersion", 2, T.TYPE_INT32),
            ("reconnectToken", 3, T.TYPE_STRING))
    message("LoginResult", ("success", 1, T.TYPE_BOOL), ("reconnectToken", 2, T.TYPE_STRING),
            ("peerId", 3, T.TYPE_INT32), ("fastPort", 4, T.TYPE_INT32), ("caCert", 5, T.TYPE_BYTES),
            ("connectToken", 6, T.TYPE_STRING))
    for empty in ("PingCommand", "PingResult", "UDPConnectMessage"):
        message(empty)
    message("PlayerConnectMessage", ("peerId", 1, T.TYPE_INT32))
    message("PlayerDisconnectMessage", ("peerId", 1, T.TYPE_INT32))
    message("VerifyIdentityCommand", ("peerId", 1, T.TYPE_INT32), ("connectToken", 2, T.TYPE_STRING))
    message("VerifyIdentityResult", ("success", 1, T.TYPE_BOOL), ("peerId", 2, T.TYPE_INT32))
    for g in ("JoinGroup", "LeaveGroup", "RequestGroupMembership"):
        message(g, ("group", 1, T.TYPE_INT32))
    message("GroupMembershipUpdate", ("group", 1, T.TYPE_INT32), ("players", 2, T.TYPE_INT32, "repeated"))
    bodies = [("login", 30, "LoginCommand"), ("loginResult", 31, "LoginResult"), ("ping", 32, "PingCommand"),
              ("pingResult", 33, "PingResult"), ("udpConnect", 34, "UDPConnectMessage"),
              ("playerConnect", 35, "PlayerConnectMessage"),
              ("playerDisconnect", 36, "PlayerDisconnectMessage"),
              ("verifyIdentity", 37, "VerifyIdentityCommand"),
              ("verifyIdentityResult", 38, "VerifyIdentityResult"), ("joinGroup", 40, "JoinGroup"),
              ("leaveGroup", 41, "LeaveGroup"), ("requestGroupMembership", 42, "RequestGroupMembership"),
              ("groupMembershipUpdate", 43, "GroupMembershipUpdate")]
    message("Packet", ("opCode", 1, T.TYPE_SINT32), ("sequenceNumber", 2, T.TYPE_INT32),
            ("targetPlayer", 3, T.TYPE_INT32), ("targetGroup", 4, T.TYPE_INT32), ("sender", 5, T.TYPE_INT32),
            ("reliable", 6, T.TYPE_BOOL), ("clientVersion", 7, T.TYPE_INT32), ("payload", 15, T.TYPE_BYTES),
            *[(n, num, T.TYPE_MESSAGE, t, "oneof") for n, num, t in bodies], oneof="message")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    return message_factory.MessageFactory(pool).GetPrototype(pool.FindMessageTypeByName("rt.Packet"))


Packet = _schema()


def encode(packet):
    data = packet.SerializeToString()
    return _VarintBytes(len(data)) + data


def decode(data):
    n, pos = _DecodeVarint(data, 0)
    assert n == len(data) - pos, "a length prefix that does not match"
    p = Packet()
    p.ParseFromString(data[pos:])
    return p


class Client:
    """One player: a WebSocket, and a UDP socket once logged in."""

    def __init__(self, host, port, timeout=5, ca=None):
        """ca: the relay speaks wss, its certificate checked against this
        CA file."""
        self.host, self.port = host, port
        if ca:
            self.ws = websocket.create_connection("wss://%s:%d/websocket" % (host, port), timeout=timeout,
                                                  sslopt={"ca_certs": ca})
        else:
            self.ws = websocket.create_connection("ws://%s:%d/websocket" % (host, port), timeout=timeout)
        self.udp = None
        self.seq = 0
        self.inbox = []
        self.peer_id = self.result = None
        self.close_code = self.close_reason = None

    def send(self, packet, fast=False):
        if fast:
            packet.sequenceNumber = self.seq
            self.seq += 1
            self.udp.sendto(encode(packet), (self.host, self.port))
        else:
            self.ws.send_binary(encode(packet))

    def login(self, psess, payload=b"", reconnect_token=None):
        p = Packet(opCode=LOGIN, targetPlayer=SERVER, payload=payload)
        p.login.playerSessionId = psess
        p.login.clientVersion = 2
        if reconnect_token:
            p.login.reconnectToken = reconnect_token
        self.send(p)
        self.result = self.recv_op(LOGIN_RESPONSE)
        if self.result.loginResult.success:
            self.peer_id = self.result.loginResult.peerId
        return self.result

    def recv_ws(self, timeout=5):
        self.ws.settimeout(timeout)
        op, data = self.ws.recv_data()
        if op == websocket.ABNF.OPCODE_CLOSE:
            self.close_code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
            self.close_reason = data[2:].decode()
            raise websocket.WebSocketConnectionClosedException(
                "closed by the relay: %s %s" % (self.close_code, self.close_reason))
        assert op == websocket.ABNF.OPCODE_BINARY, (op, data)
        return decode(data)

    def recv_op(self, op, timeout=5):
        """The next packet of opCode op on the WebSocket (others are kept)."""
        deadline = time.time() + timeout
        for i, p in enumerate(self.inbox):
            if p.opCode == op:
                return self.inbox.pop(i)
        while True:
            p = self.recv_ws(max(0.01, deadline - time.time()))
            if p.opCode == op:
                return p
            self.inbox.append(p)

    def open_udp(self, verify=True):
        """Binds UDP: VerifyIdentity with the connect token (rally's way) or
        UDP_CONNECT (AWS's client without DTLS), then the client ack."""
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.settimeout(2)
        if verify:
            p = Packet(opCode=VERIFY_IDENTITY, sender=self.peer_id)
            p.verifyIdentity.peerId = self.peer_id
            p.verifyIdentity.connectToken = self.result.loginResult.connectToken
            want = VERIFY_IDENTITY_RESPONSE
        else:
            p = Packet(opCode=UDP_CONNECT, sender=self.peer_id, targetPlayer=SERVER)
            p.udpConnect.SetInParent()
            want = UDP_SERVER_ACK
        self.send(p, fast=True)
        got = self.recv_udp()
        assert got.opCode == want, got
        ack = Packet(opCode=UDP_CLIENT_ACK, sender=self.peer_id, targetPlayer=SERVER)
        ack.udpConnect.SetInParent()
        self.send(ack, fast=True)
        return got

    def recv_udp(self, timeout=2):
        self.udp.settimeout(timeout)
        data, _ = self.udp.recvfrom(2048)
        return decode(data)

    def message(self, op, payload=b"", target_player=0, target_group=0, fast=False):
        p = Packet(opCode=op, sender=self.peer_id, targetPlayer=target_player, targetGroup=target_group,
                   payload=payload, reliable=not fast)
        self.send(p, fast=fast)

    def group(self, op, group):
        p = Packet(opCode=op, sender=self.peer_id, targetPlayer=SERVER)
        {JOIN_GROUP: p.joinGroup, LEAVE_GROUP: p.leaveGroup, REQUEST_GROUP: p.requestGroupMembership}[op].group = group
        self.send(p)

    def close(self, status=1000):
        try:
            self.ws.close(status=status)
        except Exception:
            pass
        if self.udp:
            self.udp.close()
