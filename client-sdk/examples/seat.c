/* Taking a seat on the sample game server (seat.h). */
#include "seat.h"

#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* One line from fd into buf (cap bytes, without its '\n'); its length, -1
 * when nothing came. */
static ssize_t read_line(int fd, char *buf, size_t cap)
{
    size_t got = 0;
    while (got + 1 < cap) {
        ssize_t r = read(fd, buf + got, 1);
        if (r <= 0 || buf[got] == '\n')
            break;
        got++;
    }
    buf[got] = '\0';
    return got > 0 ? (ssize_t)got : -1;
}

int rally_example_take_seat(const struct rally_ticket *t, char *answer, size_t cap)
{
    return rally_example_play(t, NULL, 0, answer, cap, NULL);
}

/* Connects to host:port, sends the seat, reads the server's first line,
 * then plays the lines. */
int rally_example_play(const struct rally_ticket *t, char *const *lines, size_t n, char *answer,
                       size_t cap, FILE *out)
{
    char port[16];
    snprintf(port, sizeof(port), "%d", t->port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo(t->ip_address, port, &hints, &ai) != 0)
        return -1;
    int fd = socket(ai->ai_family, SOCK_STREAM, 0);
    int rc = -1;
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
        char line[256];
        int len = snprintf(line, sizeof(line), "%s\n", t->player_session_id);
        if (write(fd, line, (size_t)len) == len)
            rc = read_line(fd, answer, cap) > 0 ? 0 : -1;
        if (rc == 0 && out != NULL)
            fprintf(out, "%s\n", answer);
        for (size_t i = 0; rc == 0 && strncmp(answer, "OK", 2) == 0 && i < n; i++) {
            char reply[4096];
            bool sent = dprintf(fd, "%s\n", lines[i]) > 0;
            fprintf(out, "> %s\n%s\n", lines[i],
                    sent && read_line(fd, reply, sizeof(reply)) > 0 ? reply : "(no answer)");
        }
    }
    if (fd >= 0)
        close(fd);
    freeaddrinfo(ai);
    return rc;
}
