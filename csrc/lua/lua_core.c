/* switchboard.core: the C module.  The Lua modules in lua/switchboard/ build
 * the public API on top of it (the LuaSocket socket.core split). */
#include "lua_bindings.h"

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
    sb_lua_token_open(L);
    sb_lua_cluster_open(L);
    sb_lua_defaults_open(L);
    lua_pushcfunction(L, sb_lua_set_onerror);
    lua_setfield(L, -2, "set_onerror");
    lua_pushliteral(L, "scm-1");
    lua_setfield(L, -2, "version");
    return 1;
}
