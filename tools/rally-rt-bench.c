/*
 * rally-rt-bench: load for the Realtime relay (make bench; issue 14's
 * targets), and the baseline it is measured against.
 *
 *   rally-rt-bench fanout PORT
 *       The baseline: the least a UDP relay can do. Players say "HELO" and
 *       their session number; every other datagram goes, as it is, to the
 *       other players of the sender's session (recvmmsg in, sendmmsg out).
 *       Prints its port, then runs until killed.
 *   rally-rt-bench udp SEATS|HOST:PORT SESSIONS PLAYERS RATE SECONDS
 *       Players send RATE fast messages a second each to all players of
 *       their session. SEATS: a file of "SESSION HOST PORT PLAYER_SESSION"
 *       lines (a relay; players log in with librally's realtime client);
 *       HOST:PORT: the baseline (SESSIONS x PLAYERS players).
 *   rally-rt-bench tcp SEATS RATE SECONDS
 *       The same, reliable, over the WebSocket (players without UDP).
 *   rally-rt-bench hold SEATS SECONDS
 *       Players log in (WebSocket only) and stay SECONDS; then one message
 *       from each session's first player proves the others still hear.
 *
 * Payloads carry their send time (the wall clock, one machine); a UDP
 * delivery arrives at the kernel's receive timestamp (SO_TIMESTAMPNS), so
 * the delay is the relay's and the network stack's, not the generator's
 * own queueing; over TCP it is when the client library hands it over.
 * Delays go into a histogram of 10 µs steps. After a second of warm-up,
 * SECONDS are counted. Prints one JSON object.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "rally/realtime.h"
#include "rtproto.h"

#define OP_BENCH 7
#define BATCH 64
#define MAX_DGRAM 1500
#define HIST_STEP_US 10
#define HIST_BUCKETS 20000 /* up to 200 ms */
#define PAYLOAD 32

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void more_files(void)
{
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) == 0) {
        r.rlim_cur = r.rlim_max;
        setrlimit(RLIMIT_NOFILE, &r);
    }
}

/* ---- measuring ---------------------------------------------------------- */

static struct {
    uint64_t sent, delivered, errors;
    uint64_t hist[HIST_BUCKETS];
    bool counting;
} m;

