#include "rtproto.h"

#include <string.h>

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

/* ---- reading ------------------------------------------------------------ */

struct reader {
    const uint8_t *p, *end;
};

static bool read_varint(struct reader *r, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 64 && r->p < r->end; shift += 7) {
        uint8_t b = *r->p++;
        x |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            *v = x;
            return true;
        }
    }
    return false; /* truncated, or longer than ten bytes */
}

/* A field's key: its number and wire type. */
static bool read_key(struct reader *r, uint32_t *field, unsigned *wt)
{
    uint64_t k;
    if (!read_varint(r, &k) || k >> 32 != 0 || (k >> 3) == 0)
        return false;
    *field = (uint32_t)(k >> 3);
    *wt = (unsigned)(k & 7);
    return true;
}

static bool read_len(struct reader *r, struct rt_bytes *b)
{
    uint64_t n;
    if (!read_varint(r, &n) || n > (uint64_t)(r->end - r->p))
        return false;
    b->p = r->p;
    b->n = (size_t)n;
    r->p += n;
    return true;
}

/* Skips a field of a known wire type; groups (3, 4) and others fail. */
static bool skip(struct reader *r, unsigned wt)
{
    uint64_t v;
    struct rt_bytes b;
    switch (wt) {
    case WT_VARINT: return read_varint(r, &v);
    case WT_LEN: return read_len(r, &b);
    case WT_I64:
    case WT_I32: {
        size_t n = wt == WT_I64 ? 8 : 4;
        if ((size_t)(r->end - r->p) < n)
            return false;
        r->p += n;
        return true;
    }
    default: return false;
    }
}

/* int32 on the wire is a varint of the value sign-extended to 64 bits. */
static bool read_int32(struct reader *r, unsigned wt, int32_t *out)
{
    uint64_t v;
    if (wt != WT_VARINT || !read_varint(r, &v))
        return false;
    *out = (int32_t)(uint32_t)v;
    return true;
}

static bool read_bool(struct reader *r, unsigned wt, bool *out)
{
    uint64_t v;
    if (wt != WT_VARINT || !read_varint(r, &v))
        return false;
    *out = v != 0;
    return true;
}

static bool read_bytes(struct reader *r, unsigned wt, struct rt_bytes *out)
{
    return wt == WT_LEN && read_len(r, out);
}

/* GroupMembershipUpdate.players: packed (proto3's way) or one by one. */
static bool read_players(struct reader *r, unsigned wt, struct rt_packet *out)
{
    if (wt == WT_VARINT) {
        if (out->nplayers >= RT_GROUP_MAX)
            return false;
        return read_int32(r, wt, &out->players[out->nplayers++]);
    }
    struct rt_bytes b;
    if (wt != WT_LEN || !read_len(r, &b))
        return false;
    struct reader in = {b.p, b.p + b.n};
    while (in.p < in.end)
        if (out->nplayers >= RT_GROUP_MAX ||
            !read_int32(&in, WT_VARINT, &out->players[out->nplayers++]))
            return false;
    return true;
}

/* One field of the body message `body` into *out. */
static bool read_body_field(struct reader *r, enum rt_body body, uint32_t f, unsigned wt,
                            struct rt_packet *out)
{
    switch (body) {
    case RT_BODY_LOGIN:
        return f == 1   ? read_bytes(r, wt, &out->player_session_id)
               : f == 2 ? read_int32(r, wt, &out->login_version)
               : f == 3 ? read_bytes(r, wt, &out->reconnect_token)
                        : skip(r, wt);
    case RT_BODY_LOGIN_RESULT:
        return f == 1   ? read_bool(r, wt, &out->success)
               : f == 2 ? read_bytes(r, wt, &out->reconnect_token)
               : f == 3 ? read_int32(r, wt, &out->peer_id)
               : f == 4 ? read_int32(r, wt, &out->fast_port)
               : f == 5 ? read_bytes(r, wt, &out->ca_cert)
               : f == 6 ? read_bytes(r, wt, &out->connect_token)
                        : skip(r, wt);
    case RT_BODY_VERIFY_IDENTITY:
        return f == 1   ? read_int32(r, wt, &out->peer_id)
               : f == 2 ? read_bytes(r, wt, &out->connect_token)
                        : skip(r, wt);
    case RT_BODY_VERIFY_IDENTITY_RESULT:
        return f == 1   ? read_bool(r, wt, &out->success)
               : f == 2 ? read_int32(r, wt, &out->peer_id)
                        : skip(r, wt);
    case RT_BODY_PLAYER_CONNECT:
    case RT_BODY_PLAYER_DISCONNECT: return f == 1 ? read_int32(r, wt, &out->peer_id) : skip(r, wt);
    case RT_BODY_JOIN_GROUP:
    case RT_BODY_LEAVE_GROUP:
    case RT_BODY_REQUEST_GROUP_MEMBERSHIP:
        return f == 1 ? read_int32(r, wt, &out->group) : skip(r, wt);
    case RT_BODY_GROUP_MEMBERSHIP_UPDATE:
        return f == 1   ? read_int32(r, wt, &out->group)
               : f == 2 ? read_players(r, wt, out)
                        : skip(r, wt);
    default: /* PingCommand, PingResult, UDPConnectMessage: empty */ return skip(r, wt);
    }
}

