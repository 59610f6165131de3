/* switchboard.cluster: core.cluster_new(loop, hub, opts) joins a hub to
 * other nodes through Redis (cluster.c).  The seam of lua_seam.c: the
 * userdata keeps the loop and hub userdata, the optional log function and
 * the note listener in its user value { loop, hub, log, note }; both are
 * protected calls on the loop's thread. */
#include "lua_bindings.h"
#include "cluster/cluster.h"
#include "net/loop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SB_CLUSTER_MT "switchboard.cluster"

typedef struct sb_lua_cluster {
    sb_cluster *cl;        /* NULL once closed */
    sb_loop *loop;         /* kept alive by the user value's loop; NULL
                              once collected (no more log calls) */
    lua_Integer last_read; /* history_read's ids, keys of uservalue.reads */
} sb_lua_cluster;

/* What the log's protected call reads. */
typedef struct sb_cluster_call {
    sb_lua_cluster *lc;
    const char *line;
} sb_cluster_call;

/* Protected: log(line). */
static int sb_lua_cluster_log_call(lua_State *L)
{
    sb_cluster_call *x = lua_touserdata(L, 1);

    if (!sb_lua_push_object_field(L, x->lc, "log"))
        return 0;
    lua_pushstring(L, x->line);
    lua_call(L, 1, 0);
    return 0;
}

static void sb_lua_cluster_log(const char *line, void *ud)
{
    sb_cluster_call x;
    sb_lua_cluster *lc = ud;
    lua_State *L = lc->loop ? sb_lua_loop_state(lc->loop) : NULL;

    x.lc = lc;
    x.line = line;
    if (L)
        sb_lua_protect(L, sb_lua_cluster_log_call, &x, "cluster log");
}

/* core.cluster_new(loop, hub, { redis = url, node = name, ttl = s,
 * history_idle = s, log = fn }) -> cluster | nil, err */
static int sb_lua_cluster_new(lua_State *L)
{
    sb_loop *loop = sb_lua_checkloop(L, 1);
    sb_hub *hub = sb_lua_checkhub(L, 2);
    sb_cluster_config cfg;
    sb_lua_cluster *lc;
    char err[256];

    luaL_checktype(L, 3, LUA_TTABLE);
    memset(&cfg, 0, sizeof cfg);
    lua_getfield(L, 3, "redis");
    cfg.url = luaL_checkstring(L, -1);
    lua_getfield(L, 3, "node");
    cfg.node = luaL_checkstring(L, -1);
    lua_getfield(L, 3, "ttl");
    cfg.ttl = luaL_optnumber(L, -1, 0);
    lua_getfield(L, 3, "history_idle");
    cfg.history_idle = luaL_optnumber(L, -1, 0);
    cfg.siblings = loop->siblings;
    lua_pop(L, 1);
    lua_getfield(L, 3, "log");
    if (!lua_isnil(L, -1))
        luaL_checktype(L, -1, LUA_TFUNCTION);
    lc = sb_lua_newobject(L, sizeof *lc, SB_CLUSTER_MT);
    lc->loop = loop;
    lua_createtable(L, 0, 3);
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "loop");
    lua_pushvalue(L, 2);
    lua_setfield(L, -2, "hub");
    lua_pushvalue(L, -3);
    lua_setfield(L, -2, "log");
    lua_setuservalue(L, -2);
    sb_lua_remember(L, lc, -1);
    if (!lua_isnil(L, -2)) {
        cfg.log = sb_lua_cluster_log;
        cfg.log_ud = lc;
    }
    {
        SB_ENTER_LOOP(loop, L);
        lc->cl = sb_cluster_new(&loop->uv, hub, &cfg, err, sizeof err);
        SB_LEAVE_LOOP(loop);
    }
    if (!lc->cl) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    return 1;
}

static sb_lua_cluster *sb_lua_checkcluster(lua_State *L, int idx)
{
    return luaL_checkudata(L, idx, SB_CLUSTER_MT);
}

/* cluster:close(): goodbye to the other nodes; safe to call twice.  Its
 * log lines reach the log function. */
static int sb_lua_cluster_close(lua_State *L)
{
    sb_lua_cluster *lc = sb_lua_checkcluster(L, 1);

    if (lc->cl) {
        SB_ENTER_LOOP(lc->loop, L);
        sb_cluster_free(lc->cl);
        SB_LEAVE_LOOP(lc->loop);
        lc->cl = NULL;
    }
    return 0;
}

