/* `rally world` for worlds with a lifecycle (world_life.h). */
#include "world_life.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "args.h"
#include "exits.h"
#include "seat.h"

/* How long `world join` waits for the world's game session to start. */
#define JOIN_WAIT_S 60

/* One signed call to a world's route; *status is its HTTP status. The
 * answer (new reference) or NULL; a failure is said on stderr. */
static json_t *world_call(const char *url, const struct aws_key *k, const char *method,
                          const char *name, const char *suffix, json_t *body, long *status)
{
    char path[512], *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    json_t *out = NULL;
    json_decref(body);
    snprintf(path, sizeof(path), "/v1/worlds/%s%s", name, suffix);
    CURLcode rc = aws_exchange(url, k, method, path, NULL, text, status, &out);
    free(text);
    if (rc != CURLE_OK)
        fprintf(stderr, "rally: %s: %s\n", path, curl_easy_strerror(rc));
    else if (*status >= 400)
        fprintf(stderr, "rally: %s: %s: %s\n", path, cli_text_of(out, "error"),
                cli_text_of(out, "message"));
    return out;
}

/* The CLI's exit code for a call's status. */
static int exit_for(long status)
{
    return status >= 200 && status < 300    ? 0
           : status == 0                    ? EXIT_NETWORK
           : status == 401 || status == 403 ? EXIT_AUTH
           : status == 404                  ? EXIT_NOT_FOUND
           : status == 409                  ? EXIT_CONFLICT
                                            : EXIT_ERROR;
}

static void print_json(json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT);
    printf("%s\n", text != NULL ? text : "{}");
    free(text);
}

int world_life_create(const char *url, const struct aws_key *k, int argc, char **argv, bool as_json)
{
    static const char *const valued[] = {"--fleet",        "--location", "--max",
                                         "--idle-seconds", "--property", NULL};
    static const char *const bare[] = {NULL};
    const char *fleet = cli_flag(argc, argv, "--fleet");
    if (argc < 1 || fleet == NULL || !cli_flags_known(argc, argv, 1, valued, bare))
        return EXIT_USAGE;
    json_t *in =
        json_pack("{s:s, s:o}", "fleetId", fleet, "gameProperties", cli_properties(argc, argv));
    if (cli_flag(argc, argv, "--location") != NULL)
        json_object_set_new(in, "location", json_string(cli_flag(argc, argv, "--location")));
    if (cli_flag(argc, argv, "--max") != NULL)
        json_object_set_new(in, "maxPlayers",
                            json_integer(strtol(cli_flag(argc, argv, "--max"), NULL, 10)));
    if (cli_flag(argc, argv, "--idle-seconds") != NULL)
        json_object_set_new(in, "idleSeconds",
                            json_integer(strtol(cli_flag(argc, argv, "--idle-seconds"), NULL, 10)));
    long status = 0;
    json_t *out = world_call(url, k, "PUT", argv[0], "", in, &status);
    if (status == 200 || status == 201) {
        if (as_json)
            print_json(out);
        else
            printf("world %s on fleet %s %s\n", argv[0], fleet,
                   status == 201 ? "created" : "updated");
    }
    json_decref(out);
    return exit_for(status);
}

int world_life_show(const char *url, const struct aws_key *k, int argc, char **argv, bool as_json)
{
    if (argc != 1)
        return EXIT_USAGE;
    long status = 0;
    json_t *w = world_call(url, k, "GET", argv[0], "", NULL, &status);
    char save[24] = "none";
    if (json_is_integer(json_object_get(w, "saveVersion")))
        snprintf(save, sizeof(save), "%lld",
                 (long long)json_integer_value(json_object_get(w, "saveVersion")));
    if (status == 200 && as_json)
        print_json(w);
    else if (status == 200)
        printf("%s %s sessions=%lld players=%lld %s:%lld save=%s%s\n", argv[0],
               json_object_get(w, "status") != NULL ? cli_text_of(w, "status") : "NONE",
               (long long)json_integer_value(json_object_get(w, "sessions")),
               (long long)json_integer_value(json_object_get(w, "playerSessions")),
               cli_text_of(w, "ipAddress"),
               (long long)json_integer_value(json_object_get(w, "port")), save,
               json_is_true(json_object_get(w, "running")) ? "" : " (ended)");
    json_decref(w);
    return exit_for(status);
}

