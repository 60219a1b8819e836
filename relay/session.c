#include "session.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet.h"
#include "log.h"
#include "relay.h"
#include "rtproto.h"
#include "script.h"
#include "tcp.h"
#include "util.h"

#define BUCKETS 16384
#define TOKEN_HEX 32
/* Developer groups a session may have, and a player may be in. */
#define MAX_GROUPS 256
#define MAX_PLAYER_GROUPS 32
/* A player over its rate by this many messages is flooding: disconnected. */
#define FLOOD_DEBT 4.0
/* Wrong connect tokens a player may send before its UDP handshakes are
 * ignored. */
#define MAX_BAD_VERIFIES 16
/* onHealthCheck answers of false in a row that end a session. */
#define MAX_UNHEALTHY 3

struct group {
    int32_t id;
    struct player **members;
    uint32_t n, cap;
};

struct player {
    struct session *s;
    int32_t peer_id;
    char psess[129], player_id[129];
    struct tconn *tcp; /* NULL while away */
    double away_since_ms;
    char connect_token[TOKEN_HEX + 1], reconnect_token[TOKEN_HEX + 1];
    struct udp_addr udp;
    uint8_t udp_key[18]; /* ip (v4 mapped into v6) and port, for by_addr */
    bool udp_bound, udp_send_ok;
    unsigned bad_verifies;
    int32_t udp_seq_out, udp_seq_in;
    double bucket, bucket_ms; /* message tokens left, as of bucket_ms */
    uint32_t index;           /* in s->players */
    int32_t groups[MAX_PLAYER_GROUPS];
    uint32_t ngroups;
    struct player *next_by_peer, *next_by_addr, *next_by_psess;
};

enum session_state { S_FREE, S_ACTIVE };

struct session {
    int member;
    enum session_state state;
    struct session_info info;
    struct player **players;
    uint32_t nplayers, cap;
    struct group *groups;
    uint32_t ngroups;
    double empty_since_ms;
    struct script *script; /* NULL without --script */
    bool end_asked;        /* by the script: ends at the next housekeeping */
    double next_health_ms;
    int unhealthy;
};

static struct {
    struct session *sessions;
    int nsessions;
    int32_t next_peer;
    struct player *by_peer[BUCKETS], *by_addr[BUCKETS], *by_psess[BUCKETS];
    size_t players;
    uint8_t *buf; /* one encoded packet */
    size_t buf_cap;
} r;

/* ---- lookups ------------------------------------------------------------ */

static uint32_t hash_bytes(const void *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ ((const uint8_t *)p)[i]) * 16777619u;
    return h % BUCKETS;
}

static struct player *by_peer(int32_t peer)
{
    for (struct player *p = r.by_peer[(uint32_t)peer % BUCKETS]; p != NULL; p = p->next_by_peer)
        if (p->peer_id == peer)
            return p;
    return NULL;
}

static struct player *by_psess(const char *psess)
{
    for (struct player *p = r.by_psess[hash_bytes(psess, strlen(psess))]; p != NULL;
         p = p->next_by_psess)
        if (strcmp(p->psess, psess) == 0)
            return p;
    return NULL;
}

/* An address's key: its IP as IPv6 (IPv4 mapped) and its port. */
static void addr_key(const struct sockaddr_storage *sa, uint8_t key[18])
{
    memset(key, 0, 18);
    if (sa->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        key[10] = key[11] = 0xff;
        memcpy(key + 12, &a->sin_addr, 4);
        memcpy(key + 16, &a->sin_port, 2);
    } else if (sa->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        memcpy(key, &a->sin6_addr, 16);
        memcpy(key + 16, &a->sin6_port, 2);
    }
}

static struct player *by_addr(const uint8_t key[18])
{
    for (struct player *p = r.by_addr[hash_bytes(key, 18)]; p != NULL; p = p->next_by_addr)
        if (memcmp(p->udp_key, key, 18) == 0)
            return p;
    return NULL;
}

static void unlink_chain(struct player **head, struct player *p, size_t next_off)
{
    for (struct player **pp = head; *pp != NULL; pp = (struct player **)((char *)*pp + next_off))
        if (*pp == p) {
            *pp = *(struct player **)((char *)p + next_off);
            return;
        }
}

static void unbind_udp(struct player *p)
{
    if (p->udp_bound)
        unlink_chain(&r.by_addr[hash_bytes(p->udp_key, 18)], p,
                     offsetof(struct player, next_by_addr));
    p->udp_bound = p->udp_send_ok = false;
}

