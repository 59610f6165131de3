/* core.listen's options table -> sb_server_config (lua_server_config.c). */
#ifndef SB_LUA_SERVER_CONFIG_H
#define SB_LUA_SERVER_CONFIG_H

#include "lua_compat.h"
#include "net/server.h"

/* Reads the options table at idx (absolute index) into cfg; Phoenix mount
 * strings go into mounts (at most max_mounts).  Strings point into the
 * table, which must stay alive while cfg is used. */
void sb_lua_read_server_config(lua_State *L, int idx, sb_server_config *cfg,
                               const char **mounts, int max_mounts);

#endif
