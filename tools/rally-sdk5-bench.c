/*
 * rally-sdk5-bench: how many HeartbeatServerProcess messages a gateway
 * answers per second (make bench, issue 12's target: 20,000 on this
 * machine).
 *
 *   rally-sdk5-bench HOST PORT PATH FLEET COMPUTE CONNECTIONS SECONDS [WINDOW]
 *
 * with the SDK 5 token in the environment (RALLY_SDK_TOKEN, never argv).
 * CONNECTIONS processes connect as the SDK does (the same query), say
 * ProcessReady, then each keeps WINDOW (8) heartbeats in flight: every
 * answer sends the next. The first second is warm-up; the answers of the
 * next SECONDS are counted. Prints one JSON object: heartbeats per second,
 * connections, errors.
 *
 * Frames are written by hand (masked with a zero key, which RFC 6455
 * allows) and answers only counted: the client must cost little next to
 * what it measures.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct client {
    int fd;
    char in[65536];
    size_t in_len;
    bool ready;    /* ProcessReady answered */
    unsigned sent; /* heartbeats sent, for their RequestIds */
    long answered; /* heartbeats answered (StatusCode 200) */
    long errors;   /* answers other than 200 */
};

/* The clients: the process's whole life, freed by its exit. */
static struct client *cs;