static void bind_udp(struct player *p, const struct udp_addr *from, const uint8_t key[18])
{
    struct player *other = by_addr(key);
    if (other != NULL && other != p)
        unbind_udp(other); /* the address moved to another player (a NAT reused it) */
    unbind_udp(p);
    p->udp = *from;
    memcpy(p->udp_key, key, 18);
    p->udp_bound = true;
    p->udp_seq_in = -1;
    uint32_t b = hash_bytes(key, 18);
    p->next_by_addr = r.by_addr[b];
    r.by_addr[b] = p;
}

/* ---- sending ------------------------------------------------------------ */

/* Encodes pkt into r.buf; its length, or 0. */
static size_t encode(const struct rt_packet *pkt)
{
    size_t n = rt_encoded_size(pkt);
    if (n > r.buf_cap) {
        uint8_t *b = realloc(r.buf, n);
        if (b == NULL)
            return 0;
        r.buf = b;
        r.buf_cap = n;
    }
    return rt_encode(pkt, r.buf, r.buf_cap);
}

/* Sends pkt to p: over UDP when fast is asked and p's UDP works both ways
 * and it fits a datagram, else over its WebSocket. Away players get
 * nothing. */
static void send_to(struct player *p, struct rt_packet *pkt, bool fast)
{
    if (fast && p->udp_send_ok) {
        pkt->seq = ++p->udp_seq_out;
        size_t n = encode(pkt);
        if (n > 0 && n <= UDP_MAX_DATAGRAM) {
            udp_send(&p->udp, r.buf, n);
            relay_stats.delivered_udp++;
            return;
        }
    }
    if (p->tcp == NULL)
        return;
    pkt->seq = 0;
    size_t n = encode(pkt);
    if (n > 0 && tcp_send(p->tcp, r.buf, n))
        relay_stats.delivered_tcp++;
}

/* A protocol message from the server (sender -1) to p. */
static void send_server(struct player *p, struct rt_packet *pkt, bool fast)
{
    pkt->sender = RT_PLAYER_SERVER;
    pkt->target_player = p->peer_id;
    pkt->reliable = !fast;
    send_to(p, pkt, fast);
}

static struct group *find_group(struct session *s, int32_t id)
{
    for (uint32_t i = 0; i < s->ngroups; i++)
        if (s->groups[i].id == id)
            return &s->groups[i];
    return NULL;
}

/* GroupMembershipUpdate of a group (the session's players for -1) to p. */
static void send_membership(struct player *p, int32_t group_id)
{
    struct rt_packet pkt;
    rt_packet_clear(&pkt);
    pkt.op_code = RT_OP_GROUP_MEMBERSHIP_UPDATE;
    pkt.body = RT_BODY_GROUP_MEMBERSHIP_UPDATE;
    pkt.group = group_id;
    struct session *s = p->s;
    if (group_id == RT_GROUP_ALL) {
        for (uint32_t i = 0; i < s->nplayers && pkt.nplayers < RT_GROUP_MAX; i++)
            pkt.players[pkt.nplayers++] = s->players[i]->peer_id;
    } else {
        struct group *g = find_group(s, group_id);
        for (uint32_t i = 0; g != NULL && i < g->n && pkt.nplayers < RT_GROUP_MAX; i++)
            pkt.players[pkt.nplayers++] = g->members[i]->peer_id;
    }
    send_server(p, &pkt, false);
}

/* PLAYER_CONNECT / PLAYER_DISCONNECT about `about` to the others. */
static void tell_others(struct player *about, int32_t op, enum rt_body body)
{
    struct session *s = about->s;
    for (uint32_t i = 0; i < s->nplayers; i++) {
        struct player *p = s->players[i];
        if (p == about)
            continue;
        struct rt_packet pkt;
        rt_packet_clear(&pkt);
        pkt.op_code = op;
        pkt.body = body;
        pkt.peer_id = about->peer_id;
        send_server(p, &pkt, false);
    }
}

/* ---- players and groups ------------------------------------------------- */

static void group_remove(struct session *s, struct group *g, struct player *p)
{
    for (uint32_t i = 0; i < g->n; i++)
        if (g->members[i] == p) {
            g->members[i] = g->members[--g->n];
            break;
        }
    for (uint32_t i = 0; i < p->ngroups; i++)
        if (p->groups[i] == g->id) {
            p->groups[i] = p->groups[--p->ngroups];
            break;
        }
    if (g->n == 0) { /* an empty group goes: the last takes its place */
        free(g->members);
        struct group *last = &s->groups[--s->ngroups];
        if (g != last)
            *g = *last;
        *last = (struct group){0};
    }
}

