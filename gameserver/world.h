/*
 * The sample game server's persistent world (docs/worlds.md, "Lifecycle"):
 * a game session whose GameSessionData names a world ({"worldId",
 * "session", "saveVersion"}). Its state lives in rally, reached through the
 * rally-sidecar beside the process (RALLY_SIDECAR_URL, RALLY_SIDECAR_KEY):
 *
 *   blocks  players build: "/place X Y Z W" writes one block, durable (the
 *           answer comes once it is committed); "/look P Q" lists chunk
 *           (P, Q)'s blocks;
 *   save    the world's chat, the lines players said, saved as one blob
 *           when the world ends (idle, stopped, the host drained) and
 *           restored from the save GameSessionData names when it starts.
 *
 * A world restarted after a crash finds every block a player was told was
 * placed, and the chat as of its last save.
 *
 * Ownership: world_open's handle is the caller's until world_close.
 */
#ifndef RALLY_GAMESERVER_WORLD_H
#define RALLY_GAMESERVER_WORLD_H

#include <stdbool.h>
#include <stddef.h>

struct world;

/* The world a game session names in its GameSessionData, restored from its
 * save; NULL when it names none, or when there is no sidecar to reach it
 * (said on stderr). */
struct world *world_open(const char *game_session_data);

/* The world's id. */
const char *world_id(const struct world *w);

/* A line a player said. A command ("/place", "/look") is answered into
 * reply for that player alone (true); any other line is kept in the chat
 * and is for everyone (false, reply untouched). */
bool world_line(struct world *w, const char *player, const char *line, char *reply, size_t cap);

/* Writes out what the sidecar holds and saves the chat (when and_save),
 * then frees the handle; NULL is fine. */
void world_close(struct world *w, bool and_save);

#endif
