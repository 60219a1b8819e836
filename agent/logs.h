/*
 * Game-session logs of the agent's processes (docs/observability.md).
 *
 * Each process's stdout and stderr go to a file of its own in the log
 * directory (DIR/<process id>.log), opened by the agent at launch and
 * appended to by the process, so that the output outlives the agent as the
 * process does. What the process wrote while it hosted a game session is
 * that game session's log: sent to rally (PUT /v1/fleet/game-sessions/{id}/log)
 * every minute while the game session runs, and once more when it ends, as
 * its last `max` bytes. The files stay after their processes end, `days`
 * days (14), the oldest of them removed first while the directory holds
 * more than `cap` bytes; a file that grows past 64 MiB while its process
 * hosts nothing is emptied.
 *
 * Where a game session's log begins is written beside the file
 * (DIR/<process id>.session), so an agent started again carries on the
 * logs of the processes it adopts. A send rally cannot take (no answer,
 * 429, 5xx) is tried again with a growing pause, for about half an hour.
 *
 * Ownership: the table owns its entries and strings; rally_server handles
 * are borrowed per call.
 */
#ifndef RALLY_AGENT_LOGS_H
#define RALLY_AGENT_LOGS_H

#include <stddef.h>

#include "rally_server.h"

struct agent_logs;

/* A table writing under dir (made 0700 if missing), sending at most max
 * bytes of a game session's log, keeping ended processes' files `days`
 * days and the directory under cap bytes; NULL when dir is unusable
 * (logged). */
struct agent_logs *logs_new(const char *dir, size_t max, double days, double cap);
void logs_free(struct agent_logs *l);

/* The descriptor a new process's stdout and stderr are to be (the caller
 * closes it after the fork), or -1 (logged: it inherits the agent's). */
int logs_open(struct agent_logs *l, const char *process_id);

/* A process of an earlier agent, taken over (slots_adopt); then, once all
 * are, logs_adopted: only from then on are ended processes' files pruned,
 * so that no running process's file is taken for an ended one's. */
void logs_adopt(struct agent_logs *l, const char *process_id);
void logs_adopted(struct agent_logs *l);

/* Where process_id may serve its metrics (DIR/<process id>.metrics.sock:
 * RALLY_METRICS_LISTEN in its environment; child_metrics.h). */
void logs_metrics_socket(const struct agent_logs *l, const char *process_id, char *out,
                         size_t size);
/* Where process_id's rally-sidecar may serve its own
 * (DIR/<process id>.sidecar.metrics.sock). */
void logs_sidecar_metrics_socket(const struct agent_logs *l, const char *process_id, char *out,
                                 size_t size);

/* What rally says process_id hosts now: a game session's id, or NULL. */
void logs_hosting(struct agent_logs *l, const char *process_id, const char *game_session,
                  double now);

/* The process exited: its game session's log is sent a last time. */
void logs_ended(struct agent_logs *l, const char *process_id);

/* Sends the logs that are due, at most a few per call; once a minute,
 * removes the files past their days or over the directory's cap. */
void logs_send(struct agent_logs *l, rally_server *s, double now);

/* Stopping: sends everything still queued, for up to `seconds`. */
void logs_flush(struct agent_logs *l, rally_server *s, double seconds);

#endif
