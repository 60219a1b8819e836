/* The GameLift service API's shared parts (gamelift.h). */
#include "gamelift.h"

#include <string.h>

#include "arena.h"
#include "cfg.h"
#include "http.h"
#include "util.h"

/* NextToken: base64url of this prefix and the last key of the page. */
#define TOKEN_PREFIX "rally-page:"

static bool no_space(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s <= ' ')
            return false;
    return true;
}

static bool string_ok(const struct gl_member *m, const char *s, long max)
{
    long len = (long)strlen(s);
    return len >= (m->type == GL_STRING ? m->min : 1) && len <= max &&
           (m->valid == NULL || m->valid(s));
}

static const char *check_member(struct arena *a, const struct gl_member *m, json_t *v);

/* Checks an object against members; NULL when it is valid, else why not,
 * naming the member. */
static const char *check_struct(struct arena *a, const struct gl_member *fields, size_t n,
                                json_t *obj)
{
    if (!json_is_object(obj))
        return "must be a structure";
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        size_t i = 0;
        while (i < n && strcmp(fields[i].name, key) != 0)
            i++;
        if (i == n)
            return arena_sprintf(a, "has no member '%s'", key);
    }
    for (size_t i = 0; i < n; i++) {
        v = json_object_get(obj, fields[i].name);
        const char *why = NULL;
        if (v == NULL || json_is_null(v))
            why = fields[i].required ? "must not be null" : NULL;
        else
            why = check_member(a, &fields[i], v);
        if (why != NULL)
            return arena_sprintf(a, "'%s' %s", fields[i].name, why);
    }
    return NULL;
}

/* Checks one member's value; NULL when it is valid, else why not. */
static const char *check_member(struct arena *a, const struct gl_member *m, json_t *v)
{
    switch (m->type) {
    case GL_NUMBER:
        if (!json_is_number(v))
            return "must be a number";
        if (json_number_value(v) < (double)m->min || json_number_value(v) > (double)m->max)
            return arena_sprintf(a, "must be between %ld and %ld", m->min, m->max);
        return NULL;
    case GL_STRUCT: {
        const char *why = check_struct(a, m->fields, m->nfields, v);
        return why != NULL ? arena_sprintf(a, "member %s", why) : NULL;
    }
    case GL_STRUCT_LIST: {
        if (!json_is_array(v))
            return "must be a list of structures";
        long n = (long)json_array_size(v);
        if (n < m->min || n > m->max)
            return arena_sprintf(a, "must have %ld to %ld items", m->min, m->max);
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item)
        {
            const char *why = check_struct(a, m->fields, m->nfields, item);
            if (why != NULL)
                return arena_sprintf(a, "item %zu %s", i, why);
        }
        return NULL;
    }
    case GL_STRING:
        if (!json_is_string(v))
            return "must be a string";
        if (!string_ok(m, json_string_value(v), m->max))
            return arena_sprintf(a, "must be %ld to %ld characters%s", m->min, m->max,
                                 m->valid != NULL ? " of the allowed form" : "");
        return NULL;
    case GL_INTEGER:
        if (!json_is_integer(v))
            return "must be an integer";
        if (json_integer_value(v) < m->min || json_integer_value(v) > m->max)
            return arena_sprintf(a, "must be between %ld and %ld", m->min, m->max);
        return NULL;
    case GL_STRING_MAP: {
        if (!json_is_object(v))
            return "must be a map of strings";
        long n = (long)json_object_size(v);
        if (n < m->min || n > m->max)
            return arena_sprintf(a, "must have %ld to %ld entries", m->min, m->max);
        const char *key;
        json_t *item;
        json_object_foreach(v, key, item)
        {
            size_t klen = strlen(key);
            if (klen == 0 || klen > 1024 || !json_is_string(item) ||
                !string_ok(m, json_string_value(item), m->item_max))
                return arena_sprintf(a,
                                     "entries must map 1 to 1024 characters to strings of 1 "
                                     "to %ld characters",
                                     m->item_max);
        }
        return NULL;
    }
    case GL_PROPERTIES: {
        if (!json_is_array(v) || (long)json_array_size(v) > m->max)
            return arena_sprintf(a, "must be a list of at most %ld {Key, Value}", m->max);
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item)
        {
            const char *k = NULL, *val = NULL;
            if (json_unpack(item, "{s:s, s:s !}", "Key", &k, "Value", &val) != 0 ||
                strlen(k) > 32 || strlen(val) > 96)
                return arena_sprintf(a,
                                     "item %zu must be {Key: up to 32 characters, Value: up "
                                     "to 96 characters}",
                                     i);
        }
        return NULL;
    }
    case GL_STRING_LIST: {
        if (!json_is_array(v))
            return "must be a list of strings";
        long n = (long)json_array_size(v);
        if (n < m->min || n > m->max)
            return arena_sprintf(a, "must have %ld to %ld items", m->min, m->max);
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item)
        {
            if (!json_is_string(item) || !string_ok(m, json_string_value(item), m->item_max))
                return arena_sprintf(a, "item %zu must be a string of 1 to %ld characters%s", i,
                                     m->item_max, m->valid != NULL ? " of the allowed form" : "");
        }
        return NULL;
    }
    }
    return "has an unknown type";
}

