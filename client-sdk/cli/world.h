/*
 * `rally world`: persistent worlds, signed with an AWS access key as the
 * AWS CLI signs (awskey.h says where the key comes from). A world by NAME
 * has a lifecycle and keeps its state (world_life.h: create, show, join,
 * end); a world as a bare game session goes through rally's GameLift
 * service API:
 *
 *   world create --fleet ID [--location L] [--max N] [--name NAME] [--property K=V]...
 *   world list --fleet ID [--location L] [--status STATUS]
 *   world join ARN --player ID [--data TEXT] [--connect]
 *   world end ARN [--force]
 *
 * ARN is a game session's (GameLift's GameSessionId).
 */
#ifndef RALLY_CLI_WORLD_H
#define RALLY_CLI_WORLD_H

#include <stdbool.h>

/* Runs one world command against url; returns the CLI's exit code. */
int rally_world(const char *url, int argc, char **argv, bool as_json);

#endif
