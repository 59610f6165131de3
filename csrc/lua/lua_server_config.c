/* The options table of core.listen, read into an sb_server_config.
 * server.lua has checked and flattened it (lua/switchboard/limits.lua for
 * the limits); what arrives here is well-formed, so this only maps names
 * to fields and spells out the "nil: default, false: off" conventions. */
#include "lua_server_config.h"

#include <string.h>

static size_t sb_opt_size(lua_State *L, int idx, const char *key, size_t def)
{
    size_t v = def;

    lua_getfield(L, idx, key);
    if (lua_isnumber(L, -1) && lua_tonumber(L, -1) > 0)
        v = (size_t)lua_tonumber(L, -1);
    lua_pop(L, 1);
    return v;
}

/* nil: 0 (the C default); false or <= 0: -1 (off); else the number. */
static double sb_opt_off(lua_State *L, int idx, const char *key)
{
    double v = 0;

    lua_getfield(L, idx, key);
    if (lua_isnumber(L, -1))
        v = lua_tonumber(L, -1) > 0 ? lua_tonumber(L, -1) : -1;
    else if (lua_isboolean(L, -1) && !lua_toboolean(L, -1))
        v = -1;
    lua_pop(L, 1);
    return v;
}

/* The strings stay referenced by the options table, which the caller
 * keeps on its stack until sb_server_new has copied them.  Only real
 * strings: lua_tostring would convert a number into a new string that
 * nothing references once popped. */
static const char *sb_opt_str(lua_State *L, int idx, const char *key)
{
    const char *v;

    lua_getfield(L, idx, key);
    v = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    lua_pop(L, 1);
    return v;
}

static void sb_read_limits(lua_State *L, int idx, sb_server_config *cfg)
{
    cfg->max_message = sb_opt_size(L, idx, "max_message", 0);
    cfg->max_queue = sb_opt_size(L, idx, "max_queue", 0);
    cfg->max_connections = (int)sb_opt_size(L, idx, "max_connections", 0);
    cfg->max_per_ip = (int)sb_opt_size(L, idx, "max_per_ip", 0);
    cfg->max_rate = sb_opt_off(L, idx, "max_rate");
    lua_getfield(L, idx, "max_burst");
    cfg->max_burst = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : 0;
    lua_pop(L, 1);
    cfg->phoenix_max_channels = (int)sb_opt_size(L, idx, "phoenix_max_channels", 0);
    cfg->phoenix_timeout = (int)sb_opt_off(L, idx, "phoenix_timeout");
    cfg->handshake_timeout = (int)sb_opt_size(L, idx, "handshake_timeout", 0);
    cfg->max_header_bytes = (int)sb_opt_size(L, idx, "max_header_bytes", 0);
    cfg->max_url = (int)sb_opt_size(L, idx, "max_url", 0);
    cfg->ping_interval = (int)sb_opt_off(L, idx, "ping_interval");
    cfg->idle_timeout = (int)sb_opt_off(L, idx, "idle_timeout");
}

void sb_lua_read_server_config(lua_State *L, int idx, sb_server_config *cfg,
                               const char **mounts, int max_mounts)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->host = sb_opt_str(L, idx, "host");
    lua_getfield(L, idx, "port");
    cfg->port = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    cfg->static_dir = sb_opt_str(L, idx, "static");
    sb_read_limits(L, idx, cfg);
    lua_getfield(L, idx, "presence_events");
    cfg->native_quiet = lua_isboolean(L, -1) && !lua_toboolean(L, -1);
    lua_getfield(L, idx, "reuse_port");
    cfg->reuse_port = lua_toboolean(L, -1);
    lua_pop(L, 2);
    lua_getfield(L, idx, "phoenix");
    if (lua_istable(L, -1)) {
        int i;
        for (i = 0; i < max_mounts; i++) {
            lua_rawgeti(L, -1, i + 1);
            mounts[i] = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
            lua_pop(L, 1);
            if (!mounts[i])
                break;
        }
        cfg->phoenix_mounts = mounts;
        cfg->phoenix_nmounts = i;
    }
    lua_pop(L, 1);
    /* SSE options, flattened by server.lua */
    lua_getfield(L, idx, "sse_keepalive");
    cfg->sse.keepalive = lua_tonumber(L, -1);
    lua_getfield(L, idx, "sse_retry");
    cfg->sse.retry_ms = (long)lua_tointeger(L, -1);
    lua_pop(L, 2);
    cfg->sse.cors = sb_opt_str(L, idx, "sse_cors");
    cfg->sse.max_body = sb_opt_size(L, idx, "sse_max_body", 0);
    /* tls = { cert = path, key = path } */
    lua_getfield(L, idx, "tls");
    if (lua_istable(L, -1)) {
        int t = lua_gettop(L);
        cfg->tls_cert = sb_opt_str(L, t, "cert");
        cfg->tls_key = sb_opt_str(L, t, "key");
    }
    lua_pop(L, 1);
}
