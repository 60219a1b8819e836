/*
 * The agent's metrics (common/metrics.h): its launches, exits, kills and
 * quick exits (a crash loop's mark), slots crash-looping now, and each
 * game-server process's CPU, memory and uptime from /proc: the process
 * level metrics GameLift sends to CloudWatch.
 *
 * The main loop hands the slot table over after each round
 * (agent_metrics_update); a scrape, answered on libmicrohttpd's thread,
 * reads that copy under a lock and never the live table.
 */
#ifndef RALLY_AGENT_METRICS_H
#define RALLY_AGENT_METRICS_H

#include "logs.h"
#include "slots.h"

/* Declares the families and starts the endpoint at addr (metrics_http.h;
 * NULL: no endpoint). With process_logs (borrowed), the metrics its
 * processes serve in its directory are passed on too (child_metrics.h).
 * 0, or -1 (logged). */
int agent_metrics_start(const char *addr, const char *fleet, const char *location,
                        const struct agent_logs *process_logs);

void agent_metrics_update(const struct slots *t);

void agent_metrics_stop(void);

#endif
