/*
 * `rally world` for worlds with a lifecycle (docs/worlds.md, "Lifecycle"):
 * a world named NAME keeps its state in rally's world-state, runs on a game
 * session of its fleet while players use it, ends when idle, and is started
 * again for the next player. Requests are signed with the AWS access key
 * `rally world` finds (awskey.h), as world-state accepts backend keys.
 *
 *   world create NAME --fleet ID [--location L] [--max N] [--idle-seconds S]
 *                [--property K=V]...
 *   world show NAME
 *   world join NAME --player ID [--data TEXT] [--connect] [--say LINE]...
 *   world end NAME
 */
#ifndef RALLY_CLI_WORLD_LIFE_H
#define RALLY_CLI_WORLD_LIFE_H

#include <stdbool.h>

#include "awskey.h"

/* Each runs one command (argv[0]: NAME, then its flags); the CLI's exit code. */
int world_life_create(const char *url, const struct aws_key *k, int argc, char **argv,
                      bool as_json);
int world_life_show(const char *url, const struct aws_key *k, int argc, char **argv, bool as_json);
int world_life_join(const char *url, const struct aws_key *k, int argc, char **argv, bool as_json);
int world_life_end(const char *url, const struct aws_key *k, int argc, char **argv, bool as_json);

#endif
