/*
 * A daemon's metrics endpoint for Prometheus. A function answers scrapes
 * itself (serve.c's built-in route); a daemon answers them from a thread of
 * libmicrohttpd's on a unix socket (nginx passes /metrics/NAME to it) or a
 * TCP address (an agent on a machine of its own). Scrapes carry the scrape
 * token (metrics_auth.h).
 */
#ifndef RALLY_COMMON_METRICS_HTTP_H
#define RALLY_COMMON_METRICS_HTTP_H

/* Serves GET /metrics at addr: a unix socket path (made 0660, so nginx's
 * workers come in through the directory's group as to a function's
 * socket), or HOST:PORT. Nothing happens when metrics are off or addr is
 * NULL or empty. 0, or -1 when it cannot listen (logged). */
int metrics_http_start(const char *addr);
void metrics_http_stop(void);

/* A daemon's metrics at start: metrics_setup(1), the database's series
 * (db_declare_metrics), and the endpoint at RALLY_METRICS_LISTEN, by default
 * the socket NAME.metrics.sock in RALLY_SOCKET_DIR beside the functions'
 * (off: none). 0, or -1 (logged). */
int metrics_daemon_start(const char *name);

#endif