/* Adds p to group id (created when new). false: a limit refused it. */
static bool group_add(struct session *s, int32_t id, struct player *p)
{
    struct group *g = find_group(s, id);
    if (g == NULL) {
        if (s->ngroups >= MAX_GROUPS)
            return false;
        if (s->groups == NULL && (s->groups = calloc(MAX_GROUPS, sizeof(*s->groups))) == NULL)
            return false;
        g = &s->groups[s->ngroups++];
        *g = (struct group){.id = id};
    }
    for (uint32_t i = 0; i < g->n; i++)
        if (g->members[i] == p)
            return true;
    if (p->ngroups >= MAX_PLAYER_GROUPS)
        return false;
    if (g->n == g->cap) {
        uint32_t cap = g->cap ? g->cap * 2 : 8;
        struct player **m = realloc(g->members, cap * sizeof(struct player *));
        if (m == NULL)
            return false;
        g->members = m;
        g->cap = cap;
    }
    g->members[g->n++] = p;
    p->groups[p->ngroups++] = id;
    return true;
}

/* Everyone in the group, and `also` (who just left it), hears who is in it. */
static void broadcast_membership(struct session *s, int32_t id, struct player *also)
{
    struct group *g = find_group(s, id);
    for (uint32_t i = 0; g != NULL && i < g->n; i++)
        send_membership(g->members[i], id);
    if (also != NULL)
        send_membership(also, id);
}

static void new_token(char out[TOKEN_HEX + 1])
{
    unsigned char raw[TOKEN_HEX / 2];
    util_random(raw, sizeof(raw));
    util_hex(raw, sizeof(raw), out);
}

/* Frees a player: out of its groups, its session and every table. told:
 * rally is told it left (RemovePlayerSession); the others are told. */
static void player_free(struct player *p, bool left)
{
    struct session *s = p->s;
    while (p->ngroups > 0) {
        int32_t id = p->groups[0];
        group_remove(s, find_group(s, id), p);
        if (left)
            broadcast_membership(s, id, NULL);
    }
    s->players[p->index] = s->players[--s->nplayers];
    s->players[p->index]->index = p->index;
    if (s->nplayers == 0)
        s->empty_since_ms = relay_now_ms;
    unbind_udp(p);
    unlink_chain(&r.by_peer[(uint32_t)p->peer_id % BUCKETS], p,
                 offsetof(struct player, next_by_peer));
    unlink_chain(&r.by_psess[hash_bytes(p->psess, strlen(p->psess))], p,
                 offsetof(struct player, next_by_psess));
    if (p->tcp != NULL)
        p->tcp->player = NULL;
    if (left) {
        tell_others(p, RT_OP_PLAYER_DISCONNECT, RT_BODY_PLAYER_DISCONNECT);
        fleet_remove(p->psess);
        script_on_player_disconnect(s->script, p->peer_id);
    }
    r.players--;
    free(p);
}

static struct player *player_new(struct session *s, const char *psess, const char *player_id)
{
    if (s->nplayers == s->cap) {
        uint32_t cap = s->cap ? s->cap * 2 : 32;
        struct player **ps = realloc(s->players, cap * sizeof(struct player *));
        if (ps == NULL)
            return NULL;
        s->players = ps;
        s->cap = cap;
    }
    struct player *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->s = s;
    p->peer_id = ++r.next_peer;
    snprintf(p->psess, sizeof(p->psess), "%s", psess);
    snprintf(p->player_id, sizeof(p->player_id), "%s", player_id != NULL ? player_id : "");
    new_token(p->connect_token);
    new_token(p->reconnect_token);
    p->udp_seq_in = -1;
    p->bucket = relay_cfg.player_rate * 2;
    p->bucket_ms = relay_now_ms;
    p->index = s->nplayers;
    s->players[s->nplayers++] = p;
    uint32_t b = (uint32_t)p->peer_id % BUCKETS;
    p->next_by_peer = r.by_peer[b];
    r.by_peer[b] = p;
    b = hash_bytes(p->psess, strlen(p->psess));
    p->next_by_psess = r.by_psess[b];
    r.by_psess[b] = p;
    r.players++;
    return p;
}

