/* switchboard.server and switchboard.wsconn: a listening server and the
 * handles of its connections.  The Lua layer (lua/switchboard/server.lua)
 * passes a table of hook functions; C calls them, always through
 * sb_lua_pcall, only at connect, open, close and for messages on channels
 * the app asked to handle.  The relay path itself never enters Lua. */
#include "lua_bindings.h"
#include "net/server.h"
#include "protocols/registry.h"
#include "lua_server_config.h"

#include <stdlib.h>
#include <string.h>

#define SB_SERVER_MT "switchboard.server"
#define SB_WSCONN_MT "switchboard.wsconn"

typedef struct sb_lua_server {
    sb_server *srv;
    sb_loop *loop;
    int hooks_ref;
    int hub_ref;
    int loop_ref;
} sb_lua_server;

typedef struct sb_lua_wsconn {
    sb_wsconn *c;    /* NULL once the connection is gone */
} sb_lua_wsconn;

static sb_wsconn *sb_lua_checkwsconn(lua_State *L, int idx)
{
    sb_lua_wsconn *h = luaL_checkudata(L, idx, SB_WSCONN_MT);
    return h->c;
}

static lua_State *sb_lua_server_hook(sb_lua_server *ls, const char *name)
{
    return sb_lua_loop_hook(ls->loop, ls->hooks_ref, name);
}

static void sb_lua_push_handle(lua_State *L, sb_wsconn *c)
{
    if (c->ref >= 0) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, c->ref);
        return;
    }
    lua_pushnil(L);
}

/* Header names the connect hook sees in req.headers. */
static const struct { enum lws_token_indexes tok; const char *name; } sb_hdrs[] = {
    { WSI_TOKEN_HOST, "host" }, { WSI_TOKEN_ORIGIN, "origin" },
    { WSI_TOKEN_HTTP_USER_AGENT, "user-agent" }, { WSI_TOKEN_HTTP_COOKIE, "cookie" },
    { WSI_TOKEN_HTTP_AUTHORIZATION, "authorization" },
    { WSI_TOKEN_PROTOCOL, "sec-websocket-protocol" },
    { WSI_TOKEN_X_FORWARDED_FOR, "x-forwarded-for" },
    { WSI_TOKEN_HTTP_ACCEPT, "accept" },
};

static void sb_lua_push_request(lua_State *L, const sb_request *req)
{
    char buf[4096];
    size_t h;
    const char *v;
    int i;

    lua_newtable(L);
    lua_pushstring(L, req->path);
    lua_setfield(L, -2, "path");
    lua_newtable(L);
    for (i = 0; sb_request_arg(req->wsi, i, buf, sizeof buf, &v) >= 0; i++) {
        if (buf[0]) {
            lua_pushstring(L, v);
            lua_setfield(L, -2, buf);
        }
    }
    lua_setfield(L, -2, "query");
    lua_newtable(L);
    for (h = 0; h < sizeof sb_hdrs / sizeof sb_hdrs[0]; h++) {
        if (lws_hdr_copy(req->wsi, buf, sizeof buf, sb_hdrs[h].tok) > 0) {
            lua_pushstring(L, buf);
            lua_setfield(L, -2, sb_hdrs[h].name);
        }
    }
    lua_setfield(L, -2, "headers");
    if (req->token) {
        lua_pushlstring(L, req->token, req->token_len);
        lua_setfield(L, -2, "token");
    }
    lws_get_peer_simple(req->wsi, buf, sizeof buf);
    lua_pushstring(L, buf);
    lua_setfield(L, -2, "ip");
}

/* connect hook: hook(handle, req) -> accept [, reason [, status]].  A hook
 * that raises refuses with 500 rather than letting an error through. */
static int sb_lua_on_connect(void *ud, sb_wsconn *c, const sb_request *req,
                             char *reason, size_t reason_len)
{
    sb_lua_server *ls = ud;
    lua_State *L = sb_lua_server_hook(ls, "connect");
    sb_lua_wsconn *h;
    int status = 0;

    if (!L)
        return 0;
    h = lua_newuserdata(L, sizeof *h);
    h->c = c;
    luaL_getmetatable(L, SB_WSCONN_MT);
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    c->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    sb_lua_push_request(L, req);
    if (sb_lua_pcall(L, 2, 3, "connect hook")) {
        snprintf(reason, reason_len, "connect hook failed");
        status = 500;
    } else if (!lua_toboolean(L, -3)) {
        snprintf(reason, reason_len, "%s", lua_isstring(L, -2) ? lua_tostring(L, -2) : "refused");
        status = lua_isnumber(L, -1) ? (int)lua_tointeger(L, -1) : 403;
        lua_pop(L, 3);
    } else {
        lua_pop(L, 3);
    }
    if (status) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, c->ref);
        ((sb_lua_wsconn *)lua_touserdata(L, -1))->c = NULL;
        lua_pop(L, 1);
        luaL_unref(L, LUA_REGISTRYINDEX, c->ref);
        c->ref = -2;
    }
    return status;
}

