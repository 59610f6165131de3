/* switchboard.core: the C module.  The Lua modules in lua/switchboard/ build
 * the public API on top of it (the LuaSocket socket.core split). */
#include "lua_bindings.h"

#include "url.h"

int luaopen_switchboard_core(lua_State *L);

/* core.parse_query(raw) -> { key = value } (decoded; last repeat wins),
 * or nil, err for a malformed escape. */
static int sb_lua_parse_query(lua_State *L)
{
    size_t n;
    const char *q = luaL_checklstring(L, 1, &n);
    sb_query_iter it;
    sb_span k, v;
    sb_buf kb, vb;
    int bad = 0;

    lua_newtable(L);
    sb_buf_init(&kb, 0);
    sb_buf_init(&vb, 0);
    sb_query_init(&it, q, n);
    while (!bad && sb_query_next(&it, &k, &v)) {
        sb_buf_reset(&kb);
        sb_buf_reset(&vb);
        bad = sb_url_decode_query(k.p, k.n, &kb) || sb_url_decode_query(v.p, v.n, &vb);
        if (!bad && kb.len) {
            lua_pushlstring(L, (char *)sb_buf_data(&kb), kb.len);
            lua_pushlstring(L, vb.len ? (char *)sb_buf_data(&vb) : "", vb.len);
            lua_rawset(L, -3);
        }
    }
    sb_buf_free(&kb);
    sb_buf_free(&vb);
    if (bad) {
        lua_pushnil(L);
        lua_pushliteral(L, "malformed query string");
        return 2;
    }
    return 1;
}

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
    sb_lua_hub_open(L);
    sb_lua_loop_open(L);
    sb_lua_server_open(L);
    sb_lua_client_open(L);
    lua_pushcfunction(L, sb_lua_parse_query);
    lua_setfield(L, -2, "parse_query");
    lua_pushcfunction(L, sb_lua_set_onerror);
    lua_setfield(L, -2, "set_onerror");
    lua_pushliteral(L, "scm-1");
    lua_setfield(L, -2, "version");
    return 1;
}
