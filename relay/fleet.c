#include "fleet.h"

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "rally_server.h"
#include "session.h"
#include "threadq.h"
#include "util.h"

/* Heartbeats per member: once a second, as the sample server does (a new
 * game session is heard of on the next one). */
#define HEARTBEAT_MS 1000.0
#define TICK_MS 50

enum member_state {
    M_UNREGISTERED, /* to register (again after backoff_until) */
    M_IDLE,         /* ready, no game session */
    M_STARTING,     /* its game session is being set up on the loop */
    M_HOSTING,      /* activated */
};

struct member {
    rally_server *h;
    enum member_state state;
    char id[160];
    char game_session[160];
    bool activate_asked, terminate_told;
    double next_beat_ms, backoff_until_ms, backoff_ms;
};

/* What the loop asks of the threads. */
enum job_kind { JOB_ACCEPT, JOB_REMOVE, JOB_READY, JOB_ENDED };
struct job {
    struct qnode node; /* first */
    enum job_kind kind;
    uint32_t slot, gen;
    int member;
    char psess[129];
};

/* What the threads answer the loop. */
enum answer_kind { ANS_ACCEPTED, ANS_REFUSED, ANS_START, ANS_TERMINATE };
struct answer {
    struct qnode node; /* first */
    enum answer_kind kind;
    uint32_t slot, gen;
    int member;
    char psess[129], game_session[160], player_id[129], why[256];
    struct session_info info;
};

static struct {
    struct fleet_params p;
    char *url, *fleet_id, *secret, *location, *ip, *host, *compute;
    struct member *members;
    unsigned next_n; /* the next member's number: "<host>.<n>" */
    struct queue member_jobs, worker_jobs, answers;
    pthread_t member_thread, *workers;
    volatile bool stopping;
    double stop_deadline_ms;
} f;

/* ---- the member thread -------------------------------------------------- */

static void answer(struct answer *a)
{
    queue_push(&f.answers, &a->node);
}

static char *dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

static void member_register(struct member *m, double now)
{
    if (now < m->backoff_until_ms)
        return;
    if (m->h == NULL) {
        snprintf(m->id, sizeof(m->id), "%s.%u", f.host, ++f.next_n);
        struct rally_server_params sp = {
            .url = f.url,
            .fleet_id = f.fleet_id,
            .fleet_secret = f.secret,
            .location = f.location,
            .ip_address = f.ip,
            .port = f.p.port,
            .max_players = f.p.max_players,
            .process_id = m->id,
            .compute_name = f.compute,
            .host_process_id = f.host,
        };
        m->h = rally_server_new(&sp);
        if (m->h == NULL)
            return;
    }
    int rc = rally_server_process_ready(m->h);
    if (rc == RALLY_SERVER_OK) {
        m->state = M_IDLE;
        m->backoff_ms = 0;
        m->next_beat_ms = now + HEARTBEAT_MS;
        return;
    }
    /* rally down or refusing: again later, backing off to 30 s. A process
     * id once refused as existing is not used again. */
    log_warn("relay: cannot register %s: %s", m->id, rally_server_message(m->h));
    if (rc == RALLY_SERVER_E_REFUSED) {
        rally_server_free(m->h);
        m->h = NULL;
    }
    m->backoff_ms = m->backoff_ms > 0 ? m->backoff_ms * 2 : 1000;
    if (m->backoff_ms > 30000)
        m->backoff_ms = 30000;
    m->backoff_until_ms = now + m->backoff_ms;
}

static char *json_dup(const char *s)
{
    return s != NULL && s[0] != '\0' ? strdup(s) : NULL;
}

static void tell_terminate(struct member *m, int index)
{
    if (m->terminate_told)
        return;
    m->terminate_told = true;
    struct answer *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return;
    a->kind = ANS_TERMINATE;
    a->member = index;
    answer(a);
}

