/* `rally world`: persistent worlds through the GameLift service API (world.h). */
#include "world.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exits.h"
#include "rally/rally.h"
#include "seat.h"

/* An AWS access key and where it signs. */
struct aws_key {
    char id[256], secret[256], region[64];
};

/* Strips trailing whitespace; returns s. */
static char *trim(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

/* The key of `profile` in an AWS CLI credentials file; false without one. */
static bool key_from_file(const char *path, const char *profile, struct aws_key *k)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    char line[1024], section[256] = "";
    while (fgets(line, sizeof(line), f) != NULL) {
        char *l = trim(line);
        while (*l == ' ' || *l == '\t')
            l++;
        if (*l == '[') {
            snprintf(section, sizeof(section), "%s", l + 1);
            char *end = strchr(section, ']');
            if (end != NULL)
                *end = '\0';
            continue;
        }
        char *eq = strchr(l, '=');
        if (eq == NULL || strcmp(section, profile) != 0)
            continue;
        *eq = '\0';
        char *value = eq + 1;
        while (*value == ' ')
            value++;
        if (strcmp(trim(l), "aws_access_key_id") == 0)
            snprintf(k->id, sizeof(k->id), "%s", value);
        else if (strcmp(trim(l), "aws_secret_access_key") == 0)
            snprintf(k->secret, sizeof(k->secret), "%s", value);
    }
    fclose(f);
    return k->id[0] != '\0' && k->secret[0] != '\0';
}

/* The key the AWS CLI would use (world.h); false without one. */
static bool find_key(struct aws_key *k)
{
    memset(k, 0, sizeof(*k));
    const char *region = getenv("AWS_REGION");
    if (region == NULL || *region == '\0')
        region = getenv("AWS_DEFAULT_REGION");
    snprintf(k->region, sizeof(k->region), "%s", region != NULL ? region : "us-east-1");
    const char *id = getenv("AWS_ACCESS_KEY_ID"), *secret = getenv("AWS_SECRET_ACCESS_KEY");
    if (id != NULL && secret != NULL) {
        snprintf(k->id, sizeof(k->id), "%s", id);
        snprintf(k->secret, sizeof(k->secret), "%s", secret);
        return true;
    }
    const char *profile = getenv("AWS_PROFILE");
    if (profile == NULL || *profile == '\0')
        profile = "default";
    const char *file = getenv("AWS_SHARED_CREDENTIALS_FILE"), *home = getenv("HOME");
    char path[4096];
    if (file != NULL)
        snprintf(path, sizeof(path), "%s", file);
    else if (home != NULL)
        snprintf(path, sizeof(path), "%s/.aws/credentials", home);
    else
        return false;
    return key_from_file(path, profile, k);
}

static size_t collect(char *data, size_t size, size_t n, void *ctx)
{
    struct {
        char *buf;
        size_t len;
    } *out = ctx;
    char *grown = realloc(out->buf, out->len + size * n + 1);
    if (grown == NULL)
        return 0;
    out->buf = grown;
    memcpy(out->buf + out->len, data, size * n);
    out->len += size * n;
    out->buf[out->len] = '\0';
    return size * n;
}

/* One GameLift operation, signed; *out gets the answer's JSON (new
 * reference, also on a refusal). Returns 0, or an exit code after saying
 * what went wrong. */
static int call(const char *url, const struct aws_key *k, const char *operation, json_t *input,
                json_t **out)
{
    char *body = json_dumps(input, JSON_COMPACT);
    json_decref(input);
    struct {
        char *buf;
        size_t len;
    } answer = {NULL, 0};
    char target[128], sigv4[128], endpoint[2048];
    snprintf(target, sizeof(target), "X-Amz-Target: GameLift.%s", operation);
    snprintf(sigv4, sizeof(sigv4), "aws:amz:%s:gamelift", k->region);
    snprintf(endpoint, sizeof(endpoint), "%s/", url);
    struct curl_slist *headers = curl_slist_append(NULL, target);
    headers = curl_slist_append(headers, "Content-Type: application/x-amz-json-1.1");
    CURL *h = curl_easy_init();
    long status = 0;
    CURLcode rc = CURLE_FAILED_INIT;
    if (h != NULL && body != NULL) {
        curl_easy_setopt(h, CURLOPT_URL, endpoint);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_AWS_SIGV4, sigv4);
        curl_easy_setopt(h, CURLOPT_USERNAME, k->id);
        curl_easy_setopt(h, CURLOPT_PASSWORD, k->secret);
        curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &answer);
        rc = curl_easy_perform(h);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    }
    curl_easy_cleanup(h);
    curl_slist_free_all(headers);
    free(body);
    *out = answer.buf != NULL ? json_loads(answer.buf, 0, NULL) : NULL;
    free(answer.buf);
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

/* The value after flag `name` in argv, or NULL. */
static const char *flag(int argc, char **argv, const char *name)
{
    for (int i = 0; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return NULL;
}

static bool has(int argc, char **argv, const char *name)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return true;
    return false;
}

/* True when every argument is a known flag (with its value when it takes
 * one), after `skip` positional ones. */
static bool flags_known(int argc, char **argv, int skip, const char *const *valued,
                        const char *const *bare)
{
    for (int i = skip; i < argc; i++) {
        bool ok = false;
        for (const char *const *v = valued; *v != NULL && !ok; v++)
            if (strcmp(argv[i], *v) == 0 && i + 1 < argc)
                ok = true, i++;
        for (const char *const *b = bare; *b != NULL && !ok; b++)
            ok = strcmp(argv[i], *b) == 0;
        if (!ok)
            return false;
    }
    return true;
}

