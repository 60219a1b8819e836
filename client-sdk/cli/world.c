/* `rally world`: persistent worlds through the GameLift service API (world.h). */
#include "world.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "awskey.h"
#include "exits.h"
#include "rally/rally.h"
#include "seat.h"
#include "world_life.h"

/* One GameLift operation, signed; *out gets the answer's JSON (new
 * reference, also on a refusal). Returns 0, or an exit code after saying
 * what went wrong. */
static int call(const char *url, const struct aws_key *k, const char *operation, json_t *input,
                json_t **out)
{
    char *body = json_dumps(input, JSON_COMPACT);
    json_decref(input);
    long status = 0;
    CURLcode rc = body != NULL ? aws_exchange(url, k, "POST", "/", operation, body, &status, out)
                               : CURLE_OUT_OF_MEMORY;
    free(body);
    if (rc != CURLE_OK) {
        fprintf(stderr, "rally: %s: %s\n", operation, curl_easy_strerror(rc));
        return EXIT_NETWORK;
    }
    if (status == 200 && *out != NULL)
        return 0;
    const char *type = json_string_value(json_object_get(*out, "__type"));
    const char *why = json_string_value(json_object_get(*out, "message"));
    fprintf(stderr, "rally: %s: %s: %s\n", operation, type != NULL ? type : "error",
            why != NULL ? why : "no answer");
    if (type != NULL && strcmp(type, "NotFoundException") == 0)
        return EXIT_NOT_FOUND;
    if (type != NULL && (strstr(type, "Signature") != NULL || strstr(type, "Unrecognized") ||
                         strstr(type, "AccessDenied") != NULL))
        return EXIT_AUTH;
    if (type != NULL && (strstr(type, "Status") != NULL || strstr(type, "Full") != NULL ||
                         strstr(type, "Capacity") != NULL))
        return EXIT_CONFLICT;
    return EXIT_ERROR;
}

static void show_world(json_t *g, bool as_json)
{
    if (as_json) {
        char *text = json_dumps(g, JSON_COMPACT);
        printf("%s\n", text != NULL ? text : "{}");
        free(text);
        return;
    }
    const char *name = json_string_value(json_object_get(g, "Name"));
    printf("%s %s %s %lld/%lld %s:%lld%s%s\n", cli_text_of(g, "GameSessionId"),
           cli_text_of(g, "Status"), cli_text_of(g, "Location"),
           (long long)json_integer_value(json_object_get(g, "CurrentPlayerSessionCount")),
           (long long)json_integer_value(json_object_get(g, "MaximumPlayerSessionCount")),
           cli_text_of(g, "IpAddress"), (long long)json_integer_value(json_object_get(g, "Port")),
           name != NULL ? " " : "", name != NULL ? name : "");
}

static int create(const char *url, const struct aws_key *k, int argc, char **argv, bool as_json)
{
    static const char *const valued[] = {"--fleet", "--location", "--max",
                                         "--name",  "--property", NULL};
    static const char *const bare[] = {NULL};
    const char *fleet = cli_flag(argc, argv, "--fleet");
    if (fleet == NULL || !cli_flags_known(argc, argv, 0, valued, bare))
        return EXIT_USAGE;
    const char *max = cli_flag(argc, argv, "--max");
    json_t *in = json_pack("{s:s, s:I}", "FleetId", fleet, "MaximumPlayerSessionCount",
                           (json_int_t)(max != NULL ? strtol(max, NULL, 10) : 10));
    if (cli_flag(argc, argv, "--location") != NULL)
        json_object_set_new(in, "Location", json_string(cli_flag(argc, argv, "--location")));
    if (cli_flag(argc, argv, "--name") != NULL)
        json_object_set_new(in, "Name", json_string(cli_flag(argc, argv, "--name")));
    json_object_set_new(in, "GameProperties", cli_properties(argc, argv));
    json_t *out = NULL;
    int rc = call(url, k, "CreateGameSession", in, &out);
    if (rc == 0)
        show_world(json_object_get(out, "GameSession"), as_json);
    json_decref(out);
    return rc;
}

static int list(const char *url, const struct aws_key *k, int argc, char **argv, bool as_json)
{
    static const char *const valued[] = {"--fleet", "--location", "--status", NULL};
    static const char *const bare[] = {NULL};
    const char *fleet = cli_flag(argc, argv, "--fleet");
    if (fleet == NULL || !cli_flags_known(argc, argv, 0, valued, bare))
        return EXIT_USAGE;
    char *token = NULL;
    int rc = 0;
    do {
        json_t *in = json_pack("{s:s}", "FleetId", fleet);
        if (cli_flag(argc, argv, "--location") != NULL)
            json_object_set_new(in, "Location", json_string(cli_flag(argc, argv, "--location")));
        if (cli_flag(argc, argv, "--status") != NULL)
            json_object_set_new(in, "StatusFilter", json_string(cli_flag(argc, argv, "--status")));
        if (token != NULL)
            json_object_set_new(in, "NextToken", json_string(token));
        json_t *out = NULL;
        rc = call(url, k, "DescribeGameSessions", in, &out);
        free(token);
        token = NULL;
        size_t i;
        json_t *g;
        json_array_foreach(json_object_get(out, "GameSessions"), i, g)
        {
            show_world(g, as_json);
        }
        const char *next = json_string_value(json_object_get(out, "NextToken"));
        if (rc == 0 && next != NULL)
            token = strdup(next);
        json_decref(out);
    } while (token != NULL);
    return rc;
}