/* A collected cluster says goodbye too, without touching the loop (at
 * lua_close it may be gone already) or calling Lua. */
static int sb_lua_cluster_gc(lua_State *L)
{
    sb_lua_cluster *lc = sb_lua_checkcluster(L, 1);

    lc->loop = NULL;
    if (lc->cl) {
        sb_cluster_free(lc->cl);
        lc->cl = NULL;
    }
    return 0;
}

static void sb_setint(lua_State *L, const char *k, uint64_t v)
{
    lua_pushinteger(L, (lua_Integer)v);
    lua_setfield(L, -2, k);
}

/* by_channel[ch][node] = connections. */
static void add_count(const char *ch, size_t chlen, const char *node,
                      size_t nlen, size_t conns, void *ud)
{
    lua_State *L = ud;

    lua_pushlstring(L, ch, chlen);
    lua_rawget(L, -2);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushlstring(L, ch, chlen);
        lua_pushvalue(L, -2);
        lua_rawset(L, -4);
    }
    lua_pushlstring(L, node, nlen);
    lua_pushinteger(L, (lua_Integer)conns);
    lua_rawset(L, -3);
    lua_pop(L, 1);
}

/* cluster:stats() -> { connected =, synced =, node =, published =, received =,
 * lost =, presence_deferred =, outages =, dead_nodes =, bad_messages =,
 * nodes =, channels =, history_gaps =, unnumbered =, local_sent =,
 * local_received =, local_lost =, by_channel = { [channel] = { [node] = connections } } } */
static int sb_lua_cluster_stats(lua_State *L)
{
    sb_lua_cluster *lc = sb_lua_checkcluster(L, 1);
    sb_cluster_stats st;

    luaL_argcheck(L, lc->cl != NULL, 1, "cluster is closed");
    sb_cluster_get_stats(lc->cl, &st);
    lua_createtable(L, 0, 18);
    lua_pushboolean(L, st.connected);
    lua_setfield(L, -2, "connected");
    lua_pushboolean(L, st.synced);
    lua_setfield(L, -2, "synced");
    lua_pushstring(L, sb_cluster_node(lc->cl));
    lua_setfield(L, -2, "node");
    sb_setint(L, "published", st.published);
    sb_setint(L, "received", st.received);
    sb_setint(L, "lost", st.lost);
    sb_setint(L, "presence_deferred", st.presence_deferred);
    sb_setint(L, "outages", st.outages);
    sb_setint(L, "dead_nodes", st.dead_nodes);
    sb_setint(L, "bad_messages", st.bad_messages);
    sb_setint(L, "nodes", st.nodes);
    sb_setint(L, "channels", st.channels);
    sb_setint(L, "history_gaps", st.history_gaps);
    sb_setint(L, "unnumbered", st.unnumbered);
    sb_setint(L, "local_sent", st.local_sent);
    sb_setint(L, "local_received", st.local_received);
    sb_setint(L, "local_lost", st.local_lost);
    lua_newtable(L);
    sb_cluster_each_count(lc->cl, add_count, L);
    lua_setfield(L, -2, "by_channel");
    return 1;
}

