/* JSON with comments and trailing commas, normalised for jansson. */
#include "jsonc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void jsonc_normalise(char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        char c = s[i];
        if (c == '"') {
            for (i++; i < len && s[i] != '"'; i++)
                if (s[i] == '\\')
                    i++;
            i++;
        } else if (c == '/' && i + 1 < len && s[i + 1] == '/') {
            while (i < len && s[i] != '\n')
                s[i++] = ' ';
        } else if (c == '/' && i + 1 < len && s[i + 1] == '*') {
            s[i++] = ' ';
            s[i++] = ' ';
            while (i < len && !(s[i] == '*' && i + 1 < len && s[i + 1] == '/')) {
                if (s[i] != '\n')
                    s[i] = ' '; /* keep newlines so error line numbers stay true */
                i++;
            }
            if (i < len)
                s[i++] = ' ';
            if (i < len)
                s[i++] = ' ';
        } else if (c == ',') {
            /* A trailing comma: only whitespace or comments before } or ]. */
            size_t j = i + 1;
            for (;;) {
                while (j < len && (s[j] == ' ' || s[j] == '\t' || s[j] == '\n' || s[j] == '\r'))
                    j++;
                if (j + 1 < len && s[j] == '/' && s[j + 1] == '/') {
                    while (j < len && s[j] != '\n')
                        j++;
                } else if (j + 1 < len && s[j] == '/' && s[j + 1] == '*') {
                    j += 2;
                    while (j + 1 < len && !(s[j] == '*' && s[j + 1] == '/'))
                        j++;
                    j += 2;
                } else {
                    break;
                }
            }
            if (j < len && (s[j] == '}' || s[j] == ']'))
                s[i] = ' ';
            i++;
        } else {
            i++;
        }
    }
}

json_t *jsonc_load_file(const char *path, json_error_t *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err->text, sizeof(err->text), "could not open file");
        err->line = 0;
        return NULL;
    }
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while (buf != NULL && (n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            char *bigger = cap < 16 * 1024 * 1024 ? realloc(buf, cap * 2) : NULL;
            if (bigger == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf == NULL) {
        snprintf(err->text, sizeof(err->text), "file too large");
        err->line = 0;
        return NULL;
    }
    jsonc_normalise(buf, len);
    json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, err);
    free(buf);
    return j;
}
