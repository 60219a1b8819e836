/*
 * A fleet's RuntimeConfiguration (GameLift's shape): the server processes
 * each of its hosts runs, kept running by the fleet agent (agent/), and
 * how many game sessions may be activating at once. Validated by
 * rally-admin with the fleet (queue.c's fm_fleet_parse); read by the agent
 * from rally (GET /v1/fleet/runtime-configuration).
 */
#ifndef RALLY_ENGINE_RUNTIME_H
#define RALLY_ENGINE_RUNTIME_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "fields.h"

/* GameLift's ceiling on ServerProcesses entries. */
#define FM_MAX_SERVER_PROCESSES 50
/* Processes one host runs at most. GameLift caps an instance at 50; rally's
 * agent is one per host, of any size. */
#define FM_MAX_HOST_PROCESSES 1000

struct fm_server_process {
    const char *launch_path; /* absolute, or under the agent's game directory */
    const char *parameters;  /* "" when none; split on spaces, no shell */
    int concurrent;          /* ConcurrentExecutions */
};

/* rally's world-state sidecar beside each process (RuntimeConfiguration's
 * "Sidecar", a rally extension; docs/sidecar.md): the agent starts one per
 * process with these settings. */
struct fm_sidecar {
    bool enabled;     /* the object is there */
    bool durable;     /* Durable: a write waits for its commit by default */
    int flush_ms;     /* FlushMillis (50) */
    int flush_blocks; /* FlushBlocks (5000) */
    int buffered;     /* BufferedBlocks, a lane's (262144) */
};

struct fm_runtime {
    struct fm_server_process procs[FM_MAX_SERVER_PROCESSES];
    size_t nprocs;
    int total;                /* the processes a host runs: the sum of concurrent */
    int max_activations;      /* MaxConcurrentGameSessionActivations (0: no limit) */
    int activation_timeout_s; /* GameSessionActivationTimeoutSeconds (300) */
    struct fm_sidecar sidecar;
};

/* Validates a RuntimeConfiguration object (NULL: an empty one). Strings are
 * borrowed from `runtime`. 0, or -1 with *err naming the field. */
int fm_runtime_parse(json_t *runtime, struct fm_runtime *out, struct fm_error *err);

#endif
