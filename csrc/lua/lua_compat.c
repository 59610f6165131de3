#include "lua_compat.h"

#include <stdio.h>
#include <string.h>

#ifdef SB_LUA_COMPAT_FUNCS
void luaL_setfuncs(lua_State *L, const luaL_Reg *l, int nup)
{
    luaL_checkstack(L, nup, "too many upvalues");
    for (; l->name; l++) {
        int i;
        for (i = 0; i < nup; i++)
            lua_pushvalue(L, -nup);
        lua_pushcclosure(L, l->func, nup);
        lua_setfield(L, -(nup + 2), l->name);
    }
    lua_pop(L, nup);
}

void *luaL_testudata(lua_State *L, int idx, const char *tname)
{
    void *p = lua_touserdata(L, idx);
    if (!p || !lua_getmetatable(L, idx))
        return NULL;
    luaL_getmetatable(L, tname);
    if (!lua_rawequal(L, -1, -2))
        p = NULL;
    lua_pop(L, 2);
    return p;
}
#endif

lua_State *sb_lua_mainthread(lua_State *L)
{
#if LUA_VERSION_NUM >= 502
    lua_State *main;

    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
    main = lua_tothread(L, -1);
    lua_pop(L, 1);
    return main;
#else
    return L;
#endif
}

void *sb_lua_newobject(lua_State *L, size_t size, const char *tname)
{
    void *p = lua_newuserdata(L, size);

    memset(p, 0, size);
    luaL_getmetatable(L, tname);
    lua_setmetatable(L, -2);
    return p;
}

void sb_lua_newclass(lua_State *L, const char *name, const luaL_Reg *meta,
                     const luaL_Reg *methods)
{
    luaL_newmetatable(L, name);
    luaL_setfuncs(L, meta, 0);
    lua_pushstring(L, name);
    lua_setfield(L, -2, "__name");
    /* luaL_newlib needs an array, not a pointer (sizes it with sizeof). */
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
}

/* Message handler: adds a traceback to string errors. */
static int sb_lua_traceback(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (!msg)
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    lua_getglobal(L, "debug");
    if (!lua_istable(L, -1))
        return 1;
    lua_getfield(L, -1, "traceback");
    if (!lua_isfunction(L, -1))
        return 1;
    lua_pushstring(L, msg);
    lua_pushinteger(L, 2);
    lua_call(L, 2, 1);
    return 1;
}

/* Hands the error text to switchboard's reporter (a Lua function stored in
 * the registry under "switchboard.onerror"), falling back to stderr when
 * there is none or it fails itself. */
static void sb_lua_report(lua_State *L, const char *where, int errix)
{
    lua_getfield(L, LUA_REGISTRYINDEX, "switchboard.onerror");
    if (lua_isfunction(L, -1)) {
        lua_pushstring(L, where);
        lua_pushvalue(L, errix);
        if (lua_pcall(L, 2, 0, 0) == 0)
            return;
    }
    lua_pop(L, 1);
    fprintf(stderr, "switchboard: error in %s: %s\n", where,
            lua_tostring(L, errix) ? lua_tostring(L, errix) : "?");
}

int sb_lua_pcall(lua_State *L, int nargs, int nresults, const char *where)
{
    int base = lua_gettop(L) - nargs;
    int rc;

    lua_pushcfunction(L, sb_lua_traceback);
    lua_insert(L, base);
    rc = lua_pcall(L, nargs, nresults, base);
    lua_remove(L, base);
    if (rc) {
        int errix = lua_gettop(L);
        sb_lua_report(L, where, errix);
        lua_settop(L, errix - 1);
    }
    return rc;
}

void sb_lua_getref(lua_State *L, int ref)
{
    if (ref == LUA_NOREF || ref == LUA_REFNIL)
        lua_pushnil(L);
    else
        lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
}

void sb_lua_unref(lua_State *L, int *ref)
{
    if (*ref != LUA_NOREF && *ref != LUA_REFNIL)
        luaL_unref(L, LUA_REGISTRYINDEX, *ref);
    *ref = LUA_NOREF;
}