static void sb_lua_on_open(void *ud, sb_wsconn *c)
{
    lua_State *L = sb_lua_server_hook(ud, "open");

    if (!L)
        return;
    sb_lua_push_handle(L, c);
    sb_lua_pcall(L, 1, 0, "open hook");
}

static int sb_lua_on_message(void *ud, sb_wsconn *c, const char *data, size_t n)
{
    lua_State *L = sb_lua_server_hook(ud, "message");
    int relay = 1;

    if (!L)
        return 1;
    sb_lua_push_handle(L, c);
    lua_pushlstring(L, data, n);
    if (sb_lua_pcall(L, 2, 1, "message handler") == 0) {
        relay = lua_isnil(L, -1) || lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    return relay;
}

/* The connection is gone: tell Lua, then cut the handle loose so later
 * calls on it answer "closed" instead of touching freed memory. */
static void sb_lua_on_close(void *ud, sb_wsconn *c, int code)
{
    sb_lua_server *ls = ud;
    lua_State *L = sb_lua_server_hook(ls, "close");

    if (L) {
        sb_lua_push_handle(L, c);
        lua_pushinteger(L, code);
        sb_lua_pcall(L, 2, 0, "close hook");
    }
    L = ls->loop->host;
    if (L && c->ref >= 0) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, c->ref);
        ((sb_lua_wsconn *)lua_touserdata(L, -1))->c = NULL;
        lua_pop(L, 1);
        luaL_unref(L, LUA_REGISTRYINDEX, c->ref);
        c->ref = -2;
    }
}

/* publish hook (POST /sse/<channel>): hook(req, channel, event,
 * payload_json) -> ok [, reason [, status]].  Refusals default to 403; a
 * hook that raises refuses with 500. */
static int sb_lua_on_publish(void *ud, const sb_request *req, const char *channel,
                             const char *event, const char *payload, size_t n,
                             char *reason, size_t reason_len)
{
    lua_State *L = sb_lua_server_hook(ud, "publish");
    int status = 0;

    if (!L)
        return 0;
    sb_lua_push_request(L, req);
    lua_pushstring(L, channel);
    lua_pushstring(L, event);
    lua_pushlstring(L, payload, n);
    if (sb_lua_pcall(L, 4, 3, "publish hook")) {
        snprintf(reason, reason_len, "publish hook failed");
        return 500;
    }
    if (!lua_toboolean(L, -3)) {
        snprintf(reason, reason_len, "%s", lua_isstring(L, -2) ? lua_tostring(L, -2) : "refused");
        status = lua_isnumber(L, -1) ? (int)lua_tointeger(L, -1) : 403;
    }
    lua_pop(L, 3);
    return status;
}

/* Copies the string at the top of the stack into out (if a string) and
 * pops it. */
static void sb_lua_take_string(lua_State *L, sb_buf *out)
{
    size_t n;
    const char *s;

    if (lua_type(L, -1) == LUA_TSTRING) {
        s = lua_tolstring(L, -1, &n);
        sb_buf_add(out, s, n);
    }
    lua_pop(L, 1);
}

/* phx_join hook: hook(handle, topic, params_json) -> "ok" | "error" |
 * "unmatched", response_json.  server.lua runs the app's join. */
static int sb_lua_on_phx_join(void *ud, sb_wsconn *c, const char *topic, size_t tlen,
                              const char *params, size_t n, sb_buf *out)
{
    lua_State *L = sb_lua_server_hook(ud, "phx_join");
    int rc = SB_PHX_JOIN_UNMATCHED;
    const char *what;

    if (!L)
        return rc;
    sb_lua_push_handle(L, c);
    lua_pushlstring(L, topic, tlen);
    lua_pushlstring(L, params, n);
    if (sb_lua_pcall(L, 3, 2, "phoenix join handler"))
        return -1;
    what = lua_tostring(L, -2);
    if (what && strcmp(what, "ok") == 0)
        rc = SB_PHX_JOIN_OK;
    else if (what && strcmp(what, "error") == 0)
        rc = SB_PHX_JOIN_REFUSED;
    sb_lua_take_string(L, out);
    lua_pop(L, 1);
    return rc;
}

/* phx_event hook: hook(handle, topic, event, payload, binary) -> nil (no
 * reply) | status, response [, binary]. */