/* cluster:phx_track(topic, phx_ref, key, meta_json) -> true | nil, err */
static int sb_lua_cluster_phx_track(lua_State *L)
{
    sb_lua_cluster *lc = sb_lua_checkcluster(L, 1);
    size_t tlen, rlen, klen, mlen;
    const char *topic = luaL_checklstring(L, 2, &tlen);
    const char *ref = luaL_checklstring(L, 3, &rlen);
    const char *key = luaL_checklstring(L, 4, &klen);
    const char *meta = luaL_checklstring(L, 5, &mlen);

    if (!lc->cl)
        return 0;
    if (sb_cluster_phx_track(lc->cl, topic, tlen, ref, rlen, key, klen, meta,
                             mlen)) {
        lua_pushnil(L);
        lua_pushliteral(L, "cannot share this presence");
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* cluster:phx_untrack(topic, phx_ref) */
static int sb_lua_cluster_phx_untrack(lua_State *L)
{
    sb_lua_cluster *lc = sb_lua_checkcluster(L, 1);
    size_t tlen, rlen;
    const char *topic = luaL_checklstring(L, 2, &tlen);
    const char *ref = luaL_checklstring(L, 3, &rlen);

    if (lc->cl)
        sb_cluster_phx_untrack(lc->cl, topic, tlen, ref, rlen);
    return 0;
}

static void sb_lua_cluster_meta_cb(const char *key, size_t klen,
                                   const char *meta, size_t mlen, void *ud)
{
    lua_State *L = ud;
    int n = (int)lua_rawlen(L, -1);

    lua_pushlstring(L, key, klen);
    lua_rawseti(L, -2, n + 1);
    lua_pushlstring(L, meta, mlen);
    lua_rawseti(L, -2, n + 2);
}

/* cluster:phx_metas(topic) -> { key, meta_json, key, meta_json, ... }
 * (what other nodes track in a channel this node follows) */
static int sb_lua_cluster_phx_metas(lua_State *L)
{
    sb_lua_cluster *lc = sb_lua_checkcluster(L, 1);
    size_t tlen;
    const char *topic = luaL_checklstring(L, 2, &tlen);

    lua_newtable(L);
    if (lc->cl)
        sb_cluster_phx_each(lc->cl, topic, tlen, sb_lua_cluster_meta_cb, L);
    return 1;
}

/* What a note's protected call reads. */
typedef struct sb_note_call {
    sb_lua_cluster *lc;
    const char *text, *node;
    size_t n, nlen;
} sb_note_call;

/* Protected: note(text, node). */
static int sb_lua_cluster_note_call(lua_State *L)
{
    sb_note_call *x = lua_touserdata(L, 1);

    if (!sb_lua_push_object_field(L, x->lc, "note"))
        return 0;
    lua_pushlstring(L, x->text, x->n);
    lua_pushlstring(L, x->node, x->nlen);
    lua_call(L, 2, 0);
    return 0;
}

static void sb_lua_cluster_note(const char *text, size_t n, const char *node,
                                size_t nlen, void *ud)
{
    sb_note_call x;
    sb_lua_cluster *lc = ud;
    lua_State *L = lc->loop ? sb_lua_loop_state(lc->loop) : NULL;

    x.lc = lc;
    x.text = text;
    x.n = n;
    x.node = node;
    x.nlen = nlen;
    if (L)
        sb_lua_protect(L, sb_lua_cluster_note_call, &x, "cluster note");
}

/* cluster:send_note(text) -> true | nil, err: text for every other node's
 * note listener (cluster.h, "Notes"). */
static int sb_lua_cluster_send_note(lua_State *L)
{
    sb_lua_cluster *lc = sb_lua_checkcluster(L, 1);
    size_t n;
    const char *text = luaL_checklstring(L, 2, &n);

    if (!lc->cl || sb_cluster_send_note(lc->cl, text, n)) {
        lua_pushnil(L);
        lua_pushliteral(L, "the Redis link is down");
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* cluster:on_note(fn | nil): fn(text, node) hears the notes of the other
 * nodes. */
static int sb_lua_cluster_on_note(lua_State *L)
{
    sb_lua_cluster *lc = sb_lua_checkcluster(L, 1);

    if (!lua_isnil(L, 2))
        luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_getuservalue(L, 1);
    lua_pushvalue(L, 2);
    lua_setfield(L, -2, "note");
    if (lc->cl)
        sb_cluster_on_note(lc->cl, lua_isnil(L, 2) ? NULL : sb_lua_cluster_note, lc);
    return 0;
}

/* A history read in flight: its fn is uservalue.reads[id] (a pointer
 * to Lua is never kept in C). */
typedef struct sb_lua_read {
    sb_lua_cluster *lc;
    lua_Integer id;
} sb_lua_read;

typedef struct sb_read_call {
    const sb_lua_read *rd;
    const sb_history_page *pg;
} sb_read_call;

/* Protected: reads[id](page), the entry cleared first. */
static int sb_lua_cluster_read_call(lua_State *L)
{
    sb_read_call *x = lua_touserdata(L, 1);
    const sb_history_page *pg = x->pg;

    if (!sb_lua_push_object_field(L, x->rd->lc, "reads"))
        return 0;
    lua_pushinteger(L, x->rd->id);
    lua_rawget(L, -2);
    lua_pushinteger(L, x->rd->id);
    lua_pushnil(L);
    lua_rawset(L, -4);
    if (!lua_isfunction(L, -1))
        return 0;
    lua_createtable(L, 0, 5);
    if (pg->reason) {
        lua_pushstring(L, pg->reason);
        lua_setfield(L, -2, "reason");
    }
    lua_pushnumber(L, (lua_Number)pg->epoch);
    lua_setfield(L, -2, "epoch");
    lua_pushnumber(L, (lua_Number)pg->offset);
    lua_setfield(L, -2, "offset");
    lua_pushboolean(L, pg->authoritative);
    lua_setfield(L, -2, "authoritative");
    sb_lua_push_history(L, pg->msgs, pg->n);
    lua_setfield(L, -2, "messages");
    lua_call(L, 1, 0);
    return 0;
}

/* The read's answer (or the cluster being freed: then, if Lua is gone,
 * only the read goes). */
static void sb_lua_cluster_read_done(void *ud, const sb_history_page *pg)
{
    sb_lua_read *rd = ud;
    lua_State *L = rd->lc->loop ? sb_lua_loop_state(rd->lc->loop) : NULL;
    sb_read_call x;

    x.rd = rd;
    x.pg = pg;
    if (L)
        sb_lua_protect(L, sb_lua_cluster_read_call, &x, "cluster history read");
    free(rd);
}

/* cluster:history_read(channel, epoch, after, fn) -> count | nil, err:
 * reads what followed (epoch, after) from Redis (sb_cluster_history_read);
 * fn(page) runs once, page = { reason =, epoch =, offset =,
 * authoritative =, messages = }; count is the channel's history size. */
static int sb_lua_cluster_history_read(lua_State *L)
{
    sb_lua_cluster *lc = sb_lua_checkcluster(L, 1);
    size_t chlen, count = 0;
    const char *ch = luaL_checklstring(L, 2, &chlen);
    lua_Number epoch = luaL_checknumber(L, 3), after = luaL_checknumber(L, 4);
    sb_lua_read *rd;
    sb_fetch *f = NULL;

    luaL_checktype(L, 5, LUA_TFUNCTION);
    luaL_argcheck(L, epoch >= 0 && after >= 0, 3, "a position is >= 0");
    if (!lc->cl) {
        lua_pushnil(L);
        lua_pushliteral(L, "the cluster is closed");
        return 2;
    }
    if (!(rd = malloc(sizeof *rd)))
        return luaL_error(L, "out of memory");
    rd->lc = lc;
    rd->id = ++lc->last_read;
    lua_getuservalue(L, 1);
    lua_getfield(L, -1, "reads");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, -3, "reads");
    }
    lua_pushinteger(L, rd->id);
    lua_pushvalue(L, 5);
    lua_rawset(L, -3);
    {
        SB_ENTER_LOOP(lc->loop, L);
        f = sb_cluster_history_read(lc->cl, ch, chlen, (uint64_t)epoch, (uint64_t)after,
                                    sb_lua_cluster_read_done, rd, &count);
        SB_LEAVE_LOOP(lc->loop);
    }
    if (!f) {
        lua_pushinteger(L, rd->id);
        lua_pushnil(L);
        lua_rawset(L, -3);
        free(rd);
        lua_pushnil(L);
        lua_pushliteral(L, "no shared history to read (none kept, or Redis is down)");
        return 2;
    }
    lua_pushinteger(L, (lua_Integer)count);
    return 1;
}

static int sb_lua_cluster_tostring(lua_State *L)
{
    sb_lua_cluster *lc = sb_lua_checkcluster(L, 1);

    lua_pushfstring(L, "switchboard.cluster (%s)",
                    lc->cl ? sb_cluster_node(lc->cl) : "closed");
    return 1;
}

static const luaL_Reg sb_cluster_meta[] = {
    {"__gc", sb_lua_cluster_gc},
    {"__tostring", sb_lua_cluster_tostring},
    {NULL, NULL}};

static const luaL_Reg sb_cluster_methods[] = {
    {"close", sb_lua_cluster_close},
    {"stats", sb_lua_cluster_stats},
    {"phx_track", sb_lua_cluster_phx_track},
    {"phx_untrack", sb_lua_cluster_phx_untrack},
    {"phx_metas", sb_lua_cluster_phx_metas},
    {"send_note", sb_lua_cluster_send_note},
    {"on_note", sb_lua_cluster_on_note},
    {"history_read", sb_lua_cluster_history_read},
    {NULL, NULL}};

/* core.cluster_valid_node(s) -> boolean */
static int sb_lua_cluster_valid_node(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);

    lua_pushboolean(L, sb_cluster_valid_node(s, n));
    return 1;
}

void sb_lua_cluster_open(lua_State *L)
{
    sb_lua_newclass(L, SB_CLUSTER_MT, sb_cluster_meta, sb_cluster_methods);
    lua_pushcfunction(L, sb_lua_cluster_new);
    lua_setfield(L, -2, "cluster_new");
    lua_pushcfunction(L, sb_lua_cluster_valid_node);
    lua_setfield(L, -2, "cluster_valid_node");
}
