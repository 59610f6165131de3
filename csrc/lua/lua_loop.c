/* switchboard.loop and switchboard.timer: the event loop and its timers as
 * Lua objects.  Callbacks run inside step()/run() on the Lua thread that
 * called them (loop->host), always through sb_lua_pcall. */
#include "lua_bindings.h"
#include "net/loop.h"
#include "net/workers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SB_LOOP_MT "switchboard.loop"
#define SB_TIMER_MT "switchboard.timer"

typedef struct sb_timer {
    uv_timer_t h;
    sb_loop *loop;
    int fn_ref;      /* the callback */
    int self_ref;    /* keeps the Lua object alive while armed */
    int repeat;
} sb_timer;

typedef struct sb_lua_timer {
    sb_timer *t;     /* NULL once cancelled and released */
} sb_lua_timer;

sb_loop *sb_lua_checkloop(lua_State *L, int idx)
{
    sb_loop **lp = luaL_checkudata(L, idx, SB_LOOP_MT);
    luaL_argcheck(L, *lp != NULL, idx, "loop is closed");
    return *lp;
}

static int sb_lua_loop_new(lua_State *L)
{
    sb_loop **lp = lua_newuserdata(L, sizeof *lp);

    *lp = sb_loop_new();
    if (!*lp) {
        lua_pushnil(L);
        lua_pushliteral(L, "cannot create event loop");
        return 2;
    }
    luaL_getmetatable(L, SB_LOOP_MT);
    lua_setmetatable(L, -2);
    lua_newtable(L);
    lua_setuservalue(L, -2);
    sb_lua_remember(L, *lp, -1);
    return 1;
}

/* What a log line's protected call reads. */
typedef struct sb_log_call {
    sb_loop *loop;
    int level;
    const char *line;
} sb_log_call;

/* Protected: log(level_name, line) -- the line without its newline. */
static int sb_lua_loop_log_call(lua_State *L)
{
    sb_log_call *x = lua_touserdata(L, 1);
    size_t n = strlen(x->line);

    if (!sb_lua_push_object_field(L, x->loop, "log"))
        return 0;
    lua_pushstring(L, x->level == LLL_ERR ? "error" : x->level == LLL_WARN ? "warn"
                      : x->level == LLL_DEBUG ? "debug" : "info");
    while (n && (x->line[n - 1] == '\n' || x->line[n - 1] == '\r'))
        n--;
    lua_pushlstring(L, x->line, n);
    lua_call(L, 2, 0);
    return 0;
}

/* The loop's log sink when the app gave a function: a protected call on
 * the thread in the current step; with none (lws logging outside any
 * step, e.g. at exit) errors still reach stderr. */
static void sb_lua_loop_log(void *ud, int level, const char *line)
{
    sb_log_call x;
    sb_loop *l = ud;
    lua_State *L = sb_lua_loop_state(l);

    if (!L) {
        if (level == LLL_ERR)
            fprintf(stderr, "switchboard: lws: %s", line);
        return;
    }
    x.loop = l;
    x.level = level;
    x.line = line;
    sb_lua_protect(L, sb_lua_loop_log_call, &x, "log function");
}

/* loop:set_log(mask [, fn]): which LLL_* bits of lws's lines pass, and
 * fn(level, line) to hear them (nil: stderr).  switchboard.lua maps the
 * log option's names onto the bits. */
static int sb_lua_loop_set_log(lua_State *L)
{
    sb_loop *l = sb_lua_checkloop(L, 1);
    int mask = (int)luaL_checkinteger(L, 2);
    int fn = !lua_isnoneornil(L, 3);

    if (fn)
        luaL_checktype(L, 3, LUA_TFUNCTION);
    lua_getuservalue(L, 1);
    if (lua_istable(L, -1)) {
        lua_pushvalue(L, 3);
        lua_setfield(L, -2, "log");
    }
    lua_pop(L, 1);
    sb_loop_set_log(l, mask, fn ? sb_lua_loop_log : NULL, l);
    return 0;
}

