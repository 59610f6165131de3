/* switchboard.wsconn: the methods of a server connection's handle.  Each
 * works through the connection's protocol ops (net/proto.h), so none
 * names a protocol; a method the protocol lacks answers nil, err. */
#include "lua_bindings.h"
#include "lua_wsconn.h"

#include <stdlib.h>
#include <string.h>

static sb_wsconn *sb_lua_checkwsconn(lua_State *L, int idx)
{
    sb_lua_wsconn *h = luaL_checkudata(L, idx, SB_WSCONN_MT);
    return h->c;
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

/* handle:info() -> { id, uid, channel, member, alias, protocol,
 * transport, and the protocol's own flags (native: echo, announce, list) } */
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
    /* what carries it: its own word, else a stream's or a WebSocket */
    sb_setfield_str(L, "transport", c->ops->transport ? c->ops->transport
                                    : c->ops->stream ? "http" : "websocket");
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
    sb_lua_mark_array(L, -1);
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

void sb_lua_wsconn_open_class(lua_State *L)
{
    static const luaL_Reg conn_meta[] = { { NULL, NULL } };
    static const luaL_Reg conn_methods[] = {
        { "send", sb_lua_wsconn_send }, { "close", sb_lua_wsconn_close },
        { "info", sb_lua_wsconn_info }, { "set", sb_lua_wsconn_set },
        { "bind", sb_lua_wsconn_bind }, { "unbind", sb_lua_wsconn_unbind },
        { "alive", sb_lua_wsconn_alive }, { "push", sb_lua_wsconn_push },
        { "end_topic", sb_lua_wsconn_end_topic }, { "topics", sb_lua_wsconn_topics },
        { NULL, NULL } };

    sb_lua_newclass(L, SB_WSCONN_MT, conn_meta, conn_methods);
}