static int sb_lua_on_phx_event(void *ud, sb_wsconn *c, const char *topic, size_t tlen,
                               const char *event, size_t elen, const char *payload,
                               size_t n, int binary, char *status, size_t status_len,
                               sb_buf *out, int *out_binary)
{
    lua_State *L = sb_lua_server_hook(ud, "phx_event");
    int rc = 0;

    if (!L)
        return 0;
    sb_lua_push_handle(L, c);
    lua_pushlstring(L, topic, tlen);
    lua_pushlstring(L, event, elen);
    lua_pushlstring(L, payload, n);
    lua_pushboolean(L, binary);
    if (sb_lua_pcall(L, 5, 3, "phoenix event handler"))
        return -1;
    if (lua_type(L, -3) == LUA_TSTRING) {
        snprintf(status, status_len, "%s", lua_tostring(L, -3));
        *out_binary = lua_toboolean(L, -1);
        lua_pop(L, 1);
        sb_lua_take_string(L, out);
        lua_pop(L, 1);
        return 1;
    }
    lua_pop(L, 3);
    return rc;
}

static void sb_lua_on_phx_leave(void *ud, sb_wsconn *c, const char *topic, size_t tlen,
                                const char *why)
{
    lua_State *L = sb_lua_server_hook(ud, "phx_leave");

    if (!L)
        return;
    sb_lua_push_handle(L, c);
    lua_pushlstring(L, topic, tlen);
    lua_pushstring(L, why);
    sb_lua_pcall(L, 3, 0, "phoenix leave handler");
}


/* core.listen(loop, hub, opts, hooks) -> server | nil, err */
static int sb_lua_listen(lua_State *L)
{
    sb_loop *loop = sb_lua_checkloop(L, 1);
    sb_hub *hub = sb_lua_checkhub(L, 2);
    sb_server_config cfg;
    sb_server_hooks hooks;
    sb_lua_server *ls;
    char err[256];
    sb_lua_options opts;

    memset(&hooks, 0, sizeof hooks);
    luaL_checktype(L, 3, LUA_TTABLE);
    luaL_checktype(L, 4, LUA_TTABLE);
    /* the option strings stay referenced by the table at 3 */
    sb_lua_read_server_config(L, 3, &cfg, &opts);
    cfg.protocols = sb_protocols;
    ls = lua_newuserdata(L, sizeof *ls);
    memset(ls, 0, sizeof *ls);
    ls->hooks_ref = ls->hub_ref = ls->loop_ref = LUA_NOREF;
    luaL_getmetatable(L, SB_SERVER_MT);
    lua_setmetatable(L, -2);
    ls->loop = loop;
    hooks.connect = sb_lua_on_connect;
    hooks.open = sb_lua_on_open;
    hooks.message = sb_lua_on_message;
    hooks.close = sb_lua_on_close;
    hooks.phx_join = sb_lua_on_phx_join;
    hooks.phx_event = sb_lua_on_phx_event;
    hooks.phx_leave = sb_lua_on_phx_leave;
    hooks.publish = sb_lua_on_publish;
    hooks.ud = ls;
    ls->srv = sb_server_new(loop, hub, &cfg, &hooks, err, sizeof err);
    if (!ls->srv) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    lua_pushvalue(L, 1);
    ls->loop_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushvalue(L, 2);
    ls->hub_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushvalue(L, 4);
    ls->hooks_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 1;
}

static sb_lua_server *sb_lua_checkserver(lua_State *L, int idx)
{
    return luaL_checkudata(L, idx, SB_SERVER_MT);
}

static int sb_lua_server_port(lua_State *L)
{
    sb_lua_server *ls = sb_lua_checkserver(L, 1);

    lua_pushinteger(L, ls->srv ? sb_server_port(ls->srv) : 0);
    return 1;
}

/* srv:addresses() -> { "127.0.0.1", "[::1]", ... }: what is bound, for
 * the "listening on" line. */
