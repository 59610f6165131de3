/* Entry points of the binding files: each adds its constructors and
 * functions to the switchboard.core table on top of the stack and
 * registers its metatables. */
#ifndef SB_LUA_BINDINGS_H
#define SB_LUA_BINDINGS_H

#include "lua_compat.h"
#include "hub.h"

void sb_lua_hub_open(lua_State *L);
void sb_lua_loop_open(lua_State *L);
void sb_lua_server_open(lua_State *L);
void sb_lua_client_open(lua_State *L);
void sb_lua_cluster_open(lua_State *L);

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