static void attach(struct player *p, struct tconn *c)
{
    p->tcp = c;
    p->away_since_ms = 0;
    c->player = p;
    c->login_pending = false;
}

/* LoginResult to p on its WebSocket: who it is, and how to reach UDP. */
static void send_login_result(struct player *p)
{
    struct rt_packet pkt;
    rt_packet_clear(&pkt);
    pkt.op_code = RT_OP_LOGIN_RESPONSE;
    pkt.body = RT_BODY_LOGIN_RESULT;
    pkt.success = true;
    pkt.peer_id = p->peer_id;
    pkt.fast_port = relay_cfg.port;
    pkt.reconnect_token = (struct rt_bytes){(const uint8_t *)p->reconnect_token, TOKEN_HEX};
    pkt.connect_token = (struct rt_bytes){(const uint8_t *)p->connect_token, TOKEN_HEX};
    send_server(p, &pkt, false);
}

/* A refused login: LoginResult success=false, then the connection ends. */
static void refuse_login(struct tconn *c, const char *why)
{
    relay_stats.logins_refused++;
    struct rt_packet pkt;
    rt_packet_clear(&pkt);
    pkt.op_code = RT_OP_LOGIN_RESPONSE;
    pkt.body = RT_BODY_LOGIN_RESULT;
    pkt.sender = RT_PLAYER_SERVER;
    size_t n = encode(&pkt);
    if (n > 0)
        tcp_send(c, r.buf, n);
    c->login_pending = false;
    tcp_close(c, 4001, why);
}

/* ---- the protocol ------------------------------------------------------- */

/* Whether p may send one more message now; a flood disconnects it. */
static bool take_token(struct player *p)
{
    double rate = relay_cfg.player_rate;
    p->bucket += (relay_now_ms - p->bucket_ms) / 1000.0 * rate;
    if (p->bucket > rate * 2)
        p->bucket = rate * 2;
    p->bucket_ms = relay_now_ms;
    p->bucket -= 1.0;
    if (p->bucket >= 0)
        return true;
    relay_stats.dropped_rate++;
    if (p->bucket < -rate * FLOOD_DEBT && p->tcp != NULL) {
        relay_stats.disconnects_flood++;
        log_info("relay: player %s of %s sends over %.0f messages/s: disconnected", p->player_id,
                 p->s->info.id, rate);
        tcp_close(p->tcp, 1008, "too many messages: flooding");
    }
    return false;
}

/* pkt to its target player or group of s, but not to `except` (its
 * sender). */
static void deliver(struct session *s, struct rt_packet *pkt, const struct player *except)
{
    bool fast = !pkt->reliable;
    if (pkt->target_group != RT_NO_TARGET) {
        int32_t gid = pkt->target_group;
        if (gid == RT_GROUP_ALL) {
            for (uint32_t i = 0; i < s->nplayers; i++)
                if (s->players[i] != except)
                    send_to(s->players[i], pkt, fast);
            return;
        }
        struct group *g = find_group(s, gid);
        for (uint32_t i = 0; g != NULL && i < g->n; i++)
            if (g->members[i] != except)
                send_to(g->members[i], pkt, fast);
        return;
    }
    struct player *to = by_peer(pkt->target_player);
    if (to != NULL && to->s == s)
        send_to(to, pkt, fast);
}

/* A developer message (opCode > 0) from p, to a player, a group or the
 * server (its script). */
static void route(struct player *p, struct rt_packet *pkt, bool via_udp)
{
    if (!take_token(p))
        return;
    if (pkt->payload.n > relay_cfg.max_payload) {
        relay_stats.dropped_oversize++;
        if (!via_udp && p->tcp != NULL) {
            char why[96];
            snprintf(why, sizeof(why), "a payload over %zu bytes", relay_cfg.max_payload);
            tcp_close(p->tcp, 1009, why);
        }
        return;
    }
    pkt->sender = p->peer_id; /* never what the client claims */
    pkt->body = RT_BODY_NONE;
    struct session *s = p->s;
    bool to_server = pkt->target_group == RT_NO_TARGET && pkt->target_player <= 0;
    if (s->script != NULL) {
        struct script_msg m = {pkt->op_code,      pkt->sender,   pkt->target_player,
                               pkt->target_group, pkt->reliable, pkt->payload};
        if (to_server) {
            script_on_message(s->script, &m);
            return;
        }
        if (!script_on_send(s->script, &m))
            return;
        pkt->op_code = m.op_code; /* the script may have changed them */
        pkt->payload = m.payload;
    }
    if (!to_server)
        deliver(s, pkt, p);
}

