/*
 * rally-gateway: GameLift's server SDK 5 speaks to rally here, one
 * WebSocket per game-server process, behind nginx (location
 * /v1/fleet/sdk5, proxied to RALLY_LISTEN: $RALLY_SOCKET_DIR/gateway.sock
 * by default). docs/sdk5.md tells the whole story.
 *
 * One event loop (epoll) holds every connection (conn.h) and speaks the
 * protocol (sdk5.h); a pool of threads forwards calls to rally's fleet
 * routes (forward.h), one thread does the gateway's own database work
 * (fleetdb.h). Their answers come back to the loop on two queues.
 *
 * Environment (besides the common RALLY_* of cfg.h and the database's):
 *   RALLY_URL                  where the fleet routes are (the forwarded calls)
 *   RALLY_GATEWAY_THREADS      forwarding threads (8)
 *   RALLY_SDK_TOKEN_TTL        seconds a RefreshConnection token lasts (10800)
 *   RALLY_SDK_HEARTBEAT_WINDOW seconds a process may go without a heartbeat
 *                              and still be kept alive (210: the SDK beats
 *                              every 60 +- 10 s)
 *
 * On SIGTERM it drops its connections without a closing handshake: the
 * SDK reconnects (to the gateway restarted, or another), where a close
 * frame 1000 or 1001 would make it give up for good.
 */
#include <errno.h>
#include <fcgiapp.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "auth.h"
#include "cfg.h"
#include "conn.h"
#include "fleetdb.h"
#include "forward.h"
#include "log.h"
#include "metrics_http.h"
#include "sdk5.h"
#include "util.h"

/* epoll tags of the loop's own descriptors (connections carry theirs). */
static char tag_listen, tag_forwarded, tag_db, tag_signal;

static int open_listener(const struct cfg *c)
{
    if (c->listen[0] == '/')
        unlink(c->listen); /* a socket left by a killed gateway */
    int fd = FCGX_OpenSocket(c->listen, c->listen_backlog);
    if (fd < 0) {
        log_error("gateway: cannot listen on %s: %s", c->listen, strerror(errno));
        return -1;
    }
    /* nginx's workers come in through the group, other local users not
     * at all (RALLY_SOCKET_MODE). */
    if ((c->listen[0] == '/' && chmod(c->listen, c->socket_mode) != 0) ||
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
        log_error("gateway: cannot set up %s: %s", c->listen, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* A descriptor per connected process: as many as the hard limit allows
 * (the soft one is often 1,024). */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            log_warn("gateway: cannot raise the descriptor limit: %s", strerror(errno));
    }
}

static int watch(int epfd, int fd, void *tag)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = tag};
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

static void drop(struct conn *c, void *ctx)
{
    (void)ctx;
    conn_free(c);
}

int main(void)
{
    log_init("gateway");
    const struct cfg *c = cfg_load("gateway");
    if (metrics_daemon_start("gateway") < 0)
        return 1;
    const char *url = cfg_env_str("RALLY_URL", NULL);
    if (url == NULL || c->jwt_key_dir == NULL) {
        fprintf(stderr,
                "rally: invalid configuration: RALLY_URL and RALLY_JWT_KEY_DIR are required\n");
        return 2;
    }
    /* The signing key makes RefreshConnection's tokens; without it the
     * gateway still verifies, and a process reconnects until its token
     * expires. */
    bool can_sign = auth_keys_load(c->jwt_key_dir, true) == 0;
    if (!can_sign && auth_keys_load(c->jwt_key_dir, false) != 0)
        return 1;
    struct sdk5_opts opts = {
        .token_ttl = cfg_env_long("RALLY_SDK_TOKEN_TTL", 10800, 600, 86400),
        .can_sign = can_sign,
        .heartbeat_window_ms =
            1000.0 * (double)cfg_env_long("RALLY_SDK_HEARTBEAT_WINDOW", 210, 5, 3600),
    };
    sdk5_init(&opts);
    raise_fd_limit();

    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL); /* before any thread: they inherit it */
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    struct queue forwarded, db_done;
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    int sfd = signalfd(-1, &stop, SFD_NONBLOCK | SFD_CLOEXEC);
    int lfd = open_listener(c);
    if (epfd < 0 || sfd < 0 || lfd < 0 || queue_init(&forwarded) < 0 || queue_init(&db_done) < 0 ||
        forward_start(url, (int)cfg_env_long("RALLY_GATEWAY_THREADS", 8, 1, 64), &forwarded) < 0 ||
        fleetdb_start(&db_done) < 0 || watch(epfd, lfd, &tag_listen) < 0 ||
        watch(epfd, forwarded.efd, &tag_forwarded) < 0 || watch(epfd, db_done.efd, &tag_db) < 0 ||
        watch(epfd, sfd, &tag_signal) < 0)
        return 1;
    if (conn_table_init(epfd) != 0)
        return 1;
    log_info("gateway: listening on %s, forwarding to %s", c->listen, url);

    double last_house = 0, last_keys = util_mono_ms();
    bool running = true;
    while (running) {
        struct epoll_event evs[256];
        int n = epoll_wait(epfd, evs, 256, 100);
        for (int i = 0; i < n; i++) {
            void *tag = evs[i].data.ptr;
            if (tag == &tag_listen) {
                conn_accept_all(lfd);
            } else if (tag == &tag_forwarded) {
                for (struct qnode *q = queue_take_all(&forwarded), *next; q != NULL; q = next) {
                    next = q->next;
                    sdk5_forward_done((struct fwd_job *)q);
                }
            } else if (tag == &tag_db) {
                for (struct qnode *q = queue_take_all(&db_done), *next; q != NULL; q = next) {
                    next = q->next;
                    sdk5_db_done((struct db_job *)q);
                }
            } else if (tag == &tag_signal) {
                running = false;
            } else {
                conn_on_event(tag, evs[i].events);
            }
        }
        double now = util_mono_ms();
        sdk5_tick(now);
        if (now - last_house >= 1000.0) {
            last_house = now;
            conn_housekeeping(now, 10000.0);
        }
        conn_flush_all(); /* what this turn queued: one send per connection */
        conn_reap();      /* no event of this round refers to a connection any more */
        if (now - last_keys >= 60000.0) { /* a rotation (rally-keys) reaches the gateway */
            last_keys = now;
            auth_keys_load(c->jwt_key_dir, can_sign);
        }
    }
    log_info("gateway: stopping; %zu connections dropped (their SDKs reconnect)", conn_count());
    close(lfd);
    conn_each(drop, NULL);
    conn_reap();
    forward_stop();
    fleetdb_stop();
    return 0;
}