/* A string member, "" when absent. */
static const char *text_of(json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v != NULL ? v : "";
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
    printf("%s %s %s %lld/%lld %s:%lld%s%s\n", text_of(g, "GameSessionId"), text_of(g, "Status"),
           text_of(g, "Location"),
           (long long)json_integer_value(json_object_get(g, "CurrentPlayerSessionCount")),
           (long long)json_integer_value(json_object_get(g, "MaximumPlayerSessionCount")),
           text_of(g, "IpAddress"), (long long)json_integer_value(json_object_get(g, "Port")),
           name != NULL ? " " : "", name != NULL ? name : "");
}

static int create(const char *url, const struct aws_key *k, int argc, char **argv, bool as_json)
{
    static const char *const valued[] = {"--fleet", "--location", "--max",
                                         "--name",  "--property", NULL};
    static const char *const bare[] = {NULL};
    const char *fleet = flag(argc, argv, "--fleet");
    if (fleet == NULL || !flags_known(argc, argv, 0, valued, bare))
        return EXIT_USAGE;
    const char *max = flag(argc, argv, "--max");
    json_t *in = json_pack("{s:s, s:I}", "FleetId", fleet, "MaximumPlayerSessionCount",
                           (json_int_t)(max != NULL ? strtol(max, NULL, 10) : 10));
    if (flag(argc, argv, "--location") != NULL)
        json_object_set_new(in, "Location", json_string(flag(argc, argv, "--location")));
    if (flag(argc, argv, "--name") != NULL)
        json_object_set_new(in, "Name", json_string(flag(argc, argv, "--name")));
    json_t *props = json_array();
    for (int i = 0; i + 1 < argc; i++) {
        const char *eq = strcmp(argv[i], "--property") == 0 ? strchr(argv[i + 1], '=') : NULL;
        if (eq != NULL)
            json_array_append_new(props, json_pack("{s:s%, s:s}", "Key", argv[i + 1],
                                                   (size_t)(eq - argv[i + 1]), "Value", eq + 1));
    }
    json_object_set_new(in, "GameProperties", props);
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
    const char *fleet = flag(argc, argv, "--fleet");
    if (fleet == NULL || !flags_known(argc, argv, 0, valued, bare))
        return EXIT_USAGE;
    char *token = NULL;
    int rc = 0;
    do {
        json_t *in = json_pack("{s:s}", "FleetId", fleet);
        if (flag(argc, argv, "--location") != NULL)
            json_object_set_new(in, "Location", json_string(flag(argc, argv, "--location")));
        if (flag(argc, argv, "--status") != NULL)
            json_object_set_new(in, "StatusFilter", json_string(flag(argc, argv, "--status")));
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
    const char *player = flag(argc, argv, "--player");
    if (argc < 1 || player == NULL || !flags_known(argc, argv, 1, valued, bare))
        return EXIT_USAGE;
    json_t *in = json_pack("{s:s, s:s}", "GameSessionId", argv[0], "PlayerId", player);
    if (flag(argc, argv, "--data") != NULL)
        json_object_set_new(in, "PlayerData", json_string(flag(argc, argv, "--data")));
    json_t *out = NULL;
    int rc = call(url, k, "CreatePlayerSession", in, &out);
    json_t *ps = json_object_get(out, "PlayerSession");
    if (rc == 0 && as_json) {
        char *text = json_dumps(ps, JSON_COMPACT);
        printf("%s\n", text != NULL ? text : "{}");
        free(text);
    } else if (rc == 0) {
        printf("%s %s:%lld\n", text_of(ps, "PlayerSessionId"), text_of(ps, "IpAddress"),
               (long long)json_integer_value(json_object_get(ps, "Port")));
    }
    if (rc == 0 && has(argc, argv, "--connect")) {
        /* The sample game server's protocol, as `rally matchmake --connect`. */
        struct rally_ticket seat = {0};
        snprintf(seat.ip_address, sizeof(seat.ip_address), "%s", text_of(ps, "IpAddress"));
        snprintf(seat.player_session_id, sizeof(seat.player_session_id), "%s",
                 text_of(ps, "PlayerSessionId"));
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
    if (argc < 1 || !flags_known(argc, argv, 1, valued, bare))
        return EXIT_USAGE;
    json_t *in =
        json_pack("{s:s, s:s}", "GameSessionId", argv[0], "TerminationMode",
                  has(argc, argv, "--force") ? "FORCE_TERMINATE" : "TRIGGER_ON_PROCESS_TERMINATE");
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
    if (!find_key(&k)) {
        fprintf(stderr, "rally: world needs an AWS access key: AWS_ACCESS_KEY_ID and "
                        "AWS_SECRET_ACCESS_KEY, or AWS_SHARED_CREDENTIALS_FILE (make run writes "
                        ".run/aws/credentials)\n");
        return EXIT_AUTH;
    }
    int rc = EXIT_USAGE;
    if (strcmp(argv[0], "create") == 0)
        rc = create(url, &k, argc - 1, argv + 1, as_json);
    else if (strcmp(argv[0], "list") == 0)
        rc = list(url, &k, argc - 1, argv + 1, as_json);
    else if (strcmp(argv[0], "join") == 0)
        rc = join(url, &k, argc - 1, argv + 1, as_json);
    else if (strcmp(argv[0], "end") == 0)
        rc = end(url, &k, argc - 1, argv + 1, as_json);
    memset(&k, 0, sizeof(k));
    if (rc == EXIT_USAGE)
        fprintf(stderr, "rally: world create --fleet ID [--location L] [--max N] [--name NAME] "
                        "[--property K=V]... | list --fleet ID [--location L] [--status S] | "
                        "join WORLD --player ID [--data TEXT] [--connect] | end WORLD [--force]\n");
    return rc;
}
