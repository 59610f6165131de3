/* core.listen's options table -> sb_server_config (lua_server_config.c). */
#ifndef SB_LUA_SERVER_CONFIG_H
#define SB_LUA_SERVER_CONFIG_H

#include "lua_compat.h"
#include "net/options.h"
#include "net/server.h"

/* The protocols' options read straight from the Lua table (options.h). */
typedef struct sb_lua_options {
    sb_options o;      /* first: the readers get this struct back */
    lua_State *L;
    int idx;           /* absolute index of the options table */
} sb_lua_options;

/* Reads the options table at idx (absolute index) into cfg, and points
 * cfg->options at opts, which reads the rest of it.  Strings point into
 * the table, which must stay on the stack while cfg is used. */
void sb_lua_read_server_config(lua_State *L, int idx, sb_server_config *cfg,
                               sb_lua_options *opts);

#endif
