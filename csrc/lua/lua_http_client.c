/* core.http_request(loop, req, fn) -> handle: one outgoing HTTP request
 * (net/http_client.h), for switchboard.webhooks.  fn(status, body, err)
 * runs once on the loop; status is 0, with err saying why, when no
 * answer came.  The seam of lua_seam.c: fn and the loop userdata live in
 * the handle's user value, and the handle pins itself while the request
 * is in flight, so that dropping it loses no answer; handle:cancel()
 * drops the request (fn is not called) and the pin. */
#include "lua_bindings.h"
#include "net/http_client.h"

#include <string.h>

#define SB_HTTPREQ_MT "switchboard.http_request"
#define SB_HTTPREQ_HEADERS_MAX 32

typedef struct sb_lua_httpreq {
    sb_http_call *call;     /* NULL once answered or cancelled */
    sb_loop *loop;          /* kept alive by the user value's loop */
    int self_ref;
} sb_lua_httpreq;

/* What the answer's protected call reads. */
typedef struct sb_httpreq_answer {
    sb_lua_httpreq *h;
    const sb_http_result *r;
} sb_httpreq_answer;

/* Protected: fn(status, body | nil, err | nil). */
static int sb_lua_httpreq_call(lua_State *L)
{
    sb_httpreq_answer *x = lua_touserdata(L, 1);

    if (!sb_lua_push_object_field(L, x->h, "fn"))
        return 0;
    lua_pushinteger(L, x->r->status);
    if (x->r->body)
        lua_pushlstring(L, x->r->body, x->r->body_len);
    else
        lua_pushnil(L);
    if (x->r->error)
        lua_pushstring(L, x->r->error);
    else
        lua_pushnil(L);
    lua_call(L, 3, 0);
    return 0;
}

static void sb_lua_httpreq_done(void *ud, const sb_http_result *r)
{
    sb_lua_httpreq *h = ud;
    lua_State *L = sb_lua_loop_state(h->loop);
    sb_httpreq_answer x;

    h->call = NULL;   /* the client frees it after this */
    if (!L)
        return;
    x.h = h;
    x.r = r;
    sb_lua_protect(L, sb_lua_httpreq_call, &x, "http request");
    sb_lua_unref(L, &h->self_ref);
}

/* The headers of req (a list of { name, value }) as pointers into its
 * strings, which the table on the caller's stack keeps alive. */
static size_t sb_lua_httpreq_headers(lua_State *L, int idx, sb_http_header *out)
{
    size_t n = 0;
    int i;

    lua_getfield(L, idx, "headers");
    for (i = 1; lua_istable(L, -1) && n < SB_HTTPREQ_HEADERS_MAX; i++) {
        lua_rawgeti(L, -1, i);
        if (!lua_istable(L, -1)) {
            lua_pop(L, 1);
            break;
        }
        lua_rawgeti(L, -1, 1);
        lua_rawgeti(L, -2, 2);
        out[n].name = luaL_checkstring(L, -2);
        out[n].value = luaL_checkstring(L, -1);
        n++;
        lua_pop(L, 3);
    }
    lua_pop(L, 1);
    return n;
}

static const char *sb_lua_field_str(lua_State *L, int idx, const char *k, size_t *n)
{
    const char *v;

    lua_getfield(L, idx, k);
    v = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, n) : NULL;
    lua_pop(L, 1);   /* the table keeps the string */
    return v;
}

static lua_Number sb_lua_field_num(lua_State *L, int idx, const char *k)
{
    lua_Number v;

    lua_getfield(L, idx, k);
    v = lua_tonumber(L, -1);
    lua_pop(L, 1);
    return v;
}

static int sb_lua_field_bool(lua_State *L, int idx, const char *k)
{
    int v;

    lua_getfield(L, idx, k);
    v = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

/* core.http_request(loop, { host =, port =, path =, tls =, insecure =,
 * method =, headers = { { name, value }, ... }, body =, timeout = }, fn)
 *   -> handle | nil, err */
static int sb_lua_http_request(lua_State *L)
{
    sb_loop *loop = sb_lua_checkloop(L, 1);
    sb_http_header headers[SB_HTTPREQ_HEADERS_MAX];
    sb_http_request req;
    sb_lua_httpreq *h;
    char err[200];
    size_t n;

    luaL_checktype(L, 2, LUA_TTABLE);
    luaL_checktype(L, 3, LUA_TFUNCTION);
    memset(&req, 0, sizeof req);
    req.host = sb_lua_field_str(L, 2, "host", &n);
    luaL_argcheck(L, req.host != NULL, 2, "host must be a string");
    req.port = (int)sb_lua_field_num(L, 2, "port");
    luaL_argcheck(L, req.port >= 1 && req.port <= 65535, 2, "port must be 1..65535");
    req.path = sb_lua_field_str(L, 2, "path", &n);
    req.method = sb_lua_field_str(L, 2, "method", &n);
    req.body = sb_lua_field_str(L, 2, "body", &req.body_len);
    req.tls = sb_lua_field_bool(L, 2, "tls");
    req.insecure = sb_lua_field_bool(L, 2, "insecure");
    req.timeout = sb_lua_field_num(L, 2, "timeout");
    req.headers = headers;
    req.nheaders = sb_lua_httpreq_headers(L, 2, headers);
    h = sb_lua_newobject(L, sizeof *h, SB_HTTPREQ_MT);
    h->self_ref = LUA_NOREF;
    h->loop = loop;
    lua_createtable(L, 0, 2);
    lua_pushvalue(L, 3);
    lua_setfield(L, -2, "fn");
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "loop");
    lua_setuservalue(L, -2);
    sb_lua_remember(L, h, -1);
    if (!(h->call = sb_http_send(loop, &req, sb_lua_httpreq_done, h, err, sizeof err))) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    lua_pushvalue(L, -1);
    h->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 1;
}

static sb_lua_httpreq *sb_lua_checkhttpreq(lua_State *L, int idx)
{
    return luaL_checkudata(L, idx, SB_HTTPREQ_MT);
}

/* handle:cancel(): no answer will come; safe to call twice. */
static int sb_lua_httpreq_cancel(lua_State *L)
{
    sb_lua_httpreq *h = sb_lua_checkhttpreq(L, 1);

    if (h->call) {
        sb_http_cancel(h->call);
        h->call = NULL;
    }
    sb_lua_unref(L, &h->self_ref);
    return 0;
}

/* Only at lua_close can a request in flight be collected (it is pinned):
 * cancel it without calling Lua. */
static int sb_lua_httpreq_gc(lua_State *L)
{
    sb_lua_httpreq *h = sb_lua_checkhttpreq(L, 1);

    if (h->call) {
        sb_http_cancel(h->call);
        h->call = NULL;
    }
    return 0;
}

void sb_lua_http_client_open(lua_State *L)
{
    static const luaL_Reg meta[] = { { "__gc", sb_lua_httpreq_gc }, { NULL, NULL } };
    static const luaL_Reg methods[] = { { "cancel", sb_lua_httpreq_cancel }, { NULL, NULL } };

    sb_lua_newclass(L, SB_HTTPREQ_MT, meta, methods);
    lua_pushcfunction(L, sb_lua_http_request);
    lua_setfield(L, -2, "http_request");
}
