#include "script.h"

#include <jansson.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "relay.h"
#include "session.h"
#include "util.h"

/* The hook looks at the clock every this many instructions (a few µs), and
 * at every function call: one call of a library function in C (a sort, a
 * rep) is the most a callback can overrun by. */
#define HOOK_INSTRUCTIONS 1000
#define HOOK_MASK (LUA_MASKCOUNT | LUA_MASKCALL)
#define MAX_TIMERS 64
#define MIN_INTERVAL_MS 10.0
/* Errors a script may log before the rest are only counted. */
#define MAX_LOGGED_ERRORS 20
/* Of each second, the time a session's callbacks may take together. */
#define SHARE_MS_PER_S 500.0
#define MAX_SCRIPT_BYTES (1 << 20)

struct timer {
    int64_t id;
    int ref;                  /* the function, in the registry */
    double due_ms, period_ms; /* period 0: once */
};

struct script {
    lua_State *L;
    const struct script_ops *ops;
    void *session;
    char session_id[160];
    size_t used, limit;                /* bytes the state holds, and may */
    double deadline_ms;                /* of the callback running */
    double window_start_ms, window_ms; /* time spent in callbacks this second */
    const char *broken;
    unsigned errors;
    char last_error[256];
    int callbacks, self, game_session; /* registry refs */
    struct timer timers[MAX_TIMERS];
    int ntimers;
    int64_t next_timer_id;
    double log_window_ms; /* lines logged this second, for the log's sake */
    unsigned log_lines;
};

/* ---- the bounds --------------------------------------------------------- */

static void *bounded_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct script *sc = ud;
    size_t old = ptr != NULL ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        sc->used -= old;
        return NULL;
    }
    if (nsize > old && sc->used - old + nsize > sc->limit)
        return NULL; /* Lua collects and retries, then raises a memory error */
    void *p = realloc(ptr, nsize);
    if (p != NULL)
        sc->used = sc->used - old + nsize;
    return p;
}

static struct script *script_of(lua_State *L)
{
    void *ud = NULL;
    lua_getallocf(L, &ud);
    return ud;
}

static void hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    struct script *sc = script_of(L);
    if (util_mono_ms() <= sc->deadline_ms)
        return;
    sc->broken = "a callback ran over its time";
    /* From now on every instruction stops it, so no pcall in the script
     * can swallow the error for long. */
    lua_sethook(L, hook, HOOK_MASK, 1);
    luaL_error(L, "ran over %f ms", relay_cfg.script_ms);
}

static void log_script_error(struct script *sc, const char *what)
{
    sc->errors++;
    if (sc->errors <= MAX_LOGGED_ERRORS)
        log_warn("relay: script of %s: %s%s", sc->session_id, what,
                 sc->errors == MAX_LOGGED_ERRORS ? " (further errors are not logged)" : "");
}

/* Runs f(ud) protected, within the script's time; its status. */
static int protected(struct script *sc, lua_CFunction f, void *ud)
{
    lua_State *L = sc->L;
    double start = util_mono_ms();
    sc->deadline_ms = start + relay_cfg.script_ms;
    lua_settop(L, 0);
    lua_pushcfunction(L, f);
    lua_pushlightuserdata(L, ud);
    int rc = lua_pcall(L, 1, 0, 0);
    if (rc != LUA_OK) {
        if (rc == LUA_ERRMEM)
            sc->broken = "it ran out of memory";
        snprintf(sc->last_error, sizeof(sc->last_error), "%s",
                 lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1)
                                                : "an error that is not a string");
        log_script_error(sc, sc->last_error);
        lua_settop(L, 0);
    }
    double now = util_mono_ms();
    if (now - sc->window_start_ms >= 1000) {
        sc->window_start_ms = now;
        sc->window_ms = 0;
    }
    sc->window_ms += now - start;
    if (sc->window_ms > SHARE_MS_PER_S && sc->broken == NULL)
        sc->broken = "its callbacks took over half of a second";
    return rc;
}

/* ---- calling the script ------------------------------------------------- */

/* One callback's call: its function, how to push its arguments, its
 * answer. */