static void member_beat(struct member *m, int index, double now)
{
    if (now < m->next_beat_ms)
        return;
    m->next_beat_ms = now + HEARTBEAT_MS;
    const struct rally_game_session *gs = NULL;
    int rc = rally_server_heartbeat(m->h, &gs);
    if (rc == RALLY_SERVER_E_TERMINATED || rc == RALLY_SERVER_E_NOT_FOUND) {
        /* rally ended this process (a lost heartbeat, the agent): its game
         * session, if any, ends here too, and a new one takes its place. */
        if (m->state == M_STARTING || m->state == M_HOSTING)
            tell_terminate(m, index);
        else {
            rally_server_free(m->h);
            m->h = NULL;
            m->state = M_UNREGISTERED;
        }
        return;
    }
    if (rc != RALLY_SERVER_OK)
        return; /* rally unreachable: the game goes on; beat again */
    if (m->state == M_IDLE && gs != NULL && strcmp(gs->status, "ACTIVATING") == 0) {
        struct answer *a = calloc(1, sizeof(*a));
        if (a == NULL)
            return;
        a->kind = ANS_START;
        a->member = index;
        snprintf(a->info.id, sizeof(a->info.id), "%s", gs->game_session_id);
        snprintf(a->info.arn, sizeof(a->info.arn), "%s", gs->game_session_arn);
        a->info.max_players = gs->max_players;
        a->info.game_session_data = json_dup(gs->game_session_data);
        a->info.matchmaker_data = json_dup(gs->matchmaker_data);
        a->info.game_properties = json_dup(gs->game_properties);
        snprintf(m->game_session, sizeof(m->game_session), "%s", gs->game_session_id);
        m->state = M_STARTING;
        m->activate_asked = m->terminate_told = false;
        answer(a);
        return;
    }
    if ((m->state == M_STARTING || m->state == M_HOSTING) &&
        (gs == NULL || strcmp(gs->game_session_id, m->game_session) != 0 ||
         strcmp(gs->status, "TERMINATING") == 0))
        tell_terminate(m, index); /* asked to end, or ended without us */
}

static void member_end(struct member *m)
{
    if (m->h != NULL && rally_server_process_ending(m->h) != RALLY_SERVER_OK)
        log_warn("relay: ProcessEnding of %s: %s", m->id, rally_server_message(m->h));
    rally_server_free(m->h);
    m->h = NULL;
    m->state = M_UNREGISTERED;
    m->backoff_until_ms = 0;
}

static void member_jobs(void)
{
    for (struct qnode *n = queue_take_all(&f.member_jobs); n != NULL;) {
        struct job *j = (struct job *)n;
        n = n->next;
        struct member *m = &f.members[j->member];
        if (j->kind == JOB_READY && m->state == M_STARTING) {
            if (rally_server_activate(m->h, m->game_session) == RALLY_SERVER_OK)
                m->state = M_HOSTING;
            else {
                log_warn("relay: ActivateGameSession %s: %s", m->game_session,
                         rally_server_message(m->h));
                tell_terminate(m, j->member);
            }
        } else if (j->kind == JOB_ENDED) {
            member_end(m);
        }
        free(j);
    }
}

