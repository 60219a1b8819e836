#include "procstat.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The boot time, from /proc/stat's btime: a process's start is given in
 * clock ticks since boot. */
static double boot_time(void)
{
    static double btime;
    if (btime > 0)
        return btime;
    FILE *f = fopen("/proc/stat", "re");
    if (f == NULL)
        return 0;
    char line[256];
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "btime ", 6) == 0) {
            btime = strtod(line + 6, NULL);
            break;
        }
    }
    fclose(f);
    return btime;
}

static double count_fds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    double n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

int procstat_read(pid_t pid, struct procstat *out)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name (field 2) may hold spaces and parentheses: the
     * fields we want follow its last ')'. */
    char *p = strrchr(buf, ')');
    if (p == NULL)
        return -1;
    p++;
    /* Fields from 3 (state): utime is 14, stime 15, starttime 22, rss 24. */
    double field[25] = {0};
    for (int i = 3; i <= 24 && *p != '\0'; i++) {
        while (*p == ' ')
            p++;
        char *end;
        field[i] = strtod(p, &end);
        if (end == p) /* the state letter */
            while (*end != ' ' && *end != '\0')
                end++;
        p = end;
    }
    double ticks = (double)sysconf(_SC_CLK_TCK);
    double page = (double)sysconf(_SC_PAGESIZE);
    if (ticks <= 0)
        ticks = 100;
    out->cpu_seconds = (field[14] + field[15]) / ticks;
    out->start_time = boot_time() + field[22] / ticks;
    out->rss_bytes = field[24] * page;
    out->open_fds = count_fds(pid);
    return 0;
}
