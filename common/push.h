/*
 * Push of ticket updates: the current MatchmakingTicket JSON of a ticket,
 * published to its channel on nginx's nchan publisher (a unix socket only
 * the functions and the matchmaker reach, RALLY_PUSH_SOCKET). nginx keeps
 * the last message of each channel, so a subscriber gets the current
 * status at once, then every change (GET /v1/matchmaking/{id}/events:
 * WebSocket, EventSource or long-poll).
 *
 * Only what was committed is published: a publisher commits first, then
 * push_tickets reads each ticket's committed view and publishes it. A
 * client told COMPLETED can act on it at once (its game server finds the
 * player session), and a rolled-back change is never announced.
 *
 * Order without a lock: each view is read with its row version (xmin),
 * and after publishing, push_tickets reads the versions again and
 * publishes anew each ticket that changed meanwhile. A writer that commits
 * after that read publishes after it too, so the last message a channel
 * keeps is the newest committed view.
 *
 * A failed publish is logged and otherwise ignored: polling still answers
 * with the truth. Up to 8 libcurl handles per process, kept alive: the
 * publishes of one call run side by side, for at most 3 s.
 */
#ifndef RALLY_COMMON_PUSH_H
#define RALLY_COMMON_PUSH_H

#include <stdbool.h>
#include <stddef.h>

/* Whether push is configured. */
bool push_enabled(void);

/* Registers push's statements (db_register); once per process that pushes. */
void push_init(void);

/* Publishes the committed view of each of the n tickets of ids (repeats
 * allowed; unknown and expired ones are skipped) to its channel. Called
 * after the commit that changed them, outside any transaction. */
struct arena;
void push_tickets(struct arena *a, const char *const *ids, size_t n);

#endif
