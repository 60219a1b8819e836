/*
 * `rally world`: persistent worlds through rally's GameLift service API,
 * signed with an AWS access key as the AWS CLI signs (libcurl's SigV4):
 *
 *   world create --fleet ID [--location L] [--max N] [--name NAME] [--property K=V]...
 *   world list --fleet ID [--location L] [--status STATUS]
 *   world join WORLD --player ID [--data TEXT] [--connect]
 *   world end WORLD [--force]
 *
 * WORLD is a game session's ARN (GameLift's GameSessionId). The key comes
 * from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, else the AWS CLI's
 * credentials file (AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials;
 * profile AWS_PROFILE, else default: `make run` writes .run/aws/credentials);
 * the region from AWS_REGION or AWS_DEFAULT_REGION, else us-east-1.
 */
#ifndef RALLY_CLI_WORLD_H
#define RALLY_CLI_WORLD_H

#include <stdbool.h>

/* Runs one world command against url; returns the CLI's exit code. */
int rally_world(const char *url, int argc, char **argv, bool as_json);

#endif
