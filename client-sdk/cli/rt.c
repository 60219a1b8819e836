#include "rt.h"

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "exits.h"
#include "rally/realtime.h"

#define LINE_MAX_BYTES 8192

struct session {
    rally_rt *rt;
    bool as_json, ended;
};

static int usage(void)
{
    fprintf(stderr, "usage: rally rt connect HOST:PORT PLAYER_SESSION_ID [--payload TEXT] "
                    "[--tcp-only] [--tls [--ca FILE]]\n"
                    "  then on stdin: send|fast OP all|server|player:N|group:N TEXT, join G, "
                    "leave G, members G, quit\n");
    return EXIT_USAGE;
}

/* A payload for people: its bytes, those that are not printable as \xNN. */
static void print_payload(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
            putchar(p[i]);
        else
            printf("\\x%02x", p[i]);
    }
}

static void print_json(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    if (s != NULL)
        puts(s);
    free(s);
    json_decref(j);
}

static const char *const kind_names[] = {
    [RALLY_RT_MESSAGE] = "message",         [RALLY_RT_PLAYER_JOINED] = "player_joined",
    [RALLY_RT_PLAYER_LEFT] = "player_left", [RALLY_RT_GROUP_MEMBERS] = "group_members",
    [RALLY_RT_GAME_END] = "game_end",       [RALLY_RT_RECONNECTING] = "reconnecting",
    [RALLY_RT_RECONNECTED] = "reconnected", [RALLY_RT_DISCONNECTED] = "disconnected"};

static void event_json(const struct rally_rt_event *e)
{
    json_t *j = json_pack("{ss}", "event", kind_names[e->kind]);
    switch (e->kind) {
    case RALLY_RT_MESSAGE:
        json_object_set_new(j, "opCode", json_integer(e->op_code));
        json_object_set_new(j, "sender", json_integer(e->sender));
        json_object_set_new(j, "fast", json_boolean(e->fast));
        json_object_set_new(j, "payload",
                            json_stringn_nocheck((const char *)e->payload, e->payload_len));
        break;
    case RALLY_RT_GROUP_MEMBERS: {
        json_t *m = json_array();
        for (size_t i = 0; i < e->n_members; i++)
            json_array_append_new(m, json_integer(e->members[i]));
        json_object_set_new(j, "group", json_integer(e->group));
        json_object_set_new(j, "members", m);
        break;
    }
    case RALLY_RT_DISCONNECTED:
    case RALLY_RT_RECONNECTING:
        json_object_set_new(j, "reason", json_string(e->reason != NULL ? e->reason : ""));
        break;
    default: json_object_set_new(j, "peerId", json_integer(e->peer_id)); break;
    }
    print_json(j);
}

static void on_event(void *ctx, const struct rally_rt_event *e)
{
    struct session *s = ctx;
    if (e->kind == RALLY_RT_DISCONNECTED)
        s->ended = true;
    if (s->as_json) {
        event_json(e);
        fflush(stdout);
        return;
    }
    switch (e->kind) {
    case RALLY_RT_MESSAGE:
        printf("message op=%d from=%d via=%s: ", e->op_code, e->sender, e->fast ? "udp" : "tcp");
        print_payload(e->payload, e->payload_len);
        putchar('\n');
        break;
    case RALLY_RT_PLAYER_JOINED: printf("player %d joined\n", e->peer_id); break;
    case RALLY_RT_PLAYER_LEFT: printf("player %d left\n", e->peer_id); break;
    case RALLY_RT_GROUP_MEMBERS:
        printf("group %d:", e->group);
        for (size_t i = 0; i < e->n_members; i++)
            printf(" %d", e->members[i]);
        putchar('\n');
        break;
    case RALLY_RT_GAME_END: printf("game ended\n"); break;
    case RALLY_RT_RECONNECTING: printf("reconnecting: %s\n", e->reason); break;
    case RALLY_RT_RECONNECTED: printf("reconnected as peer %d\n", e->peer_id); break;
    case RALLY_RT_DISCONNECTED: printf("disconnected: %s\n", e->reason); break;
    }
    fflush(stdout);
}

/* "all", "server", "player:N", "group:N" into the targets; false if not. */
static bool parse_target(const char *t, int *player, int *group)
{
    *player = *group = 0;
    if (strcmp(t, "all") == 0)
        *group = RALLY_RT_ALL_PLAYERS;
    else if (strcmp(t, "server") == 0)
        *player = RALLY_RT_SERVER;
    else if (strncmp(t, "player:", 7) == 0)
        return cli_int(t + 7, 1, INT32_MAX, player);
    else if (strncmp(t, "group:", 6) == 0)
        return cli_int(t + 6, 1, INT32_MAX, group);
    else
        return false;
    return true;
}

