/*
 * WITH_QUEUE placement, a part of the tick of a configuration that has
 * game session queues (reference/flexmatch-rules.md §2.4-2.5, aws-flow.md
 * §5.5-5.9):
 *
 *   PLACING match without a game session: the queue picks a location among
 *     those with an idle healthy process of its fleets (latency policies,
 *     average latency, LocationOrder), claims the process and opens an
 *     ACTIVATING game session on it with FlexMatch's MatcherData
 *     (hosting.h); the process learns of it on its next heartbeat.
 *   ACTIVE game session (the server activated it): a RESERVED player
 *     session per player, tickets COMPLETED, MatchmakingSucceeded with the
 *     connection info.
 *   Activation timed out, or the process died: the game session ends, the
 *     process is taken out, and the match is placed again.
 *   No placement within the queue's TimeoutInSeconds: the tickets go back
 *     to the pool (MatchmakingSearching).
 *   No queue of the configuration exists: the tickets FAIL
 *     (MatchmakingFailed), as FlexMatch does when its queue is not
 *     accessible.
 */
#ifndef RALLY_MATCHMAKER_PLACEMENT_H
#define RALLY_MATCHMAKER_PLACEMENT_H

#include "db.h"
#include "tick.h"

/* Registers the statements of placement (db_register); before db_init. */
void placement_init(void);

/* Advances every PLACING match of the configuration, inside the tick's
 * transaction. Returns the number of matches completed, or -1. */
int placement_run(struct tick *t);

#endif
