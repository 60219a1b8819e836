/*
 * An AWS access key, found where the AWS CLI finds it, and HTTP requests
 * signed with it (SigV4 for service "gamelift", libcurl's signer) to
 * rally's GameLift service API and its native routes that take such keys
 * (world-state). Used by `rally world`.
 *
 * The key comes from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, else the
 * AWS CLI's credentials file (AWS_SHARED_CREDENTIALS_FILE, else
 * ~/.aws/credentials; profile AWS_PROFILE, else default: `make run` writes
 * .run/aws/credentials); the region from AWS_REGION or AWS_DEFAULT_REGION,
 * else us-east-1.
 */
#ifndef RALLY_CLI_AWSKEY_H
#define RALLY_CLI_AWSKEY_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>

struct aws_key {
    char id[256], secret[256], region[64];
};

/* The key the AWS CLI would use; false without one. */
bool aws_find_key(struct aws_key *k);

/* One signed request: path under url ("/" for the GameLift API, whose
 * operation `target` names: X-Amz-Target GameLift.<target>; NULL for a
 * native route), body JSON text or NULL. *status is the HTTP status (0 when
 * none came), *out the answer parsed as JSON (new reference, NULL when it
 * is not). Returns libcurl's code. */
CURLcode aws_exchange(const char *url, const struct aws_key *k, const char *method,
                      const char *path, const char *target, const char *body, long *status,
                      json_t **out);

#endif