/* A whole decimal number within lo..hi, or -1. */
static long number(const char *s, long lo, long hi)
{
    char *end = NULL;
    long v = strtol(s, &end, 10);
    return end != s && *end == '\0' && v >= lo && v <= hi ? v : -1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A client frame: FIN + text, masked with key 0 (the payload as it is). */
static size_t frame(char *out, const char *payload, size_t len)
{
    size_t h = 0;
    out[h++] = (char)0x81;
    if (len < 126) {
        out[h++] = (char)(0x80 | len);
    } else {
        out[h++] = (char)(0x80 | 126);
        out[h++] = (char)(len >> 8);
        out[h++] = (char)(len & 0xff);
    }
    memset(out + h, 0, 4);
    h += 4;
    memcpy(out + h, payload, len);
    return h + len;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int send_message(struct client *c, const char *json)
{
    char buf[1024];
    return send_all(c->fd, buf, frame(buf, json, strlen(json)));
}

static int heartbeat(struct client *c, int i)
{
    char msg[160];
    snprintf(
        msg, sizeof(msg),
        "{\"Action\":\"HeartbeatServerProcess\",\"RequestId\":\"hb-%d-%u\",\"HealthStatus\":true}",
        i, c->sent++);
    return send_message(c, msg);
}

static int dial(const char *host, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int one = 1;
    if (fd < 0 || inet_pton(AF_INET, host, &a.sin_addr) != 1 ||
        connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

/* The opening handshake; 0 once the gateway switched protocols. */
static int handshake(struct client *c, const char *host, int port, const char *path,
                     const char *token, const char *fleet, const char *compute, int i)
{
    char req[4096];
    int n = snprintf(req, sizeof(req),
                     "GET %s?Authorization=%s&ComputeId=%s&FleetId=%s&IdempotencyToken=bench-%d"
                     "&pID=bench-%d-%d&sdkLanguage=Go&sdkVersion=5.6.0 HTTP/1.1\r\n"
                     "Host: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                     "User-Agent: gamelift-go-sdk/1.0\r\n\r\n",
                     path, token, compute, fleet, i, (int)getpid(), i, host, port);
    if (n <= 0 || (size_t)n >= sizeof(req) || send_all(c->fd, req, (size_t)n) < 0)
        return -1;
    char resp[2048];
    size_t got = 0;
    while (got < sizeof(resp) - 1) {
        ssize_t r = recv(c->fd, resp + got, sizeof(resp) - 1 - got, 0);
        if (r <= 0)
            return -1;
        got += (size_t)r;
        resp[got] = '\0';
        char *end = strstr(resp, "\r\n\r\n");
        if (end != NULL) {
            size_t extra = got - (size_t)(end + 4 - resp);
            memcpy(c->in, end + 4, extra);
            c->in_len = extra;
            return strncmp(resp, "HTTP/1.1 101", 12) == 0 ? 0 : -1;
        }
    }
    return -1;
}

/* Takes the whole frames received; for each text frame, whether it said
 * StatusCode 200. Returns the number of answers, or -1 when the gateway
 * closed. */
static int take_frames(struct client *c, int *ok)
{
    int answers = 0;
    *ok = 0;
    size_t at = 0;
    for (;;) {
        if (c->in_len - at < 2)
            break;
        const unsigned char *p = (const unsigned char *)c->in + at;
        size_t len = p[1] & 0x7f, h = 2;
        if (len == 126) {
            if (c->in_len - at < 4)
                break;
            len = ((size_t)p[2] << 8) | p[3];
            h = 4;
        } else if (len == 127) {
            return -1; /* no answer is that large */
        }
        if (c->in_len - at < h + len)
            break;
        int op = p[0] & 0x0f;
        if (op == 0x8)
            return -1;
        if (op == 0x1) {
            answers++;
            if (memmem(p + h, len, "\"StatusCode\":200", 16) != NULL)
                (*ok)++;
        }
        at += h + len;
    }
    memmove(c->in, c->in + at, c->in_len - at);
    c->in_len -= at;
    return answers;
}

int main(int argc, char **argv)
{
    const char *token = getenv("RALLY_SDK_TOKEN");
    if (argc < 8 || token == NULL) {
        fprintf(stderr, "usage: RALLY_SDK_TOKEN=... rally-sdk5-bench HOST PORT PATH FLEET COMPUTE "
                        "CONNECTIONS SECONDS [WINDOW]\n");
        return 2;
    }
    const char *host = argv[1], *path = argv[3], *fleet = argv[4], *compute = argv[5];
    int port = (int)number(argv[2], 1, 65535), nconn = (int)number(argv[6], 1, 20000);
    int window = argc > 8 ? (int)number(argv[8], 1, 64) : 8;
    char *end = NULL;
    double seconds = strtod(argv[7], &end);
    if (port < 0 || nconn < 0 || window < 0 || end == argv[7] || *end != '\0' || !(seconds > 0)) {
        fprintf(stderr, "rally-sdk5-bench: bad arguments\n");
        return 2;
    }
    struct rlimit rl; /* a descriptor per connection */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        return 1;
    /* Every connection's state, for as long as the process runs. */
    cs = calloc((size_t)nconn, sizeof(*cs));
    if (cs == NULL)
        return 1;
    for (int i = 0; i < nconn; i++) {
        struct client *c = &cs[i];
        c->fd = dial(host, port);
        char ready[256];
        snprintf(ready, sizeof(ready),
                 "{\"Action\":\"ActivateServerProcess\",\"RequestId\":\"ready-%d\",\"SdkVersion\":"
                 "\"5.6.0\",\"SdkLanguage\":\"Go\",\"Port\":%d,\"LogPaths\":null}",
                 i, 10000 + i % 50000);
        if (c->fd < 0 || handshake(c, host, port, path, token, fleet, compute, i) < 0 ||
            send_message(c, ready) < 0) {
            fprintf(stderr, "rally-sdk5-bench: connection %d failed\n", i);
            return 1;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    }
    double start = now_s(), count_from = 0, count_until = 0;
    int ready = 0;
    long base = 0, errors = 0;
    bool counting = false;
    for (;;) {
        double t = now_s();
        if (ready < nconn && t - start > 30) {
            fprintf(stderr, "rally-sdk5-bench: only %d of %d processes ready\n", ready, nconn);
            return 1;
        }
        if (ready == nconn && !counting && count_from == 0) {
            count_from = t + 1.0; /* warm-up */
            count_until = count_from + seconds;
        }
        if (count_from > 0 && !counting && t >= count_from) {
            counting = true;
            base = 0;
            for (int i = 0; i < nconn; i++)
                base += cs[i].answered;
        }
        if (counting && t >= count_until)
            break;
        struct epoll_event evs[256];
        int n = epoll_wait(ep, evs, 256, 100);
        for (int k = 0; k < n; k++) {
            struct client *c = &cs[evs[k].data.u32];
            ssize_t r = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, 0);
            if (r <= 0) {
                fprintf(stderr, "rally-sdk5-bench: the gateway closed connection %u\n",
                        evs[k].data.u32);
                return 1;
            }
            c->in_len += (size_t)r;
            int ok;
            int got = take_frames(c, &ok);
            if (got < 0) {
                fprintf(stderr, "rally-sdk5-bench: the gateway closed connection %u\n",
                        evs[k].data.u32);
                return 1;
            }
            int more = got;
            if (!c->ready && got > 0) { /* the first answer is ProcessReady's */
                c->ready = true;
                ready++;
                if (ok < 1)
                    c->errors++;
                ok = ok > 0 ? ok - 1 : 0;
                got--;
                more = window; /* fill the window */
            }
            c->answered += ok;
            c->errors += got - ok;
            for (int m = 0; m < more; m++)
                if (heartbeat(c, (int)evs[k].data.u32) < 0)
                    return 1;
        }
    }
    long total = 0;
    for (int i = 0; i < nconn; i++) {
        total += cs[i].answered;
        errors += cs[i].errors;
    }
    printf("{\"heartbeats_per_second\": %.0f, \"connections\": %d, \"window\": %d, "
           "\"seconds\": %.1f, \"errors\": %ld}\n",
           (double)(total - base) / seconds, nconn, window, seconds, errors);
    return 0;
}
