/*
 * Group placement: GameLift's StartGameSessionPlacement, carried out. The
 * gamelift-placement function records a PENDING placement; each tick, for
 * every queue with pending placements that this process leads (lead.h), in
 * one transaction:
 *
 *   no game session yet: the queue chooses where (PlayerLatencies and its
 *     latency policies, or the placement's PriorityConfigurationOverride),
 *     and an ACTIVATING game session is opened on an idle process there
 *     with the placement's name, properties and data (hosting.h);
 *   its game session ACTIVE: seats reserved for DesiredPlayerSessions,
 *     FULFILLED, PlacementFulfilled (fleet.fulfil_placement);
 *   its game session will not start: abandoned, placed again;
 *   no game session within the queue's TimeoutInSeconds: TIMED_OUT,
 *     PlacementTimedOut;
 *   its queue is gone: FAILED, PlacementFailed.
 *
 * Events go to the queue's NotificationTarget through the outbox, in the
 * transaction that ends the placement (fleet.publish_placement_event).
 */
#ifndef RALLY_MATCHMAKER_GROUP_PLACEMENT_H
#define RALLY_MATCHMAKER_GROUP_PLACEMENT_H

/* Registers the statements (db_register); before db_init. */
void group_placement_init(void);

/* One tick over the queues with pending placements. Returns the number of
 * placements fulfilled, or -1 when the database is unavailable. */
int group_placement_tick(void);

#endif
