/*
 * rally server SDK: what a game server process says to rally's fleet API,
 * in the shape of GameLift's server SDK (InitSDK, ProcessReady, heartbeat /
 * onStartGameSession, ActivateGameSession, AcceptPlayerSession,
 * RemovePlayerSession, ProcessEnding). Plain C11, libcurl and jansson; link
 * with -lrallyserver -lcurl -ljansson.
 *
 * Flow:
 *   rally_server_new()            fleet credentials, where this process listens
 *   rally_server_process_ready()  registers the process (ProcessReady)
 *   loop: rally_server_heartbeat() about every second; when it hands over a
 *         game session, prepare and call rally_server_activate()
 *   per player connecting: rally_server_accept_player() with the
 *         PlayerSessionId it sent; rally_server_remove_player() when it leaves
 *   rally_server_process_ending() before exiting (or to host a new session,
 *         then rally_server_process_ready() again)
 *
 * Errors: every call returns RALLY_SERVER_OK (0) or a negative
 * rally_server_error; rally_server_message() tells what happened in words.
 *
 * Threads: one handle belongs to one thread at a time; distinct handles are
 * independent. Call curl_global_init() once before any handle when the
 * program has other threads.
 *
 * Ownership: strings passed in are copied; strings handed out point into the
 * handle and stay valid until the next call on it.
 */
#ifndef RALLY_SERVER_H
#define RALLY_SERVER_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum rally_server_error {
    RALLY_SERVER_OK = 0,
    RALLY_SERVER_E_ARGUMENT = -1,   /* a parameter is missing or malformed */
    RALLY_SERVER_E_TRANSPORT = -2,  /* rally did not answer (connection, timeout) */
    RALLY_SERVER_E_AUTH = -3,       /* fleet id or secret refused */
    RALLY_SERVER_E_REFUSED = -4,    /* rally refused the call (see the message) */
    RALLY_SERVER_E_TERMINATED = -5, /* this process was ended by rally: register again */
    RALLY_SERVER_E_NOT_FOUND = -6,  /* no such game or player session for this fleet */
};

struct rally_server_params {
    const char *url;          /* rally's base URL, "http://127.0.0.1:8080" */
    const char *fleet_id;     /* the fleet of config/fleets/ */
    const char *fleet_secret; /* its secret (read it from a file, never argv) */
    /* The process (NULL location: a handle for rally_server_request only,
     * e.g. a trusted backend or the rally tool): */
    const char *location;   /* one of the fleet's locations */
    const char *ip_address; /* where players connect */
    const char *dns_name;   /* optional */
    int port;               /* 1..60000 */
    int max_players;        /* 1..200 */
    /* Launched by rally's fleet agent: the id it launched the process as
     * and the compute it runs on (its environment's GAMELIFT_SDK_PROCESS_ID
     * and GAMELIFT_SDK_HOST_ID), NULL otherwise. With an id, ProcessReady
     * registers under it, once: such a process hosts one game session and
     * exits, and the agent launches another. */
    const char *process_id;
    const char *compute_name;
    /* A process that is one of several in one program (rally-relay hosts a
     * game session per process, many processes): the id the agent launched
     * the program as; process_id is then "<host_process_id>.<n>". NULL
     * otherwise. */
    const char *host_process_id;
};

/* The game session handed over by a heartbeat. */
struct rally_game_session {
    const char *game_session_id;  /* "gsess-..." (use it with activate) */
    const char *game_session_arn; /* GameLift's GameSessionId */
    /* ACTIVATING, then ACTIVE; TERMINATING once TerminateGameSession asked
     * for it to end (GameLift's OnProcessTerminate): let the players go and
     * call rally_server_process_ending(). */
    const char *status;
    const char *location;
    const char *matchmaker_data; /* FlexMatch's MatchmakerData JSON, or NULL */
    const char *game_session_data;
    const char *game_properties; /* JSON array of {"Key","Value"} */
    int max_players;
    /* GameLift's OnUpdateGameSession: "MATCHMAKING_DATA_UPDATED" on the
     * first heartbeat after a backfill seated new players in the running
     * game session (matchmaker_data names everyone now), else NULL. */
    const char *update_reason;
};

