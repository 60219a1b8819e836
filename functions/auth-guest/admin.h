/*
 * Operators' login (auth-guest): POST /v1/admin/login {"username",
 * "password"} -> {"auth_token", "auth_token_expires_in"}, an admin-scope
 * token for RALLY_ADMIN_TOKEN_TTL (3600) seconds: what the console and an
 * operator's curl use on the admin routes (world state, the GameLift API,
 * game-session logs, Prometheus through nginx). The admins are the lines
 * "NAME:<digest>" of RALLY_ADMIN_FILE (rally-keys admin-password writes
 * them; common/password.h); without it, no one logs in as admin.
 */
#ifndef RALLY_AUTH_GUEST_ADMIN_H
#define RALLY_AUTH_GUEST_ADMIN_H

#include "http.h"

/* Reads RALLY_ADMIN_FILE, at a worker's start (a reload reads it again).
 * 0, or -1 when it is named but unreadable or malformed (logged). */
int admin_load(void);

void handle_admin_login(struct http_req *req, struct http_resp *resp);

#endif
