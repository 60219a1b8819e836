/*
 * `rally rt connect`: a player on a relay server by hand (rally/realtime.h),
 * with the connection info matchmaking or `rally world join` gave:
 *
 *   rally rt connect HOST:PORT PLAYER_SESSION_ID [--payload TEXT] [--tcp-only]
 *                    [--tls [--ca FILE]]     (wss, the relay's certificate
 *                                             checked against FILE's CAs)
 *
 * Then lines on stdin, each one command:
 *   send OP TARGET TEXT     reliable; TARGET is all, server, player:N or group:N
 *   fast OP TARGET TEXT     the same over UDP when it works
 *   join G | leave G | members G
 *   quit                    (or end of input): goodbye
 * and a line on stdout for each event (--json: a JSON object per line).
 */
#ifndef RALLY_CLI_RT_H
#define RALLY_CLI_RT_H

#include <stdbool.h>

/* Runs one rt command; returns the CLI's exit code. */
int rally_rt_command(int argc, char **argv, bool as_json);

#endif