struct call {
    struct script *sc;
    const char *name; /* the callback, or NULL: the timer `timer` */
    const struct timer *timer;
    int (*push)(lua_State *L, const struct call *c); /* the arguments; how many */
    const void *data;
    int32_t a, b;
    struct script_msg *msg; /* pushed as a table, its changes read back */
    bool absent, answer;
};

static void push_msg(lua_State *L, const struct script_msg *m)
{
    lua_createtable(L, 0, 6);
    lua_pushinteger(L, m->op_code);
    lua_setfield(L, -2, "opCode");
    lua_pushinteger(L, m->sender);
    lua_setfield(L, -2, "sender");
    lua_pushlstring(L, (const char *)m->payload.p, m->payload.n);
    lua_setfield(L, -2, "payload");
    lua_pushboolean(L, m->reliable);
    lua_setfield(L, -2, "reliable");
    lua_pushinteger(L, m->target_player);
    lua_setfield(L, -2, "targetPlayer");
    lua_pushinteger(L, m->target_group);
    lua_setfield(L, -2, "targetGroup");
}

static int32_t field_int(lua_State *L, int t, const char *name, lua_Integer lo, lua_Integer dflt)
{
    int type = lua_getfield(L, t, name);
    int ok = 0;
    lua_Integer v = lua_tointegerx(L, -1, &ok);
    lua_pop(L, 1);
    if (type == LUA_TNIL)
        return (int32_t)dflt;
    if (!ok || v < lo || v > INT32_MAX)
        luaL_error(L, "a message's %s must be an integer from %d", name, (int)lo);
    return (int32_t)v;
}

/* A message table at t into m. The payload string is anchored in the
 * registry until the next message is read, so m may point into it. */
static void read_msg(lua_State *L, int t, struct script_msg *m)
{
    m->op_code = field_int(L, t, "opCode", 1, -1);
    if (m->op_code < 1)
        luaL_error(L, "a message needs an opCode of 1 or more");
    m->sender = field_int(L, t, "sender", RT_PLAYER_SERVER, RT_PLAYER_SERVER);
    int type = lua_getfield(L, t, "payload");
    size_t n = 0;
    const char *p = type == LUA_TNIL ? "" : lua_tolstring(L, -1, &n);
    if (p == NULL)
        luaL_error(L, "a message's payload must be a string");
    if (n > relay_cfg.max_payload)
        luaL_error(L, "a payload over %d bytes", (int)relay_cfg.max_payload);
    m->payload = (struct rt_bytes){(const uint8_t *)p, n};
    /* Anchored until the next message read: m points into it. */
    lua_setfield(L, LUA_REGISTRYINDEX, "rally.payload");
}

static int trampoline(lua_State *L)
{
    struct call *c = lua_touserdata(L, 1);
    struct script *sc = c->sc;
    if (c->name != NULL) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, sc->callbacks);
        lua_getfield(L, -1, c->name);
    } else {
        lua_rawgeti(L, LUA_REGISTRYINDEX, c->timer->ref);
        if (c->timer->period_ms == 0)
            luaL_unref(L, LUA_REGISTRYINDEX, c->timer->ref); /* a timeout runs once */
    }
    int f = lua_gettop(L);
    if (lua_type(L, f) != LUA_TFUNCTION) {
        c->absent = true;
        return 0;
    }
    int nargs, t = 0;
    if (c->msg != NULL) {
        push_msg(L, c->msg);
        t = lua_gettop(L);
        lua_pushvalue(L, f);
        lua_pushvalue(L, t);
        nargs = 1;
    } else {
        nargs = c->push != NULL ? c->push(L, c) : 0;
    }
    lua_call(L, nargs, 1);
    /* Only false refuses: a callback that returns nothing lets it be. */
    c->answer = !(lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1));
    if (c->msg != NULL && c->answer)
        read_msg(L, t, c->msg);
    return 0;
}

/* Calls c; its answer, or dflt when the script lacks the callback, or
 * false when the script fails or is broken. */
static bool run(struct script *sc, struct call *c, bool dflt)
{
    if (sc == NULL)
        return dflt;
    if (sc->broken != NULL)
        return false;
    c->sc = sc;
    if (protected(sc, trampoline, c) != LUA_OK)
        return false;
    return c->absent ? dflt : c->answer;
}

