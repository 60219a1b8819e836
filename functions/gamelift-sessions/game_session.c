#include "game_session.h"

#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "db.h"
#include "gamelift.h"
#include "jsonw.h"

/* Optional members are left out when NULL or empty, as GameLift does. */
static void optional(struct jsonw *w, const char *key, const char *v)
{
    if (v != NULL && *v != '\0')
        jsonw_key_string(w, key, v);
}

/* The FleetArn of `fleet`. A page is one fleet's, and the region and
 * account never change in a process: the last one is remembered (malloc'd,
 * for the process's life) rather than printed again for every row. */
static const char *fleet_arn(struct arena *a, const char *fleet)
{
    static char *last_fleet, *last_arn;
    if (last_fleet != NULL && strcmp(last_fleet, fleet) == 0)
        return last_arn;
    char *arn = gl_arn(a, arena_sprintf(a, "fleet/%s", fleet));
    free(last_fleet);
    free(last_arn);
    last_fleet = strdup(fleet);
    last_arn = strdup(arn);
    if (last_fleet == NULL || last_arn == NULL) {
        free(last_fleet);
        free(last_arn);
        last_fleet = last_arn = NULL;
    }
    return arn;
}

void game_session_write(struct jsonw *w, struct arena *a, const PGresult *r, int row)
{
    const char *fleet = db_get(r, row, GS_FLEET), *ended = db_get(r, row, GS_ENDED);
    jsonw_open(w, '{');
    jsonw_key_string(w, "GameSessionId", db_get(r, row, GS_ARN));
    optional(w, "Name", db_get(r, row, GS_NAME));
    jsonw_key_string(w, "FleetId", fleet);
    jsonw_key_string(w, "FleetArn", fleet_arn(a, fleet));
    jsonw_key(w, "CreationTime");
    jsonw_epoch_ms(w, db_get(r, row, GS_CREATED));
    if (ended != NULL) {
        jsonw_key(w, "TerminationTime");
        jsonw_epoch_ms(w, ended);
    }
    /* Integers and jsonb as PostgreSQL printed them: already JSON. */
    jsonw_key_raw(w, "CurrentPlayerSessionCount", db_get(r, row, GS_SEATS));
    jsonw_key_raw(w, "MaximumPlayerSessionCount", db_get(r, row, GS_MAX));
    jsonw_key_string(w, "Status", db_get(r, row, GS_STATUS));
    optional(w, "StatusReason", db_get(r, row, GS_REASON));
    jsonw_key_raw(w, "GameProperties", db_get(r, row, GS_PROPERTIES));
    jsonw_key_string(w, "IpAddress", db_get(r, row, GS_IP));
    optional(w, "DnsName", db_get(r, row, GS_DNS));
    jsonw_key_raw(w, "Port", db_get(r, row, GS_PORT));
    jsonw_key_string(w, "PlayerSessionCreationPolicy", db_get(r, row, GS_POLICY));
    optional(w, "CreatorId", db_get(r, row, GS_CREATOR));
    optional(w, "GameSessionData", db_get(r, row, GS_DATA));
    optional(w, "MatchmakerData", db_get(r, row, GS_MATCHMAKER_DATA));
    jsonw_key_string(w, "Location", db_get(r, row, GS_LOCATION));
    jsonw_close(w, '}');
}