static bool read_body(struct reader *r, unsigned wt, enum rt_body body, struct rt_packet *out)
{
    struct rt_bytes b;
    if (wt != WT_LEN || !read_len(r, &b))
        return false;
    /* A oneof set twice keeps the last: forget the first one's fields. */
    if (out->body != RT_BODY_NONE) {
        size_t head = offsetof(struct rt_packet, player_session_id);
        memset((char *)out + head, 0, offsetof(struct rt_packet, players) - head);
    }
    out->body = body;
    struct reader in = {b.p, b.p + b.n};
    while (in.p < in.end) {
        uint32_t f;
        unsigned fwt;
        if (!read_key(&in, &f, &fwt) || !read_body_field(&in, body, f, fwt, out))
            return false;
    }
    return true;
}

void rt_packet_clear(struct rt_packet *p)
{
    memset(p, 0, offsetof(struct rt_packet, players));
}

int rt_decode(const uint8_t *buf, size_t len, struct rt_packet *out, const char **why)
{
    rt_packet_clear(out);
    struct reader r = {buf, buf + len};
    uint64_t n;
    if (!read_varint(&r, &n) || n != (uint64_t)(r.end - r.p)) {
        *why = "the length prefix does not match the packet";
        return -1;
    }
    while (r.p < r.end) {
        uint32_t f;
        unsigned wt;
        uint64_t v = 0;
        bool ok = read_key(&r, &f, &wt);
        if (ok && f == 1) { /* sint32: zigzag */
            ok = wt == WT_VARINT && read_varint(&r, &v);
            uint32_t u = (uint32_t)v;
            out->op_code = (int32_t)((u >> 1) ^ (0u - (u & 1)));
        } else if (ok && f >= 2 && f <= 7 && f != 6) {
            int32_t *dst[] = {&out->seq, &out->target_player, &out->target_group, &out->sender,
                              NULL,      &out->client_version};
            ok = read_int32(&r, wt, dst[f - 2]);
        } else if (ok && f == 6)
            ok = read_bool(&r, wt, &out->reliable);
        else if (ok && f == 15)
            ok = read_bytes(&r, wt, &out->payload);
        else if (ok && f >= RT_BODY_LOGIN && f <= RT_BODY_GROUP_MEMBERSHIP_UPDATE && f != 39)
            ok = read_body(&r, wt, (enum rt_body)f, out);
        else if (ok)
            ok = skip(&r, wt);
        if (!ok) {
            *why = "malformed protobuf";
            return -1;
        }
    }
    return 0;
}

/* ---- writing ------------------------------------------------------------ */