json_t *gl_input(struct http_req *req, struct http_resp *resp, const struct gl_member *members,
                 size_t n)
{
    json_t *body = http_json_body(req, resp);
    if (body == NULL)
        return NULL;
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        size_t i = 0;
        while (i < n && strcmp(members[i].name, key) != 0)
            i++;
        if (i == n) {
            http_error(req, resp, 400, "InvalidRequestException",
                       "1 validation error detected: '%s' is not a member of this operation's "
                       "input",
                       key);
            return NULL;
        }
    }
    for (size_t i = 0; i < n; i++) {
        v = json_object_get(body, members[i].name);
        if (v == NULL || json_is_null(v)) {
            if (members[i].required) {
                http_error(req, resp, 400, "InvalidRequestException",
                           "1 validation error detected: Value null at '%s' failed to satisfy "
                           "constraint: Member must not be null",
                           members[i].name);
                return NULL;
            }
            continue;
        }
        const char *why = check_member(req->arena, &members[i], v);
        if (why != NULL) {
            http_error(req, resp, 400, "InvalidRequestException",
                       "1 validation error detected: Value at '%s' failed to satisfy constraint: "
                       "Member %s",
                       members[i].name, why);
            return NULL;
        }
    }
    return body;
}

bool gl_page(struct http_req *req, struct http_resp *resp, json_t *input, long cap, long *limit,
             const char **after)
{
    json_t *l = json_object_get(input, "Limit");
    *limit = json_is_integer(l) && json_integer_value(l) < cap ? (long)json_integer_value(l) : cap;
    *after = "";
    const char *token = json_string_value(json_object_get(input, "NextToken"));
    if (token == NULL)
        return true;
    size_t len = 0;
    unsigned char *raw = util_b64url_decode(req->arena, token, strlen(token), &len);
    size_t plen = strlen(TOKEN_PREFIX);
    if (raw == NULL || len <= plen || memcmp(raw, TOKEN_PREFIX, plen) != 0 ||
        memchr(raw, '\0', len) != NULL) {
        http_error(req, resp, 400, "InvalidRequestException", "NextToken is not a valid token");
        return false;
    }
    *after = arena_strndup(req->arena, (const char *)raw + plen, len - plen);
    return true;
}

char *gl_next_token(struct arena *a, const char *last_key)
{
    char *raw = arena_sprintf(a, TOKEN_PREFIX "%s", last_key);
    return util_b64url_encode(a, (const unsigned char *)raw, strlen(raw));
}

char *gl_arn(struct arena *a, const char *resource)
{
    return arena_sprintf(a, "arn:aws:gamelift:%s:%s:%s", cfg->region, cfg->account_id, resource);
}

const char *gl_name_of(const char *id_or_arn, const char *kind)
{
    if (strncmp(id_or_arn, "arn:", 4) != 0)
        return id_or_arn;
    const char *colon = strrchr(id_or_arn, ':');
    size_t k = strlen(kind);
    if (colon == NULL || strncmp(colon + 1, kind, k) != 0 || colon[1 + k] != '/')
        return NULL;
    return colon + 2 + k;
}

bool gl_is_fleet_id(const char *s)
{
    const char *id = gl_name_of(s, "fleet");
    return id != NULL && strncmp(id, "fleet-", 6) == 0 && id[6] != '\0' && no_space(id);
}

bool gl_is_queue_name(const char *s)
{
    const char *name = gl_name_of(s, "gamesessionqueue");
    return name != NULL && *name != '\0' && util_is_token(name, 256, "-");
}

static bool made_of(const char *s, const char *extra)
{
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr(extra, c) != NULL))
            return false;
    }
    return true;
}

bool gl_is_id_string(const char *s)
{
    return made_of(s, "-");
}

bool gl_is_arn_string(const char *s)
{
    return made_of(s, ":/-");
}

bool gl_is_location(const char *s)
{
    return made_of(s, "-");
}