static int sb_lua_loop_gc(lua_State *L)
{
    sb_loop **lp = luaL_checkudata(L, 1, SB_LOOP_MT);

    sb_loop_free(*lp);
    *lp = NULL;
    return 0;
}

/* step([timeout]): nil timeout waits for the next event. */
static int sb_lua_loop_step(lua_State *L)
{
    sb_loop *l = sb_lua_checkloop(L, 1);
    double timeout = luaL_optnumber(L, 2, -1);
    void *prev = l->host;
    int alive;

    l->host = L;
    alive = sb_loop_step(l, timeout);
    l->host = prev;
    lua_pushboolean(L, alive);
    return 1;
}

/* run(): until stop() or until no server, client or timer is left. */
static int sb_lua_loop_run(lua_State *L)
{
    sb_loop *l = sb_lua_checkloop(L, 1);
    void *prev = l->host;

    l->stop = 0;
    l->host = L;
    while (!l->stop && l->users > 0)
        sb_loop_step(l, -1);
    l->stop = 0;
    l->host = prev;
    return 0;
}

static int sb_lua_loop_stop(lua_State *L)
{
    sb_loop *l = sb_lua_checkloop(L, 1);

    l->stop = 1;
    uv_stop(&l->uv);
    return 0;
}

static int sb_lua_loop_pollfd(lua_State *L)
{
    lua_pushinteger(L, sb_loop_fd(sb_lua_checkloop(L, 1)));
    return 1;
}

static int sb_lua_loop_timeout(lua_State *L)
{
    double t = sb_loop_timeout(sb_lua_checkloop(L, 1));

    if (t < 0)
        lua_pushnil(L);
    else
        lua_pushnumber(L, t);
    return 1;
}

static int sb_lua_loop_users(lua_State *L)
{
    lua_pushinteger(L, sb_lua_checkloop(L, 1)->users);
    return 1;
}

static int sb_lua_now_ms(lua_State *L)
{
    lua_pushnumber(L, (lua_Number)sb_now_ms());
    return 1;
}

static void sb_timer_closed(uv_handle_t *h)
{
    free(h->data);
}

/* Disarms t and lets its Lua object and callback be collected. */
static void sb_timer_release(lua_State *L, sb_timer *t)
{
    if (t->self_ref == LUA_NOREF)
        return;
    uv_timer_stop(&t->h);
    t->loop->users--;
    sb_lua_unref(L, &t->fn_ref);
    sb_lua_unref(L, &t->self_ref);
}

static void sb_timer_fire(uv_timer_t *h)
{
    sb_timer *t = h->data;
    lua_State *L = sb_lua_loop_state(t->loop);

    if (!L)
        return;
    sb_lua_getref(L, t->fn_ref);
    sb_lua_getref(L, t->self_ref);
    if (!t->repeat)
        sb_timer_release(L, t);
    sb_lua_pcall(L, 1, 0, "timer callback");
}

/* loop:timer(after_s, repeat_s, fn) -> timer; repeat 0 fires once. */
static int sb_lua_loop_timer(lua_State *L)
{
    sb_loop *l = sb_lua_checkloop(L, 1);
    double after = luaL_checknumber(L, 2), every = luaL_checknumber(L, 3);
    sb_lua_timer *ud;
    sb_timer *t;

    luaL_argcheck(L, after >= 0, 2, "delay must be >= 0");
    luaL_argcheck(L, every >= 0, 3, "interval must be >= 0");
    luaL_checktype(L, 4, LUA_TFUNCTION);
    ud = sb_lua_newobject(L, sizeof *ud, SB_TIMER_MT);
    t = calloc(1, sizeof *t);
    if (!t)
        return luaL_error(L, "out of memory");
    uv_timer_init(&l->uv, &t->h);
    t->h.data = t;
    t->loop = l;
    t->repeat = every > 0;
    lua_pushvalue(L, 4);
    t->fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushvalue(L, -1);
    t->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    ud->t = t;
    l->users++;
    uv_timer_start(&t->h, sb_timer_fire, (uint64_t)(after * 1000.0 + 0.5),
                   (uint64_t)(every * 1000.0 + 0.5));
    return 1;
}

