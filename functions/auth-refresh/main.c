/*
 * auth-refresh: refresh-token rotation and logout.
 *
 *   POST /v1/identity/refresh         {"refresh_token"} -> new access + refresh token
 *   GET  /refresh-access-token?refresh_token=   the GUIDANCE sample's form
 *   POST /v1/identity/logout          (bearer) revokes the caller's session family
 *
 * Refresh tokens are single use. Presenting one a second time means it was
 * copied: the whole family (every token rotated from the same login) is
 * revoked, so both the thief and the victim must log in again. The tokens
 * themselves are stored nowhere (refresh.h); the database keeps the used
 * ones and the revoked families (sql/functions/identity.sql).
 */
#include <stdio.h>
#include <string.h>

#include "arena.h"
#include "cfg.h"
#include "db.h"
#include "log.h"
#include "refresh.h"
#include "serve.h"
#include "util.h"

enum { ROTATE, LOGOUT };

static const struct db_stmt stmts[] = {
    [ROTATE] = {"rotate",
                "SELECT identity.rotate_refresh($1, $2::uuid, $3, to_timestamp($4::bigint), "
                "to_timestamp($5::bigint))",
                5, false},
    [LOGOUT] = {"logout", "SELECT identity.logout($1::uuid, $2, $3::integer)", 3, false},
};

/* Rotates refresh token `old`; the answer names the user with with_user_id
 * (the GUIDANCE sample's answer does not). A token that is not ours or has
 * expired is refused before the database is asked (refresh.h). */
static void refresh(struct http_req *req, struct http_resp *resp, const char *old,
                    bool with_user_id)
{
    if (old == NULL || *old == '\0' || strlen(old) > 256) {
        http_error(req, resp, 400, "invalid_body", "refresh_token is required");
        return;
    }
    int64_t now = util_now();
    struct refresh_token t;
    if (refresh_read(req->arena, old, now, &t) < 0) {
        http_error(req, resp, 401, "invalid_refresh_token",
                   "refresh token is unknown, expired or revoked");
        return;
    }
    char old_hash[65], exp[24], new_exp[24];
    util_sha256_hex(old, strlen(old), old_hash);
    snprintf(exp, sizeof(exp), "%lld", (long long)t.exp);
    snprintf(new_exp, sizeof(new_exp), "%lld", (long long)(now + cfg->refresh_token_ttl));

    PGresult *r;
    const char *p[] = {old_hash, t.family, t.user, exp, new_exp};
    int rc = db_exec(req->arena, &stmts[ROTATE], p, &r);
    if (rc != DB_OK) {
        serve_db_error(req, resp, rc);
        return;
    }
    const char *outcome = db_get(r, 0, 0);
    if (outcome == NULL || strcmp(outcome, "ok") != 0) {
        if (outcome != NULL && strcmp(outcome, "reused") == 0) {
            log_warn("refresh token reused: session family %s revoked", t.family);
            http_error(req, resp, 401, "refresh_token_reused",
                       "refresh token was already used; the session is revoked");
        } else {
            http_error(req, resp, 401, "invalid_refresh_token",
                       "refresh token is unknown, expired or revoked");
        }
        return;
    }
    char *token = auth_sign(req->arena, t.user, "guest", t.family, now, cfg->access_token_ttl);
    char *fresh = refresh_issue(req->arena, t.family, t.user, now + cfg->refresh_token_ttl);
    if (token == NULL || fresh == NULL) {
        http_error(req, resp, 500, "internal", "could not sign token");
        return;
    }
    json_t *body = json_object();
    if (with_user_id)
        json_object_set_new(body, "user_id", json_string(t.user));
    json_object_set_new(body, "auth_token", json_string(token));
    json_object_set_new(body, "refresh_token", json_string(fresh));
    json_object_set_new(body, "auth_token_expires_in", json_integer(cfg->access_token_ttl));
    json_object_set_new(body, "refresh_token_expires_in", json_integer(cfg->refresh_token_ttl));
    http_reply(req, resp, 200, body);
}

static void handle_refresh(struct http_req *req, struct http_resp *resp)
{
    const char *token = NULL;
    json_error_t jerr;
    json_t *body = http_json_body(req, resp);
    if (body == NULL)
        return;
    if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s:s}", "refresh_token", &token) != 0) {
        http_error(req, resp, 400, "invalid_body", "%s", jerr.text);
        return;
    }
    refresh(req, resp, token, true);
}

static void handle_refresh_v2(struct http_req *req, struct http_resp *resp)
{
    refresh(req, resp, http_query(req, "refresh_token"), false);
}

static void handle_logout(struct http_req *req, struct http_resp *resp)
{
    if (req->claims.sid == NULL) {
        http_error(req, resp, 400, "no_session", "this token belongs to no refresh session");
        return;
    }
    PGresult *r;
    /* Kept as long as any token of the family can live, whatever the TTL
     * was when it was issued. */
    char ttl[24];
    snprintf(ttl, sizeof(ttl), "%ld", CFG_MAX_REFRESH_TTL);
    const char *p[] = {req->claims.sid, req->claims.sub, ttl};
    int rc = db_exec(req->arena, &stmts[LOGOUT], p, &r);
    if (rc != DB_OK) {
        serve_db_error(req, resp, rc);
        return;
    }
    http_reply(req, resp, 200, json_object());
}

static const struct http_route routes[] = {
    {.name = "refresh", .method = "POST", .dialect = &dialect_native, .handle = handle_refresh},
    {.name = "refresh_v2",
     .method = "GET",
     .dialect = &dialect_guidance,
     .handle = handle_refresh_v2},
    {.name = "logout",
     .method = "POST",
     .dialect = &dialect_native,
     .scopes = AUTH_SCOPE_PLAYER,
     .handle = handle_logout},
};

int main(void)
{
    static const struct service svc = {
        .name = "auth-refresh",
        .max_body = 4096,
        .routes = routes,
        .nroutes = sizeof(routes) / sizeof(routes[0]),
        .stmts = stmts,
        .nstmts = sizeof(stmts) / sizeof(stmts[0]),
        .signs_tokens = true,
        .verifies_tokens = true,
    };
    serve_main(&svc);
}
