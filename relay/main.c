/*
 * rally-relay: GameLift Realtime's relay server for rally's fleets
 * (docs/relay.md). Run by rally-agent like any game server, with the
 * agent's environment: RALLY_URL, GAMELIFT_SDK_FLEET_ID,
 * RALLY_FLEET_SECRET_FILE, RALLY_LOCATION, RALLY_IP_ADDRESS, RALLY_PORT,
 * GAMELIFT_SDK_PROCESS_ID, GAMELIFT_SDK_HOST_ID. Options (all optional):
 *
 *   --port N               TCP and UDP port (RALLY_PORT; 0: any free one)
 *   --location L --url U --fleet F --ip A   over the environment's
 *   --sessions N           game sessions hosted at once (8)
 *   --max-players N        per game session (32, Realtime's default)
 *   --max-payload BYTES    of a message (4096, Realtime's reliable limit)
 *   --player-rate N        messages a player may send per second (60)
 *   --reconnect-seconds S  a dropped player's place is kept (10)
 *   --idle-seconds S       a game session without players ends (60)
 *   --ping-seconds S       idle WebSockets are pinged; a peer silent for
 *                          three of them (no pong) is dropped (15)
 *   --script FILE          Lua server script, read as each game session starts
 *                          (RALLY_RELAY_SCRIPT: the host's script, as the agent
 *                          passes its environment on)
 *   --script-memory MB     a session's script may hold (16)
 *   --script-ms MS         one script callback may run (50)
 *   --health-seconds S     between a script's onHealthCheck calls (60)
 *   --tls-cert FILE --tls-key FILE
 *                          wss: TLS on the WebSocket (PEM; RALLY_RELAY_TLS_CERT
 *                          and RALLY_RELAY_TLS_KEY from the agent's environment)
 *
 * One thread runs the event loop (epoll): the listening socket, every
 * WebSocket, the UDP socket, the fleet's answers, signals. SIGTERM ends the
 * game sessions (players get GAME_END), says ProcessEnding for each, and
 * exits.
 */
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <curl/curl.h>

#include "fleet.h"
#include "log.h"
#include "metrics.h"
#include "metrics_auth.h"
#include "metrics_http.h"
#include "rally_server.h"
#include "relay.h"
#include "session.h"
#include "tcp.h"
#include "udp.h"
#include "util.h"

struct relay_cfg relay_cfg = {
    .sessions = 8,
    .max_players = 32,
    .max_payload = 4096,
    .player_rate = 60,
    .reconnect_s = 10,
    .idle_s = 60,
    .handshake_s = 10,
    .ping_s = 15,
    .script_memory = 16 << 20,
    .script_ms = 50,
    .health_s = 60,
};
struct relay_stats relay_stats;
double relay_now_ms;

/* epoll tags of the loop's own descriptors (connections carry theirs). */
static char tag_listen, tag_udp, tag_fleet, tag_signal;

static int usage(void)
{
    fprintf(stderr, "usage: rally-relay [--port N] [--location L] [--url U] [--fleet F] [--ip A]\n"
                    "       [--sessions N] [--max-players N] [--max-payload BYTES]\n"
                    "       [--player-rate N] [--reconnect-seconds S] [--idle-seconds S]\n"
                    "       [--script FILE] [--script-memory MB] [--script-ms MS]\n"
                    "       [--health-seconds S] [--tls-cert FILE --tls-key FILE]\n"
                    "       [--ping-seconds S]\n"
                    "  (the fleet secret from the file RALLY_FLEET_SECRET_FILE names)\n");
    return 2;
}

static bool number(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* TCP on port (0: any), dual-stack; the fd and the port taken, or -1. */
static int listen_tcp(int port, int *bound)
{
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1, off = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
    struct sockaddr_in6 a = {
        .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port), .sin6_addr = in6addr_any};
    socklen_t len = sizeof(a);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 1024) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
        close(fd);
        return -1;
    }
    *bound = ntohs(a.sin6_port);
    return fd;
}

/* TCP and UDP on the same port number; with port 0, tries a few. */
static bool open_ports(int port, int *tcp_fd, int *udp_fd)
{
    for (int attempt = 0; attempt < 20; attempt++) {
        int bound = 0;
        *tcp_fd = listen_tcp(port, &bound);
        if (*tcp_fd < 0)
            return false;
        *udp_fd = udp_open(bound);
        if (*udp_fd >= 0) {
            relay_cfg.port = bound;
            return true;
        }
        close(*tcp_fd);
        if (port != 0)
            return false;
    }
    return false;
}

static void add(int epfd, int fd, void *tag)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = tag};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        log_fatal("relay: epoll: %s", strerror(errno));
}

