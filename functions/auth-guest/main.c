/*
 * auth-guest: guest identity (Cognito's job in the AWS flow) and server
 * tokens for fleets.
 *
 *   POST /v1/identity/guest    {} -> new guest; {"user_id","guest_secret"} -> login
 *   GET  /login-as-guest[?user_id=&guest_secret=]   the GUIDANCE sample's form
 *   POST /v1/identity/server   {"fleetId","fleetSecret","tokenUse"?} -> server-scope token
 *                              (tokenUse "sdk5": one for GameLift's server SDK 5,
 *                              GAMELIFT_SDK_AUTH_TOKEN, lasting RALLY_SDK_TOKEN_TTL,
 *                              3 h: the gateway renews it on open connections)
 *   POST /v1/admin/login       {"username","password"} -> an operator's admin token (admin.h)
 *
 * Guest secrets are 256-bit random values stored as SHA-256 digests; the
 * secret check compares blinded digests (check_guest below). A session is
 * a new family id in its tokens, stored nowhere (refresh.h): a returning
 * login only reads.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "admin.h"
#include "arena.h"
#include "cfg.h"
#include "db.h"
#include "log.h"
#include "refresh.h"
#include "serve.h"
#include "util.h"

enum { CREATE_GUEST, CHECK_GUEST, TOUCH_GUEST };

/* A session is its refresh token (refresh.h): no statement stores one. */
static const struct db_stmt stmts[] = {
    [CREATE_GUEST] = {"create_guest", "SELECT identity.create_guest($1::uuid, $2)", 2, false},
    /* A row when the secret is right; whether last_login_at is an hour old.
     * The digests are compared blinded: each hashed again with the
     * request's own random $3, so the comparison's timing can only tell
     * about values no one can choose or reuse, never about the stored
     * digest (a constant-time comparison, without one in SQL). */
    [CHECK_GUEST] = {"check_guest",
                     "SELECT u.last_login_at < now() - interval '1 hour' FROM identity.users u "
                     "WHERE u.user_id = $1::uuid AND sha256(convert_to(u.secret_sha256, 'UTF8') || "
                     "decode($3, 'hex')) = sha256(convert_to($2, 'UTF8') || decode($3, 'hex'))",
                     3, true},
    [TOUCH_GUEST] = {"touch_guest", "SELECT identity.touch_guest($1::uuid)", 1, false},
};

/* Starts a session (a new family) and answers with its tokens; secret is
 * NULL for returning guests, and comes before user_id with secret_first (the
 * GUIDANCE sample's key order). */
static void reply_tokens(struct http_req *req, struct http_resp *resp, const char *user_id,
                         const char *secret, bool secret_first)
{
    char family_id[37];
    util_uuid(family_id);
    int64_t now = util_now();
    char *token = auth_sign(req->arena, user_id, "guest", family_id, now, cfg->access_token_ttl);
    char *refresh = refresh_issue(req->arena, family_id, user_id, now + cfg->refresh_token_ttl);
    if (token == NULL || refresh == NULL) {
        http_error(req, resp, 500, "internal", "could not sign token");
        return;
    }
    json_t *body = json_object();
    if (secret != NULL && secret_first)
        json_object_set_new(body, "guest_secret", json_string(secret));
    json_object_set_new(body, "user_id", json_string(user_id));
    if (secret != NULL && !secret_first)
        json_object_set_new(body, "guest_secret", json_string(secret));
    json_object_set_new(body, "auth_token", json_string(token));
    json_object_set_new(body, "refresh_token", json_string(refresh));
    json_object_set_new(body, "auth_token_expires_in", json_integer(cfg->access_token_ttl));
    json_object_set_new(body, "refresh_token_expires_in", json_integer(cfg->refresh_token_ttl));
    http_reply(req, resp, 200, body);
}

static void login(struct http_req *req, struct http_resp *resp, const char *user_id,
                  const char *secret, bool secret_first)
{
    PGresult *r;
    if (user_id == NULL) {
        char new_id[37];
        char secret_hash[65];
        util_uuid(new_id);
        char *new_secret = util_random_token(req->arena, 32);
        util_sha256_hex(new_secret, strlen(new_secret), secret_hash);
        const char *p[] = {new_id, secret_hash};
        int rc = db_exec(req->arena, &stmts[CREATE_GUEST], p, &r);
        if (rc != DB_OK) {
            serve_db_error(req, resp, rc);
            return;
        }
        reply_tokens(req, resp, arena_strdup(req->arena, new_id), new_secret, secret_first);
        return;
    }

    /* Same answer for an unknown user and a wrong secret. */
    if (!util_uuid_parse(user_id, NULL) || secret == NULL || strlen(secret) > 256) {
        http_error(req, resp, 401, "invalid_credentials", "unknown user_id or wrong guest_secret");
        return;
    }
    char given[65], blind[33];
    unsigned char raw_blind[16];
    util_sha256_hex(secret, strlen(secret), given);
    util_random(raw_blind, sizeof(raw_blind));
    util_hex(raw_blind, sizeof(raw_blind), blind);
    const char *p[] = {user_id, given, blind};
    int rc = db_exec(req->arena, &stmts[CHECK_GUEST], p, &r);
    if (rc != DB_OK) {
        serve_db_error(req, resp, rc);
        return;
    }
    const char *stale = db_get(r, 0, 0);
    if (stale == NULL) {
        http_error(req, resp, 401, "invalid_credentials", "unknown user_id or wrong guest_secret");
        return;
    }
    /* Once an hour: a lost write would only leave last_login_at older. */
    const char *p2[] = {user_id};
    if (strcmp(stale, "t") == 0 && db_exec(req->arena, &stmts[TOUCH_GUEST], p2, &r) != DB_OK)
        log_warn("could not record the login of %s", user_id);
    /* The refresh token's player is the uuid as the database keeps it. */
    char canonical[37];
    for (size_t i = 0; i < 37; i++)
        canonical[i] = (char)tolower((unsigned char)user_id[i]);
    reply_tokens(req, resp, arena_strdup(req->arena, canonical), NULL, false);
}

