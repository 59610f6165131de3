/* The hub's calls into Lua: message delivery to attached connections,
 * events, the Lua clock and replayed messages.  Each is a protected call of
 * a small C function that pushes the arguments, so even a memory error
 * while building them never unwinds through the hub. */
#include "lua_hub_internal.h"

/* Pushes channel, event, payload and the info table of m. */
static void push_msg(lua_State *L, const sb_msg *m)
{
    lua_pushlstring(L, m->channel, m->channel_len);
    lua_pushlstring(L, m->event, m->event_len);
    lua_pushlstring(L, m->payload, m->payload_len);
    lua_createtable(L, 0, 6);
    lua_pushinteger(L, (lua_Integer)m->offset);
    lua_setfield(L, -2, "offset");
    lua_pushinteger(L, (lua_Integer)m->epoch);
    lua_setfield(L, -2, "epoch");
    if (m->from) {
        lua_pushlstring(L, m->from, m->from_len);
        lua_setfield(L, -2, "from");
    }
    if (m->alias) {
        lua_pushlstring(L, m->alias, m->alias_len);
        lua_setfield(L, -2, "alias");
    }
    lua_pushnumber(L, (lua_Number)m->date_ms);
    lua_setfield(L, -2, "date");
    lua_pushboolean(L, m->binary);
    lua_setfield(L, -2, "binary");
}

/* Protected: (lightud lconn, lightud msg) -> calls the conn's fn. */
static int deliver_call(lua_State *L)
{
    lconn *lc = lua_touserdata(L, 1);
    const sb_msg *m = lua_touserdata(L, 2);

    sb_lua_hub_push_hub(L, lc->lh);
    if (lua_isnil(L, -1))
        return 0;
    sb_lua_hub_push_conn(L, -1, &lc->c);
    if (lua_isnil(L, -1))
        return 0;
    lua_getuservalue(L, -1);
    lua_getfield(L, -1, "fn");
    push_msg(L, m);
    lua_call(L, 4, 0);
    return 0;
}

void sb_lua_hub_deliver_hook(sb_conn *c, sb_msg *m, void *ud)
{
    lconn *lc = ud;
    lua_State *L = lc->lh->L;

    (void)c;
    lua_pushcfunction(L, deliver_call);
    lua_pushlightuserdata(L, lc);
    lua_pushlightuserdata(L, m);
    sb_lua_pcall(L, 2, 0, "hub deliver");
}

static const char *event_name(sb_hub_event_type t)
{
    switch (t) {
    case SB_EV_PRESENCE_JOIN: return "presence:join";
    case SB_EV_PRESENCE_LEAVE: return "presence:leave";
    case SB_EV_TYPING: return "typing";
    case SB_EV_SESSION_JOIN: return "session:join";
    default: return "session:leave";
    }
}

/* Protected: (lightud lhub, lightud event) -> event fn(name, channel,
 * member, conn or nil, typing, remote). */
static int event_call(lua_State *L)
{
    const lhub *lh = lua_touserdata(L, 1);
    const sb_hub_event *ev = lua_touserdata(L, 2);

    sb_lua_hub_push_hub(L, lh);
    if (lua_isnil(L, -1))
        return 0;
    sb_lua_hub_push_hub_field(L, -1, "event");
    if (lua_isnil(L, -1))
        return 0;
    lua_pushstring(L, event_name(ev->type));
    lua_pushlstring(L, ev->channel, ev->channel_len);
    lua_pushlstring(L, ev->member, ev->member_len);
    sb_lua_hub_push_conn(L, 3, ev->conn);
    lua_pushboolean(L, ev->typing);
    lua_pushboolean(L, ev->remote);
    lua_call(L, 6, 0);
    return 0;
}

void sb_lua_hub_event_hook(sb_hub *h, const sb_hub_event *ev, void *ud)
{
    lhub *lh = ud;
    lua_State *L = lh->L;

    (void)h;
    lua_pushcfunction(L, event_call);
    lua_pushlightuserdata(L, lh);
    lua_pushlightuserdata(L, (void *)ev);
    sb_lua_pcall(L, 2, 0, "hub event");
}

/* Protected: (lightud lhub) -> the Lua clock's number. */
static int clock_call(lua_State *L)
{
    const lhub *lh = lua_touserdata(L, 1);

    sb_lua_hub_push_hub(L, lh);
    sb_lua_hub_push_hub_field(L, -1, "clock");
    lua_call(L, 0, 1);
    if (lua_type(L, -1) != LUA_TNUMBER)
        return luaL_error(L, "hub clock must return a number, got %s",
                          luaL_typename(L, -1));
    return 1;
}

/* A clock that fails keeps the last good time, so deadlines only stall. */
double sb_lua_hub_clock_hook(void *ud)
{
    lhub *lh = ud;
    lua_State *L = lh->L;

    lua_pushcfunction(L, clock_call);
    lua_pushlightuserdata(L, lh);
    if (sb_lua_pcall(L, 1, 1, "hub clock") == 0) {
        lh->last_clock = lua_tonumber(L, -1);
        lua_pop(L, 1);
    }
    return lh->last_clock;
}

/* Protected: (fn, lightud msg) -> fn(channel, event, payload, info). */
static int replay_call(lua_State *L)
{
    const sb_msg *m = lua_touserdata(L, 2);

    lua_settop(L, 1);
    push_msg(L, m);
    lua_call(L, 4, 0);
    return 0;
}

void sb_lua_hub_replay_one(sb_msg *m, void *ud)
{
    replay_ctx *x = ud;

    lua_pushcfunction(x->L, replay_call);
    lua_pushvalue(x->L, x->fnidx);
    lua_pushlightuserdata(x->L, m);
    sb_lua_pcall(x->L, 2, 0, "hub replay");
}
