/* switchboard.core: the C module.  The Lua modules in lua/switchboard/ build
 * the public API on top of it (the LuaSocket socket.core split). */
#include "lua_bindings.h"

int luaopen_switchboard_core(lua_State *L);

int luaopen_switchboard_core(lua_State *L)
{
    lua_newtable(L);
    sb_lua_hub_open(L);
    sb_lua_loop_open(L);
    sb_lua_server_open(L);
    sb_lua_client_open(L);
    lua_pushliteral(L, "scm-1");
    lua_setfield(L, -2, "version");
    return 1;
}
