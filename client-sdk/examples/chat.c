/*
 * The example realtime client: a guest matched with another player onto a
 * relay server (the RelayChat configuration of `make run`), chatting
 * through the server's script (config/scripts/chat.lua masks some words
 * and replays the last lines to a player who joins later).
 *
 *   rally-example-chat [--url URL] [--credentials PATH] [--config NAME]
 *                      [--say LINE]... [--hear N] [--seconds S]
 *
 * It says its lines to everyone, then prints what it hears until it heard N
 * lines from others (default 1; exit 0) or S seconds passed (default 20;
 * exit 1). Everything it does is in include/rally/rally.h (matchmaking) and
 * include/rally/realtime.h (the relay).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rally/rally.h"
#include "rally/realtime.h"

#define OP_CHAT 1

struct chat {
    int me, heard;
};

static void on_event(void *ctx, const struct rally_rt_event *e)
{
    struct chat *c = ctx;
    if (e->kind == RALLY_RT_MESSAGE && e->op_code == OP_CHAT) {
        printf("player %d: %.*s\n", e->sender, (int)e->payload_len, (const char *)e->payload);
        if (e->sender != c->me)
            c->heard++;
    } else if (e->kind == RALLY_RT_PLAYER_JOINED) {
        printf("player %d joined\n", e->peer_id);
    } else if (e->kind == RALLY_RT_PLAYER_LEFT) {
        printf("player %d left\n", e->peer_id);
    } else if (e->kind == RALLY_RT_DISCONNECTED) {
        printf("disconnected: %s\n", e->reason);
    }
    fflush(stdout);
}

/* s as a whole number from 1 to a day's seconds, or -1. */
static long number(const char *s)
{
    char *end = NULL;
    long v = strtol(s, &end, 10);
    return end != s && *end == '\0' && v >= 1 && v <= 86400 ? v : -1;
}

/* Logs in and waits for a match of configuration; the ticket, or -1. */
static int matchmake(rally_client *c, const char *configuration, struct rally_ticket *t)
{
    struct rally_latency lat[] = {{"us-east-1", 20}};
    rally_status rc = rally_login_guest(c);
    if (rc == RALLY_OK)
        rc = rally_start_matchmaking(c, configuration, lat, 1, t);
    if (rc == RALLY_OK) {
        printf("logged in as %s; ticket %s\n", rally_player_id(c), t->ticket_id);
        rc = rally_wait_for_match(c, t->ticket_id, 60000, t, NULL, NULL);
    }
    if (rc != RALLY_OK) {
        fprintf(stderr, "%s: %s\n", rally_status_name(rc), rally_error_message(c));
        return -1;
    }
    if (strcmp(t->status, "COMPLETED") != 0) {
        fprintf(stderr, "no match: %s %s\n", t->status, t->status_message);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *url = getenv("RALLY_URL") != NULL ? getenv("RALLY_URL") : "http://127.0.0.1:8080";
    const char *creds = NULL, *configuration = "RelayChat";
    const char *lines[16];
    int nlines = 0, want = 1;
    long seconds = 20;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--url") == 0)
            url = argv[i + 1];
        else if (strcmp(argv[i], "--credentials") == 0)
            creds = argv[i + 1];
        else if (strcmp(argv[i], "--config") == 0)
            configuration = argv[i + 1];
        else if (strcmp(argv[i], "--say") == 0 && nlines < 16)
            lines[nlines++] = argv[i + 1];
        else if (strcmp(argv[i], "--hear") == 0)
            want = (int)number(argv[i + 1]);
        else if (strcmp(argv[i], "--seconds") == 0)
            seconds = number(argv[i + 1]);
        else
            argc = -1;
    }
    if (argc < 0 || argc % 2 == 0 || seconds < 1 || want < 1) {
        fprintf(stderr, "usage: rally-example-chat [--url URL] [--credentials PATH] "
                        "[--config NAME] [--say LINE]... [--hear N] [--seconds S]\n");
        return 2;
    }
    rally_global_init();
    rally_client *c =
        rally_client_new(&(struct rally_options){.url = url, .credentials_path = creds});
    struct rally_ticket t;
    if (c == NULL || matchmake(c, configuration, &t) < 0) {
        rally_client_free(c);
        return 1;
    }
    rally_client_free(c);
    /* The seat matchmaking gave: the relay checks it with rally. */
    rally_status st;
    char err[256];
    rally_rt *rt = rally_rt_connect(
        &(struct rally_rt_options){
            .host = t.ip_address, .port = t.port, .player_session_id = t.player_session_id},
        &st, err, sizeof(err));
    if (rt == NULL) {
        fprintf(stderr, "cannot join the game at %s:%d: %s\n", t.ip_address, t.port, err);
        return 1;
    }
    struct chat chat = {.me = rally_rt_peer_id(rt)};
    printf("in game session %s as player %d\n", t.game_session_arn, chat.me);
    for (int i = 0; i < nlines; i++)
        rally_rt_send(rt, OP_CHAT, lines[i], strlen(lines[i]), 0, RALLY_RT_ALL_PLAYERS,
                      RALLY_RT_RELIABLE);
    time_t end = time(NULL) + seconds;
    while (chat.heard < want && time(NULL) < end)
        if (rally_rt_poll(rt, 100, on_event, &chat) != RALLY_OK)
            break;
    rally_rt_close(rt);
    return chat.heard >= want ? 0 : 1;
}