/* One line of input; false to stop. */
static bool command(struct session *s, char *line)
{
    line[strcspn(line, "\r\n")] = '\0';
    char *save = NULL, *verb = strtok_r(line, " ", &save);
    if (verb == NULL)
        return true;
    if (strcmp(verb, "quit") == 0)
        return false;
    char *arg = strtok_r(NULL, " ", &save);
    rally_status st = RALLY_E_ARGUMENT;
    if ((strcmp(verb, "send") == 0 || strcmp(verb, "fast") == 0) && arg != NULL) {
        char *target = strtok_r(NULL, " ", &save);
        const char *text = save != NULL ? save : "";
        int player, group, op;
        if (target != NULL && parse_target(target, &player, &group) &&
            cli_int(arg, 1, INT32_MAX, &op))
            st = rally_rt_send(s->rt, op, text, strlen(text), player, group,
                               verb[0] == 'f' ? RALLY_RT_FAST : RALLY_RT_RELIABLE);
    } else if (arg != NULL) {
        int g = 0;
        bool group = cli_int(arg, -1, INT32_MAX, &g) && g != 0;
        if (group && strcmp(verb, "join") == 0)
            st = rally_rt_join_group(s->rt, g);
        else if (group && strcmp(verb, "leave") == 0)
            st = rally_rt_leave_group(s->rt, g);
        else if (group && strcmp(verb, "members") == 0)
            st = rally_rt_request_group(s->rt, g);
    }
    if (st == RALLY_E_ARGUMENT)
        fprintf(stderr,
                "rally: not a command: %s (send|fast OP TARGET TEXT, join G, leave G, "
                "members G, quit)\n",
                verb);
    else if (st != RALLY_OK)
        fprintf(stderr, "rally: %s: %s\n", verb, rally_status_name(st));
    return true;
}

static int connect_cmd(int argc, char **argv, bool as_json)
{
    if (argc < 2)
        return usage();
    char host[256];
    const char *colon = strrchr(argv[0], ':');
    int port = 0;
    if (colon == NULL || (size_t)(colon - argv[0]) >= sizeof(host) ||
        !cli_int(colon + 1, 1, 65535, &port))
        return usage();
    memcpy(host, argv[0], (size_t)(colon - argv[0]));
    host[colon - argv[0]] = '\0';
    struct rally_rt_options o = {.host = host, .port = port, .player_session_id = argv[1]};
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--payload") == 0 && i + 1 < argc) {
            o.connect_payload = argv[++i];
            o.connect_payload_len = strlen(argv[i]);
        } else if (strcmp(argv[i], "--tcp-only") == 0) {
            o.no_udp = 1;
        } else if (strcmp(argv[i], "--tls") == 0) {
            o.tls = 1;
        } else if (strcmp(argv[i], "--ca") == 0 && i + 1 < argc) {
            o.tls = 1;
            o.ca_file = argv[++i];
        } else {
            return usage();
        }
    }
    rally_status st;
    char err[256];
    struct session s = {.as_json = as_json};
    s.rt = rally_rt_connect(&o, &st, err, sizeof(err));
    if (s.rt == NULL) {
        fprintf(stderr, "rally: %s (%s)\n", err, rally_status_name(st));
        return st == RALLY_E_NETWORK || st == RALLY_E_TIMEOUT ? EXIT_NETWORK : EXIT_ERROR;
    }
    if (as_json)
        printf("{\"event\":\"connected\",\"peerId\":%d,\"fast\":%s}\n", rally_rt_peer_id(s.rt),
               rally_rt_fast_ready(s.rt) ? "true" : "false");
    else
        printf("connected as peer %d (%s)\n", rally_rt_peer_id(s.rt),
               rally_rt_fast_ready(s.rt) ? "UDP ready" : "WebSocket only");
    fflush(stdout);
    char line[LINE_MAX_BYTES];
    size_t have = 0;
    bool input = true;
    while (!s.ended && input) {
        struct pollfd p[3] = {{.fd = STDIN_FILENO, .events = POLLIN}};
        int fds[2], n = rally_rt_fds(s.rt, fds);
        for (int i = 0; i < n; i++)
            p[1 + i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
        if (poll(p, (nfds_t)(1 + n), 50) < 0 && errno != EINTR)
            break;
        rally_rt_poll(s.rt, 0, on_event, &s);
        if (!(p[0].revents & (POLLIN | POLLHUP)))
            continue;
        ssize_t r = read(STDIN_FILENO, line + have, sizeof(line) - 1 - have);
        if (r <= 0)
            break;
        have += (size_t)r;
        line[have] = '\0';
        char *nl;
        while (input && (nl = strchr(line, '\n')) != NULL) {
            *nl = '\0';
            input = command(&s, line);
            have -= (size_t)(nl + 1 - line);
            memmove(line, nl + 1, have + 1);
        }
        if (have == sizeof(line) - 1)
            have = 0; /* a line too long for anyone: dropped */
    }
    rally_rt_close(s.rt);
    return 0;
}

int rally_rt_command(int argc, char **argv, bool as_json)
{
    if (argc >= 1 && strcmp(argv[0], "connect") == 0)
        return connect_cmd(argc - 1, argv + 1, as_json);
    return usage();
}
