/* switchboard.server and switchboard.wsconn: a listening server and the
 * handles of its connections.  The Lua layer (lua/switchboard/server.lua)
 * passes a table of hook functions; C calls them only at connect, open,
 * close and for messages on channels the app asked to handle.  The relay
 * path itself never enters Lua; on a lazy server (srv:set_lazy) a native
 * or SSE connection does not even at connect, open or close: it has no
 * handle until Lua adopts it (srv:adopt).
 *
 * The seam of lua_seam.c: Lua values live in the server userdata's user
 * value, so the hooks (closures over the Lua Server object, which holds
 * this userdata) are a cycle the collector frees once the server is closed
 * and unreferenced:
 *   server userdata  uservalue { hooks = { name = fn }, loop = loop ud,
 *                                hub = hub ud,
 *                                conns = { [lightud(sb_wsconn)] = handle } }
 * While it may still call back (listening, or closing with connections
 * left) the userdata pins itself with self_ref.  Every hook is a protected
 * call of a *_call function below; JSON a codec already decoded reaches
 * Lua as a Lua value (sb_lua_push_json), not as text to parse again. */
#include "lua_bindings.h"
#include "net/server.h"
#include "protocols/registry.h"
#include "protocols/api/http_api.h"
#include "lua_server_config.h"
#include "lua_wsconn.h"
#include "lua_server_internal.h"

#include <stdlib.h>
#include <string.h>

#define SB_SERVER_MT "switchboard.server"


/* Pushes the handle of c (nil if it has none: accepted while Lua could not
 * be entered, or already released). */
static void sb_lua_push_handle(lua_State *L, const sb_lua_server *ls, const sb_wsconn *c)
{
    if (!sb_lua_push_object_field(L, ls, "conns")) {
        lua_pushnil(L);
        return;
    }
    lua_pushlightuserdata(L, (void *)c);
    lua_rawget(L, -2);
    lua_remove(L, -2);
}

/* A closed server with no handle left cannot call back any more: it lets
 * go of itself, so the collector may take it with its hooks. */