static void on_group_op(struct player *p, const struct rt_packet *pkt)
{
    struct session *s = p->s;
    int32_t gid = pkt->group;
    if (pkt->op_code == RT_OP_REQUEST_GROUP_MEMBERSHIP) {
        if (gid == RT_GROUP_ALL || gid > 0)
            send_membership(p, gid);
        return;
    }
    if (gid <= 0) /* the all-players group is everyone's; others are > 0 */
        return;
    if (pkt->op_code == RT_OP_JOIN_GROUP) {
        if (script_on_join_group(s->script, gid, p->peer_id) && group_add(s, gid, p))
            broadcast_membership(s, gid, NULL);
        else
            send_membership(p, gid); /* refused: it hears it is not in */
    } else {
        struct group *g = find_group(s, gid);
        if (g != NULL && script_on_leave_group(s->script, gid, p->peer_id)) {
            group_remove(s, g, p);
            broadcast_membership(s, gid, p);
        }
    }
}

static void on_ping(struct player *p, const struct rt_packet *pkt, bool via_udp)
{
    struct rt_packet res;
    rt_packet_clear(&res);
    res.op_code = RT_OP_PING_RESULT;
    res.body = RT_BODY_PING_RESULT;
    res.payload = pkt->payload; /* the client's timestamp comes back */
    if (res.payload.n > 64)
        res.payload.n = 64;
    send_server(p, &res, via_udp);
}

/* A packet from a logged-in player on either channel. */
static void on_player_packet(struct player *p, struct rt_packet *pkt, bool via_udp)
{
    if (pkt->op_code > 0) {
        route(p, pkt, via_udp);
        return;
    }
    if (!take_token(p))
        return;
    switch (pkt->op_code) {
    case RT_OP_PING: on_ping(p, pkt, via_udp); break;
    case RT_OP_JOIN_GROUP:
    case RT_OP_LEAVE_GROUP:
    case RT_OP_REQUEST_GROUP_MEMBERSHIP: on_group_op(p, pkt); break;
    case RT_OP_UDP_CONNECT_CLIENT_ACK:
        if (via_udp) /* it heard our ack over UDP: UDP works both ways */
            p->udp_send_ok = true;
        break;
    default: /* LOGIN again, or an opcode of the server's: ignored */ break;
    }
}

/* A login on a WebSocket: a reconnect with its token, or a new player,
 * whom rally must accept first. */
static void on_login(struct tconn *c, const struct rt_packet *pkt)
{
    char psess[129];
    size_t n = pkt->player_session_id.n;
    if (pkt->body != RT_BODY_LOGIN || n == 0 || n >= sizeof(psess)) {
        refuse_login(c, "a login needs a playerSessionId");
        return;
    }
    memcpy(psess, pkt->player_session_id.p, n);
    psess[n] = '\0';
    if (!util_is_token(psess, 128, "-_.")) {
        refuse_login(c, "malformed playerSessionId");
        return;
    }
    relay_stats.logins++;
    struct player *p = by_psess(psess);
    if (pkt->reconnect_token.n > 0) {
        if (p == NULL || pkt->reconnect_token.n != TOKEN_HEX ||
            !util_ct_equal(pkt->reconnect_token.p, p->reconnect_token, TOKEN_HEX)) {
            refuse_login(c, "no such player to reconnect, or a wrong reconnect token");
            return;
        }
        if (p->tcp != NULL) { /* the old connection is still up: the new one wins */
            struct tconn *old = p->tcp;
            old->player = NULL;
            tcp_close(old, 4002, "replaced by a new connection");
        }
        relay_stats.reconnects++;
        attach(p, c);
        unbind_udp(p); /* the client binds UDP anew */
        new_token(p->connect_token);
        new_token(p->reconnect_token);
        send_login_result(p);
        return;
    }
    if (p != NULL) {
        refuse_login(c, "this player session is already connected");
        return;
    }
    free(c->login_payload);
    c->login_payload = NULL;
    c->login_payload_len = 0;
    if (pkt->payload.n > 0 && (c->login_payload = malloc(pkt->payload.n)) != NULL) {
        memcpy(c->login_payload, pkt->payload.p, pkt->payload.n);
        c->login_payload_len = pkt->payload.n;
    }
    snprintf(c->login_psess, sizeof(c->login_psess), "%s", psess);
    c->login_pending = true;
    fleet_accept(c->base.slot, c->base.gen, psess);
}

