/*
 * sdk-driver: the client SDK's token handling against a running stack, for
 * tests/integration/test_sdk.py.
 *
 *   sdk-driver URL CREDENTIALS CONFIGURATION
 *
 * With a refresh margin of nearly the whole token life, every call after
 * the first second refreshes the access token. Prints a line per step;
 * after "ready" it waits for a line on stdin, during which the test revokes
 * the player's sessions: the next call must log in again with the saved
 * guest and succeed as the same player.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "rally/rally.h"

static int check(rally_client *c, rally_status rc, const char *step)
{
    if (rc == RALLY_OK) {
        printf("ok %s\n", step);
        fflush(stdout);
        return 0;
    }
    printf("fail %s %s %s\n", step, rally_status_name(rc), rally_error_message(c));
    return 1;
}

/* The steps; 0 when every one passed. */
static int run(rally_client *c, const char *configuration)
{
    struct rally_ticket t;
    struct rally_latency lat[] = {{"us-east-1", 20}};
    char id[RALLY_ID_MAX];
    if (check(c, rally_login_guest(c), "login") != 0)
        return 1;
    printf("player %s\n", rally_player_id(c));
    if (check(c, rally_start_matchmaking(c, configuration, lat, 1, &t), "start") != 0)
        return 1;
    snprintf(id, sizeof(id), "%s", t.ticket_id);
    printf("ticket %s\n", id);
    sleep(2); /* now past the refresh point */
    if (check(c, rally_get_ticket(c, id, &t), "refreshed") != 0)
        return 1;
    printf("ready\n");
    fflush(stdout);
    char line[64];
    if (fgets(line, sizeof(line), stdin) == NULL)
        return 1;
    sleep(2);
    if (check(c, rally_get_ticket(c, id, &t), "relogin") != 0)
        return 1;
    printf("player %s\n", rally_player_id(c));
    return check(c, rally_cancel_ticket(c, id), "cancel");
}

int main(int argc, char **argv)
{
    if (argc != 4)
        return 2;
    rally_global_init();
    rally_client *c = rally_client_new(&(struct rally_options){
        .url = argv[1], .credentials_path = argv[2], .refresh_margin_ms = 899000});
    if (c == NULL)
        return 1;
    int rc = run(c, argv[3]);
    fflush(stdout);
    rally_client_free(c);
    return rc;
}
