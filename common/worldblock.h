/*
 * The MMO seed's block coordinates, as world-state stores them and the
 * sidecar checks them before buffering (docs/worlds.md, "Blocks"): chunks of
 * 32x32 columns keyed (p, q) = (floor(x / 32), floor(z / 32)), blocks
 * (x, y, z) -> w, 0 <= y < 256, w = 0 for air, x and z within a world 2^26
 * blocks across each way.
 */
#ifndef RALLY_COMMON_WORLDBLOCK_H
#define RALLY_COMMON_WORLDBLOCK_H

#include <jansson.h>

/* World coordinates: from -XZ_LIMIT to XZ_LIMIT - 1. */
#define WORLD_XZ_LIMIT (1L << 25)
/* A chunk coordinate's bound (either sign). */
#define WORLD_PQ_LIMIT (WORLD_XZ_LIMIT / 32)
/* The most blocks one write carries. */
#define WORLD_MAX_BLOCKS 10000

/* Reads one [x, y, z, w] of a write into v; NULL when it is fine, else what
 * is wrong with it, in words. */
const char *world_block_read(const json_t *block, long v[4]);

/* The chunk of world coordinate x (or z): floor(x / 32). */
static inline long world_chunk_of(long x)
{
    return x >= 0 ? x / 32 : -((-x + 31) / 32);
}

#endif