void session_on_tcp_message(struct tconn *c, const uint8_t *data, size_t len)
{
    struct rt_packet pkt;
    const char *why = NULL;
    if (rt_decode(data, len, &pkt, &why) != 0) {
        relay_stats.dropped_malformed++;
        tcp_close(c, 1007, why);
        return;
    }
    if (c->player != NULL) {
        on_player_packet(c->player, &pkt, false);
        return;
    }
    if (c->login_pending)
        return; /* nothing but the login's answer until it comes */
    if (pkt.op_code != RT_OP_LOGIN) {
        tcp_close(c, 1008, "log in first");
        return;
    }
    on_login(c, &pkt);
}

void session_on_tcp_closed(struct tconn *c)
{
    c->login_pending = false;
    struct player *p = c->player;
    if (p == NULL)
        return;
    c->player = NULL;
    p->tcp = NULL;
    if (c->base.closed_cleanly) { /* it said goodbye: it left */
        player_free(p, true);
        return;
    }
    p->away_since_ms = relay_now_ms; /* its place is kept for the reconnect window */
    unbind_udp(p);
}

/* Binds p's UDP to `from` and answers the handshake there with pkt. */
static void bind_and_answer(struct player *p, const struct udp_addr *from, const uint8_t key[18],
                            struct rt_packet *pkt)
{
    bind_udp(p, from, key);
    pkt->sender = RT_PLAYER_SERVER;
    pkt->seq = ++p->udp_seq_out;
    size_t n = encode(pkt);
    if (n > 0)
        udp_send(&p->udp, r.buf, n);
}

/* UDP from an address no player has: the two handshakes. */
static void udp_handshake(const struct udp_addr *from, const uint8_t key[18],
                          const struct rt_packet *pkt)
{
    if (pkt->op_code == RT_OP_VERIFY_IDENTITY && pkt->body == RT_BODY_VERIFY_IDENTITY) {
        /* rally's client: the connect token from LoginResult proves it. */
        struct player *p = by_peer(pkt->peer_id);
        if (p == NULL || p->tcp == NULL || p->bad_verifies >= MAX_BAD_VERIFIES ||
            pkt->connect_token.n != TOKEN_HEX ||
            !util_ct_equal(pkt->connect_token.p, p->connect_token, TOKEN_HEX)) {
            if (p != NULL)
                p->bad_verifies++;
            relay_stats.dropped_spoofed++;
            return;
        }
        struct rt_packet res;
        rt_packet_clear(&res);
        res.op_code = RT_OP_VERIFY_IDENTITY_RESPONSE;
        res.body = RT_BODY_VERIFY_IDENTITY_RESULT;
        res.success = true;
        res.peer_id = p->peer_id;
        bind_and_answer(p, from, key, &res);
        return;
    }
    if (pkt->op_code == RT_OP_UDP_CONNECT) {
        /* AWS's client without DTLS names only its peer id: taken from the
         * address its WebSocket comes from, and no other. */
        struct player *p = by_peer(pkt->sender);
        uint8_t tcp_key[18] = {0};
        if (p != NULL && p->tcp != NULL)
            addr_key(&p->tcp->base.peer, tcp_key);
        if (p == NULL || p->tcp == NULL || memcmp(tcp_key, key, 16) != 0) {
            relay_stats.dropped_spoofed++;
            return;
        }
        struct rt_packet ack;
        rt_packet_clear(&ack);
        ack.op_code = RT_OP_UDP_CONNECT_SERVER_ACK;
        ack.body = RT_BODY_UDP_CONNECT;
        ack.target_player = p->peer_id;
        bind_and_answer(p, from, key, &ack);
        return;
    }
    relay_stats.dropped_spoofed++; /* anything else from an unknown address */
}

void session_on_udp_datagram(const struct udp_addr *from, const uint8_t *data, size_t len)
{
    struct rt_packet pkt;
    const char *why = NULL;
    if (rt_decode(data, len, &pkt, &why) != 0) {
        relay_stats.dropped_malformed++;
        return;
    }
    uint8_t key[18];
    addr_key(&from->sa, key);
    struct player *p = by_addr(key);
    if (p == NULL || pkt.op_code == RT_OP_VERIFY_IDENTITY || pkt.op_code == RT_OP_UDP_CONNECT) {
        udp_handshake(from, key, &pkt);
        return;
    }
    if (pkt.sender != p->peer_id) {
        relay_stats.dropped_spoofed++;
        return;
    }
    if (pkt.seq <= p->udp_seq_in) { /* late or replayed */
        relay_stats.dropped_malformed++;
        return;
    }
    p->udp_seq_in = pkt.seq;
    on_player_packet(p, &pkt, true);
}

