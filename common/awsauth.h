/*
 * Who calls the GameLift service API: AWS access keys, each bound to a
 * principal and a scope, and the check of a request's Signature Version 4
 * (sigv4.h) answered as AWS answers it.
 *
 * Keys: one file per key in RALLY_AWS_KEY_DIR, <AccessKeyId>.json, written
 * by `rally-admin aws-key create` (mode 0600; a file other users may read is
 * refused and logged):
 *   {"AccessKeyId": "AKIA...", "SecretAccessKey": "...",
 *    "Principal": "studio-backend", "Scope": "backend"}
 *   {..., "Scope": "fleet", "FleetId": "fleet-local"}
 * A backend key may call every operation; a fleet key only those a game
 * server makes, on its own fleet. The directory is read again when it
 * changes (keys are written by rename): looked at once a second, and at
 * once for a key not known yet. A new key works at once, a deleted one
 * stops within a second, without a restart.
 *
 * The check: an Authorization header of AWS4-HMAC-SHA256, scoped to the
 * service "gamelift" and to one of RALLY_AWS_REGIONS; X-Amz-Date and Host
 * signed, within 5 minutes of now; the signature over the canonical request
 * rebuilt from what nginx received, compared in constant time. Every failure
 * is a 400 with AWS's exception name and words.
 *
 * Ownership: keys live in the worker until the directory is read again;
 * strings handed out are copies in the request's arena.
 */
#ifndef RALLY_COMMON_AWSAUTH_H
#define RALLY_COMMON_AWSAUTH_H

#include <stdint.h>

struct http_req;

enum awsauth_scope {
    AWSAUTH_BACKEND = 1,
    AWSAUTH_FLEET = 2,
};

struct awsauth_caller {
    const char *access_key_id;
    const char *principal;
    enum awsauth_scope scope;
    const char *fleet_id; /* the fleet of a fleet key, else NULL */
};

struct awsauth_error {
    const char *type;    /* e.g. "InvalidSignatureException" */
    const char *message; /* AWS's words; arena or static */
};

/* Reads the keys of cfg->aws_key_dir (none when unset: every call is then
 * refused as from an unknown key). 0, or -1 if the directory cannot be read
 * (logged; retried on the next check). */
int awsauth_load(void);

/* Checks req's signature at `now` (seconds). 0 with *who, or -1 with *err. */
int awsauth_check(struct http_req *req, int64_t now, struct awsauth_caller *who,
                  struct awsauth_error *err);

#endif
