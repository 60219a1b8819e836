/*
 * rally-gameserver: a sample game server on the rally server SDK
 * (rally_server.h). It registers in a location, heartbeats, activates the
 * game session rally hands it, and admits TCP players who prove their seat.
 *
 *   rally-gameserver --location us-east-1 --port 7777 [--url http://127.0.0.1:8080]
 *                    [--fleet fleet-local] [--ip 127.0.0.1] [--dns localhost]
 *                    [--max-players 10] [--heartbeat-ms 1000] [--idle-seconds 90]
 *                    [--backfill CONFIGURATION]
 *
 * The fleet secret is read from the file named by RALLY_FLEET_SECRET_FILE
  * (never from the command line, where ps would show it). --port 0 listens
 * on a port the system picks. Launched by rally's fleet agent (agent/),
 * the environment gives the rest: RALLY_URL, RALLY_LOCATION,
 * RALLY_IP_ADDRESS, RALLY_PORT (without it, a port the system picks),
 * GAMELIFT_SDK_FLEET_ID, and the process's own GAMELIFT_SDK_PROCESS_ID and
 * GAMELIFT_SDK_HOST_ID; such a process hosts one game session and exits,
 * as GameLift's do, and the agent launches another.
 *
 * The game (one line per message over TCP):
 *   client: <PlayerSessionId>          server: OK <PlayerId> | DENIED <reason>
 *   client: any line                   server, to every player: <PlayerId>: <line>
 *   client closes                      the player leaves (RemovePlayerSession)
 * When every player of the match (MatchmakerData) has joined and left, or
 * nobody is connected for --idle-seconds, the game is over: ProcessEnding, and the server
 * registers again (ProcessReady) to host the next one. A world (a game
 * session made by CreateGameSession, without MatchmakerData) stays up while
 * players come and go, until rally asks for it to end (TerminateGameSession),
 * as does a match then. A persistent world (GameSessionData naming one,
 * world.h) keeps its state in rally through the sidecar beside the process:
 *   client: /place X Y Z W             server: PLACED X Y Z W (committed)
 *   client: /look P Q                  server: CHUNK P Q: N blocks; x y z w, ...
 * and its chat is saved when it ends and restored when it starts again. A full game session takes no new seats: the server
 * sets DENY_ALL while every seat is taken (UpdatePlayerSessionCreationPolicy)
 * and ACCEPT_ALL once a player leaves. With --backfill CONFIGURATION, a
 * player leaving a match makes the server ask for another (StartMatchBackfill
 * with the players still holding seats, by DescribePlayerSessions, on their
 * MatchmakerData teams); a backfill's new players arrive as OnUpdateGameSession
 * (the heartbeat's update_reason). SIGTERM or SIGINT: ProcessEnding and exit 0.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "rally_server.h"
#include "world.h"

#define MAX_CLIENTS 256
#define LINE_MAX_LEN 512

struct client {
    char line[LINE_MAX_LEN]; /* the line being read */
    char psess[160];
    char player[256];
    size_t len;
    int fd;
    bool admitted; /* its PlayerSessionId was accepted */
};

static volatile sig_atomic_t stopping;
static struct client clients[MAX_CLIENTS];
static size_t nclients;
static size_t joined;           /* players admitted in this game session */
static struct world *world_now; /* the persistent world this game session runs, or NULL */

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...)
{
    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s rally-gameserver: ", when);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A listening socket on `port` (0: one the system picks); *bound gets the
 * port it listens on. */
static int listen_on(int port, int *bound)
{
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int off = 0, on = 1;
    if (fd < 0)
        return -1;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    struct sockaddr_in6 addr = {
        .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port), .sin6_addr = in6addr_any};
    socklen_t len = sizeof(addr);
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 64) < 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) < 0) {
        close(fd);
        return -1;
    }
    *bound = ntohs(addr.sin6_port);
    return fd;
}