static int join(const char *url, const struct aws_key *k, int argc, char **argv, bool as_json)
{
    static const char *const valued[] = {"--player", "--data", NULL};
    static const char *const bare[] = {"--connect", NULL};
    const char *player = cli_flag(argc, argv, "--player");
    if (argc < 1 || player == NULL || !cli_flags_known(argc, argv, 1, valued, bare))
        return EXIT_USAGE;
    json_t *in = json_pack("{s:s, s:s}", "GameSessionId", argv[0], "PlayerId", player);
    if (cli_flag(argc, argv, "--data") != NULL)
        json_object_set_new(in, "PlayerData", json_string(cli_flag(argc, argv, "--data")));
    json_t *out = NULL;
    int rc = call(url, k, "CreatePlayerSession", in, &out);
    json_t *ps = json_object_get(out, "PlayerSession");
    if (rc == 0 && as_json) {
        char *text = json_dumps(ps, JSON_COMPACT);
        printf("%s\n", text != NULL ? text : "{}");
        free(text);
    } else if (rc == 0) {
        printf("%s %s:%lld\n", cli_text_of(ps, "PlayerSessionId"), cli_text_of(ps, "IpAddress"),
               (long long)json_integer_value(json_object_get(ps, "Port")));
    }
    if (rc == 0 && cli_has(argc, argv, "--connect")) {
        /* The sample game server's protocol, as `rally matchmake --connect`. */
        struct rally_ticket seat = {0};
        snprintf(seat.ip_address, sizeof(seat.ip_address), "%s", cli_text_of(ps, "IpAddress"));
        snprintf(seat.player_session_id, sizeof(seat.player_session_id), "%s",
                 cli_text_of(ps, "PlayerSessionId"));
        seat.port = (int)json_integer_value(json_object_get(ps, "Port"));
        char answer[256];
        if (rally_example_take_seat(&seat, answer, sizeof(answer)) < 0) {
            fprintf(stderr, "rally: cannot reach the game server at %s:%d\n", seat.ip_address,
                    seat.port);
            rc = EXIT_NETWORK;
        } else {
            printf("game server %s:%d says: %s\n", seat.ip_address, seat.port, answer);
            rc = strncmp(answer, "OK", 2) == 0 ? 0 : EXIT_CONFLICT;
        }
    }
    json_decref(out);
    return rc;
}

static int end(const char *url, const struct aws_key *k, int argc, char **argv, bool as_json)
{
    static const char *const valued[] = {NULL};
    static const char *const bare[] = {"--force", NULL};
    if (argc < 1 || !cli_flags_known(argc, argv, 1, valued, bare))
        return EXIT_USAGE;
    json_t *in = json_pack("{s:s, s:s}", "GameSessionId", argv[0], "TerminationMode",
                           cli_has(argc, argv, "--force") ? "FORCE_TERMINATE"
                                                          : "TRIGGER_ON_PROCESS_TERMINATE");
    json_t *out = NULL;
    int rc = call(url, k, "TerminateGameSession", in, &out);
    if (rc == 0)
        show_world(json_object_get(out, "GameSession"), as_json);
    json_decref(out);
    return rc;
}

int rally_world(const char *url, int argc, char **argv, bool as_json)
{
    struct aws_key k;
    if (argc < 1) {
        fprintf(stderr, "rally: world create|list|join|end (rally --help)\n");
        return EXIT_USAGE;
    }
    if (!aws_find_key(&k)) {
        fprintf(stderr, "rally: world needs an AWS access key: AWS_ACCESS_KEY_ID and "
                        "AWS_SECRET_ACCESS_KEY, or AWS_SHARED_CREDENTIALS_FILE (make run writes "
                        ".run/aws/credentials)\n");
        return EXIT_AUTH;
    }
    /* A world by name has a lifecycle (world_life.h); a game session's ARN
     * (or rally's gsess- id), or no name, is a world as a game session. */
    bool named = argc >= 2 && argv[1][0] != '-' && strncmp(argv[1], "arn:", 4) != 0 &&
                 strncmp(argv[1], "gsess-", 6) != 0;
    int rc = EXIT_USAGE, n = argc - 1;
    char **rest = argv + 1;
    if (strcmp(argv[0], "create") == 0)
        rc = named ? world_life_create(url, &k, n, rest, as_json)
                   : create(url, &k, n, rest, as_json);
    else if (strcmp(argv[0], "show") == 0)
        rc = world_life_show(url, &k, n, rest, as_json);
    else if (strcmp(argv[0], "list") == 0)
        rc = list(url, &k, n, rest, as_json);
    else if (strcmp(argv[0], "join") == 0)
        rc = named ? world_life_join(url, &k, n, rest, as_json) : join(url, &k, n, rest, as_json);
    else if (strcmp(argv[0], "end") == 0)
        rc = named ? world_life_end(url, &k, n, rest, as_json) : end(url, &k, n, rest, as_json);
    memset(&k, 0, sizeof(k));
    if (rc == EXIT_USAGE)
        fprintf(stderr,
                "rally: world create NAME --fleet ID [--location L] [--max N] [--idle-seconds S] "
                "[--property K=V]... | show NAME | join NAME --player ID [--data TEXT] "
                "[--connect] [--say LINE]... | end NAME\n"
                "       world create --fleet ID [--location L] [--max N] [--name NAME] "
                "[--property K=V]... | list --fleet ID [--location L] [--status S] | "
                "join ARN --player ID [--data TEXT] [--connect] | end ARN [--force]\n");
    return rc;
}
