/* The server-wide hooks of switchboard.server: what is asked of Lua by
 * an HTTP request rather than by one connection (the server API's auth
 * and methods, Pusher's HTTP API, an endpoint such as Pusher's auth),
 * and /metrics and the collector's turn.  Each is a protected call of a
 * *_call function, as in lua_server.c. */
#include "lua_server_internal.h"

#include <string.h>

/* Reads an API hook's (status, body) at -2, -1: the status into x->rc
 * (0 for nil: go on), the body into x->out. */
static void sb_lua_api_result(lua_State *L, sb_hook_call *x)
{
    x->rc = lua_isnumber(L, -2) ? (int)lua_tointeger(L, -2) : 0;
    sb_lua_take_string(L, -1, x->out);
}

/* Protected: api_auth(method, key) -> nil | status, error_json. */
static int sb_lua_api_auth_call(lua_State *L)
{
    sb_hook_call *x = lua_touserdata(L, 1);

    if (!sb_lua_push_hook(L, x->ls, "api_auth"))
        return 0;
    lua_pushstring(L, x->topic);
    lua_pushstring(L, x->event);
    lua_call(L, 2, 2);
    sb_lua_api_result(L, x);
    return 0;
}

/* Protected: api(method, key, body, ticket) -> status, answer_json, or
 * true when the app answers later (server:api_reply(ticket, ...)); body
 * is the request's value (http_api.c validated its JSON). */
static int sb_lua_api_call(lua_State *L)
{
    sb_hook_call *x = lua_touserdata(L, 1);

    if (!sb_lua_push_hook(L, x->ls, "api"))
        return 0;
    lua_pushstring(L, x->topic);
    lua_pushstring(L, x->event);
    sb_lua_push_json(L, x->data, x->n);
    lua_pushnumber(L, (lua_Number)x->num64);
    lua_call(L, 4, 2);
    if (lua_type(L, -2) == LUA_TBOOLEAN && lua_toboolean(L, -2)) {
        x->rc = SB_API_HELD;
        return 0;
    }
    sb_lua_api_result(L, x);
    return 0;
}

/* An API hook that raises (or cannot be entered) answers 500. */
static int sb_lua_api_fail(sb_buf *out)
{
    sb_buf_reset(out);
    sb_buf_adds(out, "{\"error\":{\"code\":\"internal\","
                     "\"message\":\"the API handler failed\"}}");
    return 500;
}

static int sb_lua_on_api_auth(void *ud, const char *method, const char *key, sb_buf *out)
{
    sb_hook_call x;
    lua_State *L = sb_hook_begin(&x, ud, NULL);

    if (!L)
        return sb_lua_api_fail(out);
    x.topic = method;
    x.event = key;
    x.out = out;
    if (sb_lua_protect(L, sb_lua_api_auth_call, &x, "api hook"))
        return sb_lua_api_fail(out);
    return x.rc;
}

static int sb_lua_on_api(void *ud, const char *method, const char *key,
                         const char *body, size_t n, uint64_t ticket, sb_buf *out)
{
    sb_hook_call x;
    lua_State *L = sb_hook_begin(&x, ud, NULL);

    if (!L)
        return sb_lua_api_fail(out);
    x.topic = method;
    x.event = key;
    x.data = body;
    x.n = n;
    x.num64 = ticket;
    x.out = out;
    if (sb_lua_protect(L, sb_lua_api_call, &x, "api hook") || !x.rc)
        return sb_lua_api_fail(out);
    return x.rc;
}

/* Protected: endpoint(req, body) -> status, answer_json. */
static int sb_lua_endpoint_call(lua_State *L)
{
    sb_hook_call *x = lua_touserdata(L, 1);

    if (!sb_lua_push_hook(L, x->ls, "endpoint"))
        return 0;
    sb_lua_push_request(L, x->req);
    lua_pushlstring(L, x->data ? x->data : "", x->n);
    lua_call(L, 2, 2);
    sb_lua_api_result(L, x);
    return 0;
}