static void sb_lua_server_unpin(lua_State *L, sb_lua_server *ls)
{
    if (ls->closing && ls->handles == 0 && ls->bare == 0)
        sb_lua_unref(L, &ls->self_ref);
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

void sb_lua_push_request(lua_State *L, const sb_request *req)
{
    char buf[4096];
    size_t h;
    const char *v;
    int i;

    lua_newtable(L);
    lua_pushstring(L, req->path);
    lua_setfield(L, -2, "path");
    lua_newtable(L);
    for (i = 0; sb_request_arg(req->src, i, buf, sizeof buf, &v) >= 0; i++) {
        if (buf[0]) {
            lua_pushstring(L, v);
            lua_setfield(L, -2, buf);
        }
    }
    lua_setfield(L, -2, "query");
    lua_newtable(L);
    for (h = 0; h < sizeof sb_hdrs / sizeof sb_hdrs[0]; h++) {
        if (sb_request_header(req->src, sb_hdrs[h].tok, buf, sizeof buf) > 0) {
            lua_pushstring(L, buf);
            lua_setfield(L, -2, sb_hdrs[h].name);
        }
    }
    lua_setfield(L, -2, "headers");
    if (req->token) {
        lua_pushlstring(L, req->token, req->token_len);
        lua_setfield(L, -2, "token");
    }
    lua_pushstring(L, sb_request_peer(req->src, buf, sizeof buf));
    lua_setfield(L, -2, "ip");
    if (req->protocol) {
        lua_pushstring(L, req->protocol);
        lua_setfield(L, -2, "protocol");
    }
}

/* Reads a hook's refusal: (accept, reason, status) at -3..-1.  Returns 0
 * to accept, else the status (def_status unless a number was given). */
static int sb_lua_refusal(lua_State *L, char *reason, size_t reason_len, int def_status)
{
    if (lua_toboolean(L, -3))
        return 0;
    snprintf(reason, reason_len, "%s", lua_isstring(L, -2) ? lua_tostring(L, -2) : "refused");
    return lua_isnumber(L, -1) ? (int)lua_tointeger(L, -1) : def_status;
}


/* Starts a hook call: x is zeroed and names the server and connection;
 * returns the Lua state to call in, or NULL when the loop has none (the
 * state is closing: the hook is skipped). */
lua_State *sb_hook_begin(sb_hook_call *x, void *ud, sb_wsconn *c)
{
    memset(x, 0, sizeof *x);
    x->ls = ud;
    x->c = c;
    return sb_lua_loop_state(x->ls->loop);
}

/* Protected: pushes a new handle of c, which joins uservalue.conns. */
static void sb_lua_new_handle(lua_State *L, sb_lua_server *ls, sb_wsconn *c)
{
    sb_lua_wsconn *h = lua_newuserdata(L, sizeof *h);

    h->c = NULL;
    luaL_getmetatable(L, SB_WSCONN_MT);
    lua_setmetatable(L, -2);
    if (!sb_lua_push_object_field(L, ls, "conns"))
        luaL_error(L, "server object is gone");
    lua_pushlightuserdata(L, c);
    lua_pushvalue(L, -3);
    lua_rawset(L, -3);
    lua_pop(L, 1);
    h->c = c;
    ls->handles++;
}

/* Protected: the handle of x->c joins uservalue.conns. */
static void sb_lua_bind_handle(lua_State *L, sb_hook_call *x)
{
    sb_lua_new_handle(L, x->ls, x->c);
}

/* Whether c may go without Lua while the server is lazy: a connection of
 * one channel (native, SSE).  Protocols of topics (Phoenix, Pusher) run
 * their joins and events in Lua, which needs the handle. */
static int sb_lua_lazy_kind(const sb_wsconn *c)
{
    return c->ops->each_topic == NULL;
}

/* Protected: cuts the handle of x->c loose, so later calls on it answer
 * "closed" instead of touching freed memory. */
static int sb_lua_release_call(lua_State *L)
{
    sb_hook_call *x = lua_touserdata(L, 1);
    sb_lua_wsconn *h;

    if (!sb_lua_push_object_field(L, x->ls, "conns"))
        return 0;
    lua_pushlightuserdata(L, x->c);
    lua_rawget(L, -2);
    h = lua_touserdata(L, -1);
    lua_pop(L, 1);
    if (!h) {
        /* a lazy connection's end (Lua is only entered when it has state) */
        if (x->ls->bare > 0)
            x->ls->bare--;
        sb_lua_server_unpin(L, x->ls);
        return 0;
    }
    h->c = NULL;
    lua_pushlightuserdata(L, x->c);
    lua_pushnil(L);
    lua_rawset(L, -3);
    x->ls->handles--;
    sb_lua_server_unpin(L, x->ls);
    return 0;
}

/* Protected: connect(handle, req) -> accept [, reason [, status]]. */
static int sb_lua_connect_call(lua_State *L)
{
    sb_hook_call *x = lua_touserdata(L, 1);

    if (!sb_lua_push_hook(L, x->ls, "connect"))
        return 0;
    sb_lua_bind_handle(L, x);
    sb_lua_push_request(L, x->req);
    lua_call(L, 2, 3);
    x->rc = sb_lua_refusal(L, x->text, x->text_len, 403);
    return 0;
}

/* A hook that raises refuses with 500 rather than letting an error
 * through; a refused connection's handle goes at once. */
static int sb_lua_on_connect(void *ud, sb_wsconn *c, const sb_request *req,
                             char *reason, size_t reason_len)
{
    sb_hook_call x;
    lua_State *L;

    if (((sb_lua_server *)ud)->lazy && sb_lua_lazy_kind(c)) {
        /* server.lua found nothing of the app that would run for it */
        ((sb_lua_server *)ud)->bare++;
        return 0;
    }
    L = sb_hook_begin(&x, ud, c);
    if (!L)
        return 0;
    x.req = req;
    x.text = reason;
    x.text_len = reason_len;
    if (sb_lua_protect(L, sb_lua_connect_call, &x, "connect hook")) {
        snprintf(reason, reason_len, "connect hook failed");
        x.rc = 500;
    }
    if (x.rc)
        sb_lua_protect(L, sb_lua_release_call, &x, "connect hook");
    return x.rc;
}

/* Protected: open(handle). */
static int sb_lua_open_call(lua_State *L)
{
    sb_hook_call *x = lua_touserdata(L, 1);

    sb_lua_push_handle(L, x->ls, x->c);
    if (lua_isnil(L, -1) || !sb_lua_push_hook(L, x->ls, "open"))
        return 0;   /* no handle: a lazy connection, nothing in Lua to tell */
    lua_insert(L, -2);
    lua_call(L, 1, 0);
    return 0;
}

static void sb_lua_on_open(void *ud, sb_wsconn *c)
{
    sb_hook_call x;
    lua_State *L = sb_hook_begin(&x, ud, c);

    if (!L)
        return;
    sb_lua_protect(L, sb_lua_open_call, &x, "open hook");
}

/* Protected: message(handle, message, to, binary) -> relay (nil: relay).
 * The protocol decoded and validated the message: Lua gets it as a value
 * (the bytes as a string for a binary frame), and the direct-message uid
 * (nil for a broadcast). */
static int sb_lua_message_call(lua_State *L)
{
    sb_hook_call *x = lua_touserdata(L, 1);

    if (!sb_lua_push_hook(L, x->ls, "message"))
        return 0;
    sb_lua_push_handle(L, x->ls, x->c);
    if (x->num)
        lua_pushlstring(L, x->data, x->n);
    else
        sb_lua_push_json(L, x->data, x->n);
    if (x->to)
        lua_pushlstring(L, x->to, x->to_len);
    else
        lua_pushnil(L);
    lua_pushboolean(L, x->num);
    lua_call(L, 4, 1);
    x->rc = lua_isnil(L, -1) || lua_toboolean(L, -1);
    return 0;
}

static int sb_lua_on_message(void *ud, sb_wsconn *c, const char *data, size_t n,
                             const char *to, size_t to_len, int binary)
{
    sb_hook_call x;
    lua_State *L = sb_hook_begin(&x, ud, c);

    x.rc = 1;
    if (!L)
        return 1;
    x.data = data;
    x.n = n;
    x.to = to;
    x.to_len = to_len;
    x.num = binary;
    if (sb_lua_protect(L, sb_lua_message_call, &x, "message handler"))
        return 1;
    return x.rc;
}

/* Protected: close(handle, code). */
static int sb_lua_close_call(lua_State *L)
{
    sb_hook_call *x = lua_touserdata(L, 1);

    sb_lua_push_handle(L, x->ls, x->c);
    if (lua_isnil(L, -1) || !sb_lua_push_hook(L, x->ls, "close"))
        return 0;   /* no handle: a lazy connection, nothing in Lua to tell */
    lua_insert(L, -2);
    lua_pushinteger(L, x->num);
    lua_call(L, 2, 0);
    return 0;
}

/* The connection is gone: tell Lua, then release its handle (even when
 * the hook raised). */
static void sb_lua_on_close(void *ud, sb_wsconn *c, int code)
{
    sb_hook_call x;
    lua_State *L = sb_hook_begin(&x, ud, c);

    if (!L)
        return;
    x.num = code;
    sb_lua_protect(L, sb_lua_close_call, &x, "close hook");
    sb_lua_protect(L, sb_lua_release_call, &x, "close hook");
}

/* Protected: publish(req, channel, event, payload) -> ok [, reason [,
 * status]]; payload is the body's value (http_publish.c validated it). */
static int sb_lua_publish_call(lua_State *L)
{
    sb_hook_call *x = lua_touserdata(L, 1);

    if (!sb_lua_push_hook(L, x->ls, "publish"))
        return 0;
    sb_lua_push_request(L, x->req);
    lua_pushstring(L, x->topic);
    lua_pushstring(L, x->event);
    sb_lua_push_json(L, x->data, x->n);
    lua_call(L, 4, 3);
    x->rc = sb_lua_refusal(L, x->text, x->text_len, 403);
    return 0;
}

/* POST /sse/<channel>.  Refusals default to 403; a hook that raises
 * refuses with 500. */
static int sb_lua_on_publish(void *ud, const sb_request *req, const char *channel,
                             const char *event, const char *payload, size_t n,
                             char *reason, size_t reason_len)
{
    sb_hook_call x;
    lua_State *L = sb_hook_begin(&x, ud, NULL);

    if (!L)
        return 0;
    x.req = req;
    x.topic = channel;
    x.event = event;
    x.data = payload;
    x.n = n;
    x.text = reason;
    x.text_len = reason_len;
    if (sb_lua_protect(L, sb_lua_publish_call, &x, "publish hook")) {
        snprintf(reason, reason_len, "publish hook failed");
        return 500;
    }
    return x.rc;
}

/* Copies the value at idx into out when it is a string. */
void sb_lua_take_string(lua_State *L, int idx, sb_buf *out)
{
    size_t n;
    const char *s;

    if (lua_type(L, idx) == LUA_TSTRING) {
        s = lua_tolstring(L, idx, &n);
        sb_buf_add(out, s, n);
    }
}

/* Protected: join(handle, topic, params) -> "ok" | "error" |
 * "unmatched", response_json.  server.lua runs the app's join. */
static int sb_lua_join_call(lua_State *L)
{
    sb_hook_call *x = lua_touserdata(L, 1);
    const char *what;

    if (!sb_lua_push_hook(L, x->ls, "join"))
        return 0;
    sb_lua_push_handle(L, x->ls, x->c);
    lua_pushlstring(L, x->topic, x->tlen);
    sb_lua_push_json(L, x->data, x->n);
    lua_call(L, 3, 2);
    what = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
    if (what && strcmp(what, "ok") == 0)
        x->rc = SB_JOIN_OK;
    else if (what && strcmp(what, "error") == 0)
        x->rc = SB_JOIN_REFUSED;
    sb_lua_take_string(L, -1, x->out);
    return 0;
}

static int sb_lua_on_join(void *ud, sb_wsconn *c, const char *topic, size_t tlen,
                              const char *params, size_t n, sb_buf *out)
{
    sb_hook_call x;
    lua_State *L = sb_hook_begin(&x, ud, c);

    if (!L)
        return SB_JOIN_UNMATCHED;
    x.topic = topic;
    x.tlen = tlen;
    x.data = params;
    x.n = n;
    x.out = out;
    x.rc = SB_JOIN_UNMATCHED;
    if (sb_lua_protect(L, sb_lua_join_call, &x, "phoenix join handler"))
        return -1;
    return x.rc;
}

/* Protected: event(handle, topic, event, payload, binary) -> nil (no
 * reply) | status, response [, binary].  payload is the decoded value,
 * or the bytes of a binary push. */
static int sb_lua_event_call(lua_State *L)
{
    sb_hook_call *x = lua_touserdata(L, 1);

    if (!sb_lua_push_hook(L, x->ls, "event"))
        return 0;
    sb_lua_push_handle(L, x->ls, x->c);
    lua_pushlstring(L, x->topic, x->tlen);
    lua_pushlstring(L, x->event, x->elen);
    if (x->num)
        lua_pushlstring(L, x->data, x->n);
    else
        sb_lua_push_json(L, x->data, x->n);
    lua_pushboolean(L, x->num);
    lua_call(L, 5, 3);
    if (lua_type(L, -3) == LUA_TSTRING) {
        snprintf(x->text, x->text_len, "%s", lua_tostring(L, -3));
        x->out_binary = lua_toboolean(L, -1);
        sb_lua_take_string(L, -2, x->out);
        x->rc = 1;
    }
    return 0;
}

static int sb_lua_on_event(void *ud, sb_wsconn *c, const char *topic, size_t tlen,
                               const char *event, size_t elen, const char *payload,
                               size_t n, int binary, char *status, size_t status_len,
                               sb_buf *out, int *out_binary)
{
    sb_hook_call x;
    lua_State *L = sb_hook_begin(&x, ud, c);

    if (!L)
        return 0;
    x.topic = topic;
    x.tlen = tlen;
    x.event = event;
    x.elen = elen;
    x.data = payload;
    x.n = n;
    x.num = binary;
    x.text = status;
    x.text_len = status_len;
    x.out = out;
    if (sb_lua_protect(L, sb_lua_event_call, &x, "phoenix event handler"))
        return -1;
    if (x.rc)
        *out_binary = x.out_binary;
    return x.rc;
}

/* Protected: leave(handle, topic, why). */
static int sb_lua_leave_call(lua_State *L)
{
    sb_hook_call *x = lua_touserdata(L, 1);

    if (!sb_lua_push_hook(L, x->ls, "leave"))
        return 0;
    sb_lua_push_handle(L, x->ls, x->c);
    lua_pushlstring(L, x->topic, x->tlen);
    lua_pushstring(L, x->event);
    lua_call(L, 3, 0);
    return 0;
}

static void sb_lua_on_leave(void *ud, sb_wsconn *c, const char *topic, size_t tlen,
                                const char *why)
{
    sb_hook_call x;
    lua_State *L = sb_hook_begin(&x, ud, c);

    if (!L)
        return;
    x.topic = topic;
    x.tlen = tlen;
    x.event = why;
    sb_lua_protect(L, sb_lua_leave_call, &x, "phoenix leave handler");
}

/* The user value of a new server: { hooks, loop, hub, conns = {} }. */
static void sb_lua_server_uservalue(lua_State *L)
{
    lua_createtable(L, 0, 4);
    lua_pushvalue(L, 4);
    lua_setfield(L, -2, "hooks");
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "loop");
    lua_pushvalue(L, 2);
    lua_setfield(L, -2, "hub");
    lua_newtable(L);
    lua_setfield(L, -2, "conns");
    lua_setuservalue(L, -2);
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
    ls->self_ref = LUA_NOREF;
    ls->loop = loop;
    luaL_getmetatable(L, SB_SERVER_MT);
    lua_setmetatable(L, -2);
    sb_lua_server_uservalue(L);
    sb_lua_remember(L, ls, -1);
    hooks.connect = sb_lua_on_connect;
    hooks.open = sb_lua_on_open;
    hooks.message = sb_lua_on_message;
    hooks.close = sb_lua_on_close;
    hooks.join = sb_lua_on_join;
    hooks.event = sb_lua_on_event;
    hooks.leave = sb_lua_on_leave;
    hooks.publish = sb_lua_on_publish;
    sb_lua_server_http_hooks(&hooks);
    hooks.ud = ls;
    ls->srv = sb_server_new(loop, hub, &cfg, &hooks, err, sizeof err);
    if (!ls->srv) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    lua_pushvalue(L, -1);
    ls->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
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

/* server:close(): connections get their close (and their close hooks)
 * while it runs or in later steps; the object stays pinned until the last
 * handle is released. */
static int sb_lua_server_close(lua_State *L)
{
    sb_lua_server *ls = sb_lua_checkserver(L, 1);

    if (ls->srv && !ls->closing) {
        SB_ENTER_LOOP(ls->loop, L);
        sb_server_close(ls->srv);
        SB_LEAVE_LOOP(ls->loop);
        ls->closing = 1;
        sb_lua_server_unpin(L, ls);
    }
    return 0;
}

/* server:api_reply(ticket, status, json) -> true, or false when that
 * held API call is no longer waiting (timed out, its client went). */
static int sb_lua_server_api_reply(lua_State *L)
{
    sb_lua_server *ls = sb_lua_checkserver(L, 1);
    lua_Number ticket = luaL_checknumber(L, 2);
    int status = (int)luaL_checkinteger(L, 3);
    size_t n;
    const char *body = luaL_checklstring(L, 4, &n);
    int rc = -1;

    if (ls->srv && ticket >= 1) {
        SB_ENTER_LOOP(ls->loop, L);
        rc = sb_server_api_reply(ls->srv, (uint64_t)ticket, status, body, n);
        SB_LEAVE_LOOP(ls->loop);
    }
    lua_pushboolean(L, rc == 0);
    return 1;
}

/* srv:set_lazy(on): whether connections of one channel are accepted
 * without Lua from now on (server.lua decides when nothing of the app
 * would see them: the connect hook would only have built their object). */
static int sb_lua_server_set_lazy(lua_State *L)
{
    sb_lua_server *ls = sb_lua_checkserver(L, 1);

    ls->lazy = lua_toboolean(L, 2);
    return 0;
}

/* Whether c has a handle in the conns table at stack index idx. */
static int sb_lua_has_handle(lua_State *L, int idx, const sb_wsconn *c)
{
    int has;

    lua_pushlightuserdata(L, (void *)c);
    lua_rawget(L, idx);
    has = !lua_isnil(L, -1);
    lua_pop(L, 1);
    return has;
}

/* srv:adopt() -> { handle, ... }: handles for the live connections that
 * were accepted without one, so that Lua can give them their objects
 * when something asks for them (server:connections(), a listener that
 * came later). */
static int sb_lua_server_adopt(lua_State *L)
{
    sb_lua_server *ls = sb_lua_checkserver(L, 1);
    sb_wsconn *c;
    int n = 0;

    lua_settop(L, 1);
    lua_newtable(L);
    if (!ls->srv || ls->bare == 0 || !sb_lua_push_object_field(L, ls, "conns"))
        return 1;
    for (c = sb_server_conns(ls->srv); c && ls->bare > 0; c = c->next) {
        if (c->closed || !sb_lua_lazy_kind(c) || sb_lua_has_handle(L, 3, c))
            continue;
        sb_lua_new_handle(L, ls, c);
        ls->bare--;
        lua_rawseti(L, 2, ++n);
    }
    lua_settop(L, 2);
    return 1;
}

/* srv:stats() -> { connections = n, objects = n }: the connections
 * accepted and not yet closed, and how many of them have a handle (a Lua
 * object); the others cost Lua nothing. */
static int sb_lua_server_stats(lua_State *L)
{
    sb_lua_server *ls = sb_lua_checkserver(L, 1);
    const sb_wsconn *c;
    int n = 0;

    for (c = ls->srv ? sb_server_conns(ls->srv) : NULL; c; c = c->next)
        n += !c->closed;
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, n);
    lua_setfield(L, -2, "connections");
    lua_pushinteger(L, ls->handles);
    lua_setfield(L, -2, "objects");
    return 1;
}

static int sb_lua_server_gc(lua_State *L)
{
    sb_lua_server *ls = sb_lua_checkserver(L, 1);

    if (ls->srv) {
        sb_server_free(ls->srv);
        ls->srv = NULL;
    }
    sb_lua_unref(L, &ls->self_ref);
    return 0;
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
        { "close", sb_lua_server_close }, { "api_reply", sb_lua_server_api_reply },
        { "set_lazy", sb_lua_server_set_lazy }, { "adopt", sb_lua_server_adopt },
        { "stats", sb_lua_server_stats }, { NULL, NULL } };

    sb_lua_newclass(L, SB_SERVER_MT, server_meta, server_methods);
    sb_lua_wsconn_open_class(L);
    lua_pushcfunction(L, sb_lua_listen);
    lua_setfield(L, -2, "listen");
    lua_pushcfunction(L, sb_lua_hub_set_history);
    lua_setfield(L, -2, "hub_set_history");
}
