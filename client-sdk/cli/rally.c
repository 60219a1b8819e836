/*
 * rally: drive rally from a shell, on the client SDK (include/rally/rally.h).
 *
 *   rally [--url URL] [--credentials PATH] [--json] [--no-push] [--timeout SECONDS] COMMAND
 *
 *   login                          log in as the saved guest, or a new one (saved)
 *   matchmake [--config NAME] [--latency REGION=MS]... [--wait [--connect]]
 *                                  start matchmaking; --wait: until it ends;
 *                                  --connect: then take the seat on the sample
 *                                  game server (examples/seat.h)
 *   ticket ID                      show a ticket
 *   wait ID                        wait until the ticket ends (push, else polling)
 *   cancel ID                      stop matchmaking
 *   accept ID [--reject]           answer a proposed match
 *   latency REGION=HOST:PORT...    measure the latency to each region's endpoint
 *
 * Server side (a fleet's token: $RALLY_FLEET_ID, default fleet-local, and
 * the secret in the file $RALLY_FLEET_SECRET_FILE names); each prints rally's
 * JSON answer:
 *   server describe ID...          DescribeMatchmaking
 *   server explain ID              why a searching ticket has not matched
 *   server stop ID                 StopMatchmaking of any ticket
 *   server start --config NAME --player ID[:REGION=MS,...]...
 *                                  StartMatchmaking for a party
 *
 * Persistent worlds, with an AWS access key (awskey.h says where it comes
 * from). By name, with a lifecycle (docs/worlds.md):
 *   world create NAME --fleet ID [--location L] [--max N] [--idle-seconds S]
 *   world show NAME                its game session now, its newest save
 *   world join NAME --player ID [--connect] [--say LINE]...
 *                                  a seat (its game session started when none
 *                                  runs); --say: lines for the sample server
 *   world end NAME                 ends it (saved first) until a player joins
 * As bare game sessions, through the GameLift service API:
 *   world create --fleet ID [--location L] [--max N] [--name NAME] [--property K=V]...
 *   world list --fleet ID [--location L] [--status STATUS]
 *   world join ARN --player ID [--data TEXT] [--connect]
 *                                  a seat; --connect: take it on the sample server
 *   world end ARN [--force]        TerminateGameSession (--force: FORCE_TERMINATE)
 *
 * Realtime (rt.h says more): a player on a relay server, commands on stdin:
 *   rt connect HOST:PORT PLAYER_SESSION_ID [--payload TEXT] [--tcp-only] [--tls [--ca FILE]]
 *
 * Defaults: --url $RALLY_URL or http://127.0.0.1:8080; --credentials
 * $RALLY_CREDENTIALS or ~/.rally-guest.json; --timeout 120.
 *
 * Output: a line for people, or with --json the JSON of the result.
 * Exit codes: 0 done (for matchmake --wait and wait: COMPLETED), 1 error,
 * 2 usage, 3 credentials refused, 4 no such ticket, 5 conflict (an active
 * ticket, a state that forbids it), 6 the match was not made (FAILED,
 * CANCELLED, TIMED_OUT) or the deadline passed, 7 rally unreachable.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exits.h"
#include "rally/rally.h"
#include "rally_server.h"
#include "rt.h"
#include "seat.h"
#include "world.h"

static bool as_json;

static int usage(void)
{
    fprintf(stderr,
            "usage: rally [--url URL] [--credentials PATH] [--json] [--no-push] [--timeout S] "
            "COMMAND\n"
            "  login\n"
            "  matchmake [--config NAME] [--latency REGION=MS]... [--wait [--connect]]\n"
            "  ticket ID | wait ID | cancel ID | accept ID [--reject]\n"
            "  latency REGION=HOST:PORT...\n"
            "  server describe ID... | explain ID | stop ID\n"
            "  server start --config NAME --player ID[:REGION=MS,...]...\n"
            "  world create NAME --fleet ID [--location L] [--max N] [--idle-seconds S]\n"
            "  world show NAME | world end NAME\n"
            "  world join NAME --player ID [--connect] [--say LINE]...\n"
            "  world create --fleet ID [--location L] [--max N] [--name NAME] "
            "[--property K=V]...\n"
            "  world list --fleet ID [--location L] [--status STATUS]\n"
            "  world join ARN --player ID [--data TEXT] [--connect] | world end ARN "
            "[--force]\n"
            "  rt connect HOST:PORT PLAYER_SESSION_ID [--payload TEXT] [--tcp-only] "
            "[--tls [--ca FILE]]\n");
    return EXIT_USAGE;
}

static int exit_code(rally_status rc)
{
    switch (rc) {
    case RALLY_OK: return 0;
    case RALLY_E_AUTH: return EXIT_AUTH;
    case RALLY_E_NOT_FOUND: return EXIT_NOT_FOUND;
    case RALLY_E_CONFLICT: return EXIT_CONFLICT;
    case RALLY_E_TIMEOUT: return EXIT_NOT_MADE;
    case RALLY_E_NETWORK: return EXIT_NETWORK;
    case RALLY_E_ARGUMENT: return EXIT_USAGE;
    default: return EXIT_ERROR;
    }
}

static int report_error(rally_client *c, rally_status rc)
{
    if (as_json) {
        json_t *j = json_pack("{s:s, s:s}", "error", rally_status_name(rc), "message",
                              rally_error_message(c));
        json_dumpf(j, stdout, JSON_COMPACT);
        printf("\n");
        json_decref(j);
    } else {
        fprintf(stderr, "rally: %s\n", rally_error_message(c));
    }
    return exit_code(rc);
}

static json_t *ticket_json(const struct rally_ticket *t)
{
    json_t *j = json_pack("{s:s, s:s, s:s}", "TicketId", t->ticket_id, "ConfigurationName",
                          t->configuration, "Status", t->status);
    if (t->status_reason[0])
        json_object_set_new(j, "StatusReason", json_string(t->status_reason));
    if (t->status_message[0])
        json_object_set_new(j, "StatusMessage", json_string(t->status_message));
    if (t->estimated_wait_seconds >= 0)
        json_object_set_new(j, "EstimatedWaitTime", json_integer(t->estimated_wait_seconds));
    if (t->ip_address[0]) {
        json_object_set_new(j, "IpAddress", json_string(t->ip_address));
        json_object_set_new(j, "DnsName", json_string(t->dns_name));
        json_object_set_new(j, "Port", json_integer(t->port));
        json_object_set_new(j, "GameSessionArn", json_string(t->game_session_arn));
        json_object_set_new(j, "PlayerSessionId", json_string(t->player_session_id));
    }
    return j;
}

static void show_ticket(const struct rally_ticket *t)
{
    if (as_json) {
        json_t *j = ticket_json(t);
        json_dumpf(j, stdout, JSON_COMPACT);
        printf("\n");
        json_decref(j);
        return;
    }
    printf("ticket %s: %s", t->ticket_id, t->status);
    if (t->status_message[0])
        printf(" (%s)", t->status_message);
    if (t->ip_address[0])
        printf("; connect to %s:%d (%s) with player session %s", t->ip_address, t->port,
               t->dns_name, t->player_session_id);
    else if (t->estimated_wait_seconds >= 0)
        printf("; estimated wait %ld s", t->estimated_wait_seconds);
    printf("\n");
}

/* A terminal status other than COMPLETED: the match was not made. */
static int outcome(const struct rally_ticket *t)
{
    if (strcmp(t->status, "COMPLETED") == 0 || strcmp(t->status, "REQUIRES_ACCEPTANCE") == 0)
        return 0;
    return EXIT_NOT_MADE;
}

