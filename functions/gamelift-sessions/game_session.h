/*
 * A game session in GameLift's shape (GameSession), written as JSON text
 * from its row: the one renderer of gamelift-sessions' replies, fast
 * enough for a page of 100 (jsonw.h).
 */
#ifndef RALLY_GAMELIFT_SESSIONS_GAME_SESSION_H
#define RALLY_GAMELIFT_SESSIONS_GAME_SESSION_H

#include <libpq-fe.h>

struct arena;
struct jsonw;

/* A game session's columns over fleet.game_sessions g, in enum gs_column's
 * order. Times are epoch milliseconds: PostgreSQL prints a bigint at a
 * fraction of what a float or a timestamp costs it. */
#define GAME_SESSION_COLUMNS                                                                       \
    "g.game_session_arn, g.name, g.fleet_id, (date_part('epoch', g.created_at) * 1000)::bigint, "  \
    "(date_part('epoch', g.ended_at) * 1000)::bigint, g.seats_taken, g.maximum_players, "          \
    "g.status, g.status_reason, g.game_properties, g.ip_address, g.dns_name, g.port, "             \
    "g.player_session_creation_policy, g.creator_id, g.game_session_data, g.matchmaker_data, "     \
    "g.location, g.protection_policy"

enum gs_column {
    GS_ARN,
    GS_NAME,
    GS_FLEET,
    GS_CREATED,
    GS_ENDED,
    GS_SEATS,
    GS_MAX,
    GS_STATUS,
    GS_REASON,
    GS_PROPERTIES,
    GS_IP,
    GS_DNS,
    GS_PORT,
    GS_POLICY,
    GS_CREATOR,
    GS_DATA,
    GS_MATCHMAKER_DATA,
    GS_LOCATION,
    GS_PROTECTION,
};

/* Writes the GameSession of row `row` of r (a result of
 * GAME_SESSION_COLUMNS) as the next value of w; FleetArn's text is made
 * in the arena. */
void game_session_write(struct jsonw *w, struct arena *a, const PGresult *r, int row);

#endif
