/* A daemon's metrics endpoint (metrics_http.h). */
#include "metrics_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cfg.h"
#include "db.h"
#include "log.h"
#include "metrics.h"
#include "metrics_auth.h"

static struct MHD_Daemon *daemon_;
static char unix_path[108];

/* ---- a daemon's endpoint ---------------------------------------------- */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
                             char *body, size_t len)
{
    struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback(len, body, free);
    if (r == NULL) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    if (status == 401)
        MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"rally metrics\"");
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result refuse(struct MHD_Connection *c, unsigned status, const char *code,
                              const char *message)
{
    char *body = NULL;
    int n = asprintf(&body, "{\"error\":\"%s\",\"message\":\"%s\"}", code, message);
    if (n < 0)
        return MHD_NO;
    return reply(c, status, "application/json", body, (size_t)n);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **state)
{
    (void)cls;
    (void)version;
    (void)upload;
    if (*state == NULL) { /* the headers: answer once the (empty) body is in */
        *state = c;
        return MHD_YES;
    }
    if (*upload_size != 0) {
        *upload_size = 0;
        return MHD_YES;
    }
    if (strcmp(url, "/metrics") != 0)
        return refuse(c, 404, "not_found", "the metrics are at /metrics");
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return refuse(c, 405, "method_not_allowed", "use GET on this route");
    if (!metrics_authorized(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization")))
        return refuse(c, 401, "unauthorized", "a scrape takes the scrape token as a bearer token");
    size_t len = 0;
    char *text = metrics_render(&len);
    if (text == NULL)
        return refuse(c, 500, "internal", "out of memory");
    return reply(c, 200, METRICS_CONTENT_TYPE, text, len);
}

static void on_mhd_error(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[256];
    vsnprintf(line, sizeof(line), fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    log_warn("metrics endpoint: %s", line);
}

static int listen_unix(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        log_error("metrics: socket path too long: %s", path);
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    unlink(path); /* a socket left by a killed daemon */
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || chmod(path, 0660) != 0 ||
        listen(fd, 16) != 0) {
        log_error("metrics: cannot listen on %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    snprintf(unix_path, sizeof(unix_path), "%s", path);
    return fd;
}

static int listen_tcp(const char *addr)
{
    char host[256];
    const char *colon = strrchr(addr, ':');
    if (colon == NULL || (size_t)(colon - addr) >= sizeof(host)) {
        log_error("metrics: %s is neither a socket path nor HOST:PORT", addr);
        return -1;
    }
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai = NULL;
    if (getaddrinfo(host[0] != '\0' ? host : NULL, colon + 1, &hints, &ai) != 0 || ai == NULL) {
        log_error("metrics: cannot resolve %s", addr);
        return -1;
    }
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 16) != 0) {
        log_error("metrics: cannot listen on %s: %s", addr, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

int metrics_http_start(const char *addr)
{
    if (!metrics_enabled() || addr == NULL || addr[0] == '\0' || daemon_ != NULL)
        return 0;
    int fd = addr[0] == '/' ? listen_unix(addr) : listen_tcp(addr);
    if (fd < 0)
        return -1;
    /* libmicrohttpd's thread takes the mask in force now: all blocked, so
     * that the daemon's signals (SIGCHLD cutting an agent's sleep short,
     * SIGTERM) reach its own threads. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    daemon_ = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                               on_request, NULL, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_error, NULL,
                               MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT, 16u,
                               MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_THREAD_STACK_SIZE,
                               (size_t)(256 * 1024), MHD_OPTION_END);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (daemon_ == NULL) {
        log_error("metrics: cannot serve on %s", addr);
        close(fd);
        return -1;
    }
    log_info("metrics on %s", addr);
    return 0;
}

void metrics_http_stop(void)
{
    if (daemon_ == NULL)
        return;
    MHD_stop_daemon(daemon_);
    daemon_ = NULL;
    if (unix_path[0] != '\0')
        unlink(unix_path);
}

int metrics_daemon_start(const char *name)
{
    if (metrics_setup(1) < 0)
        return -1;
    if (!metrics_enabled())
        return 0;
    db_declare_metrics();
    char def[512];
    snprintf(def, sizeof(def), "%s/%s.metrics.sock", cfg_env_str("RALLY_SOCKET_DIR", "/run/rally"),
             name);
    const char *addr = cfg_env_str("RALLY_METRICS_LISTEN", def);
    return strcmp(addr, "off") == 0 ? 0 : metrics_http_start(addr);
}
