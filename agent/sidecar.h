/*
 * The world-state sidecar beside a slot's process (docs/sidecar.md), when
 * the RuntimeConfiguration has a "Sidecar": before the process launches,
 * the agent opens a socket listening on 127.0.0.1 (a free port) and makes
 * a key; the process gets RALLY_SIDECAR_URL and RALLY_SIDECAR_KEY, and
 * rally-sidecar gets the socket (--listen-fd 3), the key and the fleet's
 * credentials. The socket stays with the agent while the process runs, so
 * a sidecar that dies is relaunched on the same port, and calls made
 * meanwhile wait in its backlog instead of being refused. The sidecar
 * watches its process (--watch-pid) and, once it is gone, writes out what
 * it buffered and exits, even when the agent itself was restarted; it
 * writes as that process (--process-id), so rally refuses what it still
 * holds once the process's world runs elsewhere.
 *
 * Ownership: the slot owns its struct sidecar (the socket, the key).
 */
#ifndef RALLY_AGENT_SIDECAR_H
#define RALLY_AGENT_SIDECAR_H

#include <stdbool.h>
#include <sys/types.h>

#include "runtime.h"

struct sidecar {
    int listen_fd; /* -1: none */
    int port;
    pid_t pid;       /* 0: not running */
    char key[65];    /* hex of 32 random bytes */
    double launched; /* monotonic seconds: relaunched no sooner than a second after */
};

/* A slot's sidecar before its first use: nothing open. */
#define SIDECAR_NONE ((struct sidecar){.listen_fd = -1})

/* Opens the socket and makes the key; 0, or -1 after logging why. */
int sidecar_open(struct sidecar *c);

/* The environment entries for the process: "RALLY_SIDECAR_URL=..." and
 * "RALLY_SIDECAR_KEY=...", into url and key. */
void sidecar_env(const struct sidecar *c, char url[64], char key[96]);

/* Launches rally-sidecar (the executable at bin) on the open socket for
 * the process `watch`, rally's process_id, with env (the processes'
 * environment) plus its key. */
/* metrics_env: "RALLY_METRICS_LISTEN=<socket>" for its metrics, or NULL. */
void sidecar_launch(struct sidecar *c, const char *bin, char *const *env, const char *metrics_env,
                    const struct fm_sidecar *cfg, pid_t watch, const char *process_id, double now);

/* The process is gone: asks its sidecar to write out and end (SIGTERM; the
 * agent reaps it like any child) and closes the socket. */
void sidecar_close(struct sidecar *c);

#endif