static void log_stats(void)
{
    const struct relay_stats *s = &relay_stats;
    log_info("relay: %zu sessions, %zu players, %zu connections; in tcp %llu udp %llu; "
             "delivered tcp %llu udp %llu; dropped malformed %llu spoofed %llu rate %llu "
             "oversize %llu; logins %llu refused %llu reconnects %llu floods %llu",
             session_running_count(), session_player_count(), tcp_count(),
             (unsigned long long)s->tcp_in, (unsigned long long)s->udp_in,
             (unsigned long long)s->delivered_tcp, (unsigned long long)s->delivered_udp,
             (unsigned long long)s->dropped_malformed, (unsigned long long)s->dropped_spoofed,
             (unsigned long long)s->dropped_rate,
             (unsigned long long)(s->dropped_oversize + tcp_refused_too_big()),
             (unsigned long long)s->logins, (unsigned long long)s->logins_refused,
             (unsigned long long)s->reconnects, (unsigned long long)s->disconnects_flood);
}

/* The counters as metrics (common/metrics.h), copied from relay_stats by the
 * loop (the only writer of both), so a scrape on libmicrohttpd's thread
 * reads atomic cells only. Served at RALLY_METRICS_LISTEN when set: an
 * agent gives each process one in its log directory and passes them on
 * (agent/agent_metrics.h). */
static struct {
    struct metric *sessions, *players, *connections;
    struct metric *in_tcp, *in_udp, *out_tcp, *out_udp;
    struct metric *malformed, *spoofed, *rate, *oversize;
    struct metric *logins, *refused, *reconnects, *floods;
} m;

static void metrics_start(void)
{
    const char *addr = getenv("RALLY_METRICS_LISTEN");
    if (addr == NULL || addr[0] == '\0' || metrics_setup(1) < 0 || !metrics_enabled())
        return;
    m.sessions = metric_gauge("rally_relay_sessions", "Game sessions the relay runs now.");
    m.players = metric_gauge("rally_relay_players", "Players logged in now.");
    m.connections = metric_gauge("rally_relay_connections", "WebSocket connections open now.");
    struct metric_family *in = metric_family("rally_relay_messages_received_total", METRIC_COUNTER,
                                             "Messages received from players, by transport.");
    m.in_tcp = metric_series(in, "transport", "tcp", METRIC_END);
    m.in_udp = metric_series(in, "transport", "udp", METRIC_END);
    struct metric_family *out = metric_family("rally_relay_deliveries_total", METRIC_COUNTER,
                                              "Messages delivered to players, by transport.");
    m.out_tcp = metric_series(out, "transport", "tcp", METRIC_END);
    m.out_udp = metric_series(out, "transport", "udp", METRIC_END);
    struct metric_family *drop = metric_family(
        "rally_relay_drops_total", METRIC_COUNTER,
        "Messages dropped, by reason: malformed, spoofed (an unbound UDP address), rate (over a "
        "player's limit), oversize.");
    m.malformed = metric_series(drop, "reason", "malformed", METRIC_END);
    m.spoofed = metric_series(drop, "reason", "spoofed", METRIC_END);
    m.rate = metric_series(drop, "reason", "rate", METRIC_END);
    m.oversize = metric_series(drop, "reason", "oversize", METRIC_END);
    struct metric_family *logins =
        metric_family("rally_relay_logins_total", METRIC_COUNTER, "Player logins, by result.");
    m.logins = metric_series(logins, "result", "accepted", METRIC_END);
    m.refused = metric_series(logins, "result", "refused", METRIC_END);
    m.reconnects = metric_series(logins, "result", "reconnected", METRIC_END);
    m.floods =
        metric_counter("rally_relay_flood_disconnects_total", "Players disconnected for flooding.");
    metrics_http_start(addr);
}

static void metrics_publish(void)
{
    if (!metrics_enabled())
        return;
    const struct relay_stats *s = &relay_stats;
    metric_set(m.sessions, (int64_t)session_running_count());
    metric_set(m.players, (int64_t)session_player_count());
    metric_set(m.connections, (int64_t)tcp_count());
    metric_set(m.in_tcp, (int64_t)s->tcp_in);
    metric_set(m.in_udp, (int64_t)s->udp_in);
    metric_set(m.out_tcp, (int64_t)s->delivered_tcp);
    metric_set(m.out_udp, (int64_t)s->delivered_udp);
    metric_set(m.malformed, (int64_t)s->dropped_malformed);
    metric_set(m.spoofed, (int64_t)s->dropped_spoofed);
    metric_set(m.rate, (int64_t)s->dropped_rate);
    metric_set(m.oversize, (int64_t)(s->dropped_oversize + tcp_refused_too_big()));
    metric_set(m.logins, (int64_t)s->logins);
    metric_set(m.refused, (int64_t)s->logins_refused);
    metric_set(m.reconnects, (int64_t)s->reconnects);
    metric_set(m.floods, (int64_t)s->disconnects_flood);
}

