/*
 * Push of ticket updates: the current MatchmakingTicket JSON of a ticket,
 * published to its channel on nginx's nchan publisher (a unix socket only
 * the functions and the matchmaker reach, RALLY_PUSH_SOCKET). nginx keeps
 * the last message of each channel, so a subscriber gets the current
 * status at once, then every change (GET /v1/matchmaking/{id}/events:
 * WebSocket, EventSource or long-poll).
 *
 * Order: a publisher publishes while its transaction still holds the
 * ticket's row lock, and reads the view inside that transaction; the next
 * writer of the ticket waits for the commit, so messages reach the channel
 * in commit order and the last one kept is the newest.
 *
 * A failed publish is logged and otherwise ignored: polling still answers
 * with the truth. Up to 8 libcurl handles per process, kept alive: the
 * publishes of one call run side by side.
 */
#ifndef RALLY_COMMON_PUSH_H
#define RALLY_COMMON_PUSH_H

#include <stdbool.h>

/* Whether push is configured. */
bool push_enabled(void);

/* Publishes every row of a TICKET_VIEW_ANY_SQL result, rendered as
 * poll-ticket renders it, to its ticket's channel, several at once; after
 * a failed publish, the rest are skipped (logged). */
struct pg_result;
struct arena;
void push_ticket_rows(struct arena *a, const struct pg_result *r);

#endif
