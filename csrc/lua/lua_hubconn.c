/* Connections as Lua objects: the mapping between an sb_conn and the Lua
 * object that represents it (kept in the hub userdata's uservalue.conns,
 * used by the server binding too), and the fake connections of
 * hub:attach(fn) that specs and room unit tests use. */
#include "lua_hub_internal.h"

#include <string.h>

void sb_lua_hub_bind_conn(lua_State *L, int hubidx, sb_conn *c, int objidx)
{
    hubidx = sb_lua_absindex(L, hubidx);
    objidx = sb_lua_absindex(L, objidx);
    sb_lua_hub_push_hub_field(L, hubidx, "conns");
    lua_pushlightuserdata(L, c);
    lua_pushvalue(L, objidx);
    lua_rawset(L, -3);
    lua_pushvalue(L, objidx);
    lua_pushlightuserdata(L, c);
    lua_rawset(L, -3);
    lua_pop(L, 1);
}

void sb_lua_hub_unbind_conn(lua_State *L, int hubidx, sb_conn *c)
{
    hubidx = sb_lua_absindex(L, hubidx);
    sb_lua_hub_push_hub_field(L, hubidx, "conns");
    lua_pushlightuserdata(L, c);
    lua_rawget(L, -2);
    lua_pushnil(L);
    lua_rawset(L, -3);
    lua_pushlightuserdata(L, c);
    lua_pushnil(L);
    lua_rawset(L, -3);
    lua_pop(L, 1);
}

void sb_lua_hub_push_conn(lua_State *L, int hubidx, const sb_conn *c)
{
    hubidx = sb_lua_absindex(L, hubidx);
    if (!c) {
        lua_pushnil(L);
        return;
    }
    sb_lua_hub_push_hub_field(L, hubidx, "conns");
    lua_pushlightuserdata(L, (void *)c);
    lua_rawget(L, -2);
    lua_remove(L, -2);
}

/* The sb_conn of the Lua object at idx, or NULL when it is not (or no
 * longer) bound to this hub.  Raises when idx holds no object at all. */
sb_conn *sb_lua_hub_to_conn(lua_State *L, int hubidx, int idx)
{
    sb_conn *c;

    luaL_argcheck(L, lua_isuserdata(L, idx) || lua_istable(L, idx), idx,
                  "connection expected");
    sb_lua_hub_push_hub_field(L, hubidx, "conns");
    lua_pushvalue(L, idx);
    lua_rawget(L, -2);
    c = lua_touserdata(L, -1);
    lua_pop(L, 2);
    return c;
}

/* hub:attach(fn) -> conn: a fake connection whose deliver calls
 * fn(channel, event, payload_json, info). */
int sb_lua_hub_attach(lua_State *L)
{
    lhub *lh = sb_lua_hub_check_lhub(L, 1);
    lconn *lc;

    luaL_checktype(L, 2, LUA_TFUNCTION);
    lc = sb_lua_newobject(L, sizeof *lc, CONN_MT);
    lua_createtable(L, 0, 2);
    lua_pushvalue(L, 2);
    lua_setfield(L, -2, "fn");
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "hub");
    lua_setuservalue(L, -2);
    lc->lh = lh;
    sb_hub_attach(lh->h, &lc->c, sb_lua_hub_deliver_hook, lc);
    sb_lua_hub_bind_conn(L, 1, &lc->c, -1);
    return 1;
}

static lconn *check_lconn(lua_State *L, int idx)
{
    return luaL_checkudata(L, idx, CONN_MT);
}

/* conn:close(): leaves every channel and unbinds; safe to call twice. */
static int lconn_close(lua_State *L)
{
    lconn *lc = check_lconn(L, 1);

    if (lc->closed || !lc->lh->h)
        return 0;
    lc->closed = 1;
    ENTER(lc->lh, L);
    sb_hub_disconnect(lc->lh->h, &lc->c);
    LEAVE(lc->lh);
    lua_getuservalue(L, 1);
    lua_getfield(L, -1, "hub");
    sb_lua_hub_unbind_conn(L, -1, &lc->c);
    return 0;
}

/* conn.id, conn.closed, then the methods. */
static int lconn_index(lua_State *L)
{
    lconn *lc = check_lconn(L, 1);
    const char *k = lua_tostring(L, 2);

    if (k && strcmp(k, "id") == 0) {
        lua_pushinteger(L, (lua_Integer)lc->c.id);
        return 1;
    }
    if (k && strcmp(k, "closed") == 0) {
        lua_pushboolean(L, lc->closed);
        return 1;
    }
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(1));
    return 1;
}

static int lconn_tostring(lua_State *L)
{
    lconn *lc = check_lconn(L, 1);
    lua_pushfstring(L, "switchboard.hub_conn %d%s", (int)lc->c.id,
                    lc->closed ? " closed" : "");
    return 1;
}

static const luaL_Reg conn_meta[] = {
    {"__tostring", lconn_tostring},
    {NULL, NULL}};

static const luaL_Reg conn_methods[] = {
    {"close", lconn_close},
    {NULL, NULL}};

/* The conn class needs a function __index (for .id) over its methods. */
void sb_lua_hub_open_conn_class(lua_State *L)
{
    sb_lua_newclass(L, CONN_MT, conn_meta, conn_methods);
    luaL_getmetatable(L, CONN_MT);
    lua_getfield(L, -1, "__index");
    lua_pushcclosure(L, lconn_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
}
