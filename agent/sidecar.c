/* The world-state sidecar beside a slot's process (sidecar.h). */
#include "sidecar.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

int sidecar_open(struct sidecar *c)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(addr);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 128) < 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) < 0) {
        log_error("cannot open a sidecar's socket: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    unsigned char raw[32];
    util_random(raw, sizeof(raw));
    util_hex(raw, sizeof(raw), c->key);
    c->listen_fd = fd;
    c->port = ntohs(addr.sin_port);
    c->pid = 0;
    return 0;
}

void sidecar_env(const struct sidecar *c, char url[64], char key[96])
{
    snprintf(url, 64, "RALLY_SIDECAR_URL=http://127.0.0.1:%d", c->port);
    snprintf(key, 96, "RALLY_SIDECAR_KEY=%s", c->key);
}

void sidecar_launch(struct sidecar *c, const char *bin, char *const *env, const char *metrics_env,
                    const struct fm_sidecar *cfg, pid_t watch, const char *process_id, double now)
{
    /* argv: the path, then words split from one line (no shell). */
    char path[4096], words[384], e_key[96];
    char *argv[16];
    int argc = 0;
    snprintf(path, sizeof(path), "%s", bin);
    snprintf(words, sizeof(words),
             "--listen-fd 3 --watch-pid %d --process-id %s --flush-ms %d --flush-blocks %d "
             "--capacity %d%s",
             (int)watch, process_id, cfg->flush_ms, cfg->flush_blocks, cfg->buffered,
             cfg->durable ? " --durable" : "");
    snprintf(e_key, sizeof(e_key), "RALLY_SIDECAR_KEY=%s", c->key);
    argv[argc++] = path;
    char *save = NULL;
    for (char *w = strtok_r(words, " ", &save); w != NULL && argc < 15;
         w = strtok_r(NULL, " ", &save))
        argv[argc++] = w;
    argv[argc] = NULL;
    size_t n = 0;
    while (env[n] != NULL)
        n++;
    char **child_env = calloc(n + 3, sizeof(*child_env));
    if (child_env == NULL) {
        log_error("out of memory for a sidecar's environment");
        return;
    }
    memcpy(child_env, env, n * sizeof(*child_env));
    child_env[n] = e_key;
    char e_metrics[4200];
    if (metrics_env != NULL) {
        snprintf(e_metrics, sizeof(e_metrics), "%s", metrics_env);
        child_env[n + 1] = e_metrics;
    }
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0); /* like the process it serves, it outlives the agent */
        /* The socket as descriptor 3 and nothing else of the agent's
         * (dup2 onto itself would keep its close-on-exec). */
        if (c->listen_fd == 3 ? fcntl(3, F_SETFD, 0) < 0 : dup2(c->listen_fd, 3) < 0)
            _exit(127);
        close_range(4, ~0U, 0);
        for (int sig = 1; sig < NSIG; sig++)
            signal(sig, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execve(path, argv, child_env);
        _exit(127);
    }
    free(child_env);
    if (pid < 0) {
        log_error("cannot launch %s: %s", bin, strerror(errno));
        return;
    }
    c->pid = pid;
    c->launched = now;
    log_info("sidecar (pid %d) on 127.0.0.1:%d beside pid %d", (int)pid, c->port, (int)watch);
}

void sidecar_close(struct sidecar *c)
{
    if (c->pid > 0)
        kill(c->pid, SIGTERM);
    if (c->listen_fd >= 0)
        close(c->listen_fd);
    *c = SIDECAR_NONE;
}
