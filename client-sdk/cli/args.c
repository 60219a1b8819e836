/* The rally tool's argument and answer helpers (args.h). */
#include "args.h"

#include <errno.h>
#include <stdlib.h>

#include <string.h>

const char *cli_flag(int argc, char **argv, const char *name)
{
    for (int i = 0; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return NULL;
}

bool cli_has(int argc, char **argv, const char *name)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return true;
    return false;
}

bool cli_flags_known(int argc, char **argv, int skip, const char *const *valued,
                     const char *const *bare)
{
    for (int i = skip; i < argc; i++) {
        bool ok = false;
        for (const char *const *v = valued; *v != NULL && !ok; v++)
            if (strcmp(argv[i], *v) == 0 && i + 1 < argc)
                ok = true, i++;
        for (const char *const *b = bare; *b != NULL && !ok; b++)
            ok = strcmp(argv[i], *b) == 0;
        if (!ok)
            return false;
    }
    return true;
}

const char *cli_text_of(json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v != NULL ? v : "";
}

json_t *cli_properties(int argc, char **argv)
{
    json_t *props = json_array();
    for (int i = 0; i + 1 < argc; i++) {
        const char *eq = strcmp(argv[i], "--property") == 0 ? strchr(argv[i + 1], '=') : NULL;
        if (eq != NULL)
            json_array_append_new(props, json_pack("{s:s%, s:s}", "Key", argv[i + 1],
                                                   (size_t)(eq - argv[i + 1]), "Value", eq + 1));
    }
    return props;
}

bool cli_int(const char *s, long lo, long hi, int *out)
{
    char *end = NULL;
    errno = 0;
    long v = s != NULL ? strtol(s, &end, 10) : 0;
    if (s == NULL || errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return false;
    *out = (int)v;
    return true;
}
