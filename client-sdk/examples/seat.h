/*
 * Taking a seat on the sample game server (gameserver/main.c): connect to
 * the address a COMPLETED ticket names, send the PlayerSessionId, read the
 * first line ("OK <PlayerId>" or "DENIED <reason>"). Shared by the example
 * client and `rally matchmake --connect`; a real game speaks its own
 * protocol here.
 */
#ifndef RALLY_EXAMPLE_SEAT_H
#define RALLY_EXAMPLE_SEAT_H

#include <stddef.h>

#include "rally/rally.h"

/* 0 with the server's first line in answer (cap bytes), or -1. */
int rally_example_take_seat(const struct rally_ticket *t, char *answer, size_t cap);

#endif