static void *member_main(void *arg)
{
    (void)arg;
    while (!f.stopping) {
        double now = util_mono_ms();
        member_jobs();
        for (int i = 0; i < f.p.members && !f.stopping; i++) {
            struct member *m = &f.members[i];
            if (m->state == M_UNREGISTERED)
                member_register(m, now);
            else
                member_beat(m, i, now);
        }
        struct timespec ts = {0, TICK_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
    member_jobs();
    for (int i = 0; i < f.p.members; i++)
        if (f.members[i].h != NULL && util_mono_ms() < f.stop_deadline_ms)
            member_end(&f.members[i]);
    return NULL;
}

/* ---- the workers -------------------------------------------------------- */

static void worker_accept(rally_server *h, const struct job *j)
{
    struct answer *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return;
    a->slot = j->slot;
    a->gen = j->gen;
    snprintf(a->psess, sizeof(a->psess), "%s", j->psess);
    char path[200];
    snprintf(path, sizeof(path), "/v1/fleet/player-sessions/%s/accept", j->psess);
    json_t *body = json_pack("{s:s}", "hostProcessId", f.host);
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    const char *resp = NULL;
    int rc = text != NULL ? rally_server_request(h, "POST", path, text, &resp) : -1;
    free(text);
    json_t *doc = rc == RALLY_SERVER_OK && resp != NULL ? json_loads(resp, 0, NULL) : NULL;
    const char *gs = json_string_value(json_object_get(doc, "gameSessionId"));
    const char *player = json_string_value(json_object_get(doc, "playerId"));
    if (gs != NULL) {
        a->kind = ANS_ACCEPTED;
        snprintf(a->game_session, sizeof(a->game_session), "%s", gs);
        snprintf(a->player_id, sizeof(a->player_id), "%s", player != NULL ? player : "");
    } else {
        a->kind = ANS_REFUSED;
        snprintf(a->why, sizeof(a->why), "%s",
                 rc == RALLY_SERVER_E_NOT_FOUND ? "no such player session here"
                 : rc == RALLY_SERVER_E_TRANSPORT
                     ? "rally cannot be reached to validate the player: try again"
                     : rally_server_message(h));
    }
    json_decref(doc);
    answer(a);
}

static void worker_remove(rally_server *h, const struct job *j)
{
    char path[200];
    snprintf(path, sizeof(path), "/v1/fleet/player-sessions/%s/remove", j->psess);
    /* A few tries over rally being briefly away; after that the seat ends
     * with its game session. */
    for (int attempt = 0; attempt < 3 && !f.stopping; attempt++) {
        int rc = rally_server_request(h, "POST", path, NULL, NULL);
        if (rc != RALLY_SERVER_E_TRANSPORT)
            return;
        struct timespec ts = {1, 0};
        nanosleep(&ts, NULL);
    }
    log_warn("relay: RemovePlayerSession %s: %s", j->psess, rally_server_message(h));
}

static void *worker_main(void *arg)
{
    (void)arg;
    struct rally_server_params sp = {
        .url = f.url, .fleet_id = f.fleet_id, .fleet_secret = f.secret};
    rally_server *h = rally_server_new(&sp);
    struct qnode *n;
    while ((n = queue_pop_wait(&f.worker_jobs)) != NULL) {
        struct job *j = (struct job *)n;
        if (h != NULL && j->kind == JOB_ACCEPT)
            worker_accept(h, j);
        else if (h != NULL && j->kind == JOB_REMOVE)
            worker_remove(h, j);
        free(j);
    }
    rally_server_free(h);
    return NULL;
}

/* ---- the loop's side ---------------------------------------------------- */

int fleet_start(const struct fleet_params *p)
{
    f.p = *p;
    f.url = dup_or_null(p->url);
    f.fleet_id = dup_or_null(p->fleet_id);
    f.secret = dup_or_null(p->fleet_secret);
    f.location = dup_or_null(p->location);
    f.ip = dup_or_null(p->ip_address);
    f.host = dup_or_null(p->host_process_id);
    f.compute = dup_or_null(p->compute_name);
    f.members = calloc((size_t)p->members, sizeof(*f.members));
    f.workers = calloc((size_t)p->workers, sizeof(*f.workers));
    if (f.url == NULL || f.fleet_id == NULL || f.secret == NULL || f.location == NULL ||
        f.ip == NULL || f.host == NULL || f.members == NULL || f.workers == NULL ||
        queue_init(&f.member_jobs) != 0 || queue_init(&f.worker_jobs) != 0 ||
        queue_init(&f.answers) != 0)
        return -1;
    if (pthread_create(&f.member_thread, NULL, member_main, NULL) != 0)
        return -1;
    for (int i = 0; i < p->workers; i++)
        if (pthread_create(&f.workers[i], NULL, worker_main, NULL) != 0)
            return -1;
    return f.answers.efd;
}

void fleet_take_answers(void)
{
    uint64_t drained;
    if (read(f.answers.efd, &drained, sizeof(drained)) < 0) {
    }
    for (struct qnode *n = queue_take_all(&f.answers); n != NULL;) {
        struct answer *a = (struct answer *)n;
        n = n->next;
        switch (a->kind) {
        case ANS_ACCEPTED:
            session_on_accepted(a->slot, a->gen, a->psess, a->game_session, a->player_id);
            break;
        case ANS_REFUSED: session_on_refused(a->slot, a->gen, a->why); break;
        case ANS_START: session_start(a->member, &a->info); break;
        case ANS_TERMINATE: session_terminate(a->member); break;
        }
        free(a->info.game_session_data);
        free(a->info.matchmaker_data);
        free(a->info.game_properties);
        free(a);
    }
}

static void push_job(struct queue *q, enum job_kind kind, uint32_t slot, uint32_t gen, int member,
                     const char *psess)
{
    struct job *j = calloc(1, sizeof(*j));
    if (j == NULL)
        return;
    j->kind = kind;
    j->slot = slot;
    j->gen = gen;
    j->member = member;
    if (psess != NULL)
        snprintf(j->psess, sizeof(j->psess), "%s", psess);
    queue_push(q, &j->node);
}

void fleet_accept(uint32_t slot, uint32_t gen, const char *psess)
{
    push_job(&f.worker_jobs, JOB_ACCEPT, slot, gen, -1, psess);
}

void fleet_remove(const char *psess)
{
    push_job(&f.worker_jobs, JOB_REMOVE, 0, 0, -1, psess);
}

void fleet_session_ready(int member)
{
    push_job(&f.member_jobs, JOB_READY, 0, 0, member, NULL);
}

void fleet_session_ended(int member)
{
    push_job(&f.member_jobs, JOB_ENDED, 0, 0, member, NULL);
}

void fleet_stop(double deadline_s)
{
    f.stop_deadline_ms = util_mono_ms() + deadline_s * 1000;
    f.stopping = true;
    queue_close(&f.worker_jobs);
    pthread_join(f.member_thread, NULL);
    for (int i = 0; i < f.p.workers; i++)
        pthread_join(f.workers[i], NULL);
}
