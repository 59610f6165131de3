/* switchboard.wsconn: the Lua handle of one server connection
 * (lua_wsconn.c).  lua_server.c makes a handle when the connect hook runs
 * and empties it when the connection is gone. */
#ifndef SB_LUA_WSCONN_H
#define SB_LUA_WSCONN_H

#include "lua_compat.h"
#include "net/server.h"

#define SB_WSCONN_MT "switchboard.wsconn"

typedef struct sb_lua_wsconn {
    sb_wsconn *c;    /* NULL once the connection is gone */
} sb_lua_wsconn;

/* Registers the handle's metatable and methods. */
void sb_lua_wsconn_open_class(lua_State *L);

#endif
