/*
 * rally client SDK: what a game client says to rally. Plain C11 with a
 * plain C ABI, so C++ links it as it is and C#, Unity or Unreal bind it
 * through P/Invoke or FFI: opaque handle, fixed-size structs, no callbacks
 * that outlive a call.
 *
 *   rally_client *c = rally_client_new(&(struct rally_options){
 *       .url = "http://127.0.0.1:8080", .credentials_path = "guest.json"});
 *   rally_login_guest(c);                       returning guest if saved, else new
 *   struct rally_ticket t;
 *   struct rally_latency lat[] = {{"us-east-1", 23}, {"eu-west-1", 81}};
 *   rally_start_matchmaking(c, NULL, lat, 2, &t);
 *   rally_wait_for_match(c, t.ticket_id, 60000, &t, NULL, NULL);
 *   if (strcmp(t.status, "COMPLETED") == 0) connect to t.ip_address:t.port
 *                                           and send t.player_session_id
 *
 * Tokens: the access token is refreshed before it expires and once more
 * when rally answers 401; a refresh token rally refused (revoked, reused)
 * makes the client log in again with its saved guest credentials.
 *
 * Waiting: by push first (the ticket's EventSource,
 * GET /v1/matchmaking/{id}/events), with a read of the ticket every 15 s
 * as a safety net; when push is unavailable or turned off, by polling with
 * exponential backoff (1 s to 5 s) and jitter. Always within the caller's
 * deadline.
 *
 * Errors: every call returns RALLY_OK (0) or a negative rally_status;
 * rally_error_message() says what happened in words.
 *
 * Threads: a handle is used by one thread at a time; distinct handles are
 * independent. Call rally_global_init() once, before any other thread
 * starts, in programs with threads.
 *
 * Ownership: strings passed in are copied; strings handed out are owned by
 * the handle and valid until the next call on it. Result structs are plain
 * values the caller owns.
 */
#ifndef RALLY_CLIENT_H
#define RALLY_CLIENT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define RALLY_API __attribute__((visibility("default")))
#else
#define RALLY_API
#endif

typedef enum rally_status {
    RALLY_OK = 0,
    RALLY_E_ARGUMENT = -1,  /* a parameter is missing or malformed */
    RALLY_E_NETWORK = -2,   /* rally did not answer (connection, timeout) */
    RALLY_E_AUTH = -3,      /* credentials refused: no way to log in again */
    RALLY_E_NOT_FOUND = -4, /* no such ticket (of this player) */
    RALLY_E_CONFLICT = -5,  /* the state forbids it (an active ticket, PLACING, ...) */
    RALLY_E_REFUSED = -6,   /* rally refused the request (a 4xx; see the message) */
    RALLY_E_SERVER = -7,    /* rally failed (a 5xx) */
    RALLY_E_TIMEOUT = -8,   /* the caller's deadline passed */
    RALLY_E_NOMEM = -9,
    RALLY_E_IO = -10, /* the credentials file could not be read or written */
} rally_status;

struct rally_options {
    const char *url;              /* rally's base URL, e.g. "http://127.0.0.1:8080" */
    const char *credentials_path; /* where guest credentials are kept; NULL: memory only */
    long timeout_ms;              /* per request; 0: 10000 */
    int no_push;                  /* 1: wait by polling only */
    long refresh_margin_ms;       /* refresh the access token this long before it
                                     expires; 0: 30 s (a third of a short TTL) */
};

/* One location's latency, as StartMatchmaking takes it. */
struct rally_latency {
    const char *region;
    int ms;
};

#define RALLY_ID_MAX 129
#define RALLY_TEXT_MAX 257

/* A MatchmakingTicket as this player sees it (empty strings: absent). */
struct rally_ticket {
    char ticket_id[RALLY_ID_MAX];
    char configuration[RALLY_ID_MAX];
    char status[32]; /* QUEUED ... COMPLETED, FAILED, CANCELLED, TIMED_OUT */
    char status_reason[64];
    char status_message[RALLY_TEXT_MAX];
    long estimated_wait_seconds; /* -1: not known */
    /* Once COMPLETED with a game session: */
    char game_session_arn[RALLY_TEXT_MAX];
    char ip_address[64];
    char dns_name[RALLY_TEXT_MAX];
    int port;
    char player_session_id[RALLY_ID_MAX]; /* this player's seat */
};

typedef struct rally_client rally_client;

RALLY_API rally_status rally_global_init(void);

/* A client; NULL when options are unusable (no url) or memory ran out. */
RALLY_API rally_client *rally_client_new(const struct rally_options *options);
RALLY_API void rally_client_free(rally_client *c);

/* What the last call did, in words ("" after success). */
RALLY_API const char *rally_error_message(const rally_client *c);
/* "RALLY_E_AUTH", ... */
RALLY_API const char *rally_status_name(rally_status status);

/* Guest login: the saved guest when credentials_path holds one, else a new
 * guest, saved there (mode 0600). */
RALLY_API rally_status rally_login_guest(rally_client *c);
/* The logged-in player's id ("" before login). */
RALLY_API const char *rally_player_id(const rally_client *c);

/* StartMatchmaking. configuration NULL: rally's default. A ticket of this
 * player still active is RALLY_E_CONFLICT, its id in out->ticket_id. */
RALLY_API rally_status rally_start_matchmaking(rally_client *c, const char *configuration,
                                               const struct rally_latency *latencies, size_t n,
                                               struct rally_ticket *out);
RALLY_API rally_status rally_get_ticket(rally_client *c, const char *ticket_id,
                                        struct rally_ticket *out);
/* StopMatchmaking (RALLY_E_CONFLICT while PLACING or once ended). */
RALLY_API rally_status rally_cancel_ticket(rally_client *c, const char *ticket_id);
/* AcceptMatch: accept (1) or reject (0) a proposed match. */
RALLY_API rally_status rally_accept_match(rally_client *c, const char *ticket_id, int accept);

/* Called with each new state while waiting; return non-zero to stop. */
typedef int (*rally_update_fn)(void *ctx, const struct rally_ticket *ticket);

/* Waits until the ticket ends (COMPLETED, FAILED, CANCELLED, TIMED_OUT) or
 * deadline_ms passes (RALLY_E_TIMEOUT, *out the last state seen). Also
 * stops, with RALLY_OK, at REQUIRES_ACCEPTANCE: answer rally_accept_match,
 * then wait again. */
RALLY_API rally_status rally_wait_for_match(rally_client *c, const char *ticket_id,
                                            long deadline_ms, struct rally_ticket *out,
                                            rally_update_fn on_update, void *ctx);

/* Latency to each region: the time to open a TCP connection to its
 * endpoint ("host:port"), best of `tries`. out[i].region points into
 * regions[i]; ms is -1 for an endpoint that did not answer. */
RALLY_API rally_status rally_measure_latency(rally_client *c, const char *const *regions,
                                             const char *const *endpoints, size_t n, int tries,
                                             struct rally_latency *out);

#ifdef __cplusplus
}
#endif
#endif
