/*
 * The rally tool's argument and answer helpers, shared by its commands.
 */
#ifndef RALLY_CLI_ARGS_H
#define RALLY_CLI_ARGS_H

#include <jansson.h>
#include <stdbool.h>

/* The value after flag `name` in argv, or NULL. */
const char *cli_flag(int argc, char **argv, const char *name);

/* Whether argv holds `name`. */
bool cli_has(int argc, char **argv, const char *name);

/* True when every argument is a known flag (with its value when it takes
 * one), after `skip` positional ones. */
bool cli_flags_known(int argc, char **argv, int skip, const char *const *valued,
                     const char *const *bare);

/* Every --property K=V as GameLift's GameProperties ([{"Key", "Value"}]);
 * a new reference. */
json_t *cli_properties(int argc, char **argv);

/* s as a whole decimal number within [lo, hi] into *out; false if it is
 * not one. */
bool cli_int(const char *s, long lo, long hi, int *out);

/* A string member, "" when absent. */
const char *cli_text_of(json_t *o, const char *key);

#endif
