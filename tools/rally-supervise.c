/*
 * rally-supervise: keeps one daemon running, as serve.c keeps its workers.
 *
 *   rally-supervise NAME PIDFILE [--unlink PATH]... PROGRAM [ARG...]
 *
 * Starts PROGRAM and starts it again whenever it ends, for whatever reason:
 * a crash, a kill -9, or a clean exit (a game server process ends after its
 * game, and a fleet relaunches it, as GameLift's runtime configuration
 * does). A program that ends within a second of starting waits before its
 * next start, doubling up to 30 s, so a crash loop does not spin. PIDFILE
 * always holds the running program's pid (written whole, then renamed), so
 * operators and tests signal the program itself.
 *
 * The program runs in a process group of its own. When it ends, whatever it
 * left in that group (the workers of a killed nginx or function master,
 * which would otherwise keep the listening socket and their database
 * connections) gets SIGTERM, then SIGKILL after two seconds, before the
 * program starts again.
 *
 * Each --unlink PATH is removed before every start: the unix socket a
 * killed program could not remove, on which its successor must listen.
 *
 * SIGTERM and SIGINT are passed on and end the supervisor once the program
 * has exited; SIGHUP is passed on. `make run` (scripts/stack.sh) starts the
 * matchmaker, the sweeper and the sample game servers under it;
 * docker-compose gets the same from its restart policy.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static volatile sig_atomic_t stop_signal;
static volatile sig_atomic_t hup_pending;

static void on_stop(int sig)
{
    stop_signal = sig;
}

static void on_hup(int sig)
{
    (void)sig;
    hup_pending = 1;
}

static void on_child(int sig)
{
    (void)sig; /* only here so SIGCHLD ends sigsuspend() */
}

static void set_handler(int sig, void (*fn)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = fn;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

/* Writes pid to path through a temporary file, so a reader never sees half
 * a number. */
static void write_pidfile(const char *path, pid_t pid)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return;
    FILE *f = fopen(tmp, "w");
    if (f == NULL) {
        log_error("could not write %s: %s", tmp, strerror(errno));
        return;
    }
    fprintf(f, "%ld\n", (long)pid);
    if (fclose(f) != 0 || rename(tmp, path) != 0)
        log_error("could not write %s: %s", path, strerror(errno));
}

static const char *stale[8]; /* --unlink paths */
static int nstale;

static pid_t start(char **argv, const sigset_t *mask)
{
    for (int i = 0; i < nstale; i++)
        if (unlink(stale[i]) != 0 && errno != ENOENT)
            log_warn("could not remove %s: %s", stale[i], strerror(errno));
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        /* Default handlers before the mask opens: a signal already pending
         * must not run the supervisor's handlers in the child. */
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        signal(SIGCHLD, SIG_DFL);
        sigprocmask(SIG_SETMASK, mask, NULL);
        execvp(argv[0], argv);
        fprintf(stderr, "rally-supervise: could not run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    if (pid < 0)
        log_error("could not fork: %s", strerror(errno));
    return pid;
}

/* Ends what the program left in its process group (see the top). */
static void end_group(pid_t group)
{
    if (kill(-group, SIGTERM) != 0)
        return; /* nothing left */
    for (int i = 0; i < 40 && kill(-group, 0) == 0; i++)
        usleep(50 * 1000);
    if (kill(-group, SIGKILL) == 0)
        log_warn("process group %ld did not end on SIGTERM: killed", (long)group);
}

/* Says how the program ended. A SIGKILL is somebody's decision (an
 * operator, the OOM killer), not a crash of the program. */
static void report(pid_t pid, int status)
{
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        log_error("%ld was killed; restarting", (long)pid);
    else if (WIFSIGNALED(status))
        log_error("%ld crashed with signal %d; restarting", (long)pid, WTERMSIG(status));
    else if (WEXITSTATUS(status) != 0)
        log_error("%ld exited with status %d; restarting", (long)pid, WEXITSTATUS(status));
    else
        log_info("%ld exited; restarting", (long)pid);
}

int main(int argc, char **argv)
{
    int first = 3;
    while (first + 1 < argc && strcmp(argv[first], "--unlink") == 0 && nstale < 8) {
        stale[nstale++] = argv[first + 1];
        first += 2;
    }
    if (first >= argc) {
        fprintf(stderr,
                "usage: rally-supervise NAME PIDFILE [--unlink PATH]... PROGRAM [ARG...]\n");
        return 2;
    }
    log_init(argv[1]);
    const char *pidfile = argv[2];
    char **program = argv + first;

    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGHUP);
    sigaddset(&block, SIGCHLD);
    sigprocmask(SIG_BLOCK, &block, &old);
    set_handler(SIGTERM, on_stop);
    set_handler(SIGINT, on_stop);
    set_handler(SIGHUP, on_hup);
    set_handler(SIGCHLD, on_child);

    int pause_s = 1;
    double started = util_mono_ms(); /* a clock no date change moves */
    pid_t child = start(program, &old);
    if (child > 0)
        write_pidfile(pidfile, child);
    sigset_t none;
    sigemptyset(&none);
    for (;;) {
        if (child > 0)
            sigsuspend(&none);
        if (stop_signal != 0 && child > 0) {
            kill(child, stop_signal);
            kill(child, SIGCONT); /* a paused program could not act on it */
            int status;
            while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
            }
            end_group(child);
            unlink(pidfile);
            return 0;
        }
        if (stop_signal != 0) {
            unlink(pidfile);
            return 0;
        }
        if (hup_pending) {
            hup_pending = 0;
            if (child > 0)
                kill(child, SIGHUP);
        }
        int status;
        pid_t pid = child > 0 ? waitpid(child, &status, WNOHANG) : child;
        if (pid == 0)
            continue;
        if (pid > 0) {
            report(pid, status);
            end_group(pid);
        }
        /* A quick end is a crash loop until shown otherwise. */
        if (util_mono_ms() - started < 1000) {
            sigprocmask(SIG_SETMASK, &old, NULL);
            sleep((unsigned)pause_s);
            sigprocmask(SIG_BLOCK, &block, NULL);
            pause_s = pause_s < 16 ? pause_s * 2 : 30;
        } else {
            pause_s = 1;
        }
        if (stop_signal != 0) {
            unlink(pidfile);
            return 0;
        }
        started = util_mono_ms();
        child = start(program, &old);
        if (child > 0)
            write_pidfile(pidfile, child);
        else
            sleep(1);
    }
}
