/*
 * GameLift Realtime's wire protocol, spoken by rally-relay and librally's
 * realtime client: one protobuf message, Packet (proto3), per WebSocket
 * binary message (TCP, reliable) or UDP datagram (fast), each preceded by
 * its length as a varint (protobuf's "delimited" form). The schema and the
 * constants are those of AWS's Realtime client SDK
 * (../shared/reference/gamelift-api.md §7a); docs/relay.md tells the flow.
 *
 * The decoder never allocates: byte fields point into the buffer decoded,
 * which must outlive the packet. It is strict where the protocol allows it
 * (one whole packet, lengths within bounds, known wire types) and skips
 * unknown fields as proto3 does, so a newer client's extra fields pass.
 */
#ifndef RALLY_RTPROTO_H
#define RALLY_RTPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RT_CLIENT_VERSION 2
#define RT_PLAYER_SERVER (-1) /* targetPlayer: the server (its script) */
#define RT_GROUP_ALL (-1)     /* targetGroup: every player of the session */
#define RT_NO_TARGET 0        /* targetPlayer / targetGroup unset */

/* opCodes: developers' are > 0; the protocol's own are <= 0. PING (-2) is
 * not in AWS's constants; it is the gap before PING_RESULT, which is. */
enum rt_op {
    RT_OP_LOGIN = 0,
    RT_OP_LOGIN_RESPONSE = -1,
    RT_OP_PING = -2,
    RT_OP_PING_RESULT = -3,
    RT_OP_UDP_CONNECT = -5,
    RT_OP_UDP_CONNECT_SERVER_ACK = -6,
    RT_OP_UDP_CONNECT_CLIENT_ACK = -7,
    RT_OP_PLAYER_READY = -8,
    RT_OP_JOIN_GROUP = -10,
    RT_OP_LEAVE_GROUP = -11,
    RT_OP_REQUEST_GROUP_MEMBERSHIP = -12,
    RT_OP_GROUP_MEMBERSHIP_UPDATE = -13,
    RT_OP_VERIFY_IDENTITY = -14,
    RT_OP_VERIFY_IDENTITY_RESPONSE = -15,
    RT_OP_PLAYER_CONNECT = -101,
    RT_OP_PLAYER_DISCONNECT = -103,
    RT_OP_GAME_START = -1000,
    RT_OP_GAME_END = -1001,
};

/* Which of Packet's oneof message fields is set (its field number). */
enum rt_body {
    RT_BODY_NONE = 0,
    RT_BODY_LOGIN = 30,
    RT_BODY_LOGIN_RESULT = 31,
    RT_BODY_PING = 32,
    RT_BODY_PING_RESULT = 33,
    RT_BODY_UDP_CONNECT = 34,
    RT_BODY_PLAYER_CONNECT = 35,
    RT_BODY_PLAYER_DISCONNECT = 36,
    RT_BODY_VERIFY_IDENTITY = 37,
    RT_BODY_VERIFY_IDENTITY_RESULT = 38,
    RT_BODY_JOIN_GROUP = 40,
    RT_BODY_LEAVE_GROUP = 41,
    RT_BODY_REQUEST_GROUP_MEMBERSHIP = 42,
    RT_BODY_GROUP_MEMBERSHIP_UPDATE = 43,
};

/* The most players a GroupMembershipUpdate carries. */
#define RT_GROUP_MAX 512
/* The longest varint length prefix (of a 64-bit length). */
#define RT_PREFIX_MAX 10

struct rt_bytes {
    const uint8_t *p;
    size_t n;
};

struct rt_packet {
    int32_t op_code;
    int32_t seq; /* sequenceNumber: per sender and channel, rising on UDP */
    int32_t target_player, target_group, sender;
    bool reliable;
    int32_t client_version;
    struct rt_bytes payload;
    enum rt_body body;
    /* The body's fields, those of its kind (zero otherwise): */
    struct rt_bytes player_session_id; /* LoginCommand.playerSessionId */
    int32_t login_version;             /* LoginCommand.clientVersion */
    /* LoginCommand field 3, a rally extension: the reconnect token of a
     * player taking its place back; LoginResult.reconnectToken. */
    struct rt_bytes reconnect_token;
    struct rt_bytes connect_token; /* LoginResult, VerifyIdentityCommand */
    struct rt_bytes ca_cert;       /* LoginResult */
    bool success;                  /* LoginResult, VerifyIdentityResult */
    int32_t peer_id;               /* LoginResult, VerifyIdentity*, Player(Dis)ConnectMessage */
    int32_t fast_port;             /* LoginResult */
    int32_t group; /* JoinGroup, LeaveGroup, RequestGroupMembership, GroupMembershipUpdate */
    /* GroupMembershipUpdate.players (kept last: the decoder clears only
     * what comes before). */
    size_t nplayers;
    int32_t players[RT_GROUP_MAX];
};

/* Decodes buf[0..len), which must hold exactly one delimited packet, into
 * *out. 0, or -1 when it is malformed (*why says how). */
int rt_decode(const uint8_t *buf, size_t len, struct rt_packet *out, const char **why);

/* The encoded size of p, length prefix included. */
size_t rt_encoded_size(const struct rt_packet *p);

/* Encodes p, length prefix first, into out (cap bytes). Returns the bytes
 * written, or 0 when they do not fit. Zero fields are left out, as proto3
 * does. */
size_t rt_encode(const struct rt_packet *p, uint8_t *out, size_t cap);

/* Clears *p down to its players (what rt_decode clears). */
void rt_packet_clear(struct rt_packet *p);

#endif