static int push_two_ints(lua_State *L, const struct call *c)
{
    lua_pushinteger(L, c->a);
    lua_pushinteger(L, c->b);
    return 2;
}

static int push_one_int(lua_State *L, const struct call *c)
{
    lua_pushinteger(L, c->a);
    return 1;
}

static int push_ref(lua_State *L, const struct call *c)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->a);
    return 1;
}

/* The player of onPlayerConnect / onPlayerAccepted. */
struct player_args {
    const char *psess, *player_id;
    const uint8_t *payload;
    size_t n;
};

static int push_player(lua_State *L, const struct call *c)
{
    const struct player_args *p = c->data;
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, c->a);
    lua_setfield(L, -2, "peerId");
    lua_pushstring(L, p->psess);
    lua_setfield(L, -2, "playerSessionId");
    lua_pushstring(L, p->player_id);
    lua_setfield(L, -2, "playerId");
    if (p->payload != NULL) {
        lua_pushlstring(L, (const char *)p->payload, p->n);
        lua_setfield(L, -2, "payload");
    }
    return 1;
}

static int push_args(lua_State *L, const struct call *c)
{
    (void)c;
    lua_createtable(L, relay_cfg.argc, 0);
    for (int i = 0; i < relay_cfg.argc; i++) {
        lua_pushstring(L, relay_cfg.argv[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

bool script_on_player_connect(struct script *sc, int32_t peer, const char *psess,
                              const char *player_id, const uint8_t *payload, size_t n)
{
    struct player_args p = {psess, player_id, payload, n};
    struct call c = {.name = "onPlayerConnect", .push = push_player, .data = &p, .a = peer};
    return run(sc, &c, true);
}

void script_on_player_accepted(struct script *sc, int32_t peer, const char *psess,
                               const char *player_id)
{
    struct player_args p = {psess, player_id, NULL, 0};
    struct call c = {.name = "onPlayerAccepted", .push = push_player, .data = &p, .a = peer};
    run(sc, &c, true);
}

void script_on_player_disconnect(struct script *sc, int32_t peer)
{
    struct call c = {.name = "onPlayerDisconnect", .push = push_one_int, .a = peer};
    run(sc, &c, true);
}

bool script_on_send(struct script *sc, struct script_msg *m)
{
    const char *name = m->target_group != RT_NO_TARGET ? "onSendToGroup" : "onSendToPlayer";
    struct call c = {.name = name, .msg = m};
    return run(sc, &c, true);
}

void script_on_message(struct script *sc, const struct script_msg *m)
{
    struct script_msg copy = *m; /* the server's message: changes go nowhere */
    struct call c = {.name = "onMessage", .msg = &copy};
    run(sc, &c, true);
}

bool script_on_join_group(struct script *sc, int32_t group, int32_t peer)
{
    struct call c = {.name = "onPlayerJoinGroup", .push = push_two_ints, .a = group, .b = peer};
    return run(sc, &c, true);
}

bool script_on_leave_group(struct script *sc, int32_t group, int32_t peer)
{
    struct call c = {.name = "onPlayerLeaveGroup", .push = push_two_ints, .a = group, .b = peer};
    return run(sc, &c, true);
}

bool script_health_check(struct script *sc)
{
    struct call c = {.name = "onHealthCheck"};
    return run(sc, &c, true);
}

const char *script_broken(const struct script *sc)
{
    return sc != NULL ? sc->broken : NULL;
}

/* ---- timers ------------------------------------------------------------- */

double script_next_timer(const struct script *sc)
{
    double next = -1;
    if (sc == NULL || sc->broken != NULL)
        return -1;
    for (int i = 0; i < sc->ntimers; i++)
        if (next < 0 || sc->timers[i].due_ms < next)
            next = sc->timers[i].due_ms;
    return next;
}

static struct timer *find_timer(struct script *sc, int64_t id)
{
    for (int i = 0; i < sc->ntimers; i++)
        if (sc->timers[i].id == id)
            return &sc->timers[i];
    return NULL;
}

static void drop_timer(struct script *sc, struct timer *t)
{
    *t = sc->timers[--sc->ntimers];
}

void script_run_timers(struct script *sc, double now_ms)
{
    if (sc == NULL || sc->broken != NULL)
        return;
    int64_t due[MAX_TIMERS];
    int n = 0;
    for (int i = 0; i < sc->ntimers; i++)
        if (sc->timers[i].due_ms <= now_ms)
            due[n++] = sc->timers[i].id;
    /* Callbacks may set and clear timers: each is looked up again. */
    for (int i = 0; i < n && sc->broken == NULL; i++) {
        struct timer *t = find_timer(sc, due[i]);
        if (t == NULL)
            continue;
        struct timer fired = *t;
        if (t->period_ms == 0) {
            drop_timer(sc, t);
        } else {
            t->due_ms += t->period_ms;
            if (t->due_ms < now_ms) /* late: no burst to catch up */
                t->due_ms = now_ms + t->period_ms;
        }
        struct call c = {.timer = &fired};
        run(sc, &c, true);
    }
}

/* ---- the session object ------------------------------------------------- */

/* Arguments start after `self` when called with a colon, at 1 without. */
static int first_arg(lua_State *L)
{
    struct script *sc = script_of(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, sc->self);
    int self = lua_rawequal(L, 1, -1);
    lua_pop(L, 1);
    return self ? 2 : 1;
}

static int l_get_players(lua_State *L)
{
    struct script *sc = script_of(L);
    size_t n = sc->ops->players(sc->session, NULL, 0);
    int32_t *ids = lua_newuserdatauv(L, (n + 1) * sizeof(*ids), 0);
    size_t now = sc->ops->players(sc->session, ids, n);
    n = now < n ? now : n;
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushinteger(L, ids[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

static int send_common(lua_State *L, bool reliable, bool to_group)
{
    struct script *sc = script_of(L);
    int a = first_arg(L);
    luaL_checktype(L, a, LUA_TTABLE);
    lua_Integer target = luaL_checkinteger(L, a + 1);
    if (target < INT32_MIN || target > INT32_MAX || (!to_group && target <= 0))
        return luaL_error(L, "no such %s: %d", to_group ? "group" : "player", (int)target);
    struct script_msg m = {.reliable = reliable};
    read_msg(L, a, &m);
    if (to_group)
        m.target_group = (int32_t)target;
    else
        m.target_player = (int32_t)target;
    const char *why = sc->ops->send(sc->session, &m);
    if (why != NULL)
        return luaL_error(L, "%s", why);
    return 0;
}

static int l_send_message(lua_State *L)
{
    return send_common(L, false, false);
}

static int l_send_reliable_message(lua_State *L)
{
    return send_common(L, true, false);
}

static int l_send_group_message(lua_State *L)
{
    return send_common(L, false, true);
}

static int l_send_reliable_group_message(lua_State *L)
{
    return send_common(L, true, true);
}

/* newTextGameMessage(opCode, sender, payload): Lua strings hold bytes, so
 * the binary kind is the same table. */
static int l_new_game_message(lua_State *L)
{
    int a = first_arg(L);
    lua_Integer op = luaL_checkinteger(L, a);
    lua_Integer sender = luaL_optinteger(L, a + 1, RT_PLAYER_SERVER);
    size_t n = 0;
    const char *payload = luaL_optlstring(L, a + 2, "", &n);
    if (op < 1 || op > INT32_MAX)
        return luaL_error(L, "a message needs an opCode of 1 or more");
    if (sender < RT_PLAYER_SERVER || sender > INT32_MAX)
        return luaL_error(L, "no such sender: %I", sender);
    struct script_msg m = {.op_code = (int32_t)op,
                           .sender = (int32_t)sender,
                           .payload = {(const uint8_t *)payload, n}};
    push_msg(L, &m);
    return 1;
}

static int l_get_game_session_id(lua_State *L)
{
    struct script *sc = script_of(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, sc->game_session);
    lua_getfield(L, -1, "gameSessionId");
    return 1;
}

static int l_get_game_session(lua_State *L)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, script_of(L)->game_session);
    return 1;
}

static int l_minus_one(lua_State *L)
{
    lua_pushinteger(L, -1); /* the server's peer id, the all-players group's id */
    return 1;
}

static int l_broadcast_membership(lua_State *L)
{
    struct script *sc = script_of(L);
    lua_Integer g = luaL_checkinteger(L, first_arg(L));
    if (g < INT32_MIN || g > INT32_MAX)
        return luaL_error(L, "no such group");
    sc->ops->membership(sc->session, (int32_t)g);
    return 0;
}

static int l_process_ending(lua_State *L)
{
    struct script *sc = script_of(L);
    sc->ops->end(sc->session);
    lua_pushboolean(L, 1);
    return 1;
}

/* setTimeout(fn, ms) / setInterval(fn, ms): the timer's id. */
static int add_timer(lua_State *L, bool repeat)
{
    struct script *sc = script_of(L);
    int a = first_arg(L);
    luaL_checktype(L, a, LUA_TFUNCTION);
    double ms = luaL_checknumber(L, a + 1);
    if (!(ms >= 0 && ms <= 86400e3))
        return luaL_error(L, "a timer's delay is from 0 to 86400000 ms");
    if (repeat && ms < MIN_INTERVAL_MS)
        ms = MIN_INTERVAL_MS;
    if (sc->ntimers == MAX_TIMERS)
        return luaL_error(L, "a script may have %d timers", MAX_TIMERS);
    lua_pushvalue(L, a);
    int ref = luaL_ref(L, LUA_REGISTRYINDEX);
    struct timer *t = &sc->timers[sc->ntimers++];
    *t = (struct timer){.id = ++sc->next_timer_id,
                        .ref = ref,
                        .due_ms = relay_now_ms + ms,
                        .period_ms = repeat ? ms : 0};
    lua_pushinteger(L, t->id);
    return 1;
}

static int l_set_timeout(lua_State *L)
{
    return add_timer(L, false);
}

static int l_set_interval(lua_State *L)
{
    return add_timer(L, true);
}

static int l_clear_timer(lua_State *L)
{
    struct script *sc = script_of(L);
    lua_Integer id = luaL_checkinteger(L, first_arg(L));
    struct timer *t = find_timer(sc, (int64_t)id);
    if (t != NULL) {
        luaL_unref(L, LUA_REGISTRYINDEX, t->ref);
        drop_timer(sc, t);
    }
    return 0;
}

/* The logger's and print's line: the script's words, with its session. */
/* Lines a script may log a second; the rest are dropped. */
#define LOG_LINES_PER_S 50
#define LOG_LINE_MAX 1000

static int log_line(lua_State *L, enum log_level level, int from)
{
    struct script *sc = script_of(L);
    if (relay_now_ms - sc->log_window_ms >= 1000) {
        sc->log_window_ms = relay_now_ms;
        sc->log_lines = 0;
    }
    if (++sc->log_lines > LOG_LINES_PER_S)
        return 0;
    luaL_Buffer b;
    int top = lua_gettop(L);
    luaL_buffinit(L, &b);
    for (int i = from; i <= top; i++) {
        if (i > from)
            luaL_addchar(&b, ' ');
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    log_write(level, "relay: script of %s says: %.*s", sc->session_id, LOG_LINE_MAX,
              lua_tostring(L, -1));
    return 0;
}

static int l_print(lua_State *L)
{
    return log_line(L, LOG_INFO, 1);
}

static int l_log_info(lua_State *L)
{
    return log_line(L, LOG_INFO, first_arg(L));
}

static int l_log_warn(lua_State *L)
{
    return log_line(L, LOG_WARN, first_arg(L));
}

static int l_log_error(lua_State *L)
{
    return log_line(L, LOG_ERROR, first_arg(L));
}

static int l_get_logger(lua_State *L)
{
    static const luaL_Reg logger[] = {
        {"info", l_log_info}, {"warn", l_log_warn}, {"error", l_log_error}, {NULL, NULL}};
    luaL_newlib(L, logger);
    return 1;
}

static const luaL_Reg session_fns[] = {
    {"getPlayers", l_get_players},
    {"sendMessage", l_send_message},
    {"sendReliableMessage", l_send_reliable_message},
    {"sendGroupMessage", l_send_group_message},
    {"sendReliableGroupMessage", l_send_reliable_group_message},
    {"newTextGameMessage", l_new_game_message},
    {"newBinaryGameMessage", l_new_game_message},
    {"getGameSessionId", l_get_game_session_id},
    {"getGameSession", l_get_game_session},
    {"getServerId", l_minus_one},
    {"getAllPlayersGroupId", l_minus_one},
    {"broadcastGroupMembershipUpdate", l_broadcast_membership},
    {"processEnding", l_process_ending},
    {"getLogger", l_get_logger},
    {"setTimeout", l_set_timeout},
    {"setInterval", l_set_interval},
    {"clearTimeout", l_clear_timer},
    {"clearInterval", l_clear_timer},
    {NULL, NULL},
};

/* ---- loading ------------------------------------------------------------ */

/* string.find, always plain: Lua's pattern matcher runs in C where the
 * hook cannot stop it, and a pattern can take exponential time. */
static int l_plain_find(lua_State *L)
{
    size_t ls = 0, lp = 0;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    lua_Integer init = luaL_optinteger(L, 3, 1);
    if (init < 0)
        init = (lua_Integer)ls + init + 1;
    if (init < 1)
        init = 1;
    if (init > (lua_Integer)ls + 1) {
        lua_pushnil(L);
        return 1;
    }
    size_t from = (size_t)init - 1;
    const char *hit = memmem(s + from, ls - from, p, lp);
    if (hit == NULL) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushinteger(L, hit - s + 1);
    lua_pushinteger(L, hit - s + (lua_Integer)lp);
    return 2;
}

/* ---- library functions that need a bound ------------------------------ */

/* The most elements a table function may touch (a bigger table cannot fit
 * in the script's memory anyway), and may sort. */
#define SORT_MAX 100000

static lua_Integer elements_max(lua_State *L)
{
    return (lua_Integer)(script_of(L)->limit / 16);
}

/* Calls the wrapped function (upvalue 1) with every argument. */
static int call_wrapped(lua_State *L)
{
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

/* string.rep: an empty string repeated a billion times loops in C without
 * allocating, out of the memory bound's sight. */
static int l_bounded_rep(lua_State *L)
{
    size_t l = 0, lsep = 0;
    luaL_checklstring(L, 1, &l);
    lua_Integer n = luaL_checkinteger(L, 2);
    luaL_optlstring(L, 3, "", &lsep);
    if (n <= 0 || l + lsep == 0) {
        lua_pushliteral(L, "");
        return 1;
    }
    if ((lua_Unsigned)n > script_of(L)->limit / (l + lsep))
        return luaL_error(L, "string.rep: the result would not fit in the script's memory");
    return call_wrapped(L);
}

/* table.insert and table.remove shift up to #t elements, and __len may
 * claim any number of them. */
static int l_bounded_shift(lua_State *L)
{
    if (luaL_len(L, 1) > elements_max(L))
        return luaL_error(L, "a table over %I elements", elements_max(L));
    return call_wrapped(L);
}

static int l_bounded_sort(lua_State *L)
{
    if (luaL_len(L, 1) > SORT_MAX)
        return luaL_error(L, "table.sort: over %d elements", SORT_MAX);
    return call_wrapped(L);
}

static int l_bounded_move(lua_State *L)
{
    lua_Integer f = luaL_checkinteger(L, 2), e = luaL_checkinteger(L, 3);
    if (e >= f && (lua_Unsigned)e - (lua_Unsigned)f >= (lua_Unsigned)elements_max(L))
        return luaL_error(L, "table.move: over %I elements", elements_max(L));
    return call_wrapped(L);
}

/* Lua runs finalizers with hooks off: a looping __gc would hang the relay.
 * (A __gc added after setmetatable is never called, so refusing it here
 * is enough.) */
static int l_setmetatable_no_gc(lua_State *L)
{
    if (lua_type(L, 2) == LUA_TTABLE && lua_getfield(L, 2, "__gc") != LUA_TNIL)
        return luaL_error(L, "__gc is not available to scripts");
    lua_settop(L, 2);
    return call_wrapped(L);
}

/* xpcall's handler runs where the error was raised, with hooks off when the
 * time bound raised it: here it runs after the protected call instead. */
static int l_xpcall(lua_State *L)
{
    int n = lua_gettop(L);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_pushvalue(L, 1); /* f and its arguments, above the originals */
    for (int i = 3; i <= n; i++)
        lua_pushvalue(L, i);
    if (lua_pcall(L, n - 2, LUA_MULTRET, 0) == LUA_OK) {
        lua_pushboolean(L, 1);
        lua_insert(L, n + 1);
        return lua_gettop(L) - n;
    }
    lua_pushvalue(L, 2);
    lua_insert(L, -2); /* handler(err) */
    lua_pcall(L, 1, 1, 0);
    lua_pushboolean(L, 0);
    lua_insert(L, -2);
    return 2;
}

static void wrap(lua_State *L, const char *name, lua_CFunction f)
{
    lua_getfield(L, -1, name);
    lua_pushcclosure(L, f, 1);
    lua_setfield(L, -2, name);
}

static void bound_libraries(lua_State *L)
{
    lua_pushglobaltable(L);
    wrap(L, "setmetatable", l_setmetatable_no_gc);
    lua_pushcfunction(L, l_xpcall);
    lua_setfield(L, -2, "xpcall");
    lua_pop(L, 1);
    lua_getglobal(L, LUA_STRLIBNAME);
    wrap(L, "rep", l_bounded_rep);
    lua_pop(L, 1);
    lua_getglobal(L, LUA_TABLIBNAME);
    wrap(L, "insert", l_bounded_shift);
    wrap(L, "remove", l_bounded_shift);
    wrap(L, "move", l_bounded_move);
    wrap(L, "sort", l_bounded_sort);
    lua_pop(L, 1);
}

static void open_sandbox(lua_State *L)
{
    static const struct {
        const char *name;
        lua_CFunction open;
    } libs[] = {{LUA_GNAME, luaopen_base},
                {LUA_TABLIBNAME, luaopen_table},
                {LUA_STRLIBNAME, luaopen_string},
                {LUA_MATHLIBNAME, luaopen_math},
                {LUA_UTF8LIBNAME, luaopen_utf8}};
    for (size_t i = 0; i < sizeof(libs) / sizeof(libs[0]); i++) {
        luaL_requiref(L, libs[i].name, libs[i].open, 1);
        lua_pop(L, 1);
    }
    /* Code from text or files, and the collector's switches, stay out. */
    static const char *const unsafe[] = {"dofile", "loadfile", "load", "require", "collectgarbage"};
    for (size_t i = 0; i < sizeof(unsafe) / sizeof(unsafe[0]); i++) {
        lua_pushnil(L);
        lua_setglobal(L, unsafe[i]);
    }
    lua_pushcfunction(L, l_print);
    lua_setglobal(L, "print");
    lua_getglobal(L, LUA_STRLIBNAME);
    static const char *const patterns[] = {"match", "gmatch", "gsub", "dump"};
    for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
        lua_pushnil(L);
        lua_setfield(L, -2, patterns[i]);
    }
    lua_pushcfunction(L, l_plain_find);
    lua_setfield(L, -2, "find");
    lua_pop(L, 1);
    /* os: the clock only. */
    luaL_requiref(L, LUA_OSLIBNAME, luaopen_os, 0);
    lua_createtable(L, 0, 3);
    static const char *const clock[] = {"time", "clock", "difftime"};
    for (size_t i = 0; i < sizeof(clock) / sizeof(clock[0]); i++) {
        lua_getfield(L, -2, clock[i]);
        lua_setfield(L, -2, clock[i]);
    }
    lua_setglobal(L, LUA_OSLIBNAME);
    lua_pop(L, 1);
    bound_libraries(L);
}

/* The table onStartGameSession receives and getGameSession() answers. */
static void push_game_session(lua_State *L, const struct session_info *info, json_t *props)
{
    lua_createtable(L, 0, 6);
    lua_pushstring(L, info->arn);
    lua_setfield(L, -2, "gameSessionId");
    lua_pushstring(L, info->id);
    lua_setfield(L, -2, "rallyGameSessionId");
    lua_pushinteger(L, info->max_players);
    lua_setfield(L, -2, "maximumPlayerSessionCount");
    if (info->game_session_data != NULL) {
        lua_pushstring(L, info->game_session_data);
        lua_setfield(L, -2, "gameSessionData");
    }
    if (info->matchmaker_data != NULL) {
        lua_pushstring(L, info->matchmaker_data);
        lua_setfield(L, -2, "matchmakerData");
    }
    lua_newtable(L);
    size_t i;
    json_t *p;
    json_array_foreach(props, i, p)
    {
        const char *k = json_string_value(json_object_get(p, "Key"));
        const char *v = json_string_value(json_object_get(p, "Value"));
        if (k != NULL && v != NULL) {
            lua_pushstring(L, v);
            lua_setfield(L, -2, k);
        }
    }
    lua_setfield(L, -2, "gameProperties");
}

struct load_args {
    struct script *sc;
    const char *source, *name;
    size_t len;
    const struct session_info *info;
    json_t *props; /* parsed outside Lua: an error in setup must not leak it */
};

/* The sandbox, the session object, and the chunk run: its callbacks are
 * the table it returns, or its globals. */
static int setup(lua_State *L)
{
    struct load_args *a = lua_touserdata(L, 1);
    struct script *sc = a->sc;
    open_sandbox(L);
    push_game_session(L, a->info, a->props);
    sc->game_session = luaL_ref(L, LUA_REGISTRYINDEX);
    luaL_newlib(L, session_fns);
    sc->self = luaL_ref(L, LUA_REGISTRYINDEX);
    if (luaL_loadbufferx(L, a->source, a->len, a->name, "t") != LUA_OK)
        return lua_error(L);
    lua_call(L, 0, 1);
    if (lua_type(L, -1) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_pushglobaltable(L);
    }
    sc->callbacks = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

static char *read_script(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "cannot open %s", path);
        return NULL;
    }
    char *buf = malloc(MAX_SCRIPT_BYTES + 1);
    *len = buf != NULL ? fread(buf, 1, MAX_SCRIPT_BYTES + 1, f) : 0;
    fclose(f);
    if (buf == NULL || *len > MAX_SCRIPT_BYTES) {
        snprintf(err, errlen, "%s is over %d bytes", path, MAX_SCRIPT_BYTES);
        free(buf);
        return NULL;
    }
    return buf;
}

struct script *script_load(const char *path, const struct script_ops *ops, void *session,
                           const struct session_info *info, char *err, size_t errlen)
{
    size_t len = 0;
    char *source = read_script(path, &len, err, errlen);
    if (source == NULL)
        return NULL;
    struct script *sc = calloc(1, sizeof(*sc));
    if (sc == NULL) {
        free(source);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    sc->ops = ops;
    sc->session = session;
    sc->limit = relay_cfg.script_memory;
    sc->window_start_ms = util_mono_ms();
    snprintf(sc->session_id, sizeof(sc->session_id), "%s", info->id);
    sc->L = lua_newstate(bounded_alloc, sc);
    if (sc->L == NULL) {
        free(source);
        free(sc);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    lua_sethook(sc->L, hook, HOOK_MASK, HOOK_INSTRUCTIONS);
    const char *base = strrchr(path, '/');
    char name[128];
    snprintf(name, sizeof(name), "@%s", base != NULL ? base + 1 : path);
    struct load_args a = {sc, source, name, len, info, NULL};
    if (info->game_properties != NULL)
        a.props = json_loads(info->game_properties, 0, NULL);
    int rc = protected(sc, setup, &a);
    json_decref(a.props);
    free(source);
    if (rc == LUA_OK && sc->broken == NULL) {
        struct call init = {.name = "init", .push = push_ref, .a = sc->self};
        struct call started = {.name = "onProcessStarted", .push = push_args};
        struct call start = {.name = "onStartGameSession", .push = push_ref, .a = sc->game_session};
        if (run(sc, &init, true) && run(sc, &started, true) && run(sc, &start, true))
            return sc;
    }
    snprintf(err, errlen, "%s",
             sc->broken != NULL  ? sc->broken
             : sc->last_error[0] ? sc->last_error
                                 : "the script failed to start");
    lua_close(sc->L);
    free(sc);
    return NULL;
}

void script_free(struct script *sc)
{
    if (sc == NULL)
        return;
    struct call c = {.name = "onProcessTerminate"};
    run(sc, &c, true);
    lua_close(sc->L);
    free(sc);
}
