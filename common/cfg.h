/*
 * Configuration from the environment: read once at start by cfg_load(),
 * validated (one clear line and exit status 2 on anything wrong), then
 * immutable. Handlers read the global `cfg`. The environment is read only
 * here (cfg_env_long, cfg_env_str for one process's own settings), except
 * by log_init() (RALLY_LOG_LEVEL, before any configuration exists) and by
 * libpq, which reads PGHOST and the like itself (db.c passes DATABASE_URL).
 */
#ifndef RALLY_COMMON_CFG_H
#define RALLY_COMMON_CFG_H

#include <stddef.h>

#define CFG_MAX_LIST 16
/* The longest RALLY_REFRESH_TOKEN_TTL: no refresh token outlives it, however
 * the setting changed since it was issued (a logout is kept this long). */
#define CFG_MAX_REFRESH_TTL (90L * 86400)

struct cfg_list {
    char *items[CFG_MAX_LIST];
    size_t n;
};

struct cfg {
    const char *service; /* process name, e.g. "poll-ticket" */
    const char *listen;  /* unix socket path or ":port" */
    int workers;         /* worker processes per function */
    int listen_backlog;
    /* RALLY_SOCKET_MODE (octal, default 0660): who may connect to a unix
     * listening socket besides its owner. 0660 lets nginx's workers in
     * through the socket directory's group; 0666 only where the directory
     * alone keeps others out (a container's private volume). */
    unsigned socket_mode;

    const char *jwt_key_dir;  /* RALLY_JWT_KEY_DIR: private keys + kid files */
    const char *jwt_issuer;   /* iss of tokens we sign and accept */
    const char *jwt_audience; /* aud of access tokens */
    long access_token_ttl;    /* seconds */
    long refresh_token_ttl;   /* seconds, at most CFG_MAX_REFRESH_TTL */
    long jwt_leeway;          /* seconds of clock skew tolerated on exp/nbf */

    long ticket_ttl; /* seconds a ticket result stays readable */
    const char *default_configuration;
    const char *region;     /* used in ARNs */
    const char *account_id; /* used in ARNs */

    struct cfg_list sns_cert_dirs; /* RALLY_SNS_CERT_DIR: searched in order */
    struct cfg_list sns_cert_url_prefixes;
    struct cfg_list sns_topics;

    const char *fleet_secret_dir; /* one file per fleet: <fleetId>.secret */

    /* The GameLift service API (awsauth.h): RALLY_AWS_KEY_DIR holds one
     * file per access key; RALLY_AWS_REGIONS, the regions a signature may
     * be scoped to (default us-east-1). */
    const char *aws_key_dir;
    struct cfg_list aws_regions;

    /* RALLY_PUSH_SOCKET: nginx's publishing socket for ticket push (nchan);
     * NULL: push is off and clients poll. */
    const char *push_socket;
};

extern const struct cfg *cfg;

/* Reads the environment for service `name`; exits(2) with one line on error. */
const struct cfg *cfg_load(const char *service);

/* An integer setting of the environment: def when unset, else a whole
 * number within [min, max]; exits(2) with one line otherwise. For settings
 * of one process that struct cfg does not hold. */
long cfg_env_long(const char *var, long def, long min, long max);

/* A string setting of the environment: def when unset or empty. */
const char *cfg_env_str(const char *var, const char *def);

/* Parses a comma-separated list (whitespace around items ignored) into out
 * (zeroed, or a list this parsed before: its items are freed). The strings
 * are copied and live until out is parsed again. 0 or -1 (too many). */
int cfg_parse_list(const char *s, struct cfg_list *out);

#endif