static int sb_lua_server_addresses(lua_State *L)
{
    sb_lua_server *ls = sb_lua_checkserver(L, 1);
    const char *a;
    int i;

    lua_newtable(L);
    for (i = 0; ls->srv && (a = sb_server_address(ls->srv, i)) != NULL; i++) {
        lua_pushstring(L, a);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int sb_lua_server_close(lua_State *L)
{
    sb_lua_server *ls = sb_lua_checkserver(L, 1);
    void *prev = ls->loop->host;

    if (ls->srv) {
        ls->loop->host = L;
        sb_server_close(ls->srv);
        ls->loop->host = prev;
    }
    return 0;
}

static int sb_lua_server_gc(lua_State *L)
{
    sb_lua_server *ls = sb_lua_checkserver(L, 1);

    if (ls->srv) {
        sb_server_free(ls->srv);
        ls->srv = NULL;
    }
    sb_lua_unref(L, &ls->hooks_ref);
    sb_lua_unref(L, &ls->hub_ref);
    sb_lua_unref(L, &ls->loop_ref);
    return 0;
}

/* handle:send(text [, sse_event]) -> true | nil, "closed" */
static int sb_lua_wsconn_send(lua_State *L)
{
    sb_wsconn *c = sb_lua_checkwsconn(L, 1);
    size_t n;
    const char *s = luaL_checklstring(L, 2, &n);
    const char *event = luaL_optstring(L, 3, NULL);

    if (!c || (c->ops->send_text ? c->ops->send_text(c, event, s, n)
                                 : sb_wsconn_send_text(c, s, n))) {
        lua_pushnil(L);
        lua_pushliteral(L, "closed");
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

static int sb_lua_wsconn_close(lua_State *L)
{
    sb_wsconn *c = sb_lua_checkwsconn(L, 1);
    int code = (int)luaL_optinteger(L, 2, 1000);
    const char *reason = luaL_optstring(L, 3, "");

    luaL_argcheck(L, code >= 1000 && code <= 4999, 2, "close code must be 1000..4999");
    if (c)
        sb_wsconn_close(c, code, reason);
    return 0;
}

static void sb_setfield_str(lua_State *L, const char *k, const char *v)
{
    if (!v)
        return;
    lua_pushstring(L, v);
    lua_setfield(L, -2, k);
}

static void sb_lua_info_flag(void *ud, const char *key, int value)
{
    lua_State *L = ud;

    lua_pushboolean(L, value);
    lua_setfield(L, -2, key);
}

/* handle:info() -> { id, uid, channel, member, alias, protocol, and the
 * protocol's own flags (native: echo, announce, list) } */
static int sb_lua_wsconn_info(lua_State *L)
{
    sb_wsconn *c = sb_lua_checkwsconn(L, 1);

    if (!c)
        return 0;
    lua_newtable(L);
    lua_pushnumber(L, (lua_Number)c->hc.id);
    lua_setfield(L, -2, "id");
    sb_setfield_str(L, "uid", c->uid);
    sb_setfield_str(L, "channel", c->channel);
    sb_setfield_str(L, "member", c->member);
    sb_setfield_str(L, "alias", c->alias);
    sb_setfield_str(L, "protocol", c->ops->name);
    if (c->ops->info)
        c->ops->info(c, sb_lua_info_flag, L);
    return 1;
}

static int sb_lua_wsconn_set(lua_State *L)
{
    sb_wsconn *c = sb_lua_checkwsconn(L, 1);
    const char *what = luaL_checkstring(L, 2);
    size_t n = 0;
    const char *v;
    int rc = 0;

    if (!c)
        return luaL_error(L, "connection is closed");
    if (strcmp(what, "handled") == 0) {
        c->handled = lua_toboolean(L, 3);
    } else if (strcmp(what, "member") == 0) {
        v = luaL_checklstring(L, 3, &n);
        if (!sb_hub_valid_member(v, n))
            return luaL_error(L, "invalid member id '%s'", v);
        rc = sb_wsconn_set_member(c, v, n);
    } else if (strcmp(what, "alias") == 0) {
        v = luaL_checklstring(L, 3, &n);
        rc = sb_wsconn_set_alias(c, v, n);
    } else {
        /* the protocol's own keys (native: deny_publish) */
        v = luaL_optlstring(L, 3, NULL, &n);
        rc = c->ops->set ? c->ops->set(c, what, v, n) : 1;
        if (rc < 0)
            return luaL_error(L, "out of memory");
        if (rc > 0)
            return luaL_error(L, "unknown connection field '%s'", what);
    }
    if (rc)
        return luaL_error(L, "cannot set %s now", what);
    return 0;
}

/* Binds the Lua object representing this connection to the hub, so hub
 * events and hub:join calls can cross over. */
static int sb_lua_wsconn_bind(lua_State *L)
{
    sb_wsconn *c = sb_lua_checkwsconn(L, 1);

    luaL_checkany(L, 3);
    if (!c)
        return 0;
    sb_lua_hub_bind_conn(L, 2, &c->hc, 3);
    return 0;
}

static int sb_lua_wsconn_unbind(lua_State *L)
{
    sb_wsconn *c = sb_lua_checkwsconn(L, 1);

    if (c)
        sb_lua_hub_unbind_conn(L, 2, &c->hc);
    return 0;
}

/* handle:push(topic, event, payload [, binary]) -> true | nil, err, for
 * protocols with topics (Phoenix) */
static int sb_lua_wsconn_push(lua_State *L)
{
    sb_wsconn *c = sb_lua_checkwsconn(L, 1);
    size_t tn, en, pn;
    const char *t = luaL_checklstring(L, 2, &tn);
    const char *e = luaL_checklstring(L, 3, &en);
    const char *p = luaL_checklstring(L, 4, &pn);

    if (!c || !c->ops->push || c->ops->push(c, t, tn, e, en, p, pn, lua_toboolean(L, 5))) {
        lua_pushnil(L);
        lua_pushliteral(L, "not joined to that topic");
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* handle:end_topic(topic [, error]) -> true | nil, err */
static int sb_lua_wsconn_end_topic(lua_State *L)
{
    sb_wsconn *c = sb_lua_checkwsconn(L, 1);
    size_t tn;
    const char *t = luaL_checklstring(L, 2, &tn);

    if (!c || !c->ops->end_topic || c->ops->end_topic(c, t, tn, lua_toboolean(L, 3))) {
        lua_pushnil(L);
        lua_pushliteral(L, "not joined to that topic");
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

struct sb_topic_list {
    lua_State *L;
    int n;
};

static void sb_lua_add_topic(const char *topic, void *ud)
{
    struct sb_topic_list *x = ud;

    lua_pushstring(x->L, topic);
    lua_rawseti(x->L, -2, ++x->n);
}

/* handle:topics() -> { topic, ... } (empty for one-channel protocols) */
static int sb_lua_wsconn_topics(lua_State *L)
{
    sb_wsconn *c = sb_lua_checkwsconn(L, 1);
    struct sb_topic_list x;

    lua_newtable(L);
    x.L = L;
    x.n = 0;
    if (c && c->ops->each_topic)
        c->ops->each_topic(c, sb_lua_add_topic, &x);
    return 1;
}

static int sb_lua_wsconn_alive(lua_State *L)
{
    sb_wsconn *c = sb_lua_checkwsconn(L, 1);

    lua_pushboolean(L, c && !c->closed);
    return 1;
}

/* core.hub_set_history(hub, pattern, count, ttl): a per-pattern history
 * rule (see sb_hub_set_history); lives here, next to the server options
 * that use it, to keep lua_hub.c untouched. */
static int sb_lua_hub_set_history(lua_State *L)
{
    sb_hub *hub = sb_lua_checkhub(L, 1);
    size_t n;
    const char *pattern = luaL_checklstring(L, 2, &n);
    lua_Number count = luaL_checknumber(L, 3);
    lua_Number ttl = luaL_optnumber(L, 4, 0);

    luaL_argcheck(L, n > 0, 2, "pattern must not be empty");
    luaL_argcheck(L, count >= 0 && count <= 1e6, 3, "count must be 0..1000000");
    luaL_argcheck(L, ttl >= 0, 4, "ttl must be >= 0");
    if (sb_hub_set_history(hub, pattern, n, (size_t)count, (double)ttl))
        return luaL_error(L, "out of memory");
    return 0;
}

void sb_lua_server_open(lua_State *L)
{
    static const luaL_Reg server_meta[] = { { "__gc", sb_lua_server_gc }, { NULL, NULL } };
    static const luaL_Reg server_methods[] = {
        { "port", sb_lua_server_port }, { "addresses", sb_lua_server_addresses },
        { "close", sb_lua_server_close }, { NULL, NULL } };
    static const luaL_Reg conn_meta[] = { { NULL, NULL } };
    static const luaL_Reg conn_methods[] = {
        { "send", sb_lua_wsconn_send }, { "close", sb_lua_wsconn_close },
        { "info", sb_lua_wsconn_info }, { "set", sb_lua_wsconn_set },
        { "bind", sb_lua_wsconn_bind }, { "unbind", sb_lua_wsconn_unbind },
        { "alive", sb_lua_wsconn_alive }, { "push", sb_lua_wsconn_push },
        { "end_topic", sb_lua_wsconn_end_topic }, { "topics", sb_lua_wsconn_topics },
        { NULL, NULL } };

    sb_lua_newclass(L, SB_SERVER_MT, server_meta, server_methods);
    sb_lua_newclass(L, SB_WSCONN_MT, conn_meta, conn_methods);
    lua_pushcfunction(L, sb_lua_listen);
    lua_setfield(L, -2, "listen");
    lua_pushcfunction(L, sb_lua_hub_set_history);
    lua_setfield(L, -2, "hub_set_history");
}
