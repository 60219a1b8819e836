/*
 * A process's CPU time, memory and age from Linux's /proc, for the process
 * metrics of rally's own programs and of the game servers an agent runs.
 */
#ifndef RALLY_COMMON_PROCSTAT_H
#define RALLY_COMMON_PROCSTAT_H

#include <sys/types.h>

struct procstat {
    double cpu_seconds; /* user + system, since the process started */
    double rss_bytes;   /* resident memory */
    double start_time;  /* seconds since the epoch */
    double open_fds;    /* entries in /proc/PID/fd (-1: not readable) */
};

/* 0, or -1 when the process is gone (or /proc says nothing we can read). */
int procstat_read(pid_t pid, struct procstat *out);

#endif
