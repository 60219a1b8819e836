/*
 * auth-refresh: refresh-token rotation and logout.
 *
 *   POST /v1/identity/refresh         {"refresh_token"} -> new access + refresh token
 *   GET  /refresh-access-token?refresh_token=   the GUIDANCE sample's form
 *   POST /v1/identity/logout          (bearer) revokes the caller's session family
 *
 * Refresh tokens are single use. Presenting one a second time means it was
 * copied: the whole family (every token rotated from the same login) is
 * revoked, so both the thief and the victim must log in again.
 */
#include <stdio.h>
#include <string.h>

#include "arena.h"
#include "cfg.h"
#include "db.h"
#include "log.h"
#include "serve.h"
#include "util.h"

enum { ROTATE, LOGOUT };

static const struct db_stmt stmts[] = {
    [ROTATE] = {"rotate",
                "SELECT outcome, user_id, family_id, scope "
                "FROM identity.rotate_refresh($1, $2, $3::integer)",
                3, false},
    [LOGOUT] = {"logout",
                "UPDATE identity.refresh_families SET revoked_at = now(), "
                "revoked_reason = 'logout' WHERE family_id = $1::uuid AND user_id = $2 "
                "AND revoked_at IS NULL",
                2, true},
};

/* Rotates refresh token `old`; the answer names the user with with_user_id
 * (the GUIDANCE sample's answer does not). */
static void refresh(struct http_req *req, struct http_resp *resp, const char *old,
                    bool with_user_id)
{
    if (old == NULL || *old == '\0' || strlen(old) > 256) {
        http_error(req, resp, 400, "invalid_body", "refresh_token is required");
        return;
    }
    char old_hash[65], new_hash[65], ttl[24];
    util_sha256_hex(old, strlen(old), old_hash);
    char *fresh = util_random_token(req->arena, 32);
    util_sha256_hex(fresh, strlen(fresh), new_hash);
    snprintf(ttl, sizeof(ttl), "%ld", cfg->refresh_token_ttl);

    PGresult *r;
    const char *p[] = {old_hash, new_hash, ttl};
    int rc = db_exec(req->arena, &stmts[ROTATE], p, &r);
    if (rc != DB_OK) {
        serve_db_error(req, resp, rc);
        return;
    }
    const char *outcome = db_get(r, 0, 0);
    if (outcome == NULL || strcmp(outcome, "ok") != 0) {
        if (outcome != NULL && strcmp(outcome, "reused") == 0) {
            log_warn("refresh token reused: session family %s revoked", db_get(r, 0, 2));
            http_error(req, resp, 401, "refresh_token_reused",
                       "refresh token was already used; the session is revoked");
        } else {
            http_error(req, resp, 401, "invalid_refresh_token",
                       "refresh token is unknown, expired or revoked");
        }
        return;
    }
    const char *user_id = db_get(r, 0, 1);
    const char *family = db_get(r, 0, 2);
    const char *scope = db_get(r, 0, 3);
    char *token = auth_sign(req->arena, user_id, scope, family, util_now(), cfg->access_token_ttl);
    if (token == NULL) {
        http_error(req, resp, 500, "internal", "could not sign token");
        return;
    }
    json_t *body = json_object();
    if (with_user_id)
        json_object_set_new(body, "user_id", json_string(user_id));
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
    const char *p[] = {req->claims.sid, req->claims.sub};
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