/* ---- sessions ----------------------------------------------------------- */

static struct session *session_by_id(const char *id)
{
    for (int i = 0; i < r.nsessions; i++)
        if (r.sessions[i].state == S_ACTIVE && strcmp(r.sessions[i].info.id, id) == 0)
            return &r.sessions[i];
    return NULL;
}

void session_on_accepted(uint32_t slot, uint32_t gen, const char *psess, const char *game_session,
                         const char *player_id)
{
    struct tconn *c = tcp_get(slot, gen);
    struct session *s = session_by_id(game_session);
    if (c == NULL || !c->login_pending || strcmp(c->login_psess, psess) != 0 || s == NULL) {
        /* Gone while rally answered, or a session that has ended: its seat
         * is given back. */
        fleet_remove(psess);
        if (c != NULL && c->login_pending)
            refuse_login(c, "the game session is not running here");
        return;
    }
    if (by_psess(psess) != NULL) {
        refuse_login(c, "this player session is already connected");
        return;
    }
    /* The script decides before the player is anyone's to see: the peer id
     * it is told is the one the player will get. */
    if (!script_on_player_connect(s->script, r.next_peer + 1, psess,
                                  player_id != NULL ? player_id : "", c->login_payload,
                                  c->login_payload_len)) {
        fleet_remove(psess);
        refuse_login(c, "the game's script refused the player");
        return;
    }
    struct player *p = player_new(s, psess, player_id);
    if (p == NULL) {
        fleet_remove(psess);
        refuse_login(c, "the relay is out of memory");
        return;
    }
    attach(p, c);
    send_login_result(p);
    tell_others(p, RT_OP_PLAYER_CONNECT, RT_BODY_PLAYER_CONNECT);
    script_on_player_accepted(s->script, p->peer_id, psess, p->player_id);
}

void session_on_refused(uint32_t slot, uint32_t gen, const char *why)
{
    struct tconn *c = tcp_get(slot, gen);
    if (c != NULL && c->login_pending)
        refuse_login(c, why);
}

static void info_free(struct session_info *info)
{
    free(info->game_session_data);
    free(info->matchmaker_data);
    free(info->game_properties);
    memset(info, 0, sizeof(*info));
}

/* ---- what a script may ask of its session ------------------------------ */

static void session_end(struct session *s, const char *why);

static const char *script_send(void *session, const struct script_msg *m)
{
    struct session *s = session;
    if (m->sender != RT_PLAYER_SERVER) {
        struct player *from = by_peer(m->sender);
        if (from == NULL || from->s != s)
            return "the sender is not a player of this game session";
    }
    struct rt_packet pkt;
    rt_packet_clear(&pkt);
    pkt.op_code = m->op_code;
    pkt.sender = m->sender;
    pkt.target_player = m->target_player;
    pkt.target_group = m->target_group;
    pkt.reliable = m->reliable;
    pkt.payload = m->payload;
    deliver(s, &pkt, NULL);
    return NULL;
}

static size_t script_players(void *session, int32_t *out, size_t max)
{
    struct session *s = session;
    for (uint32_t i = 0; i < s->nplayers && i < max; i++)
        out[i] = s->players[i]->peer_id;
    return s->nplayers;
}

static void script_membership(void *session, int32_t group)
{
    broadcast_membership(session, group, NULL);
}

static void script_end(void *session)
{
    ((struct session *)session)->end_asked = true;
}

static const struct script_ops script_ops = {
    .send = script_send,
    .players = script_players,
    .membership = script_membership,
    .end = script_end,
};

void session_start(int member, struct session_info *info)
{
    if (member < 0 || member >= r.nsessions) {
        info_free(info);
        return;
    }
    struct session *s = &r.sessions[member];
    info_free(&s->info);
    s->info = *info;
    memset(info, 0, sizeof(*info));
    s->state = S_ACTIVE;
    s->empty_since_ms = relay_now_ms;
    s->end_asked = false;
    s->unhealthy = 0;
    s->next_health_ms = relay_now_ms + relay_cfg.health_s * 1000;
    if (relay_cfg.script != NULL) {
        char why[256];
        s->script = script_load(relay_cfg.script, &script_ops, s, &s->info, why, sizeof(why));
        if (s->script == NULL) {
            log_error("relay: game session %s: its script %s: %s", s->info.id, relay_cfg.script,
                      why);
            session_end(s, "its script failed to start");
            return;
        }
    }
    log_info("relay: game session %s starts (slot %d)", s->info.id, member);
    fleet_session_ready(member);
}