static const char *tls_cert, *tls_key;

/* TLS for the WebSocket from a PEM certificate chain and key: 1.2 at
 * least, as Realtime's clients speak it. NULL on failure (logged). */
static SSL_CTX *tls_context(const char *cert, const char *key)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        char why[256];
        ERR_error_string_n(ERR_get_error(), why, sizeof(why));
        fprintf(stderr, "rally-relay: TLS with %s and %s: %s\n", cert, key, why);
        SSL_CTX_free(ctx);
        return NULL;
    }
    /* The output buffer may move between a partial write and its retry. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    return ctx;
}

/* The options over the agent's environment; false on a bad one. */
static bool parse_args(int argc, char **argv, struct fleet_params *fp, double *port)
{
    for (int i = 1; i < argc; i += 2) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        double n = 0;
        if (v == NULL)
            return false;
        if (strcmp(k, "--location") == 0)
            fp->location = v;
        else if (strcmp(k, "--url") == 0)
            fp->url = v;
        else if (strcmp(k, "--fleet") == 0)
            fp->fleet_id = v;
        else if (strcmp(k, "--ip") == 0)
            fp->ip_address = v;
        else if (strcmp(k, "--port") == 0 && number(v, 0, 60000, &n))
            *port = n;
        else if (strcmp(k, "--sessions") == 0 && number(v, 1, 4096, &n))
            relay_cfg.sessions = (int)n;
        else if (strcmp(k, "--max-players") == 0 && number(v, 1, 200, &n))
            relay_cfg.max_players = (int)n;
        else if (strcmp(k, "--max-payload") == 0 && number(v, 1, 65536, &n))
            relay_cfg.max_payload = (size_t)n;
        else if (strcmp(k, "--player-rate") == 0 && number(v, 1, 100000, &n))
            relay_cfg.player_rate = n;
        else if (strcmp(k, "--reconnect-seconds") == 0 && number(v, 0, 3600, &n))
            relay_cfg.reconnect_s = n;
        else if (strcmp(k, "--idle-seconds") == 0 && number(v, 1, 86400, &n))
            relay_cfg.idle_s = n;
        else if (strcmp(k, "--ping-seconds") == 0 && number(v, 0.1, 3600, &n))
            relay_cfg.ping_s = n;
        else if (strcmp(k, "--script") == 0)
            relay_cfg.script = v;
        else if (strcmp(k, "--script-memory") == 0 && number(v, 1, 4096, &n))
            relay_cfg.script_memory = (size_t)n << 20;
        else if (strcmp(k, "--script-ms") == 0 && number(v, 1, 10000, &n))
            relay_cfg.script_ms = n;
        else if (strcmp(k, "--health-seconds") == 0 && number(v, 0.1, 3600, &n))
            relay_cfg.health_s = n;
        else if (strcmp(k, "--tls-cert") == 0)
            tls_cert = v;
        else if (strcmp(k, "--tls-key") == 0)
            tls_key = v;
        else
            return false;
    }
    return true;
}