static int on_update(void *ctx, const struct rally_ticket *t)
{
    (void)ctx;
    if (!as_json)
        fprintf(stderr, "rally: %s %s\n", t->ticket_id, t->status);
    return 0;
}

static int wait_for(rally_client *c, const char *id, long timeout_s, bool connect)
{
    struct rally_ticket t = {0};
    rally_status rc = rally_wait_for_match(c, id, timeout_s * 1000, &t, on_update, NULL);
    if (rc != RALLY_OK)
        return report_error(c, rc);
    show_ticket(&t);
    if (!connect || outcome(&t) != 0 || t.ip_address[0] == '\0')
        return outcome(&t);
    char answer[300];
    if (rally_example_take_seat(&t, answer, sizeof(answer)) < 0) {
        fprintf(stderr, "rally: could not reach the game server at %s:%d\n", t.ip_address, t.port);
        return EXIT_NETWORK;
    }
    printf("game server %s:%d says: %s\n", t.ip_address, t.port, answer);
    return strncmp(answer, "OK ", 3) == 0 ? 0 : EXIT_ERROR;
}

static int matchmake(rally_client *c, int argc, char **argv, long timeout_s)
{
    const char *config = NULL;
    bool wait = false, connect = false;
    struct rally_latency lat[32];
    char regions[32][65];
    size_t n = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config = argv[++i];
        } else if (strcmp(argv[i], "--wait") == 0) {
            wait = true;
        } else if (strcmp(argv[i], "--connect") == 0) {
            connect = true;
        } else if (strcmp(argv[i], "--latency") == 0 && i + 1 < argc && n < 32) {
            const char *v = argv[++i], *eq = strchr(v, '=');
            char *end = NULL;
            long ms = eq != NULL ? strtol(eq + 1, &end, 10) : 0;
            if (eq == NULL || eq == v || (size_t)(eq - v) >= sizeof(regions[0]) || *end != '\0' ||
                ms < 1 || ms > 100000)
                return usage();
            snprintf(regions[n], sizeof(regions[n]), "%.*s", (int)(eq - v), v);
            lat[n] = (struct rally_latency){regions[n], (int)ms};
            n++;
        } else {
            return usage();
        }
    }
    if (n == 0)
        return usage();
    rally_status rc = rally_login_guest(c);
    struct rally_ticket t = {0};
    if (rc == RALLY_OK)
        rc = rally_start_matchmaking(c, config, lat, n, &t);
    if (rc == RALLY_E_CONFLICT && t.ticket_id[0] && !as_json)
        fprintf(stderr, "rally: ticket %s is still active (rally cancel %s)\n", t.ticket_id,
                t.ticket_id);
    if (rc != RALLY_OK)
        return report_error(c, rc);
    if (!wait) {
        show_ticket(&t);
        return 0;
    }
    if (!as_json)
        fprintf(stderr, "rally: %s %s\n", t.ticket_id, t.status);
    return wait_for(c, t.ticket_id, timeout_s, connect);
}

