/* Entry points of the binding files: each adds its constructors and
 * functions to the switchboard.core table on top of the stack and
 * registers its metatables. */
#ifndef SB_LUA_BINDINGS_H
#define SB_LUA_BINDINGS_H

#include "lua_compat.h"
#include "hub/hub.h"
#include "net/loop.h"

void sb_lua_hub_open(lua_State *L);

/* The loop inside a loop userdata (raises if idx is not one). */
sb_loop *sb_lua_checkloop(lua_State *L, int idx);
/* For a callback arriving from C: the Lua thread running the current step,
 * with the function `name` of the hooks table behind hooks_ref pushed; NULL
 * (nothing pushed) when the hook is absent or Lua cannot be entered now (no
 * step in progress, or the loop is being torn down). */
lua_State *sb_lua_loop_hook(sb_loop *l, int hooks_ref, const char *name);
void sb_lua_loop_open(lua_State *L);
void sb_lua_server_open(lua_State *L);
void sb_lua_client_open(lua_State *L);
void sb_lua_token_open(lua_State *L);
void sb_lua_cluster_open(lua_State *L);
void sb_lua_defaults_open(lua_State *L);

/* For other bindings: the hub inside a hub userdata (raises if idx is not
 * one), and the mapping between a connection and the Lua object that
 * represents it, so hub events and hub:join can cross the boundary.
 * The mapping lives in the hub userdata's user value and holds the object
 * strongly: unbind after sb_hub_disconnect, when the connection is gone.
 * hub:join/leave/publish accept exactly the objects bound here. */
sb_hub *sb_lua_checkhub(lua_State *L, int idx);
void sb_lua_hub_bind_conn(lua_State *L, int hubidx, sb_conn *c, int objidx);
void sb_lua_hub_unbind_conn(lua_State *L, int hubidx, sb_conn *c);
void sb_lua_hub_push_conn(lua_State *L, int hubidx, const sb_conn *c);

#endif