/* The wall clock, which the kernel's receive timestamps use too. */
static double wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* A delivery whose payload starts with its send time (wall_ms), arrived at
 * arrived_ms (the kernel's timestamp for UDP: what the generator's own
 * queueing adds is not the relay's). */
static void count_delivery(const uint8_t *payload, size_t n, double arrived_ms)
{
    if (!m.counting || n < sizeof(double))
        return;
    double sent;
    memcpy(&sent, payload, sizeof(sent));
    double us = (arrived_ms - sent) * 1000.0;
    size_t b = us < 0 ? 0 : (size_t)(us / HIST_STEP_US);
    m.hist[b < HIST_BUCKETS ? b : HIST_BUCKETS - 1]++;
    m.delivered++;
}

static double percentile_us(double p)
{
    uint64_t total = 0, seen = 0;
    for (size_t i = 0; i < HIST_BUCKETS; i++)
        total += m.hist[i];
    for (size_t i = 0; i < HIST_BUCKETS && total > 0; i++) {
        seen += m.hist[i];
        if ((double)seen >= p * (double)total)
            return (double)(i + 1) * HIST_STEP_US;
    }
    return 0;
}

static void report(const char *mode, int sessions, int players, double rate, double seconds,
                   double expected, double connect_s)
{
    printf("{\"mode\":\"%s\",\"sessions\":%d,\"players\":%d,\"rate\":%.0f,\"seconds\":%.1f,"
           "\"sent\":%llu,\"delivered\":%llu,\"deliveries_per_second\":%.0f,"
           "\"expected_per_second\":%.0f,\"p50_us\":%.0f,\"p99_us\":%.0f,\"p999_us\":%.0f,"
           "\"errors\":%llu,\"connect_seconds\":%.2f}\n",
           mode, players, sessions, rate, seconds, (unsigned long long)m.sent,
           (unsigned long long)m.delivered, (double)m.delivered / seconds, expected,
           percentile_us(0.5), percentile_us(0.99), percentile_us(0.999),
           (unsigned long long)m.errors, connect_s);
}

/* ---- players ------------------------------------------------------------ */

struct player {
    int session, udp;
    int32_t peer, seq;
    rally_rt *rt; /* a relay's player; NULL against the baseline */
    double next_send_ms;
};

static struct player *players;
static int nplayers, nsessions;

/* s as a number within [lo, hi], or NAN. */
static double number(const char *s, double lo, double hi)
{
    char *end = NULL;
    double v = s != NULL ? strtod(s, &end) : NAN;
    return end != s && end != NULL && *end == '\0' && v >= lo && v <= hi ? v : NAN;
}

/* Reads SEATS ("SESSION HOST PORT PLAYER_SESSION" lines); how many, or -1
 * at a malformed line. */
static int read_seats(const char *path, char hosts[][64], int *ports, char psess[][129])
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    char line[512], session[16], port[16];
    int n = 0;
    while (n < nplayers && fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "%15s %63s %15s %128s", session, hosts[n], port, psess[n]) != 4)
            break;
        double s = number(session, 0, 1e6), p = number(port, 1, 65535);
        if (isnan(s) || isnan(p))
            break;
        players[n].session = (int)s;
        ports[n] = (int)p;
        if (players[n].session + 1 > nsessions)
            nsessions = players[n].session + 1;
        n++;
    }
    fclose(f);
    return n;
}

static int count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    int n = 0, c;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

/* Logs every seat in; the seconds it took, or -1. */
static double connect_seats(const char *path, bool udp)
{
    nplayers = count_lines(path);
    if (nplayers <= 0)
        return -1;
    players = calloc((size_t)nplayers, sizeof(*players));
    char(*hosts)[64] = calloc((size_t)nplayers, 64);
    char(*psess)[129] = calloc((size_t)nplayers, 129);
    int *ports = calloc((size_t)nplayers, sizeof(int));
    double took = -1;
    if (players == NULL || hosts == NULL || psess == NULL || ports == NULL ||
        read_seats(path, hosts, ports, psess) != nplayers)
        goto out;
    double start = now_ms();
    for (int i = 0; i < nplayers; i++) {
        struct rally_rt_options o = {.host = hosts[i],
                                     .port = ports[i],
                                     .player_session_id = psess[i],
                                     .no_udp = !udp,
                                     .ping_interval_ms = -1,
                                     .reconnect_window_ms = -1,
                                     .timeout_ms = 20000};
        rally_status st;
        char err[256];
        players[i].rt = rally_rt_connect(&o, &st, err, sizeof(err));
        if (players[i].rt == NULL) {
            fprintf(stderr, "rally-rt-bench: seat %d: %s\n", i, err);
            goto out;
        }
        if (udp && !rally_rt_fast_ready(players[i].rt)) {
            fprintf(stderr, "rally-rt-bench: seat %d: UDP did not come up\n", i);
            goto out;
        }
        int fds[2];
        players[i].udp = rally_rt_fds(players[i].rt, fds) == 2 ? fds[1] : -1;
        players[i].peer = rally_rt_peer_id(players[i].rt);
        players[i].seq = 1000; /* past the handshake's: the relay wants them rising */
    }
    took = (now_ms() - start) / 1000.0;
out:
    free(hosts);
    free(psess);
    free(ports);
    return took;
}

