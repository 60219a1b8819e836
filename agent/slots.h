/*
 * The agent's process table: one slot per process the fleet's
 * RuntimeConfiguration asks this host to run (each ServerProcess,
 * ConcurrentExecutions times), and what runs in it now.
 *
 * A slot launches its process (fork and exec, no shell; the process in a
 * process group of its own, so it outlives the agent), relaunches it when
 * it exits, backing off while it keeps failing quickly (1 s, 2 s, ... 60 s),
 * and ends it (SIGTERM, then SIGKILL after a grace) when asked. What rally
 * says of the processes (ready, hosting, ended) comes in through
 * slots_observe(); which slots exist through slots_configure(). Nothing
 * here speaks HTTP.
 *
 * Ownership: the table owns its slots and their strings; the environment
 * passed to slots_new() is copied.
 */
#ifndef RALLY_AGENT_SLOTS_H
#define RALLY_AGENT_SLOTS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "logs.h"
#include "runtime.h"
#include "sidecar.h"

struct slot {
    char *launch_path; /* as configured */
    char *parameters;
    int index;           /* which of its ServerProcess's ConcurrentExecutions */
    bool wanted;         /* still in the configuration: relaunched when it exits */
    pid_t pid;           /* 0: nothing runs in it */
    char process_id[64]; /* what the running process registers as */
    double started;      /* monotonic seconds */
    double next_launch;  /* not before */
    int failures;        /* quick failures in a row */
    bool ready;          /* rally has it (ProcessReady) */
    bool hosting;        /* it hosts a game session */
    bool ended;          /* rally ended it (or it said ProcessEnding) */
    int port; /* its RALLY_PORT, taken from the agent's range at its first launch (0: none) */
    unsigned long long start_time; /* when pid started (/proc, clock ticks): which process it is */
    bool adopted;                  /* an earlier agent's: not a child, watched through /proc */
    double kill_at;                /* ending: SIGKILL at this time (0: not ending) */
    bool termed;                   /* SIGTERM sent */
    bool killed;                   /* SIGKILL sent */
    bool port_wanted;              /* told once that the range has no port left for it */
    struct sidecar side;           /* beside the process, when the configuration has one */
};

struct slots {
    struct slot *s;
    size_t n, cap;
    char *game_dir;            /* where relative LaunchPaths are */
    char **env;                /* NULL-terminated, for every launch; owned */
    double ready_timeout;      /* seconds a process has to call ProcessReady */
    int first_port, last_port; /* the range slots' ports come from (0: none) */
    char *state_path;          /* where the running processes are written down (NULL: nowhere) */
    const char *sdk_token; /* GAMELIFT_SDK_AUTH_TOKEN of the next launches (borrowed; NULL: none) */
    struct fm_sidecar sidecar; /* the configuration's, for the next launches */
    const char *sidecar_bin;   /* rally-sidecar's path (borrowed) */
    struct agent_logs *logs;   /* where processes' output goes (borrowed; NULL: the agent's) */
    bool dirty;                /* they changed since */
    unsigned launches, exits, kills; /* since start */
    unsigned quick_exits;            /* exits before ready within 10 s: relaunches back off */
    /* Processes that exited without rally having ended them: rally is to
     * hear of it (ProcessEnding on their behalf) rather than wait for
     * their heartbeats to stop. Taken by the caller (ngone = 0). */
    char (*gone)[64];
    size_t ngone, capgone;
};

/* A table launching under game_dir with `env` (plus each process's
 * GAMELIFT_SDK_PROCESS_ID, GAMELIFT_SDK_AUTH_TOKEN when sdk_token is set,
 * RALLY_SIDECAR_URL and RALLY_SIDECAR_KEY when the configuration has a
 * sidecar (sidecar.h), and RALLY_PORT when the caller set a range in
 * first_port..last_port: a slot takes a port of it at its first launch and
 * keeps it; a slot the range has no port left for waits until one frees
 * up). NULL on no memory. */
struct slots *slots_new(const char *game_dir, char *const *env, double ready_timeout);
void slots_free(struct slots *t);

/* The slots the configuration asks for: new ones are launched by the next
 * slots_run(); one no longer asked for is not relaunched, and is ended now
 * when it hosts nothing (else when its game session ends). */
void slots_configure(struct slots *t, const struct fm_runtime *rt, double now);

/* Reaps what exited, launches what is due (none while draining), ends a
 * process past its ProcessReady deadline, SIGKILLs one past its grace. */
void slots_run(struct slots *t, double now, bool draining);

/* What rally says of a slot's process, by its id: ready (ACTIVE), hosting
 * a game session, or ended by rally (TERMINATED: the process is ended if
 * it does not go by itself; FORCE_TERMINATE ends it at once). */
void slots_observe(struct slots *t, const char *process_id, const char *status, const char *reason,
                   bool hosting, double now);

/* Ends every process that hosts nothing (draining), or every one
 * (`all`), with SIGTERM and a grace of `grace` seconds. */
void slots_end(struct slots *t, bool all, double grace, double now);

/* Processes running now. */
size_t slots_running(const struct slots *t);

/* The state file (t->state_path): which process runs in which slot, so
 * that an agent killed and started again finds its processes (they run on
 * in process groups of their own) instead of launching a second set.
 * slots_save() writes it whole (a temporary file renamed over it) when
 * something changed; slots_adopt(), once the first configuration is in,
 * takes over every process it names that still runs (the same pid and
 * start time): into its slot, or, when the configuration no longer has
 * that slot, into one that ends the process once it hosts nothing. */
void slots_save(struct slots *t);
void slots_adopt(struct slots *t, double now);

#endif
