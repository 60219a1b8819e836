/*
 * A chunk's log (sql/025_chunk_log.sql): what was written to it, 16 bytes a
 * block (x, y, z, w as big-endian int32), oldest first. Its solid blocks
 * are each block's last value, air left out.
 */
#ifndef RALLY_WORLD_STATE_CHUNKLOG_H
#define RALLY_WORLD_STATE_CHUNKLOG_H

#include <stddef.h>

struct jsonw;

/* Writes the solid blocks of the log (len bytes) as the next value of w, a
 * JSON array [[x, y, z, w], ...] in (x, y, z) order. Not reentrant: it
 * works in tables of the process's own (one request at a time). */
void chunklog_write(struct jsonw *w, const unsigned char *log, size_t len);

#endif