static size_t varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint8_t *put_varint(uint8_t *o, uint64_t v)
{
    while (v >= 0x80) {
        *o++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *o++ = (uint8_t)v;
    return o;
}

static uint64_t wire_int32(int32_t v)
{
    return (uint64_t)(int64_t)v;
}

static uint64_t zigzag32(int32_t v)
{
    uint32_t u = (uint32_t)v;
    return (uint32_t)((u << 1) ^ (0u - (u >> 31)));
}

/* A writer that only counts when out is NULL, so that one walk both sizes
 * and writes a packet. */
struct writer {
    uint8_t *o;
    size_t n;
};

static void w_varint(struct writer *w, uint64_t v)
{
    if (w->o != NULL)
        w->o = put_varint(w->o, v);
    w->n += varint_size(v);
}

static void w_key(struct writer *w, uint32_t field, unsigned wt)
{
    w_varint(w, (uint64_t)field << 3 | wt);
}

static void w_int32(struct writer *w, uint32_t field, int32_t v)
{
    if (v != 0) {
        w_key(w, field, WT_VARINT);
        w_varint(w, wire_int32(v));
    }
}

static void w_bytes(struct writer *w, uint32_t field, struct rt_bytes b)
{
    if (b.n == 0)
        return;
    w_key(w, field, WT_LEN);
    w_varint(w, b.n);
    if (w->o != NULL) {
        memcpy(w->o, b.p, b.n);
        w->o += b.n;
    }
    w->n += b.n;
}

/* The body message's own fields. */
static void w_body_fields(struct writer *w, const struct rt_packet *p)
{
    switch (p->body) {
    case RT_BODY_LOGIN:
        w_bytes(w, 1, p->player_session_id);
        w_int32(w, 2, p->login_version);
        w_bytes(w, 3, p->reconnect_token);
        break;
    case RT_BODY_LOGIN_RESULT:
        w_int32(w, 1, p->success);
        w_bytes(w, 2, p->reconnect_token);
        w_int32(w, 3, p->peer_id);
        w_int32(w, 4, p->fast_port);
        w_bytes(w, 5, p->ca_cert);
        w_bytes(w, 6, p->connect_token);
        break;
    case RT_BODY_VERIFY_IDENTITY:
        w_int32(w, 1, p->peer_id);
        w_bytes(w, 2, p->connect_token);
        break;
    case RT_BODY_VERIFY_IDENTITY_RESULT:
        w_int32(w, 1, p->success);
        w_int32(w, 2, p->peer_id);
        break;
    case RT_BODY_PLAYER_CONNECT:
    case RT_BODY_PLAYER_DISCONNECT: w_int32(w, 1, p->peer_id); break;
    case RT_BODY_JOIN_GROUP:
    case RT_BODY_LEAVE_GROUP:
    case RT_BODY_REQUEST_GROUP_MEMBERSHIP: w_int32(w, 1, p->group); break;
    case RT_BODY_GROUP_MEMBERSHIP_UPDATE: {
        w_int32(w, 1, p->group);
        size_t n = 0;
        for (size_t i = 0; i < p->nplayers; i++)
            n += varint_size(wire_int32(p->players[i]));
        if (n > 0) {
            w_key(w, 2, WT_LEN);
            w_varint(w, n);
            for (size_t i = 0; i < p->nplayers; i++)
                w_varint(w, wire_int32(p->players[i]));
        }
        break;
    }
    default: break;
    }
}

static void w_packet(struct writer *w, const struct rt_packet *p)
{
    if (p->op_code != 0) {
        w_key(w, 1, WT_VARINT);
        w_varint(w, zigzag32(p->op_code));
    }
    w_int32(w, 2, p->seq);
    w_int32(w, 3, p->target_player);
    w_int32(w, 4, p->target_group);
    w_int32(w, 5, p->sender);
    w_int32(w, 6, p->reliable);
    w_int32(w, 7, p->client_version);
    w_bytes(w, 15, p->payload);
    if (p->body != RT_BODY_NONE) {
        struct writer size = {NULL, 0};
        w_body_fields(&size, p);
        w_key(w, (uint32_t)p->body, WT_LEN);
        w_varint(w, size.n);
        w_body_fields(w, p);
    }
}

size_t rt_encoded_size(const struct rt_packet *p)
{
    struct writer size = {NULL, 0};
    w_packet(&size, p);
    return varint_size(size.n) + size.n;
}

size_t rt_encode(const struct rt_packet *p, uint8_t *out, size_t cap)
{
    struct writer size = {NULL, 0};
    w_packet(&size, p);
    size_t total = varint_size(size.n) + size.n;
    if (total > cap)
        return 0;
    struct writer w = {put_varint(out, size.n), 0};
    w_packet(&w, p);
    return total;
}