static int latency(rally_client *c, int argc, char **argv)
{
    const char *regions[32], *endpoints[32];
    char names[32][65];
    size_t n = 0;
    for (int i = 0; i < argc && n < 32; i++) {
        const char *eq = strchr(argv[i], '=');
        if (eq == NULL || eq == argv[i] || (size_t)(eq - argv[i]) >= sizeof(names[0]))
            return usage();
        snprintf(names[n], sizeof(names[n]), "%.*s", (int)(eq - argv[i]), argv[i]);
        regions[n] = names[n];
        endpoints[n] = eq + 1;
        n++;
    }
    if (n == 0)
        return usage();
    struct rally_latency out[32];
    rally_status rc = rally_measure_latency(c, regions, endpoints, n, 3, out);
    if (rc != RALLY_OK)
        return report_error(c, rc);
    json_t *j = json_object();
    for (size_t i = 0; i < n; i++) {
        json_object_set_new(j, out[i].region,
                            out[i].ms >= 0 ? json_integer(out[i].ms) : json_null());
        if (!as_json && out[i].ms >= 0)
            printf("%s %d ms\n", out[i].region, out[i].ms);
        else if (!as_json)
            printf("%s unreachable\n", out[i].region);
    }
    if (as_json) {
        json_dumpf(j, stdout, JSON_COMPACT);
        printf("\n");
    }
    json_decref(j);
    return 0;
}

