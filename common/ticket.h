/*
 * Matchmaking tickets as clients see them: input validation shared by the
 * routes that start tickets, the one SQL read of a ticket, and its rendering
 * as GameLift's MatchmakingTicket in each dialect.
 */
#ifndef RALLY_COMMON_TICKET_H
#define RALLY_COMMON_TICKET_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "http.h"

struct arena;

#define TICKET_MAX_REGIONS 32
#define TICKET_MAX_LATENCY 999999
#define TICKET_MAX_ATTRIBUTES 10

/* The columns of a ticket read, over backend.ticket_results r (TICKET_COL_*
 * order, less the last one). */
#define TICKET_COLUMNS_SQL                                                                         \
    "r.ticket_id, r.configuration_name, r.status, r.status_reason, r.status_message, "             \
    "(extract(epoch FROM r.start_time) * 1000000)::bigint, "                                       \
    "(extract(epoch FROM r.end_time) * 1000000)::bigint, r.estimated_wait_time, "                  \
    "r.game_session_arn, r.ip_address, r.dns_name, r.port, r.last_event, "                         \
    "(SELECT json_agg(json_build_object('PlayerId', p.player_id, 'PlayerAttributes', "             \
    "p.attributes, 'LatencyInMs', p.latency, 'Team', p.team, 'PlayerSessionId', "                  \
    "p.player_session_id) ORDER BY p.ord, p.player_id) FROM backend.ticket_players p "             \
    "WHERE p.ticket_id = r.ticket_id)"

/* The read of one ticket for one of its players ($1 ticket, $2 player):
 * no row when unknown, expired, or not this player's. */
#define TICKET_VIEW_SQL                                                                            \
    "SELECT " TICKET_COLUMNS_SQL ", me.player_session_id "                                         \
    "FROM backend.ticket_results r JOIN backend.ticket_players me "                                \
    "ON me.ticket_id = r.ticket_id AND me.player_id = $2 "                                         \
    "WHERE r.ticket_id = $1 AND r.expires_at > now()"

/* TICKET_VIEW_SQL for many (ticket, player) pairs at once ($1 the tickets,
 * $2 their players, text[] literals of the same length): its columns, then
 * the pair's 1-based position; no row for a pair it would give none. Each
 * pair is a probe of the primary keys (LATERAL ... LIMIT 1): a join would be
 * planned for unnest's guess of 100 rows, as a scan of every ticket. */
#define TICKET_VIEW_MANY_SQL                                                                       \
    "SELECT v.*, q.i FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS q(t, pl, i) "          \
    "CROSS JOIN LATERAL (SELECT " TICKET_COLUMNS_SQL ", me.player_session_id "                     \
    "FROM backend.ticket_results r JOIN backend.ticket_players me "                                \
    "ON me.ticket_id = r.ticket_id AND me.player_id = q.pl "                                       \
    "WHERE r.ticket_id = q.t AND r.expires_at > now() LIMIT 1) v"

/* Tickets by id, for a trusted backend ($1 a text[] literal of ids), in
 * the order asked; the last column is NULL. */
#define TICKET_VIEW_ANY_SQL                                                                        \
    "SELECT " TICKET_COLUMNS_SQL ", NULL FROM backend.ticket_results r "                           \
    "WHERE r.ticket_id = ANY ($1::text[]) AND r.expires_at > now() "                               \
    "ORDER BY array_position($1::text[], r.ticket_id)"

/* A column added here and to TICKET_COLUMNS_SQL needs one in request-
 * matchmaking's START statement too, which renders a new ticket from the
 * start call without reading it back. */
enum {
    TICKET_COL_ID,
    TICKET_COL_CONFIGURATION,
    TICKET_COL_STATUS,
    TICKET_COL_STATUS_REASON,
    TICKET_COL_STATUS_MESSAGE,
    TICKET_COL_START_US,
    TICKET_COL_END_US,
    TICKET_COL_WAIT,
    TICKET_COL_GAME_SESSION_ARN,
    TICKET_COL_IP,
    TICKET_COL_DNS,
    TICKET_COL_PORT,
    TICKET_COL_LAST_EVENT,
    TICKET_COL_PLAYERS,
    TICKET_COL_MY_PLAYER_SESSION,
};

/* Validates a latencyInMs object: 1..TICKET_MAX_REGIONS regions named
 * [A-Za-z0-9-]{1,64}, integer values 1..TICKET_MAX_LATENCY. With clamp, 0
 * becomes 1 (the AWS sample clients may send 0). Returns a new object, or
 * NULL with *why set. */
json_t *ticket_latency_from_json(json_t *in, bool clamp, const char **why);

/* Parses the LEGACY sample's "region_ms_region_ms" list (underscores or
 * whitespace between items). Same checks and result as above. */
json_t *ticket_latency_from_v1(struct arena *a, const char *s, const char **why);

/* Validates client player attributes: an object of at most
 * TICKET_MAX_ATTRIBUTES names, each exactly one of {"S": string 1..100},
 * {"N": number}, {"SL": [<=100 strings 1..100]}, {"SDM": {<=10 string:number}}.
 * 0, or -1 with *why set. */
int ticket_check_attributes(json_t *attrs, const char **why);

#define TICKET_MAX_ID 128
/* Players on one ticket (a party): FlexMatch's limit. */
#define TICKET_MAX_PARTY 10

/* True if id is a valid TicketId: 1..TICKET_MAX_ID of [a-zA-Z0-9-.]. */
bool ticket_id_is_valid(const char *id);

/* Renders row `row` of a TICKET_VIEW_SQL result as a MatchmakingTicket, with
 * times in the dialect's format (d->format_time). New reference. */
json_t *ticket_render(struct arena *a, const PGresult *r, int row, const struct dialect *d);

/* "arn:aws:gamelift:<region>:<account>:matchmakingconfiguration/<name>" */
char *ticket_configuration_arn(struct arena *a, const char *name);

#endif
