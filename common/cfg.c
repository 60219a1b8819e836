/* Environment configuration, validated once at start. */
#include "cfg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct cfg *cfg;
static struct cfg the_cfg;

__attribute__((noreturn)) static void die(const char *var, const char *why)
{
    fprintf(stderr, "rally: invalid configuration: %s: %s\n", var, why);
    exit(2);
}

const char *cfg_env_str(const char *var, const char *def)
{
    const char *v = getenv(var);
    return (v != NULL && *v != '\0') ? v : def;
}

long cfg_env_long(const char *var, long def, long min, long max)
{
    const char *v = getenv(var);
    if (v == NULL || *v == '\0')
        return def;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno != 0 || *end != '\0' || end == v)
        die(var, "not an integer");
    if (n < min || n > max) {
        char why[96];
        snprintf(why, sizeof(why), "must be between %ld and %ld", min, max);
        die(var, why);
    }
    return n;
}

int cfg_parse_list(const char *s, struct cfg_list *out)
{
    /* A list parsed again (cfg_load run twice) lets go of its old items. */
    for (size_t i = 0; i < out->n; i++)
        free(out->items[i]);
    out->n = 0;
    while (s != NULL && *s != '\0') {
        while (*s == ' ' || *s == '\t' || *s == ',')
            s++;
        if (*s == '\0')
            break;
        const char *end = strchr(s, ',');
        size_t len = end != NULL ? (size_t)(end - s) : strlen(s);
        while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
            len--;
        if (out->n == CFG_MAX_LIST)
            return -1;
        out->items[out->n++] = strndup(s, len);
        s += len;
    }
    return 0;
}

/* An octal permission of read and write bits only, the owner's included. */
static unsigned socket_mode(const char *s)
{
    char *end;
    errno = 0;
    unsigned long m = strtoul(s, &end, 8);
    if (errno != 0 || end == s || *end != '\0' || (m & ~0666UL) != 0 || (m & 0600UL) != 0600UL)
        die("RALLY_SOCKET_MODE",
            "must be an octal mode of read/write bits with the owner's, e.g. 0660");
    return (unsigned)m;
}

const struct cfg *cfg_load(const char *service)
{
    struct cfg *c = &the_cfg;
    static char default_listen[512];

    c->service = service;
    const char *sock_dir = cfg_env_str("RALLY_SOCKET_DIR", "/run/rally");
    snprintf(default_listen, sizeof(default_listen), "%s/%s.sock", sock_dir, service);
    c->listen = cfg_env_str("RALLY_LISTEN", default_listen);
    c->workers = (int)cfg_env_long("RALLY_WORKERS", 4, 1, 64);
    c->listen_backlog = (int)cfg_env_long("RALLY_LISTEN_BACKLOG", 4096, 16, 65535);
    c->socket_mode = socket_mode(cfg_env_str("RALLY_SOCKET_MODE", "0660"));

    c->jwt_key_dir = cfg_env_str("RALLY_JWT_KEY_DIR", NULL);
    c->jwt_issuer = cfg_env_str("RALLY_JWT_ISSUER", "http://127.0.0.1:8080");
    c->jwt_audience = cfg_env_str("RALLY_JWT_AUDIENCE", "gamebackend");
    c->access_token_ttl = cfg_env_long("RALLY_ACCESS_TOKEN_TTL", 900, 10, 86400);
    c->refresh_token_ttl =
        cfg_env_long("RALLY_REFRESH_TOKEN_TTL", 6 * 86400, 60, CFG_MAX_REFRESH_TTL);
    c->jwt_leeway = cfg_env_long("RALLY_JWT_LEEWAY", 60, 0, 600);

    c->ticket_ttl = cfg_env_long("RALLY_TICKET_TTL_SECONDS", 3 * 3600, 1, 30L * 86400);
    c->default_configuration =
        cfg_env_str("RALLY_DEFAULT_CONFIGURATION", "SampleFlexMatchConfiguration");
    c->region = cfg_env_str("RALLY_REGION", "local");
    c->account_id = cfg_env_str("RALLY_ACCOUNT_ID", "000000000000");

    if (cfg_parse_list(cfg_env_str("RALLY_SNS_CERT_DIR", ""), &c->sns_cert_dirs) < 0)
        die("RALLY_SNS_CERT_DIR", "too many entries");
    if (cfg_parse_list(cfg_env_str("RALLY_SNS_CERT_URL_PREFIXES", ""), &c->sns_cert_url_prefixes) <
        0)
        die("RALLY_SNS_CERT_URL_PREFIXES", "too many entries");
    if (cfg_parse_list(cfg_env_str("RALLY_SNS_TOPICS", ""), &c->sns_topics) < 0)
        die("RALLY_SNS_TOPICS", "too many entries");

    c->fleet_secret_dir = cfg_env_str("RALLY_FLEET_SECRET_DIR", NULL);
    c->aws_key_dir = cfg_env_str("RALLY_AWS_KEY_DIR", NULL);
    if (cfg_parse_list(cfg_env_str("RALLY_AWS_REGIONS", "us-east-1"), &c->aws_regions) < 0 ||
        c->aws_regions.n == 0)
        die("RALLY_AWS_REGIONS", "one to 16 regions, comma-separated");
    c->push_socket = cfg_env_str("RALLY_PUSH_SOCKET", NULL);

    if (strncmp(c->jwt_issuer, "http", 4) != 0)
        die("RALLY_JWT_ISSUER", "must be an http(s) URL");
    cfg = c;
    return c;
}
