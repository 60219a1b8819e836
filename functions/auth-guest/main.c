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
 * secret check compares blinded digests (CHECK_GUESTS below). A session is
 * a new family id in its tokens, stored nowhere (refresh.h): a returning
 * login only reads. The guest logins waiting on the socket are answered
 * together (login_batch, serve.c's batches): one read for the returning
 * guests, one transaction for the new ones.
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

enum { CREATE_GUESTS, CHECK_GUESTS, TOUCH_GUEST };

/* Guest logins one worker answers at once (login_batch). */
#define LOGIN_BATCH_MAX 32

/* A session is its refresh token (refresh.h): no statement stores one. */
static const struct db_stmt stmts[] = {
    [CREATE_GUESTS] = {"create_guests", "SELECT identity.create_guests($1::uuid[], $2::text[])", 2,
                       false},
    /* Returning guests, element k of each array one login's: a row (k, and
     * whether last_login_at is an hour old) when the secret is right. The
     * digests are compared blinded: each hashed again with the login's own
     * random blind, so the comparison's timing can only tell about values
     * no one can choose or reuse, never about the stored digest. One
     * primary-key probe a login: LATERAL ... LIMIT 1 keeps the planner from
     * joining unnest's guess of 100 rows with a scan of every user. */
    [CHECK_GUESTS] = {"check_guests",
                      "SELECT x.i, u.stale FROM unnest($1::uuid[], $2::text[], $3::text[]) "
                      "WITH ORDINALITY AS x(user_id, given, blind, i) "
                      "CROSS JOIN LATERAL (SELECT u.last_login_at < now() - interval '1 hour' "
                      "AS stale FROM identity.users u WHERE u.user_id = x.user_id AND "
                      "sha256(convert_to(u.secret_sha256, 'UTF8') || decode(x.blind, 'hex')) = "
                      "sha256(convert_to(x.given, 'UTF8') || decode(x.blind, 'hex')) LIMIT 1) u",
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

/* A guest login waiting for login_batch. A new guest: user_id and the
 * secret it is given, digest the secret's SHA-256. A returning one: the
 * user_id and secret it gave, digest the given secret's SHA-256, blind the
 * random salt of its comparison. Lives in the request's arena. */
struct guest_login {
    const char *user_id, *secret, *digest, *blind;
    bool is_new, secret_first;
};

/* Leaves the login to login_batch; answers at once what needs no database:
 * a returning guest whose user_id or secret could not be anyone's. */
static void login(struct http_req *req, struct http_resp *resp, const char *user_id,
                  const char *secret, bool secret_first)
{
    struct guest_login *g = arena_alloc(req->arena, sizeof(*g));
    char *digest = arena_alloc(req->arena, 65);
    *g = (struct guest_login){
        .digest = digest, .is_new = user_id == NULL, .secret_first = secret_first};
    if (g->is_new) {
        char *new_id = arena_alloc(req->arena, 37);
        util_uuid(new_id);
        g->user_id = new_id;
        g->secret = util_random_token(req->arena, 32);
        util_sha256_hex(g->secret, strlen(g->secret), digest);
        serve_defer(req, g);
        return;
    }
    /* Same answer for an unknown user and a wrong secret. */
    if (!util_uuid_parse(user_id, NULL) || secret == NULL || strlen(secret) > 256) {
        http_error(req, resp, 401, "invalid_credentials", "unknown user_id or wrong guest_secret");
        return;
    }
    char *blind = arena_alloc(req->arena, 33);
    unsigned char raw_blind[16];
    util_sha256_hex(secret, strlen(secret), digest);
    util_random(raw_blind, sizeof(raw_blind));
    util_hex(raw_blind, sizeof(raw_blind), blind);
    g->user_id = user_id;
    g->blind = blind;
    serve_defer(req, g);
}

/* Makes the batch's new guests, one transaction and one synchronous commit
 * for all of them (an account is never answered before it is durable), and
 * answers each. */
static void create_guests(struct http_req *const *reqs, struct http_resp *const *resps, int n)
{
    struct arena *a = reqs[0]->arena;
    const char *ids[LOGIN_BATCH_MAX], *digests[LOGIN_BATCH_MAX];
    for (int i = 0; i < n; i++) {
        const struct guest_login *g = reqs[i]->deferred_arg;
        ids[i] = g->user_id;
        digests[i] = g->digest;
    }
    const char *p[] = {util_pg_text_array(a, ids, (size_t)n),
                       util_pg_text_array(a, digests, (size_t)n)};
    PGresult *r;
    int rc = db_exec(a, &stmts[CREATE_GUESTS], p, &r);
    for (int i = 0; i < n; i++) {
        const struct guest_login *g = reqs[i]->deferred_arg;
        if (rc != DB_OK)
            serve_db_error(reqs[i], resps[i], rc);
        else
            reply_tokens(reqs[i], resps[i], g->user_id, g->secret, g->secret_first);
    }
}

/* Checks the batch's returning guests with one read and answers each. */
static void check_guests(struct http_req *const *reqs, struct http_resp *const *resps, int n)
{
    struct arena *a = reqs[0]->arena;
    const char *ids[LOGIN_BATCH_MAX], *digests[LOGIN_BATCH_MAX], *blinds[LOGIN_BATCH_MAX];
    int rows[LOGIN_BATCH_MAX];
    for (int i = 0; i < n; i++) {
        const struct guest_login *g = reqs[i]->deferred_arg;
        ids[i] = g->user_id;
        digests[i] = g->digest;
        blinds[i] = g->blind;
    }
    const char *p[] = {util_pg_text_array(a, ids, (size_t)n),
                       util_pg_text_array(a, digests, (size_t)n),
                       util_pg_text_array(a, blinds, (size_t)n)};
    PGresult *r;
    int rc = db_exec(a, &stmts[CHECK_GUESTS], p, &r);
    if (rc == DB_OK)
        db_rows_by_request(r, 0, rows, n);
    for (int i = 0; i < n; i++) {
        const struct guest_login *g = reqs[i]->deferred_arg;
        if (rc != DB_OK) {
            serve_db_error(reqs[i], resps[i], rc);
            continue;
        }
        if (rows[i] < 0) { /* same answer for an unknown user and a wrong secret */
            http_error(reqs[i], resps[i], 401, "invalid_credentials",
                       "unknown user_id or wrong guest_secret");
            continue;
        }
        /* Once an hour: a lost write would only leave last_login_at older. */
        const char *p2[] = {g->user_id};
        PGresult *t;
        if (strcmp(db_get(r, rows[i], 1), "t") == 0 &&
            db_exec(reqs[i]->arena, &stmts[TOUCH_GUEST], p2, &t) != DB_OK)
            log_warn("could not record the login of %s", g->user_id);
        /* The refresh token's player is the uuid as the database keeps it. */
        char *canonical = arena_strdup(reqs[i]->arena, g->user_id);
        for (char *c = canonical; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        reply_tokens(reqs[i], resps[i], canonical, NULL, false);
    }
}

/* The deferred logins (struct serve_batch): the returning guests checked
 * together, then the new ones made together, in a second run when both
 * came, so that the returning guests' answers do not wait for the new
 * ones' commit to reach the disk. */
static void login_batch(struct http_req *const *reqs, struct http_resp *const *resps, int n)
{
    struct http_req *made[LOGIN_BATCH_MAX], *checked[LOGIN_BATCH_MAX];
    struct http_resp *made_resp[LOGIN_BATCH_MAX], *checked_resp[LOGIN_BATCH_MAX];
    int nmade = 0, nchecked = 0;
    n = n < LOGIN_BATCH_MAX ? n : LOGIN_BATCH_MAX; /* serve.c gives at most .max */
    for (int i = 0; i < n; i++) {
        const struct guest_login *g = reqs[i]->deferred_arg;
        if (g->is_new) {
            made[nmade] = reqs[i];
            made_resp[nmade++] = resps[i];
        } else {
            checked[nchecked] = reqs[i];
            checked_resp[nchecked++] = resps[i];
        }
    }
    if (nchecked > 0)
        check_guests(checked, checked_resp, nchecked);
    for (int i = 0; i < nmade && nchecked > 0; i++)
        serve_defer(made[i], made[i]->deferred_arg); /* the second run has only these */
    if (nchecked == 0 && nmade > 0)
        create_guests(made, made_resp, nmade);
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
    static const struct serve_batch batch = {.max = LOGIN_BATCH_MAX, .run = login_batch};
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
        .batch = &batch,
    };
    serve_main(&svc);
}
