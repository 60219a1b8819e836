/*
 * world-state's modules: main.c (the route table, the statements, worlds
 * and who may use them), lifecycle.c (a world's settings, players joining,
 * its end), blocks.c (the block store), chunklog.c (a chunk's log read),
 * items.c (keys and values), item_parts.c (values in parts), saves.c
 * (snapshot blobs). Handlers answer through serve.h; the statements are one table,
 * prepared on every connection.
 */
#ifndef RALLY_WORLD_STATE_H
#define RALLY_WORLD_STATE_H

#include <stdbool.h>

#include "db.h"
#include "http.h"

/* What the world state takes and gives (metrics.h), declared before the
 * fork (world_declare_metrics); NULL while metrics are off. */
struct world_metrics {
    struct metric *blocks_written, *chunks_read, *items_written, *save_bytes;
};
extern struct world_metrics world_metrics;
void world_declare_metrics(void);

enum world_stmt {
    W_KEY,
    W_CREATE,
    W_HOST,
    W_WRITE_BLOCKS,
    W_READ_CHUNKS,
    W_CLEAR_CHUNK,
    W_SAVE_BEGIN,
    W_SAVE_LIST,
    W_SAVE_PUT_PART,
    W_SAVE_PART,
    W_SAVE_OF,
    W_SAVE_COMPLETE,
    W_SAVE_MANIFEST,
    W_ITEMS_PUT,
    W_ITEM_GET,
    W_ITEMS_PREFIX,
    W_ITEM_UPLOAD,
    W_ITEM_PART,
    W_DESCRIBE,
    W_CONFIGURE,
    W_JOIN,
    W_STOP,
    W_NSTMTS
};

/* A statement of the table, for db_exec_bin. */
const struct db_stmt *world_stmt(enum world_stmt stmt);

/* Runs one statement; NULL after answering the failure. */
PGresult *world_call(struct http_req *req, struct http_resp *resp, enum world_stmt stmt,
                     const char *const *params);

/* The bytes one part of a save or of an item's value carries at most. */
#define WORLD_MAX_PART (8 * 1024 * 1024)

/* Whether the body is a part's (1 byte to WORLD_MAX_PART); false after
 * answering 400, or 413 when it is larger. */
bool world_part_body_ok(struct http_req *req, struct http_resp *resp);

/* A positive integer query parameter up to max, or -1 (absent or not one). */
long world_query_number(struct http_req *req, const char *name, long max);

/* The path's world, as this caller may use it: its key (an arena string),
 * or NULL after answering 404 (unknown, or not the caller's). */
const char *world_key(struct http_req *req, struct http_resp *resp);

/* lifecycle.c */
void handle_world_get(struct http_req *req, struct http_resp *resp);
void handle_world_put(struct http_req *req, struct http_resp *resp);
void handle_join(struct http_req *req, struct http_resp *resp);
void handle_stop(struct http_req *req, struct http_resp *resp);

/* blocks.c */
void handle_write_blocks(struct http_req *req, struct http_resp *resp);
void handle_read_chunks(struct http_req *req, struct http_resp *resp);
void handle_clear_chunk(struct http_req *req, struct http_resp *resp);

/* The most parts of an item's value (each up to 8 MiB: 256 MiB). */
#define ITEM_MAX_PARTS 32

/* item_parts.c */
void handle_item_upload(struct http_req *req, struct http_resp *resp);
void handle_item_part(struct http_req *req, struct http_resp *resp);

/* items.c */
void handle_items_put(struct http_req *req, struct http_resp *resp);
void handle_items_get(struct http_req *req, struct http_resp *resp);

/* saves.c */
void handle_save_begin(struct http_req *req, struct http_resp *resp);
void handle_save_list(struct http_req *req, struct http_resp *resp);
void handle_save_put_part(struct http_req *req, struct http_resp *resp);
void handle_save_get_part(struct http_req *req, struct http_resp *resp);
void handle_save_complete(struct http_req *req, struct http_resp *resp);
void handle_save_manifest(struct http_req *req, struct http_resp *resp);

#endif
