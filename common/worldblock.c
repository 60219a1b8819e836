#include "worldblock.h"

#include <stdbool.h>

const char *world_block_read(const json_t *block, long v[4])
{
    bool ok = json_is_array(block) && json_array_size(block) == 4;
    for (int k = 0; k < 4; k++) {
        const json_t *e = ok ? json_array_get(block, (size_t)k) : NULL;
        ok = ok && json_is_integer(e);
        v[k] = ok ? (long)json_integer_value(e) : 0;
    }
    return !ok ? "[x, y, z, w], four integers"
           : v[0] < -WORLD_XZ_LIMIT || v[0] >= WORLD_XZ_LIMIT || v[2] < -WORLD_XZ_LIMIT ||
                   v[2] >= WORLD_XZ_LIMIT
               ? "x and z: from -33554432 to 33554431"
           : v[1] < 0 || v[1] > 255                    ? "y: from 0 to 255"
           : v[3] < -2147483648L || v[3] > 2147483647L ? "w: a 32-bit integer"
                                                       : NULL;
}