/* Best effort: a player too slow to read loses the message. */
static void send_line(int fd, const char *text)
{
    (void)send(fd, text, strlen(text), MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* Drops client i; an admitted player leaves the game session. */
static void drop(rally_server *s, size_t i)
{
    struct client *c = &clients[i];
    if (c->admitted) {
        if (rally_server_remove_player(s, c->psess) != RALLY_SERVER_OK)
            say("RemovePlayerSession %s: %s", c->psess, rally_server_message(s));
        else
            say("player %s left", c->player);
    }
    close(c->fd);
    clients[i] = clients[--nclients];
}

static size_t admitted_count(void)
{
    size_t n = 0;
    for (size_t i = 0; i < nclients; i++)
        n += clients[i].admitted;
    return n;
}

/* One complete line from client i. */
static void on_line(rally_server *s, size_t i, bool active)
{
    struct client *c = &clients[i];
    char out[LINE_MAX_LEN + 300];
    if (c->admitted && world_now != NULL &&
        world_line(world_now, c->player, c->line, out, sizeof(out))) {
        send_line(c->fd, out); /* a world command's answer, for its player */
        return;
    }
    if (c->admitted) {
        snprintf(out, sizeof(out), "%s: %s\n", c->player, c->line);
        for (size_t k = 0; k < nclients; k++)
            if (clients[k].admitted)
                send_line(clients[k].fd, out);
        return;
    }
    const char *player = NULL;
    int rc = active ? rally_server_accept_player(s, c->line, &player) : RALLY_SERVER_E_REFUSED;
    if (rc == RALLY_SERVER_OK) {
        c->admitted = true;
        joined++;
        snprintf(c->psess, sizeof(c->psess), "%s", c->line);
        snprintf(c->player, sizeof(c->player), "%s", player != NULL ? player : "?");
        snprintf(out, sizeof(out), "OK %s\n", c->player);
        say("player %s joined with %s", c->player, c->psess);
    } else {
        snprintf(out, sizeof(out), "DENIED %s\n",
                 active ? rally_server_message(s) : "no game session is running here");
        say("denied %.160s: %s", c->line, active ? rally_server_message(s) : "no game");
    }
    send_line(c->fd, out);
}

/* Reads what client i sent; false when it is gone. */
static bool read_client(rally_server *s, size_t i, bool active)
{
    struct client *c = &clients[i];
    char buf[1024];
    ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
    if (n <= 0)
        return false;
    for (ssize_t k = 0; k < n; k++) {
        if (buf[k] == '\r')
            continue;
        if (buf[k] != '\n') {
            if (c->len + 1 >= sizeof(c->line))
                return false; /* a line this long is not our protocol */
            c->line[c->len++] = buf[k];
            continue;
        }
        c->line[c->len] = '\0';
        c->len = 0;
        bool was = c->admitted;
        on_line(s, i, active);
        if (!was && !c->admitted)
            return false; /* denied: hang up */
    }
    return true;
}

static void close_all(rally_server *s)
{
    while (nclients > 0)
        drop(s, nclients - 1);
}

/* What this process keeps of the game session it hosts. */
static struct {
    char *matchmaker_data; /* malloc'd; NULL for a world */
    int max_players;
    bool denying; /* it set DENY_ALL: the game session is full */
} game;

/* The game session handed over, or updated (a backfill): kept. */
static void game_heard(const struct rally_game_session *gs)
{
    free(game.matchmaker_data);
    game.matchmaker_data = gs->matchmaker_data != NULL ? strdup(gs->matchmaker_data) : NULL;
    game.max_players = gs->max_players;
}

static void game_over(void)
{
    free(game.matchmaker_data);
    game.matchmaker_data = NULL;
    game.denying = false;
}

/* A full game session takes no new seats (UpdatePlayerSessionCreationPolicy
 * DENY_ALL) until a player leaves. */
static void follow_policy(rally_server *s, size_t players)
{
    bool full = game.max_players > 0 && players >= (size_t)game.max_players;
    if (full == game.denying)
        return;
    const char *policy = full ? "DENY_ALL" : "ACCEPT_ALL";
    if (rally_server_update_creation_policy(s, policy) != RALLY_SERVER_OK) {
        say("UpdatePlayerSessionCreationPolicy %s: %s", policy, rally_server_message(s));
        return;
    }
    game.denying = full;
    say("game session %s: %s", rally_server_game_session_id(s), policy);
}

/* MatchmakerData's attributes ({"skill": {"attributeType": "DOUBLE",
 * "valueAttribute": 10}}) as GameLift's Player takes them ({"skill":
 * {"N": 10}}). New reference. */
static json_t *typed_attributes(json_t *attrs)
{
    static const char *const kinds[][2] = {
        {"STRING", "S"}, {"DOUBLE", "N"}, {"STRING_LIST", "SL"}, {"STRING_DOUBLE_MAP", "SDM"}};
    json_t *out = json_object();
    const char *name;
    json_t *a;
    json_object_foreach(attrs, name, a)
    {
        const char *type = json_string_value(json_object_get(a, "attributeType"));
        for (size_t k = 0; type != NULL && k < sizeof(kinds) / sizeof(kinds[0]); k++)
            if (strcmp(type, kinds[k][0]) == 0)
                json_object_set_new(
                    out, name,
                    json_pack("{s:O}", kinds[k][1], json_object_get(a, "valueAttribute")));
    }
    return out;
}

/* The players holding seats (RESERVED or ACTIVE), by DescribePlayerSessions,
 * into `holding` ({"<PlayerId>": true}); false on failure (said). */
static bool seats_held(rally_server *s, json_t *holding)
{
    char token[1100] = "";
    do {
        const char *text = NULL;
        if (rally_server_describe_player_sessions(s, NULL, token[0] ? token : NULL, &text) !=
            RALLY_SERVER_OK) {
            say("DescribePlayerSessions: %s", rally_server_message(s));
            return false;
        }
        json_t *page = json_loads(text, 0, NULL);
        size_t i;
        json_t *ps;
        json_array_foreach(json_object_get(page, "PlayerSessions"), i, ps)
        {
            const char *status = json_string_value(json_object_get(ps, "Status"));
            const char *id = json_string_value(json_object_get(ps, "PlayerId"));
            if (id != NULL && status != NULL &&
                (strcmp(status, "RESERVED") == 0 || strcmp(status, "ACTIVE") == 0))
                json_object_set_new(holding, id, json_true());
        }
        const char *next = json_string_value(json_object_get(page, "NextToken"));
        snprintf(token, sizeof(token), "%s", next != NULL ? next : "");
        json_decref(page);
    } while (token[0] != '\0');
    return true;
}

/* --backfill: a player left the match; the players still holding seats,
 * on their teams with their attributes (MatchmakerData), ask the
 * matchmaker for new players (StartMatchBackfill). */
static void request_backfill(rally_server *s, const char *configuration)
{
    json_t *data = game.matchmaker_data != NULL ? json_loads(game.matchmaker_data, 0, NULL) : NULL;
    json_t *holding = json_object(), *players = json_array();
    if (data != NULL && seats_held(s, holding)) {
        size_t i, j;
        json_t *team, *p;
        json_array_foreach(json_object_get(data, "teams"), i, team)
        {
            json_array_foreach(json_object_get(team, "players"), j, p)
            {
                const char *id = json_string_value(json_object_get(p, "playerId"));
                if (id != NULL && json_object_get(holding, id) != NULL)
                    json_array_append_new(
                        players, json_pack("{s:s, s:O, s:o}", "PlayerId", id, "Team",
                                           json_object_get(team, "name"), "PlayerAttributes",
                                           typed_attributes(json_object_get(p, "attributes"))));
            }
        }
    }
    char *text = json_array_size(players) > 0 ? json_dumps(players, JSON_COMPACT) : NULL;
    const char *ticket = NULL;
    if (text != NULL &&
        rally_server_start_backfill(s, configuration, text, &ticket) == RALLY_SERVER_OK)
        say("backfill ticket %s: %zu players stay", ticket != NULL ? ticket : "?",
            json_array_size(players));
    else if (text != NULL)
        say("StartMatchBackfill: %s", rally_server_message(s));
    free(text);
    json_decref(players);
    json_decref(holding);
    json_decref(data);
}

/* How many players the match has, from FlexMatch's MatchmakerData; 0 when
 * unknown (a game session not made by the matchmaker). */
static size_t expected_players(const char *matchmaker_data)
{
    json_t *data = matchmaker_data != NULL ? json_loads(matchmaker_data, 0, NULL) : NULL;
    size_t n = 0, i;
    json_t *team;
    json_array_foreach(json_object_get(data, "teams"), i, team)
    {
        n += json_array_size(json_object_get(team, "players"));
    }
    json_decref(data);
    return n;
}

static int usage(void)
{
    fprintf(stderr, "usage: rally-gameserver --location LOCATION --port PORT|0 [--url URL] "
                    "[--fleet ID] [--ip IP] [--dns NAME] [--max-players N] "
                    "[--heartbeat-ms MS] [--idle-seconds S] [--backfill CONFIGURATION]\n"
                    "  the fleet secret is read from the file RALLY_FLEET_SECRET_FILE names\n");
    return 2;
}

/* A whole number within [lo, hi] into *out; false otherwise. */
static bool number(const char *v, long lo, long hi, long *out)
{
    char *end = NULL;
    long n = strtol(v, &end, 10);
    if (end == v || *end != '\0' || n < lo || n > hi)
        return false;
    *out = n;
    return true;
}

int main(int argc, char **argv)
{
    /* An agent's environment first; the command line over it. */
    const char *env_url = getenv("RALLY_URL"), *env_fleet = getenv("GAMELIFT_SDK_FLEET_ID");
    struct rally_server_params p = {
        .url = env_url != NULL ? env_url : "http://127.0.0.1:8080",
        .fleet_id = env_fleet != NULL ? env_fleet : "fleet-local",
        .ip_address = getenv("RALLY_IP_ADDRESS") != NULL ? getenv("RALLY_IP_ADDRESS") : "127.0.0.1",
        .location = getenv("RALLY_LOCATION"),
        .process_id = getenv("GAMELIFT_SDK_PROCESS_ID"),
        .compute_name = getenv("GAMELIFT_SDK_HOST_ID")};
    /* An agent's process hosts one game session, then exits. */
    bool one_session = p.process_id != NULL;
    long heartbeat_ms = 1000, idle_seconds = 90, port = -1, max_players = 10;
    const char *backfill = NULL; /* a configuration: backfill a match a player leaves */
    bool ok = true;
    for (int i = 1; i < argc && ok; i += 2) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v != NULL && strcmp(argv[i], "--location") == 0)
            p.location = v;
        else if (v != NULL && strcmp(argv[i], "--port") == 0)
            ok = number(v, 0, 60000, &port);
        else if (v != NULL && strcmp(argv[i], "--url") == 0)
            p.url = v;
        else if (v != NULL && strcmp(argv[i], "--fleet") == 0)
            p.fleet_id = v;
        else if (v != NULL && strcmp(argv[i], "--ip") == 0)
            p.ip_address = v;
        else if (v != NULL && strcmp(argv[i], "--dns") == 0)
            p.dns_name = v;
        else if (v != NULL && strcmp(argv[i], "--max-players") == 0)
            ok = number(v, 1, 200, &max_players);
        else if (v != NULL && strcmp(argv[i], "--heartbeat-ms") == 0)
            ok = number(v, 50, 60000, &heartbeat_ms);
        else if (v != NULL && strcmp(argv[i], "--idle-seconds") == 0)
            ok = number(v, 1, 86400, &idle_seconds);
        else if (v != NULL && strcmp(argv[i], "--backfill") == 0)
            backfill = v;
        else
            ok = false;
    }
    const char *env_port = getenv("RALLY_PORT");
    if (ok && port < 0 && env_port != NULL)
        ok = number(env_port, 1, 60000, &port);
    else if (ok && port < 0 && one_session)
        port = 0; /* an agent's process without a port of its own */
    if (!ok || p.location == NULL || port < 0)
        return usage();
    p.max_players = (int)max_players;
    char secret[512];
    if (rally_server_read_secret(secret, sizeof(secret)) < 0) {
        say("RALLY_FLEET_SECRET_FILE must name the file with the fleet secret");
        return 2;
    }
    p.fleet_secret = secret;

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    int lfd = listen_on((int)port, &p.port);
    int listen_errno = errno;
    rally_server *s = lfd >= 0 ? rally_server_new(&p) : NULL;
    memset(secret, 0, sizeof(secret));
    if (lfd < 0 || s == NULL) {
        if (lfd < 0)
            say("cannot listen on port %ld: %s", port, strerror(listen_errno));
        else
            say("cannot start the server SDK");
        rally_server_free(s);
        if (lfd >= 0)
            close(lfd);
        curl_global_cleanup();
        return 1;
    }
    bool registered = false, active = false;
    char session[160] = "";
    double next_beat = 0, last_busy = now_s(), retry_pause = 0.5;
    size_t expected = 0;
    while (!stopping) {
        double now = now_s();
        if (!registered && now >= next_beat) {
            int rc = rally_server_process_ready(s);
            if (rc == RALLY_SERVER_OK) {
                registered = true;
                retry_pause = 0.5;
                say("process %s ready in %s on port %d", rally_server_process_id(s), p.location,
                    p.port);
            } else if (rc == RALLY_SERVER_E_REFUSED && one_session) {
                say("ProcessReady: %s (exiting: the agent launches another)",
                    rally_server_message(s));
                break;
            } else {
                say("ProcessReady: %s (retrying)", rally_server_message(s));
                next_beat = now + retry_pause;
                retry_pause = retry_pause < 8 ? retry_pause * 2 : 8;
            }
        }
        if (registered && now >= next_beat) {
            const struct rally_game_session *gs = NULL;
            int rc = rally_server_heartbeat(s, &gs);
            next_beat = now + (double)heartbeat_ms / 1000.0;
            if (rc == RALLY_SERVER_E_TERMINATED) {
                say("rally ended process %s; %s", rally_server_process_id(s),
                    one_session ? "exiting" : "registering again");
                close_all(s);
                world_close(world_now, false); /* no longer ours to write */
                world_now = NULL;
                registered = active = false;
                session[0] = '\0';
                stopping = one_session;
                continue;
            }
            if (rc != RALLY_SERVER_OK)
                say("heartbeat: %s", rally_server_message(s));
            /* TerminateGameSession (GameLift's OnProcessTerminate): the
             * players are let go and the process ends its game session. */
            if (rc == RALLY_SERVER_OK && gs != NULL && strcmp(gs->status, "TERMINATING") == 0) {
                say("game session %s: termination asked; ending", gs->game_session_arn);
                close_all(s);
                world_close(world_now, true); /* a world saves before it ends */
                world_now = NULL;
                if (rally_server_process_ending(s) != RALLY_SERVER_OK)
                    say("ProcessEnding: %s", rally_server_message(s));
                registered = active = false;
                session[0] = '\0';
                next_beat = 0;
                stopping = one_session;
                continue;
            }
            /* OnUpdateGameSession: a backfill seated new players. */
            if (rc == RALLY_SERVER_OK && gs != NULL && gs->update_reason != NULL &&
                strcmp(gs->game_session_id, session) == 0) {
                expected = expected_players(gs->matchmaker_data);
                game_heard(gs);
                say("game session %s updated (%s): %zu players in the match now",
                    gs->game_session_arn, gs->update_reason, expected);
            }
            if (rc == RALLY_SERVER_OK && gs != NULL && strcmp(gs->game_session_id, session) != 0) {
                snprintf(session, sizeof(session), "%s", gs->game_session_id);
                say("starting game session %s (%s)", gs->game_session_arn, gs->status);
                expected = expected_players(gs->matchmaker_data);
                joined = 0;
                game_over();
                game_heard(gs);
                world_close(world_now, false);
                if ((world_now = world_open(gs->game_session_data)) != NULL)
                    say("game session %s runs world %s", gs->game_session_arn, world_id(world_now));
                if (strcmp(gs->status, "ACTIVE") == 0 ||
                    rally_server_activate(s, session) == RALLY_SERVER_OK) {
                    active = true;
                    last_busy = now;
                } else {
                    say("ActivateGameSession: %s", rally_server_message(s));
                    session[0] = '\0';
                }
            }
        }
        /* A match is over when its last player left, or nobody came. A
         * world (a game session without MatchmakerData, from
         * CreateGameSession) lives until rally asks for it to end. */
        if (active && expected > 0 && admitted_count() == 0 &&
            now - last_busy > (double)idle_seconds) {
            say("game session %s over", session);
            close_all(s);
            if (rally_server_process_ending(s) != RALLY_SERVER_OK)
                say("ProcessEnding: %s", rally_server_message(s));
            registered = active = false;
            session[0] = '\0';
            next_beat = 0;
            stopping = one_session;
            continue;
        }

        struct pollfd fds[MAX_CLIENTS + 1];
        fds[0] = (struct pollfd){.fd = lfd, .events = POLLIN};
        for (size_t i = 0; i < nclients; i++)
            fds[i + 1] = (struct pollfd){.fd = clients[i].fd, .events = POLLIN};
        int wait_ms = (int)((next_beat - now_s()) * 1000);
        if (poll(fds, nclients + 1, wait_ms > 0 ? (wait_ms < 1000 ? wait_ms : 1000) : 0) < 0)
            continue; /* EINTR: a signal */
        size_t before = admitted_count();
        for (size_t i = nclients; i-- > 0;)
            if (fds[i + 1].revents != 0 && !read_client(s, i, active))
                drop(s, i);
        if (fds[0].revents & POLLIN) {
            int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0 && nclients < MAX_CLIENTS)
                clients[nclients++] = (struct client){.fd = fd};
            else if (fd >= 0)
                close(fd);
        }
        size_t after = admitted_count();
        if (after > 0)
            last_busy = now_s();
        if (active && after != before)
            follow_policy(s, after);
        if (active && after < before && backfill != NULL && game.matchmaker_data != NULL)
            request_backfill(s, backfill);
        if (active && before > 0 && after == 0 && expected > 0 && joined >= expected)
            last_busy = -1e9; /* everyone came and left: over now */
    }
    close_all(s);
    world_close(world_now, registered); /* stopped (a host drained): saved when it ran */
    world_now = NULL;
    if (registered && rally_server_process_ending(s) != RALLY_SERVER_OK)
        say("ProcessEnding: %s", rally_server_message(s));
    game_over();
    say("stopped");
    rally_server_free(s);
    close(lfd);
    curl_global_cleanup();
    return 0;
}
