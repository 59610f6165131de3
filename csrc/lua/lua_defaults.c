/* core.defaults(): the table of base/defaults.h as Lua sees it, so the Lua
 * layer and the README spec read the values the C code uses instead of
 * copies of them. */
#include "lua_bindings.h"

#include "base/defaults.h"

/* Sets t[name] = { value = v, unit = u, doc = d } on the table on top. */
static void sb_lua_defaults_row(lua_State *L, const char *name, lua_Integer value,
                                const char *unit, const char *doc)
{
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, value);
    lua_setfield(L, -2, "value");
    lua_pushstring(L, unit);
    lua_setfield(L, -2, "unit");
    lua_pushstring(L, doc);
    lua_setfield(L, -2, "doc");
    lua_setfield(L, -2, name);
}

/* core.defaults() -> { [name] = { value =, unit =, doc = } }: a new table
 * on each call, so a caller that edits it changes nobody else's. */
static int sb_lua_defaults(lua_State *L)
{
    lua_newtable(L);
#define SB_DEFAULT_ROW(name, value, unit, doc) \
    sb_lua_defaults_row(L, #name, (lua_Integer)(value), unit, doc);
    SB_DEFAULTS(SB_DEFAULT_ROW)
#undef SB_DEFAULT_ROW
    return 1;
}

void sb_lua_defaults_open(lua_State *L)
{
    lua_pushcfunction(L, sb_lua_defaults);
    lua_setfield(L, -2, "defaults");
}
