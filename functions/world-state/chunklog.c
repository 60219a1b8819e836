/* A chunk's log resolved into its solid blocks (chunklog.h). */
#include "chunklog.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"

/* A block of a chunk by its place in it: x and z within the chunk (5 bits
 * each), y (8 bits), as (x << 13) | (y << 5) | z, so that cells in
 * numeric order are blocks in (x, y, z) order. */
#define CELLS (1u << 18)

/* Which cells the current log set (stamp == generation), their values, and
 * the cells in the order first set: the process's own, reused by each call. */
static uint32_t stamp[CELLS];
static int32_t value[CELLS];
static uint32_t order[CELLS];
static uint32_t generation;

static int by_cell(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int32_t be32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return (int32_t)ntohl(v);
}

/* n in decimal at out; returns the characters written (at most 11). */
static size_t decimal(char *out, int32_t n)
{
    char digits[12];
    size_t len = 0, k = 0;
    uint32_t u = n < 0 ? 0u - (uint32_t)n : (uint32_t)n;
    do
        digits[k++] = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    if (n < 0)
        out[len++] = '-';
    while (k > 0)
        out[len++] = digits[--k];
    return len;
}

void chunklog_write(struct jsonw *w, const unsigned char *log, size_t len)
{
    size_t n = len / 16, cells = 0;
    int32_t base_x = 0, base_z = 0;
    bool sorted = true;      /* a rewritten log is: no sort needed */
    if (++generation == 0) { /* wrapped: every stamp is stale again */
        memset(stamp, 0, sizeof(stamp));
        generation = 1;
    }
    for (size_t i = 0; i < n; i++) {
        const unsigned char *r = log + 16 * i;
        int32_t x = be32(r), y = be32(r + 4), z = be32(r + 8);
        if (i == 0) {
            base_x = x & ~31;
            base_z = z & ~31;
        }
        uint32_t cell =
            ((uint32_t)(x & 31) << 13) | ((uint32_t)(y & 255) << 5) | (uint32_t)(z & 31);
        if (stamp[cell] != generation) {
            stamp[cell] = generation;
            sorted = sorted && (cells == 0 || order[cells - 1] < cell);
            order[cells++] = cell; /* a block written again keeps its place */
        }
        value[cell] = be32(r + 12);
    }
    if (!sorted)
        qsort(order, cells, sizeof(order[0]), by_cell);
    jsonw_open(w, '[');
    for (size_t i = 0; i < cells; i++) {
        uint32_t cell = order[i];
        if (value[cell] == 0)
            continue; /* air */
        char text[64];
        size_t k = 0;
        text[k++] = '[';
        k += decimal(text + k, base_x + (int32_t)(cell >> 13));
        text[k++] = ',';
        k += decimal(text + k, (int32_t)((cell >> 5) & 255));
        text[k++] = ',';
        k += decimal(text + k, base_z + (int32_t)(cell & 31));
        text[k++] = ',';
        k += decimal(text + k, value[cell]);
        text[k++] = ']';
        text[k] = '\0';
        jsonw_raw(w, text);
    }
    jsonw_close(w, ']');
}