/* Takes the seat on the sample server and says each --say line. */
static int play(json_t *ps, int argc, char **argv)
{
    struct rally_ticket seat = {0};
    char *lines[64], answer[256];
    size_t n = 0;
    for (int i = 0; i + 1 < argc && n < 64; i++)
        if (strcmp(argv[i], "--say") == 0)
            lines[n++] = argv[i + 1];
    snprintf(seat.ip_address, sizeof(seat.ip_address), "%s", cli_text_of(ps, "IpAddress"));
    snprintf(seat.player_session_id, sizeof(seat.player_session_id), "%s",
             cli_text_of(ps, "PlayerSessionId"));
    seat.port = (int)json_integer_value(json_object_get(ps, "Port"));
    printf("game server %s:%d says: ", seat.ip_address, seat.port);
    fflush(stdout);
    if (rally_example_play(&seat, lines, n, answer, sizeof(answer), stdout) < 0) {
        printf("nothing\n");
        return EXIT_NETWORK;
    }
    return strncmp(answer, "OK", 2) == 0 ? 0 : EXIT_CONFLICT;
}

/* A seat in the world (and, with --connect or --say, taken): 0, or the exit
 * code. */
static int join_once(const char *url, const struct aws_key *k, int argc, char **argv, bool as_json)
{
    const char *player = cli_flag(argc, argv, "--player");
    long status = 0;
    json_t *out = NULL;
    /* 202 while its game session starts (or ends, before the next), 503
     * while no process of its fleet is free: asked again. */
    for (time_t until = time(NULL) + JOIN_WAIT_S;;) {
        json_t *in = json_pack("{s:s}", "playerId", player);
        if (cli_flag(argc, argv, "--data") != NULL)
            json_object_set_new(in, "playerData", json_string(cli_flag(argc, argv, "--data")));
        json_decref(out);
        out = world_call(url, k, "POST", argv[0], "/join", in, &status);
        if ((status != 202 && status != 503) || time(NULL) >= until)
            break;
        if (status == 202 && !as_json)
            fprintf(stderr, "world %s: game session %s\n", argv[0], cli_text_of(out, "status"));
        struct timespec pause = {0, 500 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    json_t *ps = json_object_get(out, "playerSession");
    int rc = status == 200 ? 0 : status == 202 || status == 503 ? EXIT_NETWORK : exit_for(status);
    if (rc == 0 && as_json)
        print_json(ps);
    else if (rc == 0)
        printf("%s %s:%lld\n", cli_text_of(ps, "PlayerSessionId"), cli_text_of(ps, "IpAddress"),
               (long long)json_integer_value(json_object_get(ps, "Port")));
    if (rc == 0 && (cli_has(argc, argv, "--connect") || cli_flag(argc, argv, "--say") != NULL))
        rc = play(ps, argc, argv);
    json_decref(out);
    return rc;
}

int world_life_join(const char *url, const struct aws_key *k, int argc, char **argv, bool as_json)
{
    static const char *const valued[] = {"--player", "--data", "--say", NULL};
    static const char *const bare[] = {"--connect", NULL};
    if (argc < 1 || cli_flag(argc, argv, "--player") == NULL ||
        !cli_flags_known(argc, argv, 1, valued, bare))
        return EXIT_USAGE;
    /* A seat its server refuses, or a server gone: the world's game session
     * has just crashed and rally has not heard yet. It will, and start the
     * world again: join once more, as a game client would. */
    int rc = join_once(url, k, argc, argv, as_json);
    for (int again = 0; again < 10 && (rc == EXIT_CONFLICT || rc == EXIT_NETWORK) &&
                        (cli_has(argc, argv, "--connect") || cli_flag(argc, argv, "--say"));
         again++) {
        fprintf(stderr, "world %s: its server did not take the seat; joining again\n", argv[0]);
        struct timespec pause = {1, 0};
        nanosleep(&pause, NULL);
        rc = join_once(url, k, argc, argv, as_json);
    }
    return rc;
}

int world_life_end(const char *url, const struct aws_key *k, int argc, char **argv, bool as_json)
{
    if (argc != 1)
        return EXIT_USAGE;
    long status = 0;
    json_t *out = world_call(url, k, "POST", argv[0], "/stop", NULL, &status);
    if ((status == 200 || status == 202) && as_json)
        print_json(out);
    else if (status == 200 || status == 202)
        printf("world %s: %s\n", argv[0],
               status == 202 ? "ending (its server saves it first)" : "ended");
    json_decref(out);
    return exit_for(status);
}
