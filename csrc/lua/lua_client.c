/* switchboard.wsclient: the raw WebSocket client as a Lua object.  Hooks
 * are a table of functions (open, message, error, close);
 * lua/switchboard/client.lua builds the itty-style client with queueing
 * and reconnection on top.
 *
 * The seam of lua_seam.c: the hooks and the loop userdata live in the
 * client userdata's user value { hooks, loop }, every hook is a protected
 * call of a *_call function below, and the userdata pins itself (self_ref)
 * only while connected, when hooks may still fire. */
#include "net/client.h"
#include "lua_bindings.h"

#include <string.h>

#define SB_CLIENT_MT "switchboard.wsclient"

typedef struct sb_lua_client {
    sb_client *cl;
    sb_loop *loop;   /* kept alive by the user value's loop */
    int self_ref;    /* pins the userdata while connected */
} sb_lua_client;

/* What a hook's protected call reads. */
typedef struct sb_client_call {
    sb_lua_client *lc;
    const char *text;   /* message data or error text */
    size_t n;
    int num;            /* binary flag, or the refused upgrade's status */
    const char *refusal;
    const sb_client_end *end;   /* close */
} sb_client_call;

/* Sets t[key] = s unless s is NULL or empty. */
static void sb_setstr(lua_State *L, const char *key, const char *s)
{
    if (s && s[0]) {
        lua_pushstring(L, s);
        lua_setfield(L, -2, key);
    }
}

static void sb_setint(lua_State *L, const char *key, int v)
{
    if (v) {
        lua_pushinteger(L, v);
        lua_setfield(L, -2, key);
    }
}

/* Protected: open(). */
static int sb_lua_client_open_call(lua_State *L)
{
    sb_client_call *x = lua_touserdata(L, 1);

    if (!sb_lua_push_hook(L, x->lc, "open"))
        return 0;
    lua_call(L, 0, 0);
    return 0;
}

static void sb_lua_client_on_open(void *ud, sb_client *cl)
{
    sb_client_call x = { 0 };
    lua_State *L = sb_lua_loop_state(((sb_lua_client *)ud)->loop);

    (void)cl;
    x.lc = ud;
    if (L)
        sb_lua_protect(L, sb_lua_client_open_call, &x, "client open hook");
}

/* Protected: message(data, binary). */
static int sb_lua_client_message_call(lua_State *L)
{
    sb_client_call *x = lua_touserdata(L, 1);

    if (!sb_lua_push_hook(L, x->lc, "message"))
        return 0;
    lua_pushlstring(L, x->text, x->n);
    lua_pushboolean(L, x->num);
    lua_call(L, 2, 0);
    return 0;
}

static void sb_lua_client_on_message(void *ud, sb_client *cl, const char *data,
                                     size_t n, int binary)
{
    sb_client_call x = { 0 };
    lua_State *L = sb_lua_loop_state(((sb_lua_client *)ud)->loop);

    (void)cl;
    x.lc = ud;
    x.text = data;
    x.n = n;
    x.num = binary;
    if (L)
        sb_lua_protect(L, sb_lua_client_message_call, &x, "client message hook");
}

/* Protected: error(message, { status, reason }) -- the table only for a
 * refused upgrade. */
static int sb_lua_client_error_call(lua_State *L)
{
    sb_client_call *x = lua_touserdata(L, 1);

    if (!sb_lua_push_hook(L, x->lc, "error"))
        return 0;
    lua_pushstring(L, x->text);
    if (x->num) {
        lua_createtable(L, 0, 2);
        sb_setint(L, "status", x->num);
        sb_setstr(L, "reason", x->refusal);
    } else {
        lua_pushnil(L);
    }
    lua_call(L, 2, 0);
    return 0;
}

static void sb_lua_client_on_error(void *ud, sb_client *cl, const char *msg, int status,
                                   const char *refusal)
{
    sb_client_call x = { 0 };
    lua_State *L = sb_lua_loop_state(((sb_lua_client *)ud)->loop);

    (void)cl;
    x.lc = ud;
    x.text = msg;
    x.num = status;
    x.refusal = refusal;
    if (L)
        sb_lua_protect(L, sb_lua_client_error_call, &x, "client error hook");
}

/* Protected: close(code, reason, { by_client, peer_code, peer_reason,
 * status }), then the object stops pinning itself: no hook fires after
 * this one. */
static int sb_lua_client_close_call(lua_State *L)
{
    sb_client_call *x = lua_touserdata(L, 1);
    const sb_client_end *e = x->end;

    if (!sb_lua_push_hook(L, x->lc, "close"))
        return 0;
    lua_pushinteger(L, e->code);
    lua_pushstring(L, e->reason ? e->reason : "");
    lua_createtable(L, 0, 4);
    lua_pushboolean(L, e->by_client);
    lua_setfield(L, -2, "by_client");
    sb_setint(L, "peer_code", e->peer_code);
    if (e->peer_code) {
        lua_pushstring(L, e->peer_reason ? e->peer_reason : "");
        lua_setfield(L, -2, "peer_reason");
    }
    sb_setint(L, "status", e->status);
    lua_call(L, 3, 0);
    return 0;
}

static void sb_lua_client_on_close(void *ud, sb_client *cl, const sb_client_end *end)
{
    sb_client_call x = { 0 };
    sb_lua_client *lc = ud;
    lua_State *L = sb_lua_loop_state(lc->loop);

    (void)cl;
    x.lc = lc;
    x.end = end;
    if (!L)
        return;
    sb_lua_protect(L, sb_lua_client_close_call, &x, "client close hook");
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
    lc->self_ref = LUA_NOREF;
    luaL_getmetatable(L, SB_CLIENT_MT);
    lua_setmetatable(L, -2);
    lua_createtable(L, 0, 2);
    lua_pushvalue(L, 3);
    lua_setfield(L, -2, "hooks");
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "loop");
    lua_setuservalue(L, -2);
    sb_lua_remember(L, lc, -1);
    lua_pushvalue(L, -1);
    lc->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    hooks.open = sb_lua_client_on_open;
    hooks.message = sb_lua_client_on_message;
    hooks.error = sb_lua_client_on_error;
    hooks.close = sb_lua_client_on_close;
    hooks.ud = lc;
    {
        SB_ENTER_LOOP(loop, L);
        lc->cl = sb_client_connect(loop, &cfg, &hooks, err, sizeof err);
        SB_LEAVE_LOOP(loop);
    }
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

    if (!lc->cl || !sb_client_is_open(lc->cl)) {
        lua_pushnil(L);
        lua_pushliteral(L, "not open");
        return 2;
    }
    if (sb_client_send(lc->cl, s, n, lua_toboolean(L, 3))) {
        lua_pushnil(L);
        lua_pushliteral(L, "out of memory");
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

static int sb_lua_client_close(lua_State *L)
{
    sb_lua_client *lc = sb_lua_checkclient(L, 1);
    int code = (int)luaL_optinteger(L, 2, 1000);

    const char *reason = luaL_optstring(L, 3, "");

    if (lc->cl) {
        SB_ENTER_LOOP(lc->loop, L);
        sb_client_close(lc->cl, code, reason);
        SB_LEAVE_LOOP(lc->loop);
    }
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
    sb_lua_unref(L, &lc->self_ref);
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
