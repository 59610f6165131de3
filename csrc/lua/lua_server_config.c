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
    cfg->max_connections = (int)sb_opt_off(L, idx, "max_connections");
    cfg->max_per_ip = (int)sb_opt_off(L, idx, "max_per_ip");
    cfg->max_connect_rate = sb_opt_off(L, idx, "max_connect_rate");
    lua_getfield(L, idx, "limit_loopback");
    cfg->limit_loopback = lua_toboolean(L, -1);
    lua_pop(L, 1);
    cfg->max_rate = sb_opt_off(L, idx, "max_rate");
    lua_getfield(L, idx, "max_burst");
    cfg->max_burst = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : 0;
    lua_pop(L, 1);
    cfg->handshake_timeout = (int)sb_opt_size(L, idx, "handshake_timeout", 0);
    cfg->max_header_bytes = (int)sb_opt_size(L, idx, "max_header_bytes", 0);
    cfg->max_url = (int)sb_opt_size(L, idx, "max_url", 0);
    cfg->ping_interval = (int)sb_opt_off(L, idx, "ping_interval");
    cfg->idle_timeout = (int)sb_opt_off(L, idx, "idle_timeout");
}

static const sb_lua_options *sb_lua_opts(const sb_options *o)
{
    return (const sb_lua_options *)(const void *)o;
}

static int sb_lua_opt_number(const sb_options *o, const char *key, double *v)
{
    const sb_lua_options *lo = sb_lua_opts(o);
    int rc = 0;

    lua_getfield(lo->L, lo->idx, key);
    if (lua_type(lo->L, -1) == LUA_TNUMBER) {
        *v = lua_tonumber(lo->L, -1);
        rc = 1;
    } else if (lua_isboolean(lo->L, -1) && !lua_toboolean(lo->L, -1)) {
        rc = -1;
    }
    lua_pop(lo->L, 1);
    return rc;
}

static const char *sb_lua_opt_string(const sb_options *o, const char *key)
{
    const sb_lua_options *lo = sb_lua_opts(o);

    return sb_opt_str(lo->L, lo->idx, key);
}

static int sb_lua_opt_count(const sb_options *o, const char *key)
{
    const sb_lua_options *lo = sb_lua_opts(o);
    int n = -1;

    lua_getfield(lo->L, lo->idx, key);
    if (lua_istable(lo->L, -1))
        n = (int)lua_rawlen(lo->L, -1);
    lua_pop(lo->L, 1);
    return n;
}

/* Strings of a list stay referenced by it, and it by the options table. */
static const char *sb_lua_opt_item(const sb_options *o, const char *key, int i)
{
    const sb_lua_options *lo = sb_lua_opts(o);
    const char *v = NULL;

    lua_getfield(lo->L, lo->idx, key);
    if (lua_istable(lo->L, -1)) {
        lua_rawgeti(lo->L, -1, i + 1);
        v = lua_type(lo->L, -1) == LUA_TSTRING ? lua_tostring(lo->L, -1) : NULL;
        lua_pop(lo->L, 1);
    }
    lua_pop(lo->L, 1);
    return v;
}

void sb_lua_read_server_config(lua_State *L, int idx, sb_server_config *cfg,
                               sb_lua_options *opts)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->host = sb_opt_str(L, idx, "host");
    lua_getfield(L, idx, "port");
    cfg->port = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    cfg->static_dir = sb_opt_str(L, idx, "static");
    lua_getfield(L, idx, "static_follow_links");
    cfg->static_follow_links = lua_toboolean(L, -1);
    lua_pop(L, 1);
    sb_read_limits(L, idx, cfg);
    /* compression = false: no permessage-deflate (nil, true: on) */
    lua_getfield(L, idx, "compression");
    cfg->compression = lua_isboolean(L, -1) && !lua_toboolean(L, -1) ? -1 : 0;
    lua_pop(L, 1);
    lua_getfield(L, idx, "reuse_port");
    cfg->reuse_port = lua_toboolean(L, -1);
    lua_pop(L, 1);
    cfg->cors = sb_opt_str(L, idx, "sse_cors");
    /* tls = { cert = path, key = path } */
    lua_getfield(L, idx, "tls");
    if (lua_istable(L, -1)) {
        int t = lua_gettop(L);
        cfg->tls_cert = sb_opt_str(L, t, "cert");
        cfg->tls_key = sb_opt_str(L, t, "key");
    }
    lua_pop(L, 1);
    opts->o.number = sb_lua_opt_number;
    opts->o.string = sb_lua_opt_string;
    opts->o.count = sb_lua_opt_count;
    opts->o.item = sb_lua_opt_item;
    opts->L = L;
    opts->idx = idx;
    cfg->options = &opts->o;
}
