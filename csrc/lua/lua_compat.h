/* The few Lua C API differences between 5.1/LuaJIT and 5.4 that the
 * bindings touch, papered over in one place. */
#ifndef SB_LUA_COMPAT_H
#define SB_LUA_COMPAT_H

#include <lua.h>
#include <lauxlib.h>

#if LUA_VERSION_NUM < 502
#define lua_rawlen(L, i) lua_objlen((L), (i))
/* LuaJIT 2.1 already has these 5.2 functions (and luaL_newlibtable). */
#ifndef luaL_newlibtable
#define SB_LUA_COMPAT_FUNCS 1
#define luaL_newlib(L, l) (lua_newtable(L), luaL_setfuncs((L), (l), 0))
void luaL_setfuncs(lua_State *L, const luaL_Reg *l, int nup);
void *luaL_testudata(lua_State *L, int idx, const char *tname);
#endif
/* 5.1 userdata environments serve as 5.2+ user values (tables only). */
#define lua_setuservalue(L, i) lua_setfenv((L), (i))
#define lua_getuservalue(L, i) lua_getfenv((L), (i))
#endif

/* Absolute stack index (lua_absindex is 5.2+). */
#define sb_lua_absindex(L, i) \
    ((i) > 0 || (i) <= LUA_REGISTRYINDEX ? (i) : lua_gettop(L) + (i) + 1)

/* The main thread, which outlives every coroutine: the state a C struct
 * keeps for later callbacks.  5.1 has no way to ask, so there it is L. */
lua_State *sb_lua_mainthread(lua_State *L);

/* Pushes a zeroed userdata of size bytes with the metatable registered
 * as tname, the way every type's constructor starts; fields that must
 * not be 0 (registry refs: LUA_NOREF) are the constructor's to set
 * before anything can raise. */
void *sb_lua_newobject(lua_State *L, size_t size, const char *tname);

/* Metatable with __name, __index = methods, shared by every userdata type. */
void sb_lua_newclass(lua_State *L, const char *name, const luaL_Reg *meta,
                     const luaL_Reg *methods);

/* Calls the function below nargs arguments on the stack with a traceback
 * handler; on error reports "switchboard: <where>: <traceback>" through
 * the error reporter of the registry (or stderr) and returns nonzero.
 * Leaves nresults values on success, nothing on failure. */
int sb_lua_pcall(lua_State *L, int nargs, int nresults, const char *where);

/* Pushes the value of a registry reference; LUA_NOREF pushes nil. */
void sb_lua_getref(lua_State *L, int ref);
void sb_lua_unref(lua_State *L, int *ref);

#endif
