/*
 * The matchmaking tick of rally-matchmaker: for every configuration this
 * process leads, in one transaction, time out old tickets, move new ones to
 * SEARCHING, form matches with the FlexMatch engine, and publish each
 * step's FlexMatch event to the configuration's NotificationTarget.
 *
 * Leadership: one per configuration (lead.h).
 *
 * STANDALONE configurations complete a match at once, or after every
 * player accepted (teams in MatchmakingSucceeded); WITH_QUEUE ones hand it
 * to placement (placement.h), which completes it once its game session is
 * ACTIVE.
 */
#ifndef RALLY_MATCHMAKER_MATCHER_H
#define RALLY_MATCHMAKER_MATCHER_H

#include "db.h"

/* Registers the statements of the tick (db_register); before db_init. */
void matcher_init(void);

/* One tick. Returns the number of matches formed, or -1 when the database
 * is unavailable. */
int matcher_tick(void);

#endif
