/* The hub binding's private types and the functions its files share
 * (lua_hub.c, lua_hubconn.c, lua_hub_events.c, lua_hub_errors.c).  Other
 * bindings use the sb_lua_hub_* entry points of lua_bindings.h. */
#ifndef SB_LUA_HUB_INTERNAL_H
#define SB_LUA_HUB_INTERNAL_H

#include "lua_bindings.h"

#define HUB_MT "switchboard.hub"
#define CONN_MT "switchboard.hub_conn"

typedef struct lhub_timer lhub_timer;

typedef struct lhub {
    sb_hub *h;
    lua_State *L;          /* state callbacks run on */
    double last_clock;     /* returned when the Lua clock fails */
    lhub_timer *timer;     /* expiry on the hub's loop, or NULL */
} lhub;

typedef struct lconn {
    sb_conn c;
    lhub *lh;              /* kept alive by the conn's uservalue.hub */
    int closed;
} lconn;

/* Callbacks run on the state of the current call; restored afterwards so
 * a finished coroutine is never used. */
#define ENTER(lh, L) lua_State *saved_L_ = (lh)->L; (lh)->L = (L)
#define LEAVE(lh) ((lh)->L = saved_L_)

/* What hub:replay hands sb_lua_hub_replay_one: the state and its fn. */
typedef struct replay_ctx {
    lua_State *L;
    int fnidx;
} replay_ctx;

/* Defined in lua_hub.c. */
/* The lhub at idx; raises if it is not a hub or the hub is closed. */
lhub *sb_lua_hub_check_lhub(lua_State *L, int idx);
/* Pushes the hub userdata of lh, or nil once it was collected. */
void sb_lua_hub_push_hub(lua_State *L, const lhub *lh);
/* Pushes field `name` of the hub userdata's uservalue (nil if none). */
void sb_lua_hub_push_hub_field(lua_State *L, int hubidx, const char *name);

/* Defined in lua_hubconn.c. */
/* The sb_conn bound to the Lua object at idx, or NULL. */
sb_conn *sb_lua_hub_to_conn(lua_State *L, int hubidx, int idx);
/* hub:attach(fn) -> conn, the fake connection of specs and room tests. */
int sb_lua_hub_attach(lua_State *L);
/* Registers the metatable of the connections hub:attach makes. */
void sb_lua_hub_open_conn_class(lua_State *L);

/* Defined in lua_hub_events.c. */
/* The deliver hook of an attached connection: calls its Lua fn. */
void sb_lua_hub_deliver_hook(sb_conn *c, sb_msg *m, void *ud);
/* The hub's event hook: calls the function set by hub:on_event. */
void sb_lua_hub_event_hook(sb_hub *h, const sb_hub_event *ev, void *ud);
/* The hub's clock when opts.clock is set: calls that Lua function. */
double sb_lua_hub_clock_hook(void *ud);
/* The sb_hub_replay callback of hub:replay (ud is a replay_ctx). */
void sb_lua_hub_replay_one(sb_msg *m, void *ud);

/* Defined in lua_hub_timer.c. */
/* Expires lh's typing and history on loop's timer from now on; SB_OK, or
 * SB_ENOMEM.  The caller keeps the loop alive as long as the hub. */
int sb_lua_hub_use_loop(lhub *lh, sb_loop *loop);
/* Stops and releases that timer (for the hub's __gc). */
void sb_lua_hub_stop_timer(lhub *lh);

/* Defined in lua_hub_errors.c. */
/* Pushes a quoted copy of s with control bytes escaped, for messages. */
void sb_lua_hub_push_quoted(lua_State *L, const char *s, size_t n);
/* Returns nil, message, code for an SB_E* failure. */
int sb_lua_hub_push_error(lua_State *L, int code, int chidx, int midx);
/* Pushes true/false for 1/0 results, or the error triple. */
int sb_lua_hub_push_flag(lua_State *L, int rc, int chidx, int midx);
/* Returns nil, message, "ENOTFOUND" for a closed or foreign connection. */
int sb_lua_hub_push_closed(lua_State *L);

#endif
