/* switchboard.core: the C module.  The Lua modules in lua/switchboard/ build
 * the public API on top of it (the LuaSocket socket.core split). */
#include "lua_bindings.h"

/* core.call_reported(where, fn, ...) -> true, results... | false: calls
 * fn as C calls every callback, so that an error in it is reported the
 * same way (onerror, else stderr, with a traceback) and stops nothing
 * else; for Lua code that runs the app's functions (webhook filters). */
static int sb_lua_call_reported(lua_State *L)
{
    const char *where = luaL_checkstring(L, 1);

    luaL_checkany(L, 2);
    if (sb_lua_pcall(L, lua_gettop(L) - 2, LUA_MULTRET, where)) {
        lua_pushboolean(L, 0);
        return 1;
    }
    lua_pushboolean(L, 1);
    lua_insert(L, 2);
    return lua_gettop(L) - 1;
}

int luaopen_switchboard_core(lua_State *L);

/* core.set_onerror(fn): who hears about errors raised inside callbacks
 * (fn(where, message_with_traceback)); nil restores stderr. */
static int sb_lua_set_onerror(lua_State *L)
{
    if (!lua_isnoneornil(L, 1))
        luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_settop(L, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, "switchboard.onerror");
    return 0;
}

int luaopen_switchboard_core(lua_State *L)
{
    lua_newtable(L);
    sb_lua_objects_open(L);
    sb_lua_json_open(L);
    sb_lua_hub_open(L);
    sb_lua_hub_api_open(L);
    sb_lua_loop_open(L);
    sb_lua_server_open(L);
    sb_lua_client_open(L);
    sb_lua_http_client_open(L);
    sb_lua_token_open(L);
    sb_lua_cluster_open(L);
    sb_lua_defaults_open(L);
    sb_lua_deflate_open(L);
    lua_pushcfunction(L, sb_lua_set_onerror);
    lua_setfield(L, -2, "set_onerror");
    lua_pushcfunction(L, sb_lua_call_reported);
    lua_setfield(L, -2, "call_reported");
    lua_pushliteral(L, "scm-1");
    lua_setfield(L, -2, "version");
    return 1;
}
