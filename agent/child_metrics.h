/*
 * The metrics of the agent's own processes (a rally-relay's), passed on in
 * the agent's scrape (agent_metrics.h): each process that serves them does
 * so on a unix socket in the agent's log directory (RALLY_METRICS_LISTEN,
 * set at launch), fetched with the scrape token when the agent is scraped.
 * Their families are merged: each one's HELP and TYPE once, then the
 * samples of every process with its labels (fleet, location, process_id)
 * added. process_* families are left out: the agent says each process's
 * CPU and memory itself (rally_gameserver_*).
 *
 * Ownership: a merged set owns its text; merged_free releases it.
 */
#ifndef RALLY_AGENT_CHILD_METRICS_H
#define RALLY_AGENT_CHILD_METRICS_H

#include <stddef.h>

struct metrics_text;

struct merged_family;

struct merged {
    struct merged_family *f;
    size_t n, cap;
};

/* GET /metrics from the unix socket at path, with the bearer token: the
 * body (malloc'd, NUL-terminated), or NULL (no socket, no answer within
 * half a second, not a 200). */
char *child_metrics_fetch(const char *path, const char *token);

/* Adds a process's exposition text, labels (rendered label text) added to
 * each of its samples. */
void merged_add(struct merged *m, const char *text, const char *labels);

void merged_write(const struct merged *m, struct metrics_text *out);
void merged_free(struct merged *m);

#endif
