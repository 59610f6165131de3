/* The seam every binding crosses from C into Lua (DESIGN.md, "Layers").
 *
 * - An object's Lua values (hooks, the handles of its connections, the
 *   userdata it depends on) live in its userdata's user value, never in
 *   registry references: hooks whose closures point back at the object are
 *   then an ordinary cycle, and the collector frees it once nothing else
 *   holds it.  An object that must outlive its last Lua reference (a
 *   listening server, a connected client) pins itself with one registry
 *   reference to its own userdata, dropped as soon as it can no longer
 *   call back.
 * - C finds the userdata of a C pointer through one weak table.
 * - A call into Lua is a protected call of a small C function that finds
 *   the hook, pushes the arguments, calls, and reads the results, so no
 *   Lua error (a memory error while pushing included) unwinds through C.
 * - Loop-driven objects call back on loop->host: the thread inside the
 *   current step, or inside a method that may call back (ENTER_LOOP). */
#include "lua_bindings.h"

#define SB_OBJECTS_KEY "switchboard.objects"

void sb_lua_objects_open(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, SB_OBJECTS_KEY);
    if (lua_istable(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    lua_pop(L, 1);
    lua_newtable(L);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "v");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, SB_OBJECTS_KEY);
}

void sb_lua_remember(lua_State *L, const void *p, int idx)
{
    idx = sb_lua_absindex(L, idx);
    lua_getfield(L, LUA_REGISTRYINDEX, SB_OBJECTS_KEY);
    lua_pushlightuserdata(L, (void *)p);
    lua_pushvalue(L, idx);
    lua_rawset(L, -3);
    lua_pop(L, 1);
}

void sb_lua_push_object(lua_State *L, const void *p)
{
    lua_getfield(L, LUA_REGISTRYINDEX, SB_OBJECTS_KEY);
    lua_pushlightuserdata(L, (void *)p);
    lua_rawget(L, -2);
    lua_remove(L, -2);
}

void sb_lua_push_field(lua_State *L, int idx, const char *name)
{
    lua_getuservalue(L, idx);
    if (lua_istable(L, -1))
        lua_getfield(L, -1, name);
    else
        lua_pushnil(L);
    lua_remove(L, -2);
}

int sb_lua_push_object_field(lua_State *L, const void *p, const char *name)
{
    sb_lua_push_object(L, p);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return 0;
    }
    sb_lua_push_field(L, -1, name);
    lua_remove(L, -2);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return 0;
    }
    return 1;
}

int sb_lua_push_hook(lua_State *L, const void *p, const char *name)
{
    if (!sb_lua_push_object_field(L, p, "hooks"))
        return 0;
    if (lua_istable(L, -1)) {
        lua_getfield(L, -1, name);
        lua_remove(L, -2);
        if (lua_isfunction(L, -1))
            return 1;
    }
    lua_pop(L, 1);
    return 0;
}

int sb_lua_protect(lua_State *L, lua_CFunction fn, void *arg, const char *where)
{
    lua_pushcfunction(L, fn);
    lua_pushlightuserdata(L, arg);
    return sb_lua_pcall(L, 1, 0, where);
}

lua_State *sb_lua_loop_state(const sb_loop *l)
{
    return l->host && !l->closing ? l->host : NULL;
}