static void handle_guest(struct http_req *req, struct http_resp *resp)
{
    const char *user_id = NULL, *secret = NULL;
    if (req->body_len > 0) {
        json_t *body = http_json_body(req, resp);
        json_error_t jerr;
        if (body == NULL)
            return;
        if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s?:s, s?:s}", "user_id", &user_id,
                           "guest_secret", &secret) != 0) {
            http_error(req, resp, 400, "invalid_body", "%s", jerr.text);
            return;
        }
        if ((user_id == NULL) != (secret == NULL)) {
            http_error(req, resp, 400, "invalid_body",
                       "send both user_id and guest_secret, or neither for a new guest");
            return;
        }
    }
    login(req, resp, user_id, secret, false);
}

static void handle_login_v2(struct http_req *req, struct http_resp *resp)
{
    const char *user_id = http_query(req, "user_id");
    const char *secret = http_query(req, "guest_secret");
    if (user_id != NULL && *user_id == '\0')
        user_id = NULL;
    if (user_id != NULL && secret == NULL) {
        http_error(req, resp, 400, "invalid_query", "guest_secret is required with user_id");
        return;
    }
    login(req, resp, user_id, user_id != NULL ? secret : NULL, true);
}

/* Reads <dir>/<fleet>.secret into out (trailing whitespace trimmed). */
static int read_fleet_secret(const char *fleet, char *out, size_t cap)
{
    char path[1024];
    if (cfg->fleet_secret_dir == NULL)
        return -1;
    snprintf(path, sizeof(path), "%s/%s.secret", cfg->fleet_secret_dir, fleet);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(out, 1, cap - 1, f);
    fclose(f);
    out[n] = '\0';
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' '))
        out[--n] = '\0';
    return n > 0 ? 0 : -1;
}

static void handle_server(struct http_req *req, struct http_resp *resp)
{
    const char *fleet = NULL, *secret = NULL, *use = NULL;
    json_error_t jerr;
    json_t *body = http_json_body(req, resp);
    if (body == NULL)
        return;
    if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s:s, s:s, s?s}", "fleetId", &fleet,
                       "fleetSecret", &secret, "tokenUse", &use) != 0) {
        http_error(req, resp, 400, "invalid_body", "%s", jerr.text);
        return;
    }
    if (use != NULL && strcmp(use, "sdk5") != 0) {
        http_error(req, resp, 400, "invalid_body", "tokenUse: \"sdk5\" or none");
        return;
    }
    char stored[512];
    char a[65], b[65];
    bool ok =
        util_is_token(fleet, 128, "-_.") && read_fleet_secret(fleet, stored, sizeof(stored)) == 0;
    /* Compare digests so the time taken says nothing about lengths. */
    util_sha256_hex(secret, strlen(secret), a);
    util_sha256_hex(ok ? stored : "", ok ? strlen(stored) : 0, b);
    if (!ok || !util_ct_equal(a, b, 64)) {
        http_error(req, resp, 401, "invalid_credentials", "unknown fleetId or wrong fleetSecret");
        return;
    }
    /* An SDK 5 process holds its token for as long as it runs, and
     * reconnects with it: it lasts longer, and the gateway renews it
     * (RefreshConnection) before it expires. */
    long ttl = use != NULL ? cfg_env_long("RALLY_SDK_TOKEN_TTL", 10800, 600, 86400)
                           : cfg->access_token_ttl;
    char *token = auth_sign(req->arena, fleet, "server", NULL, util_now(), ttl);
    if (token == NULL) {
        http_error(req, resp, 500, "internal", "could not sign token");
        return;
    }
    http_reply(
        req, resp, 200,
        json_pack("{s:s, s:I}", "auth_token", token, "auth_token_expires_in", (json_int_t)ttl));
}

static const struct http_route routes[] = {
    {.name = "guest", .method = "POST", .dialect = &dialect_native, .handle = handle_guest},
    {.name = "login_v2", .method = "GET", .dialect = &dialect_guidance, .handle = handle_login_v2},
    {.name = "server", .method = "POST", .dialect = &dialect_native, .handle = handle_server},
    {.name = "admin_login",
     .method = "POST",
     .dialect = &dialect_native,
     .handle = handle_admin_login},
};

static int worker_init(void)
{
    return admin_load();
}

int main(void)
{
    static const struct service svc = {
        .name = "auth-guest",
        .max_body = 4096,
        .routes = routes,
        .nroutes = sizeof(routes) / sizeof(routes[0]),
        .stmts = stmts,
        .nstmts = sizeof(stmts) / sizeof(stmts[0]),
        .signs_tokens = true,
        .verifies_tokens = true,
        .worker_init = worker_init,
    };
    serve_main(&svc);
}
