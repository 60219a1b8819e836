/* Operators' login (admin.h). */
#include "admin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "cfg.h"
#include "log.h"
#include "password.h"
#include "util.h"

#define MAX_ADMINS 64

static struct {
    char name[65];
    char *digest;
} admins[MAX_ADMINS];
static int nadmins;
static long token_ttl;

int admin_load(void)
{
    token_ttl = cfg_env_long("RALLY_ADMIN_TOKEN_TTL", 3600, 60, 86400);
    const char *path = cfg_env_str("RALLY_ADMIN_FILE", NULL);
    if (path == NULL)
        return 0;
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        log_error("cannot read RALLY_ADMIN_FILE %s: %s", path, strerror(errno));
        return -1;
    }
    char line[1024];
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0' || line[0] == '#')
            continue;
        char *colon = strchr(line, ':');
        if (colon == NULL || colon - line > 64 || nadmins == MAX_ADMINS) {
            log_error("%s: a line is NAME:<digest> (rally-keys admin-password), at most %d", path,
                      MAX_ADMINS);
            rc = -1;
            break;
        }
        memcpy(admins[nadmins].name, line, (size_t)(colon - line));
        admins[nadmins].name[colon - line] = '\0';
        admins[nadmins].digest = strdup(colon + 1);
        nadmins++;
    }
    fclose(f);
    return rc;
}

void handle_admin_login(struct http_req *req, struct http_resp *resp)
{
    const char *name = NULL, *password = NULL;
    json_error_t jerr;
    json_t *body = http_json_body(req, resp);
    if (body == NULL)
        return;
    if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s:s, s:s}", "username", &name, "password",
                       &password) != 0) {
        http_error(req, resp, 400, "invalid_body", "%s", jerr.text);
        return;
    }
    if (nadmins == 0) {
        http_error(req, resp, 403, "admin_login_off", "no admin is configured (RALLY_ADMIN_FILE)");
        return;
    }
    const char *digest = NULL;
    for (int i = 0; i < nadmins; i++)
        if (strcmp(admins[i].name, name) == 0)
            digest = admins[i].digest;
    /* An unknown name costs a digest as a known one does. */
    if (!password_check(req->arena, password, digest)) {
        log_warn("admin login refused for %.64s", util_is_token(name, 64, "-_.@") ? name : "?");
        http_error(req, resp, 401, "invalid_credentials", "unknown username or wrong password");
        return;
    }
    char *token = auth_sign(req->arena, name, "admin", NULL, util_now(), token_ttl);
    if (token == NULL) {
        http_error(req, resp, 500, "internal", "could not sign token");
        return;
    }
    log_info("admin %s logged in", name);
    http_reply(req, resp, 200,
               json_pack("{s:s, s:I}", "auth_token", token, "auth_token_expires_in",
                         (json_int_t)token_ttl));
}