/* "ID" or "ID:REGION=MS,REGION=MS" into a GameLift Player object. */
static json_t *party_player(const char *spec)
{
    const char *colon = strchr(spec, ':');
    json_t *p = json_object();
    json_object_set_new(p, "PlayerId",
                        colon ? json_stringn(spec, (size_t)(colon - spec)) : json_string(spec));
    if (colon == NULL)
        return p;
    json_t *lat = json_object();
    char copy[512];
    snprintf(copy, sizeof(copy), "%s", colon + 1);
    char *save = NULL;
    for (char *kv = strtok_r(copy, ",", &save); kv != NULL; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (eq == NULL) {
            json_decref(lat);
            json_decref(p);
            return NULL;
        }
        *eq = '\0';
        json_object_set_new(lat, kv, json_integer(strtol(eq + 1, NULL, 10)));
    }
    json_object_set_new(p, "LatencyInMs", lat);
    return p;
}

static int server(const char *url, int argc, char **argv)
{
    const char *fleet = getenv("RALLY_FLEET_ID") ? getenv("RALLY_FLEET_ID") : "fleet-local";
    const char *path = getenv("RALLY_FLEET_SECRET_FILE");
    char secret[512] = "";
    FILE *f = path != NULL ? fopen(path, "r") : NULL;
    if (f == NULL) {
        fprintf(stderr, "rally: server commands need RALLY_FLEET_SECRET_FILE (the fleet secret)\n");
        return EXIT_USAGE;
    }
    size_t n = fread(secret, 1, sizeof(secret) - 1, f);
    fclose(f);
    while (n > 0 && (secret[n - 1] == '\n' || secret[n - 1] == ' '))
        n--;
    secret[n] = '\0';
    if (argc < 1)
        return usage();
    json_t *body = NULL;
    const char *route = NULL;
    if (strcmp(argv[0], "describe") == 0 && argc >= 2) {
        json_t *ids = json_array();
        for (int i = 1; i < argc; i++)
            json_array_append_new(ids, json_string(argv[i]));
        body = json_pack("{s:o}", "TicketIds", ids);
        route = "/v1/fleet/matchmaking/describe";
    } else if ((strcmp(argv[0], "explain") == 0 || strcmp(argv[0], "stop") == 0) && argc == 2) {
        body = json_pack("{s:s}", "TicketId", argv[1]);
        route = strcmp(argv[0], "stop") == 0 ? "/v1/fleet/matchmaking/stop"
                                             : "/v1/fleet/matchmaking/explain";
    } else if (strcmp(argv[0], "start") == 0) {
        json_t *players = json_array();
        const char *config = NULL;
        for (int i = 1; i + 1 < argc; i += 2) {
            json_t *p = strcmp(argv[i], "--player") == 0 ? party_player(argv[i + 1]) : NULL;
            if (strcmp(argv[i], "--config") == 0)
                config = argv[i + 1];
            else if (p != NULL)
                json_array_append_new(players, p);
            else
                config = NULL, i = argc; /* usage below */
        }
        if (config != NULL && json_array_size(players) > 0 && argc % 2 == 1)
            body = json_pack("{s:s, s:o}", "ConfigurationName", config, "Players", players);
        else
            json_decref(players);
        route = "/v1/fleet/matchmaking/start";
    }
    if (body == NULL) {
        memset(secret, 0, sizeof(secret));
        return usage();
    }
    rally_server *s = rally_server_new(
        &(struct rally_server_params){.url = url, .fleet_id = fleet, .fleet_secret = secret});
    memset(secret, 0, sizeof(secret));
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    const char *answer = "";
    int rc =
        s != NULL ? rally_server_request(s, "POST", route, text, &answer) : RALLY_SERVER_E_ARGUMENT;
    free(text);
    if (answer[0])
        printf("%s\n", answer);
    if (rc != RALLY_SERVER_OK)
        fprintf(stderr, "rally: %s\n", rally_server_message(s));
    rally_server_free(s);
    switch (rc) {
    case RALLY_SERVER_OK: return 0;
    case RALLY_SERVER_E_AUTH: return EXIT_AUTH;
    case RALLY_SERVER_E_NOT_FOUND: return EXIT_NOT_FOUND;
    case RALLY_SERVER_E_TRANSPORT: return EXIT_NETWORK;
    case RALLY_SERVER_E_ARGUMENT: return EXIT_USAGE;
    default: return EXIT_ERROR;
    }
}