static int sb_lua_timer_cancel(lua_State *L)
{
    sb_lua_timer *ud = luaL_checkudata(L, 1, SB_TIMER_MT);

    if (ud->t)
        sb_timer_release(L, ud->t);
    return 0;
}

static int sb_lua_timer_active(lua_State *L)
{
    sb_lua_timer *ud = luaL_checkudata(L, 1, SB_TIMER_MT);

    lua_pushboolean(L, ud->t && ud->t->self_ref != LUA_NOREF);
    return 1;
}

/* The Lua object owns the handle; closing is asynchronous, so the memory is
 * freed from the close callback. */
static int sb_lua_timer_gc(lua_State *L)
{
    sb_lua_timer *ud = luaL_checkudata(L, 1, SB_TIMER_MT);

    if (ud->t) {
        sb_timer_release(L, ud->t);
        uv_close((uv_handle_t *)&ud->t->h, sb_timer_closed);
        ud->t = NULL;
    }
    return 0;
}

/* A signal watcher shares the timer's bookkeeping: a registry ref to the
 * callback and one to itself while armed.  It does not count as a loop
 * user, so run() still ends when nothing else is left. */
typedef struct sb_sig {
    uv_signal_t h;
    sb_loop *loop;
    int fn_ref;
    int self_ref;
} sb_sig;

typedef struct sb_lua_sig {
    sb_sig *s;
} sb_lua_sig;

#define SB_SIGNAL_MT "switchboard.signal"

static void sb_sig_fire(uv_signal_t *h, int signum)
{
    sb_sig *s = h->data;
    lua_State *L = sb_lua_loop_state(s->loop);

    if (!L)
        return;
    sb_lua_getref(L, s->fn_ref);
    lua_pushinteger(L, signum);
    sb_lua_pcall(L, 1, 0, "signal handler");
}

static void sb_sig_release(lua_State *L, sb_sig *s)
{
    uv_signal_stop(&s->h);
    sb_lua_unref(L, &s->fn_ref);
    sb_lua_unref(L, &s->self_ref);
}

/* loop:signal(signum, fn) -> watcher with :cancel(); fn(signum) runs on
 * the loop, so it may call anything (stop the loop, close servers). */
static int sb_lua_loop_signal(lua_State *L)
{
    sb_loop *l = sb_lua_checkloop(L, 1);
    int signum = (int)luaL_checkinteger(L, 2);
    sb_lua_sig *ud;
    sb_sig *s;

    luaL_checktype(L, 3, LUA_TFUNCTION);
    ud = sb_lua_newobject(L, sizeof *ud, SB_SIGNAL_MT);
    s = calloc(1, sizeof *s);
    if (!s)
        return luaL_error(L, "out of memory");
    uv_signal_init(&l->uv, &s->h);
    s->h.data = s;
    s->loop = l;
    if (uv_signal_start(&s->h, sb_sig_fire, signum)) {
        uv_close((uv_handle_t *)&s->h, sb_timer_closed);
        lua_pushnil(L);
        lua_pushfstring(L, "cannot watch signal %d", signum);
        return 2;
    }
    uv_unref((uv_handle_t *)&s->h);
    lua_pushvalue(L, 3);
    s->fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushvalue(L, -1);
    s->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    ud->s = s;
    return 1;
}

static int sb_lua_sig_cancel(lua_State *L)
{
    sb_lua_sig *ud = luaL_checkudata(L, 1, SB_SIGNAL_MT);

    if (ud->s)
        sb_sig_release(L, ud->s);
    return 0;
}

