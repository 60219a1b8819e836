/* Taking a seat on the sample game server (seat.h). */
#include "seat.h"

#include <netdb.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

/* Connects to host:port, sends the seat, returns the server's first line. */
int rally_example_take_seat(const struct rally_ticket *t, char *answer, size_t cap)
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
        int n = snprintf(line, sizeof(line), "%s\n", t->player_session_id);
        size_t got = 0;
        if (write(fd, line, (size_t)n) == n) {
            while (got + 1 < cap) {
                ssize_t r = read(fd, answer + got, 1);
                if (r <= 0 || answer[got] == '\n')
                    break;
                got++;
            }
            answer[got] = '\0';
            rc = got > 0 ? 0 : -1;
        }
    }
    if (fd >= 0)
        close(fd);
    freeaddrinfo(ai);
    return rc;
}
