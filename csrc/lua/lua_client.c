/* switchboard.wsclient: the raw WebSocket client as a Lua object.  Hooks
 * are a table of functions (open, message, error, close) called through
 * sb_lua_pcall; lua/switchboard/client.lua builds the itty-style client
 * with queueing and reconnection on top. */
#include "net/client.h"
#include "lua_bindings.h"

#include <string.h>

#define SB_CLIENT_MT "switchboard.wsclient"

typedef struct sb_lua_client {
    sb_client *cl;
    sb_loop *loop;
    int hooks_ref;
    int self_ref;    /* alive while connected: hooks may still fire */
    int loop_ref;
} sb_lua_client;

static lua_State *sb_lua_client_hook(sb_lua_client *lc, const char *name)
{
    return sb_lua_loop_hook(lc->loop, lc->hooks_ref, name);
}

static void sb_lua_client_on_open(void *ud, sb_client *cl)
{
    lua_State *L = sb_lua_client_hook(ud, "open");

    (void)cl;
    if (L)
        sb_lua_pcall(L, 0, 0, "client open hook");
}

static void sb_lua_client_on_message(void *ud, sb_client *cl, const char *data,
                                     size_t n, int binary)
{
    lua_State *L = sb_lua_client_hook(ud, "message");

    (void)cl;
    if (!L)
        return;
    lua_pushlstring(L, data, n);
    lua_pushboolean(L, binary);
    sb_lua_pcall(L, 2, 0, "client message hook");
}

static void sb_lua_client_on_error(void *ud, sb_client *cl, const char *msg)
{
    lua_State *L = sb_lua_client_hook(ud, "error");

    (void)cl;
    if (!L)
        return;
    lua_pushstring(L, msg);
    sb_lua_pcall(L, 1, 0, "client error hook");
}

/* After the close hook the object no longer needs to pin itself. */
static void sb_lua_client_on_close(void *ud, sb_client *cl, int code, const char *reason)
{
    sb_lua_client *lc = ud;
    lua_State *L = sb_lua_client_hook(lc, "close");

    (void)cl;
    if (L) {
        lua_pushinteger(L, code);
        lua_pushstring(L, reason ? reason : "");
        sb_lua_pcall(L, 2, 0, "client close hook");
    }
    L = lc->loop->host;
    if (L)
        sb_lua_unref(L, &lc->self_ref);
}

static const char *sb_optstr(lua_State *L, int idx, const char *key)
{
    const char *s;

    lua_getfield(L, idx, key);
    s = lua_tostring(L, -1);
    lua_pop(L, 1);   /* the table keeps the string alive */
    return s;
}

/* core.ws_connect(loop, { host, port, path, tls, insecure, origin,
 * protocols }, hooks) -> client | nil, err */
static int sb_lua_ws_connect(lua_State *L)
{
    sb_loop *loop = sb_lua_checkloop(L, 1);
    sb_client_config cfg;
    sb_client_hooks hooks;
    sb_lua_client *lc;
    char err[256];
    void *prev = loop->host;

    luaL_checktype(L, 2, LUA_TTABLE);
    luaL_checktype(L, 3, LUA_TTABLE);
    memset(&cfg, 0, sizeof cfg);
    cfg.host = sb_optstr(L, 2, "host");
    luaL_argcheck(L, cfg.host != NULL, 2, "host is required");
    lua_getfield(L, 2, "port");
    cfg.port = (int)lua_tointeger(L, -1);
    lua_getfield(L, 2, "tls");
    cfg.tls = lua_toboolean(L, -1);
    lua_getfield(L, 2, "insecure");
    cfg.insecure = lua_toboolean(L, -1);
    lua_pop(L, 3);
    cfg.path = sb_optstr(L, 2, "path");
    cfg.origin = sb_optstr(L, 2, "origin");
    cfg.subprotocols = sb_optstr(L, 2, "protocols");
    lc = sb_lua_newobject(L, sizeof *lc, SB_CLIENT_MT);
    lc->loop = loop;
    lc->hooks_ref = lc->self_ref = lc->loop_ref = LUA_NOREF;
    lua_pushvalue(L, 3);
    lc->hooks_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushvalue(L, 1);
    lc->loop_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushvalue(L, -1);
    lc->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    hooks.open = sb_lua_client_on_open;
    hooks.message = sb_lua_client_on_message;
    hooks.error = sb_lua_client_on_error;
    hooks.close = sb_lua_client_on_close;
    hooks.ud = lc;
    loop->host = L;
    lc->cl = sb_client_connect(loop, &cfg, &hooks, err, sizeof err);
    loop->host = prev;
    if (!lc->cl) {
        sb_lua_unref(L, &lc->self_ref);
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    return 1;
}

static sb_lua_client *sb_lua_checkclient(lua_State *L, int idx)
{
    return luaL_checkudata(L, idx, SB_CLIENT_MT);
}

/* client:send(data [, binary]) -> true | nil, "not open" */
static int sb_lua_client_send(lua_State *L)
{
    sb_lua_client *lc = sb_lua_checkclient(L, 1);
    size_t n;
    const char *s = luaL_checklstring(L, 2, &n);

    if (!lc->cl || sb_client_send(lc->cl, s, n, lua_toboolean(L, 3))) {
        lua_pushnil(L);
        lua_pushliteral(L, "not open");
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

static int sb_lua_client_close(lua_State *L)
{
    sb_lua_client *lc = sb_lua_checkclient(L, 1);
    int code = (int)luaL_optinteger(L, 2, 1000);

    if (lc->cl)
        sb_client_close(lc->cl, code, luaL_optstring(L, 3, ""));
    return 0;
}

static int sb_lua_client_is_open(lua_State *L)
{
    sb_lua_client *lc = sb_lua_checkclient(L, 1);

    lua_pushboolean(L, lc->cl && sb_client_is_open(lc->cl));
    return 1;
}

static int sb_lua_client_gc(lua_State *L)
{
    sb_lua_client *lc = sb_lua_checkclient(L, 1);

    if (lc->cl) {
        sb_client_free(lc->cl);
        lc->cl = NULL;
    }
    sb_lua_unref(L, &lc->hooks_ref);
    sb_lua_unref(L, &lc->loop_ref);
    return 0;
}

void sb_lua_client_open(lua_State *L)
{
    static const luaL_Reg meta[] = { { "__gc", sb_lua_client_gc }, { NULL, NULL } };
    static const luaL_Reg methods[] = {
        { "send", sb_lua_client_send }, { "close", sb_lua_client_close },
        { "is_open", sb_lua_client_is_open }, { NULL, NULL } };

    sb_lua_newclass(L, SB_CLIENT_MT, meta, methods);
    lua_pushcfunction(L, sb_lua_ws_connect);
    lua_setfield(L, -2, "ws_connect");
}