static int sb_lua_sig_gc(lua_State *L)
{
    sb_lua_sig *ud = luaL_checkudata(L, 1, SB_SIGNAL_MT);

    if (ud->s) {
        sb_sig_release(L, ud->s);
        uv_close((uv_handle_t *)&ud->s->h, sb_timer_closed);
        ud->s = NULL;
    }
    return 0;
}

/* loop:fork_workers(n) -> worker number (1 here, 2..n in the children), or
 * nil, err.  Only before anything holds a socket: a child would otherwise
 * share the parent's listeners and connections. */
static int sb_lua_loop_fork_workers(lua_State *L)
{
    sb_loop *l = sb_lua_checkloop(L, 1);
    lua_Integer n = luaL_checkinteger(L, 2);
    char err[128];
    int idx;

    luaL_argcheck(L, n >= 1 && n <= 256, 2, "workers must be 1..256");
    if (l->lws || l->users > 0)
        return luaL_error(L, "workers: listen{ workers = n } must come before "
                             "any other server, client or timer");
    if (n == 1)
        idx = 1;
    else if (!(idx = sb_workers_fork(l, (int)n, err, sizeof err))) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    lua_pushinteger(L, idx);
    return 1;
}

/* loop:signal_workers(signum) -> how many workers it reached (parent). */
static int sb_lua_loop_signal_workers(lua_State *L)
{
    sb_loop *l = sb_lua_checkloop(L, 1);

    lua_pushinteger(L, sb_workers_signal(l, (int)luaL_checkinteger(L, 2)));
    return 1;
}

/* "switchboard.timer: 0x..." from the metatable's __name. */
static int sb_lua_tostring_ptr(lua_State *L)
{
    const char *name = "userdata";

    if (lua_getmetatable(L, 1)) {
        lua_getfield(L, -1, "__name");
        if (lua_isstring(L, -1))
            name = lua_tostring(L, -1);
    }
    lua_pushfstring(L, "%s: %p", name, lua_touserdata(L, 1));
    return 1;
}

void sb_lua_loop_open(lua_State *L)
{
    static const luaL_Reg loop_meta[] = {
        { "__gc", sb_lua_loop_gc }, { "__tostring", sb_lua_tostring_ptr },
        { NULL, NULL } };
    static const luaL_Reg loop_methods[] = {
        { "step", sb_lua_loop_step }, { "run", sb_lua_loop_run },
        { "stop", sb_lua_loop_stop }, { "pollfd", sb_lua_loop_pollfd },
        { "timeout", sb_lua_loop_timeout }, { "timer", sb_lua_loop_timer },
        { "users", sb_lua_loop_users }, { "signal", sb_lua_loop_signal },
        { "fork_workers", sb_lua_loop_fork_workers },
        { "signal_workers", sb_lua_loop_signal_workers },
        { "set_log", sb_lua_loop_set_log },
        { NULL, NULL } };
    static const luaL_Reg sig_meta[] = {
        { "__gc", sb_lua_sig_gc }, { NULL, NULL } };
    static const luaL_Reg sig_methods[] = {
        { "cancel", sb_lua_sig_cancel }, { NULL, NULL } };
    static const luaL_Reg timer_meta[] = {
        { "__gc", sb_lua_timer_gc }, { "__tostring", sb_lua_tostring_ptr },
        { NULL, NULL } };
    static const luaL_Reg timer_methods[] = {
        { "cancel", sb_lua_timer_cancel }, { "active", sb_lua_timer_active },
        { NULL, NULL } };

    sb_lua_newclass(L, SB_LOOP_MT, loop_meta, loop_methods);
    sb_lua_newclass(L, SB_TIMER_MT, timer_meta, timer_methods);
    sb_lua_newclass(L, SB_SIGNAL_MT, sig_meta, sig_methods);
    lua_pushcfunction(L, sb_lua_loop_new);
    lua_setfield(L, -2, "loop_new");
    lua_pushcfunction(L, sb_lua_now_ms);
    lua_setfield(L, -2, "now_ms");
}