/* Baseline players: a socket each, registered with HELO. */
static int connect_baseline(const char *hostport, int sessions, int per)
{
    char host[64];
    const char *colon = strrchr(hostport, ':');
    if (colon == NULL || (size_t)(colon - hostport) >= sizeof(host))
        return -1;
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = '\0';
    double port = number(colon + 1, 1, 65535);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)(isnan(port) ? 0 : port))};
    if (isnan(port) || inet_pton(AF_INET, host, &a.sin_addr) != 1)
        return -1;
    nsessions = sessions;
    nplayers = sessions * per;
    players = calloc((size_t)nplayers, sizeof(*players));
    if (players == NULL)
        return -1;
    for (int i = 0; i < nplayers; i++) {
        struct player *p = &players[i];
        p->session = i / per;
        p->peer = i + 1;
        p->udp = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (p->udp < 0 || connect(p->udp, (struct sockaddr *)&a, sizeof(a)) < 0)
            return -1;
        char hello[8] = "HELO";
        uint32_t s = htonl((uint32_t)p->session);
        memcpy(hello + 4, &s, 4);
        send(p->udp, hello, sizeof(hello), 0);
    }
    usleep(200 * 1000); /* the server has them all */
    return 0;
}

/* ---- the load ----------------------------------------------------------- */

static void send_one(struct player *p, bool reliable)
{
    uint8_t payload[PAYLOAD] = {0};
    double t = wall_ms();
    memcpy(payload, &t, sizeof(t));
    if (reliable) {
        if (rally_rt_send(p->rt, OP_BENCH, payload, sizeof(payload), 0, RALLY_RT_ALL_PLAYERS,
                          RALLY_RT_RELIABLE) != RALLY_OK)
            m.errors++;
        m.sent++;
        return;
    }
    struct rt_packet pkt;
    rt_packet_clear(&pkt);
    pkt.op_code = OP_BENCH;
    pkt.sender = p->peer;
    pkt.target_group = RT_GROUP_ALL;
    pkt.seq = ++p->seq;
    pkt.payload = (struct rt_bytes){payload, sizeof(payload)};
    uint8_t buf[128];
    size_t n = rt_encode(&pkt, buf, sizeof(buf));
    if (send(p->udp, buf, n, MSG_DONTWAIT) != (ssize_t)n)
        m.errors++;
    m.sent++;
}

static void udp_drain(int fd)
{
    static uint8_t bufs[BATCH][MAX_DGRAM];
    static char ctl[BATCH][CMSG_SPACE(sizeof(struct timespec))];
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    for (;;) {
        for (int i = 0; i < BATCH; i++) {
            iov[i] = (struct iovec){bufs[i], MAX_DGRAM};
            msgs[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[i],
                                                   .msg_iovlen = 1,
                                                   .msg_control = ctl[i],
                                                   .msg_controllen = sizeof(ctl[i])}};
        }
        int n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0)
            return;
        double now = wall_ms();
        for (int i = 0; i < n; i++) {
            double arrived = now;
            for (struct cmsghdr *c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c != NULL;
                 c = CMSG_NXTHDR(&msgs[i].msg_hdr, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
                    struct timespec ts;
                    memcpy(&ts, CMSG_DATA(c), sizeof(ts));
                    arrived = (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
                }
            struct rt_packet pkt;
            const char *why;
            if (rt_decode(bufs[i], msgs[i].msg_len, &pkt, &why) == 0 && pkt.op_code == OP_BENCH)
                count_delivery(pkt.payload.p, pkt.payload.n, arrived);
        }
        if (n < BATCH)
            return;
    }
}

static void on_event(void *ctx, const struct rally_rt_event *e)
{
    (void)ctx;
    if (e->kind == RALLY_RT_MESSAGE && e->op_code == OP_BENCH)
        count_delivery(e->payload, e->payload_len, wall_ms());
    else if (e->kind == RALLY_RT_DISCONNECTED)
        m.errors++;
}