/* An endpoint hook that raises answers 500 with an error body. */
static int sb_lua_on_endpoint(void *ud, const sb_request *req, const char *body,
                              size_t n, sb_buf *out)
{
    sb_hook_call x;
    lua_State *L = sb_hook_begin(&x, ud, NULL);

    if (L) {
        x.req = req;
        x.data = body;
        x.n = n;
        x.out = out;
        if (sb_lua_protect(L, sb_lua_endpoint_call, &x, "endpoint hook") == 0 && x.rc)
            return x.rc;
    }
    sb_buf_reset(out);
    sb_buf_adds(out, "{\"error\":\"the endpoint's handler failed\"}");
    return 500;
}

/* Protected: pusher_api(method, path, params, body) -> status, answer;
 * params is the table of the query's other parameters, body the raw
 * body (a string, "" for none). */
static int sb_lua_pusher_api_call(lua_State *L)
{
    sb_hook_call *x = lua_touserdata(L, 1);

    if (!sb_lua_push_hook(L, x->ls, "pusher_api"))
        return 0;
    lua_pushstring(L, x->topic);
    lua_pushstring(L, x->event);
    sb_lua_push_json(L, x->to, x->to_len);
    lua_pushlstring(L, x->data ? x->data : "", x->n);
    lua_call(L, 4, 2);
    sb_lua_api_result(L, x);
    return 0;
}

static int sb_lua_on_pusher_api(void *ud, const char *method, const char *path,
                                const char *params, size_t pn, const char *body,
                                size_t n, sb_buf *out)
{
    sb_hook_call x;
    lua_State *L = sb_hook_begin(&x, ud, NULL);

    x.topic = method;
    x.event = path;
    x.to = params;
    x.to_len = pn;
    x.data = body;
    x.n = n;
    x.out = out;
    if (!L || sb_lua_protect(L, sb_lua_pusher_api_call, &x, "pusher api hook") || !x.rc) {
        /* a line of text, as the endpoint's other refusals */
        sb_buf_reset(out);
        sb_buf_adds(out, "Internal error: the API handler failed");
        return 500;
    }
    return x.rc;
}

/* Protected: a full collection (finalizers may raise on 5.1). */
static int sb_lua_collect_call(lua_State *L)
{
    lua_gc(L, LUA_GCCOLLECT, 0);
    return 0;
}

/* A storm fell: the connections' Lua objects are garbage now, and would
 * stay so until something allocated; collected before the trim, their
 * pages can go back to the system. */
static void sb_lua_on_collect(void *ud)
{
    sb_hook_call x;
    lua_State *L = sb_hook_begin(&x, ud, NULL);

    if (L)
        sb_lua_protect(L, sb_lua_collect_call, &x, "collect");
}

/* Protected: metrics() -> text (Prometheus lines) appended to x->out. */
static int sb_lua_metrics_call(lua_State *L)
{
    sb_hook_call *x = lua_touserdata(L, 1);

    if (!sb_lua_push_hook(L, x->ls, "metrics"))
        return 0;
    lua_call(L, 0, 1);
    sb_lua_take_string(L, -1, x->out);
    return 0;
}

static void sb_lua_on_metrics(void *ud, sb_buf *out)
{
    sb_hook_call x;
    lua_State *L = sb_hook_begin(&x, ud, NULL);

    if (!L)
        return;
    x.out = out;
    sb_lua_protect(L, sb_lua_metrics_call, &x, "metrics hook");
}

void sb_lua_server_http_hooks(sb_server_hooks *hooks)
{
    hooks->api_auth = sb_lua_on_api_auth;
    hooks->api = sb_lua_on_api;
    hooks->pusher_api = sb_lua_on_pusher_api;
    hooks->metrics = sb_lua_on_metrics;
    hooks->endpoint = sb_lua_on_endpoint;
    hooks->collect = sb_lua_on_collect;
}
