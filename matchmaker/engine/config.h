/*
 * Matchmaking configurations: the fields of GameLift's
 * CreateMatchmakingConfiguration, validated with its ranges, plus rally's
 * ClientSettableAttributes. Loaded from the files of config/configurations/ by
 * rally-admin, and read back from PostgreSQL by the matchmaker.
 *
 * Ownership: strings point into the json_t the config was parsed from, which
 * must outlive it.
 */
#ifndef RALLY_MATCHMAKER_CONFIG_H
#define RALLY_MATCHMAKER_CONFIG_H

#include <jansson.h>
#include <stdbool.h>

#include "ruleset.h"

struct fm_config {
    const char *name;
    const char *rule_set_name; /* a name; an ARN is reduced to its name */
    int request_timeout_seconds;
    bool acceptance_required;
    int acceptance_timeout_seconds; /* 0 unless acceptance is required */
    bool standalone;                /* FlexMatchMode STANDALONE (else WITH_QUEUE) */
    json_t *queue_arns;             /* GameSessionQueueArns, or NULL */
    const char *notification_target;
    int additional_player_count;
    const char *custom_event_data;
    json_t *game_properties; /* [{"Key", "Value"}], or NULL */
    const char *game_session_data;
    bool backfill_automatic;
    json_t *client_settable; /* rally: attribute names a client may set */
};

/* True if s may name a rule set or a matchmaking configuration: GameLift's
 * MatchmakingIdStringModel, 1-128 characters of [a-zA-Z0-9-.]. One grammar
 * for both, so every rule set that loads can be named by a configuration. */
bool fm_name_is_valid(const char *s);
#define FM_NAME_RULE "must be 1-128 characters of [a-zA-Z0-9-.]"

/* Validates body. `fallback_name` names the configuration when it has no
 * "Name" (the file name). 0, or -1 with *err naming the field. */
int fm_config_parse(json_t *body, const char *fallback_name, struct fm_config *out,
                    struct fm_error *err);

/* Checks what involves the configuration's rule set: client-settable
 * attributes declared, expansions within RequestTimeoutSeconds. */
int fm_config_check_ruleset(const struct fm_config *c, const struct fm_ruleset *rs,
                            struct fm_error *err);

#endif