/* Sends RATE a second from every player and counts what arrives. */
static void run_load(double rate, double seconds, bool reliable)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    for (int i = 0; i < nplayers; i++) {
        int fds[2], n = reliable ? rally_rt_fds(players[i].rt, fds) : 1;
        int fd = reliable ? fds[0] : players[i].udp;
        if (n < 1)
            continue;
        int on = 1;
        if (!reliable)
            setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on));
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
        /* Spread over the first interval, so sends do not come in bursts. */
        players[i].next_send_ms = now_ms() + 1000.0 / rate * i / nplayers;
    }
    double start = now_ms(), count_from = start + 1000, end = count_from + seconds * 1000;
    struct epoll_event evs[256];
    while (now_ms() < end) {
        double now = now_ms();
        m.counting = now >= count_from;
        if (!m.counting)
            m.sent = 0;
        for (int i = 0; i < nplayers; i++) {
            struct player *p = &players[i];
            while (p->next_send_ms <= now) {
                send_one(p, reliable);
                p->next_send_ms += 1000.0 / rate;
            }
        }
        int n = epoll_wait(ep, evs, 256, 1);
        for (int i = 0; i < n; i++) {
            struct player *p = &players[evs[i].data.u32];
            if (reliable)
                rally_rt_poll(p->rt, 0, on_event, NULL);
            else
                udp_drain(p->udp);
        }
    }
    close(ep);
}

/* ---- hold --------------------------------------------------------------- */

static int hold(double seconds)
{
    double until = now_ms() + seconds * 1000;
    while (now_ms() < until)
        for (int i = 0; i < nplayers; i++)
            rally_rt_poll(players[i].rt, 0, on_event, NULL);
    /* Each session's first player speaks; the others must hear. */
    m.counting = true;
    for (int i = 0; i < nplayers; i++)
        if (i == 0 || players[i].session != players[i - 1].session)
            send_one(&players[i], true);
    uint64_t want = (uint64_t)(nplayers - nsessions);
    double deadline = now_ms() + 10000;
    while (m.delivered < want && now_ms() < deadline)
        for (int i = 0; i < nplayers; i++)
            rally_rt_poll(players[i].rt, 0, on_event, NULL);
    return m.delivered == want ? 0 : 1;
}

/* ---- the baseline server ------------------------------------------------ */

#define FAN_SESSIONS 1024
#define FAN_PER 64

static int fanout(int port)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int big = 8 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0)
        return 1;
    printf("%d\n", ntohs(a.sin_port));
    fflush(stdout);
    /* Players by port (all on loopback): their session, and the sessions'
     * addresses. */
    static int16_t session_of[65536];
    static struct sockaddr_in members[FAN_SESSIONS][FAN_PER];
    static int nmembers[FAN_SESSIONS];
    memset(session_of, 0xff, sizeof(session_of));
    static uint8_t in[BATCH][MAX_DGRAM];
    struct mmsghdr msgs[BATCH], out[BATCH * FAN_PER / 8];
    struct iovec iov[BATCH], oiov[BATCH * FAN_PER / 8];
    struct sockaddr_in from[BATCH];
    const size_t out_cap = sizeof(out) / sizeof(out[0]);
    for (;;) {
        for (int i = 0; i < BATCH; i++) {
            iov[i] = (struct iovec){in[i], MAX_DGRAM};
            msgs[i] = (struct mmsghdr){.msg_hdr = {.msg_name = &from[i],
                                                   .msg_namelen = sizeof(from[i]),
                                                   .msg_iov = &iov[i],
                                                   .msg_iovlen = 1}};
        }
        int n = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);
        if (n <= 0)
            continue;
        size_t nout = 0;
        for (int i = 0; i < n; i++) {
            uint16_t fport = ntohs(from[i].sin_port);
            if (msgs[i].msg_len == 8 && memcmp(in[i], "HELO", 4) == 0) {
                uint32_t s;
                memcpy(&s, in[i] + 4, 4);
                s = ntohl(s);
                if (s < FAN_SESSIONS && nmembers[s] < FAN_PER) {
                    members[s][nmembers[s]++] = from[i];
                    session_of[fport] = (int16_t)s;
                }
                continue;
            }
            int s = session_of[fport];
            if (s < 0)
                continue;
            for (int j = 0; j < nmembers[s]; j++) {
                if (members[s][j].sin_port == from[i].sin_port)
                    continue;
                if (nout == out_cap) {
                    sendmmsg(fd, out, (unsigned)nout, 0);
                    nout = 0;
                }
                oiov[nout] = (struct iovec){in[i], msgs[i].msg_len};
                out[nout] = (struct mmsghdr){.msg_hdr = {.msg_name = &members[s][j],
                                                         .msg_namelen = sizeof(members[s][j]),
                                                         .msg_iov = &oiov[nout],
                                                         .msg_iovlen = 1}};
                nout++;
            }
        }
        for (size_t done = 0; done < nout;) {
            int sent = sendmmsg(fd, out + done, (unsigned)(nout - done), 0);
            if (sent <= 0)
                break;
            done += (size_t)sent;
        }
    }
}