int main(int argc, char **argv)
{
    const char *url = getenv("RALLY_URL") ? getenv("RALLY_URL") : "http://127.0.0.1:8080";
    const char *creds = getenv("RALLY_CREDENTIALS");
    char home_creds[4096];
    bool no_push = false;
    long timeout_s = 120;
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--json") == 0)
            as_json = true;
        else if (strcmp(argv[i], "--no-push") == 0)
            no_push = true;
        else if (strcmp(argv[i], "--url") == 0 && i + 1 < argc)
            url = argv[++i];
        else if (strcmp(argv[i], "--credentials") == 0 && i + 1 < argc)
            creds = argv[++i];
        else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
            timeout_s = strtol(argv[++i], NULL, 10);
        else
            return usage();
    }
    if (i >= argc || timeout_s < 1)
        return usage();
    if (creds == NULL && getenv("HOME") != NULL) {
        snprintf(home_creds, sizeof(home_creds), "%s/.rally-guest.json", getenv("HOME"));
        creds = home_creds;
    }
    rally_global_init();
    if (strcmp(argv[i], "server") == 0)
        return server(url, argc - i - 1, argv + i + 1);
    if (strcmp(argv[i], "world") == 0)
        return rally_world(url, argc - i - 1, argv + i + 1, as_json);
    if (strcmp(argv[i], "rt") == 0)
        return rally_rt_command(argc - i - 1, argv + i + 1, as_json);
    rally_client *c = rally_client_new(
        &(struct rally_options){.url = url, .credentials_path = creds, .no_push = no_push});
    if (c == NULL) {
        fprintf(stderr, "rally: cannot start a client for %s\n", url);
        return EXIT_ERROR;
    }
    const char *cmd = argv[i++];
    const char *id = i < argc ? argv[i] : NULL;
    int rc = EXIT_USAGE;
    rally_status st = RALLY_OK;
    struct rally_ticket t = {0};
    if (strcmp(cmd, "login") == 0 && i == argc) {
        st = rally_login_guest(c);
        if (st == RALLY_OK && as_json)
            printf("{\"PlayerId\":\"%s\"}\n", rally_player_id(c));
        else if (st == RALLY_OK)
            printf("logged in as %s\n", rally_player_id(c));
        rc = st == RALLY_OK ? 0 : report_error(c, st);
    } else if (strcmp(cmd, "matchmake") == 0) {
        rc = matchmake(c, argc - i, argv + i, timeout_s);
    } else if (strcmp(cmd, "latency") == 0) {
        rc = latency(c, argc - i, argv + i);
    } else if (id != NULL && (strcmp(cmd, "ticket") == 0 || strcmp(cmd, "wait") == 0 ||
                              strcmp(cmd, "cancel") == 0 || strcmp(cmd, "accept") == 0)) {
        bool reject = i + 1 < argc && strcmp(argv[i + 1], "--reject") == 0;
        bool extra = i + 1 < argc && !(strcmp(cmd, "accept") == 0 && reject && i + 2 == argc);
        if (extra) {
            rc = usage();
        } else if ((st = rally_login_guest(c)) != RALLY_OK) {
            rc = report_error(c, st);
        } else if (strcmp(cmd, "ticket") == 0) {
            st = rally_get_ticket(c, id, &t);
            if (st == RALLY_OK)
                show_ticket(&t);
            rc = st == RALLY_OK ? 0 : report_error(c, st);
        } else if (strcmp(cmd, "wait") == 0) {
            rc = wait_for(c, id, timeout_s, false);
        } else {
            st = strcmp(cmd, "cancel") == 0 ? rally_cancel_ticket(c, id)
                                            : rally_accept_match(c, id, !reject);
            if (st == RALLY_OK && as_json)
                printf("{}\n");
            else if (st == RALLY_OK)
                printf("%s: done\n", cmd);
            rc = st == RALLY_OK ? 0 : report_error(c, st);
        }
    } else {
        rc = usage();
    }
    rally_client_free(c);
    return rc;
}