int main(int argc, char **argv)
{
    log_init("relay");
    const char *env_url = getenv("RALLY_URL"), *env_fleet = getenv("GAMELIFT_SDK_FLEET_ID");
    const char *env_ip = getenv("RALLY_IP_ADDRESS"), *env_port = getenv("RALLY_PORT");
    struct fleet_params fp = {
        .url = env_url != NULL ? env_url : "http://127.0.0.1:8080",
        .fleet_id = env_fleet != NULL ? env_fleet : "fleet-local",
        .ip_address = env_ip != NULL ? env_ip : "127.0.0.1",
        .location = getenv("RALLY_LOCATION"),
        .host_process_id = getenv("GAMELIFT_SDK_PROCESS_ID"),
        .compute_name = getenv("GAMELIFT_SDK_HOST_ID"),
        .workers = 4,
    };
    double port = 0;
    if (env_port != NULL && !number(env_port, 0, 60000, &port))
        return usage();
    relay_cfg.argc = argc;
    relay_cfg.argv = argv;
    relay_cfg.script = getenv("RALLY_RELAY_SCRIPT");
    tls_cert = getenv("RALLY_RELAY_TLS_CERT");
    tls_key = getenv("RALLY_RELAY_TLS_KEY");
    if (relay_cfg.script != NULL && relay_cfg.script[0] == '\0')
        relay_cfg.script = NULL;
    if (!parse_args(argc, argv, &fp, &port) || fp.location == NULL)
        return usage();
    if ((tls_cert != NULL) != (tls_key != NULL)) {
        fprintf(stderr, "rally-relay: TLS needs both --tls-cert and --tls-key\n");
        return 2;
    }
    if (tls_cert != NULL && (relay_cfg.tls = tls_context(tls_cert, tls_key)) == NULL)
        return 2;
    if (relay_cfg.script != NULL && access(relay_cfg.script, R_OK) != 0) {
        fprintf(stderr, "rally-relay: cannot read the script %s\n", relay_cfg.script);
        return 2;
    }
    /* By hand, without an agent: a host id of its own. */
    char host[64];
    if (fp.host_process_id == NULL) {
        char uuid[37];
        util_uuid(uuid);
        snprintf(host, sizeof(host), "relay-%s", uuid);
        fp.host_process_id = host;
    }
    char secret[512];
    if (rally_server_read_secret(secret, sizeof(secret)) < 0) {
        fprintf(stderr, "rally-relay: RALLY_FLEET_SECRET_FILE must name the file with the fleet "
                        "secret\n");
        return 2;
    }
    fp.fleet_secret = secret;

    int lfd = -1, ufd = -1;
    if (!open_ports((int)port, &lfd, &ufd)) {
        fprintf(stderr, "rally-relay: cannot listen on port %d (TCP and UDP): %s\n", (int)port,
                strerror(errno));
        return 1;
    }
    fp.port = relay_cfg.port;
    fp.max_players = relay_cfg.max_players;
    fp.members = relay_cfg.sessions;
    signal(SIGPIPE, SIG_IGN);
    /* A descriptor a player (and its UDP shares one socket): as many as the
     * hard limit allows. */
    struct rlimit files;
    if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
        files.rlim_cur = files.rlim_max;
        setrlimit(RLIMIT_NOFILE, &files);
    }
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &mask, NULL); /* before any thread: theirs too */
    metrics_start();
    int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    relay_now_ms = util_mono_ms();
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    int ffd = session_init() == 0 ? fleet_start(&fp) : -1;
    memset(secret, 0, sizeof(secret));
    if (epfd < 0 || sfd < 0 || ffd < 0)
        log_fatal("relay: cannot start: %s", strerror(errno));
    if (tcp_init(epfd) != 0)
        log_fatal("relay: cannot start: out of memory");
    add(epfd, lfd, &tag_listen);
    add(epfd, ufd, &tag_udp);
    add(epfd, ffd, &tag_fleet);
    add(epfd, sfd, &tag_signal);
    log_info("relay: %s listening on port %d (TCP /websocket and UDP), %d game sessions of %d "
             "players",
             fp.host_process_id, relay_cfg.port, relay_cfg.sessions, relay_cfg.max_players);

    bool running = true;
    double next_housekeeping = 0;
    struct epoll_event events[256];
    while (running) {
        /* Scripts' timers wake the loop on time; otherwise a turn each 50 ms. */
        double next_timer = session_next_timer();
        int wait_ms = 50;
        if (next_timer >= 0 && next_timer - relay_now_ms < wait_ms)
            wait_ms = next_timer <= relay_now_ms ? 0 : (int)(next_timer - relay_now_ms) + 1;
        int n = epoll_wait(epfd, events, 256, wait_ms);
        relay_now_ms = util_mono_ms();
        for (int i = 0; i < n; i++) {
            void *tag = events[i].data.ptr;
            if (tag == &tag_listen)
                tcp_accept_all(lfd);
            else if (tag == &tag_udp)
                udp_on_readable();
            else if (tag == &tag_fleet)
                fleet_take_answers();
            else if (tag == &tag_signal) {
                struct signalfd_siginfo si;
                while (read(sfd, &si, sizeof(si)) == sizeof(si))
                    if (si.ssi_signo == SIGUSR1)
                        log_stats();
                    else
                        running = false;
            } else
                tcp_on_event(tag, events[i].events);
        }
        session_run_timers(relay_now_ms);
        if (relay_now_ms >= next_housekeeping) {
            tcp_housekeeping(relay_now_ms, relay_cfg.handshake_s * 1000);
            session_housekeeping(relay_now_ms);
            metrics_publish();
            next_housekeeping = relay_now_ms + 100;
        }
        tcp_flush_all();
        udp_flush();
        tcp_reap();
    }
    log_info("relay: stopping");
    session_end_all("the relay is stopping");
    tcp_flush_all();
    udp_flush();
    fleet_stop(10);
    log_stats();
    metrics_http_stop();
    return 0;
}