typedef struct rally_server rally_server;

/* The fleet secret from the file RALLY_FLEET_SECRET_FILE names (never
 * from argv, where ps shows it), trailing whitespace cut, into out (cap
 * bytes). 0, or -1 when the variable is unset or the file unreadable or
 * empty. */
int rally_server_read_secret(char *out, size_t cap);

/* A handle for one server process; NULL on bad parameters or no memory. */
rally_server *rally_server_new(const struct rally_server_params *params);
void rally_server_free(rally_server *s);

/* ProcessReady. On success rally_server_process_id() names the process. */
int rally_server_process_ready(rally_server *s);
const char *rally_server_process_id(const rally_server *s);

/* Heartbeat. *session is set to the game session this process hosts (new
 * or running), or NULL when it hosts none. */
int rally_server_heartbeat(rally_server *s, const struct rally_game_session **session);

/* ActivateGameSession: ready for players; rally then reserves their seats. */
int rally_server_activate(rally_server *s, const char *game_session_id);

/* AcceptPlayerSession: the player who sent this PlayerSessionId may play.
 * On success *player_id (may be NULL) names the player. Refused: a session
 * that is unknown, of another game session than the one this process was
 * handed, not RESERVED, or past its reservation. */
int rally_server_accept_player(rally_server *s, const char *player_session_id,
                               const char **player_id);

/* RemovePlayerSession: the player left. */
int rally_server_remove_player(rally_server *s, const char *player_session_id);

/* GetGameSessionId: the ARN (GameLift's GameSessionId) of the game session
 * this process hosts, or NULL before one was handed over. Stays valid until
 * the next heartbeat hands over another. */
const char *rally_server_game_session_id(const rally_server *s);
/* UpdatePlayerSessionCreationPolicy of the hosted game session:
 * "ACCEPT_ALL" or "DENY_ALL" (no new seats: CreatePlayerSession is refused). */
int rally_server_update_creation_policy(rally_server *s, const char *policy);
/* DescribePlayerSessions of the hosted game session: the seats in
 * GameLift's shape. status_filter ("RESERVED", "ACTIVE", "COMPLETED",
 * "TIMEDOUT") may be NULL; next_token is NULL for the first page. On success
 * *response_json is {"PlayerSessions": [...], "NextToken"?}. */
int rally_server_describe_player_sessions(rally_server *s, const char *status_filter,
                                          const char *next_token, const char **response_json);
/* StartMatchBackfill for the game session this process hosts: who is still
 * playing, as GameLift's Players list ([{"PlayerId", "Team",
 * "PlayerAttributes"?, "LatencyInMs"?}] in JSON), for the matchmaker to
 * complete with new players. The new players' seats arrive as a heartbeat's
 * update_reason. On success *ticket_id (may be NULL) names the backfill
 * ticket (StopMatchmaking stops it). */
int rally_server_start_backfill(rally_server *s, const char *configuration,
                                const char *players_json, const char **ticket_id);
/* ProcessEnding: this process stops hosting; its game session ends. */
int rally_server_process_ending(rally_server *s);

/* Any server-scope route with the fleet's token (a trusted backend's
 * StartMatchmaking, DescribeMatchmaking, StopMatchmaking, explain, ...):
 * body_json is sent as it is (NULL: none); *response_json (may be NULL) is
 * the answer's JSON text, also on a refusal. */
int rally_server_request(rally_server *s, const char *method, const char *path,
                         const char *body_json, const char **response_json);

/* What the last call did, in words ("" after success). */
const char *rally_server_message(const rally_server *s);
/* The HTTP status of the last call's answer, 0 when none came. */
long rally_server_last_status(const rally_server *s);

#ifdef __cplusplus
}
#endif
#endif