/* Ends a session: GAME_END to its players, their connections closed. Rally
 * ends their player sessions with the game session. */
static void session_end(struct session *s, const char *why)
{
    if (s->state == S_FREE)
        return;
    log_info("relay: game session %s ends: %s", s->info.id, why);
    script_free(s->script); /* its onProcessTerminate may still send */
    s->script = NULL;
    while (s->nplayers > 0) {
        struct player *p = s->players[s->nplayers - 1];
        if (p->tcp != NULL) {
            struct rt_packet pkt;
            rt_packet_clear(&pkt);
            pkt.op_code = RT_OP_GAME_END;
            send_server(p, &pkt, false);
            tcp_close(p->tcp, 1000, "the game session ended");
        }
        player_free(p, false);
    }
    for (uint32_t i = 0; i < s->ngroups; i++)
        free(s->groups[i].members);
    free(s->groups);
    free(s->players);
    s->groups = NULL;
    s->players = NULL;
    s->ngroups = s->nplayers = s->cap = 0;
    info_free(&s->info);
    s->state = S_FREE;
    fleet_session_ended(s->member);
}

void session_terminate(int member)
{
    if (member >= 0 && member < r.nsessions)
        session_end(&r.sessions[member], "rally ended it");
}

void session_end_all(const char *why)
{
    for (int i = 0; i < r.nsessions; i++)
        session_end(&r.sessions[i], why);
}

/* A session's script: the end it asked for, a bound it broke, its health. */
static void script_housekeeping(struct session *s, double now_ms)
{
    const char *broken = script_broken(s->script);
    if (broken != NULL) {
        log_error("relay: game session %s: its script broke a bound: %s", s->info.id, broken);
        session_end(s, "its script broke a bound");
        return;
    }
    if (s->end_asked) {
        session_end(s, "its script ended it (processEnding)");
        return;
    }
    if (s->script == NULL || now_ms < s->next_health_ms)
        return;
    s->next_health_ms = now_ms + relay_cfg.health_s * 1000;
    s->unhealthy = script_health_check(s->script) ? 0 : s->unhealthy + 1;
    if (s->unhealthy >= MAX_UNHEALTHY)
        session_end(s, "its script reported it unhealthy three times in a row");
}

void session_housekeeping(double now_ms)
{
    for (int i = 0; i < r.nsessions; i++) {
        struct session *s = &r.sessions[i];
        if (s->state != S_ACTIVE)
            continue;
        /* Backwards: a player freed takes the last one's place, already seen. */
        for (uint32_t j = s->nplayers; j-- > 0;) {
            struct player *p = s->players[j];
            if (p->tcp == NULL && now_ms - p->away_since_ms > relay_cfg.reconnect_s * 1000)
                player_free(p, true); /* the window passed: it left */
        }
        if (s->nplayers == 0 && now_ms - s->empty_since_ms > relay_cfg.idle_s * 1000)
            session_end(s, "no players");
        else
            script_housekeeping(s, now_ms);
    }
}

double session_next_timer(void)
{
    double next = -1;
    for (int i = 0; i < r.nsessions; i++) {
        double t = script_next_timer(r.sessions[i].script);
        if (t >= 0 && (next < 0 || t < next))
            next = t;
    }
    return next;
}

void session_run_timers(double now_ms)
{
    for (int i = 0; i < r.nsessions; i++)
        script_run_timers(r.sessions[i].script, now_ms);
}

int session_init(void)
{
    r.nsessions = relay_cfg.sessions;
    r.sessions = calloc((size_t)r.nsessions, sizeof(*r.sessions));
    if (r.sessions == NULL)
        return -1;
    for (int i = 0; i < r.nsessions; i++)
        r.sessions[i].member = i;
    return 0;
}

size_t session_player_count(void)
{
    return r.players;
}

size_t session_running_count(void)
{
    size_t n = 0;
    for (int i = 0; i < r.nsessions; i++)
        n += r.sessions[i].state == S_ACTIVE;
    return n;
}
