/* Field checks shared by the configuration, queue and fleet parsers. */
#include "fields.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int fm_fail(struct fm_error *err, const char *field, const char *fmt, ...)
{
    snprintf(err->field, sizeof(err->field), "%s", field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return -1;
}

bool fm_token(const char *s, size_t max, const char *extra)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n > max)
        return false;
    for (const char *p = s; *p; p++) {
        bool alnum =
            (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9');
        if (!alnum && strchr(extra, *p) == NULL)
            return false;
    }
    return true;
}

int fm_known_fields(json_t *body, const char *const *known, const char *what, struct fm_error *err)
{
    const char *k;
    json_t *v;
    json_object_foreach(body, k, v)
    {
        bool found = false;
        for (size_t i = 0; known[i] != NULL && !found; i++)
            found = strcmp(k, known[i]) == 0;
        if (!found)
            return fm_fail(err, k, "is not a field of %s", what);
    }
    return 0;
}

int fm_int_field(json_t *body, const char *key, long lo, long hi, int *out, struct fm_error *err)
{
    json_t *v = json_object_get(body, key);
    if (v == NULL)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return fm_fail(err, key, "must be a whole number from %ld to %ld", lo, hi);
    *out = (int)json_integer_value(v);
    return 0;
}

int fm_text_field(json_t *body, const char *key, size_t lo, size_t hi, const char **out,
                  struct fm_error *err)
{
    json_t *v = json_object_get(body, key);
    if (v == NULL)
        return 0;
    if (!json_is_string(v) || json_string_length(v) < lo || json_string_length(v) > hi)
        return fm_fail(err, key, "must be a string of %zu to %zu characters", lo, hi);
    *out = json_string_value(v);
    return 0;
}

void fm_field_prefix(struct fm_error *err, const char *prefix)
{
    char f[2 * sizeof(err->field)];
    snprintf(f, sizeof(f), "%s%s%s", prefix, err->field[0] ? "." : "", err->field);
    size_t n = strnlen(f, sizeof(err->field) - 1);
    memcpy(err->field, f, n);
    err->field[n] = '\0';
}