/* ---- main --------------------------------------------------------------- */

static int usage(void)
{
    fprintf(stderr, "usage: rally-rt-bench fanout PORT | udp SEATS|HOST:PORT SESSIONS PLAYERS "
                    "RATE SECONDS | tcp SEATS RATE SECONDS | hold SEATS SECONDS\n");
    return 2;
}

int main(int argc, char **argv)
{
    more_files();
    rally_global_init();
    if (argc == 3 && strcmp(argv[1], "fanout") == 0) {
        double port = number(argv[2], 0, 65535);
        return isnan(port) ? 2 : fanout((int)port);
    }
    if (argc == 7 && strcmp(argv[1], "udp") == 0) {
        double sessions = number(argv[3], 1, FAN_SESSIONS), per = number(argv[4], 2, FAN_PER);
        double rate = number(argv[5], 0.1, 10000), seconds = number(argv[6], 0.1, 3600);
        if (isnan(sessions) || isnan(per) || isnan(rate) || isnan(seconds))
            return usage();
        double connect_s = 0;
        bool baseline = access(argv[2], R_OK) != 0;
        if (baseline ? connect_baseline(argv[2], (int)sessions, (int)per) < 0
                     : (connect_s = connect_seats(argv[2], true)) < 0) {
            fprintf(stderr, "rally-rt-bench: cannot set the players up\n");
            return 1;
        }
        int each = nplayers / (nsessions > 0 ? nsessions : 1);
        run_load(rate, seconds, false);
        report(baseline ? "baseline" : "relay", nsessions, nplayers, rate, seconds,
               (double)nplayers * rate * (each - 1), connect_s);
        return 0;
    }
    if (argc == 5 && strcmp(argv[1], "tcp") == 0) {
        double rate = number(argv[3], 0.1, 10000), seconds = number(argv[4], 0.1, 3600);
        if (isnan(rate) || isnan(seconds))
            return usage();
        double connect_s = connect_seats(argv[2], false);
        if (connect_s < 0)
            return 1;
        int each = nplayers / nsessions;
        run_load(rate, seconds, true);
        report("tcp", nsessions, nplayers, rate, seconds, (double)nplayers * rate * (each - 1),
               connect_s);
        return 0;
    }
    if (argc == 4 && strcmp(argv[1], "hold") == 0) {
        double seconds = number(argv[3], 0, 3600);
        if (isnan(seconds))
            return usage();
        double connect_s = connect_seats(argv[2], false);
        if (connect_s < 0)
            return 1;
        int rc = hold(seconds);
        printf("{\"mode\":\"hold\",\"players\":%d,\"sessions\":%d,\"connect_seconds\":%.2f,"
               "\"heard\":%llu,\"expected\":%d}\n",
               nplayers, nsessions, connect_s, (unsigned long long)m.delivered,
               nplayers - nsessions);
        return rc;
    }
    return usage();
}
