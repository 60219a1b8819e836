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
#include <stdio.h>

#include "rally/rally.h"

/* 0 with the server's first line in answer (cap bytes), or -1. */
int rally_example_take_seat(const struct rally_ticket *t, char *answer, size_t cap);

/* rally_example_take_seat(), printing the first line to out, then, once
 * the seat is taken ("OK"), each of the n lines sent in turn and the
 * server's answer to it printed to out. */
int rally_example_play(const struct rally_ticket *t, char *const *lines, size_t n, char *answer,
                       size_t cap, FILE *out);

#endif
