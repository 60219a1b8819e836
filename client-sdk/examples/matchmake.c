/*
 * The example game client: log in, matchmake, wait for the match by push,
 * and take the seat on the game server it was placed on.
 *
 *   rally-example-client [URL]        (default http://127.0.0.1:8080)
 *
 * Everything a client needs is in include/rally/rally.h; the rest is the
 * sample game server's line protocol: send the PlayerSessionId, read
 * "OK <PlayerId>" (or "DENIED <reason>").
 */
#include <stdio.h>
#include <string.h>

#include "rally/rally.h"
#include "seat.h"

static int show(void *ctx, const struct rally_ticket *t)
{
    (void)ctx;
    printf("  ticket %s is %s\n", t->ticket_id, t->status);
    return 0;
}

int main(int argc, char **argv)
{
    const char *url = argc > 1 ? argv[1] : "http://127.0.0.1:8080";
    rally_global_init();
    rally_client *c = rally_client_new(&(struct rally_options){.url = url});
    if (c == NULL)
        return 1;
    struct rally_ticket t;
    struct rally_latency lat[] = {{"us-east-1", 23}, {"eu-west-1", 81}};
    rally_status rc = rally_login_guest(c);
    if (rc == RALLY_OK) {
        printf("logged in as %s\n", rally_player_id(c));
        rc = rally_start_matchmaking(c, NULL, lat, 2, &t);
    }
    if (rc == RALLY_OK) {
        printf("matchmaking: ticket %s\n", t.ticket_id);
        rc = rally_wait_for_match(c, t.ticket_id, 60000, &t, show, NULL);
    }
    if (rc == RALLY_OK && strcmp(t.status, "REQUIRES_ACCEPTANCE") == 0) {
        rc = rally_accept_match(c, t.ticket_id, 1);
        if (rc == RALLY_OK)
            rc = rally_wait_for_match(c, t.ticket_id, 60000, &t, show, NULL);
    }
    if (rc != RALLY_OK) {
        fprintf(stderr, "%s: %s\n", rally_status_name(rc), rally_error_message(c));
        rally_client_free(c);
        return 1;
    }
    int exit_code = 1;
    char answer[300] = "";
    if (strcmp(t.status, "COMPLETED") != 0)
        fprintf(stderr, "no match: %s %s\n", t.status, t.status_message);
    else if (rally_example_take_seat(&t, answer, sizeof(answer)) < 0)
        fprintf(stderr, "could not reach the game server at %s:%d\n", t.ip_address, t.port);
    else {
        printf("game server %s:%d says: %s\n", t.ip_address, t.port, answer);
        exit_code = strncmp(answer, "OK ", 3) == 0 ? 0 : 1;
    }
    rally_client_free(c);
    return exit_code;
}
