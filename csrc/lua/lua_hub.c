/* switchboard.core hub binding: core.hub_new(opts) -> hub userdata, and the
 * fake connections of hub:attach(fn) used by specs and room unit tests
 * (lua_hubconn.c).
 *
 * Lua values live in user values, never in registry references, so a hub,
 * its connections and their callbacks form one ordinary Lua cycle that the
 * collector can free:
 *   hub userdata  uservalue { conns = { [lightud(sb_conn)] = obj, [obj] = lightud },
 *                             event = fn, clock = fn }
 *   conn userdata uservalue { fn = deliver fn, hub = hub userdata }
 * C callbacks find the hub userdata from its lhub pointer (sb_lua_push_object
 * of lua_seam.c, the seam every binding uses).  Every C->Lua call is a
 * protected call of a small C function that pushes the arguments, so even a
 * memory error while building them never unwinds through the hub. */
#include "lua_hub_internal.h"

#include <string.h>

lhub *sb_lua_hub_check_lhub(lua_State *L, int idx)
{
    lhub *lh = luaL_checkudata(L, idx, HUB_MT);
    if (!lh->h)
        luaL_argerror(L, idx, "hub is closed");
    return lh;
}

sb_hub *sb_lua_checkhub(lua_State *L, int idx)
{
    return sb_lua_hub_check_lhub(L, idx)->h;
}

/* Pushes the hub userdata of lh, or nil once it was collected. */
void sb_lua_hub_push_hub(lua_State *L, const lhub *lh)
{
    sb_lua_push_object(L, lh);
}

/* Pushes field `name` of the hub userdata's uservalue (nil if none). */
void sb_lua_hub_push_hub_field(lua_State *L, int hubidx, const char *name)
{
    sb_lua_push_field(L, hubidx, name);
}

static double opt_number_field(lua_State *L, int idx, const char *k, double d)
{
    double v;

    lua_getfield(L, idx, k);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return d;
    }
    if (lua_type(L, -1) != LUA_TNUMBER || lua_tonumber(L, -1) < 0)
        luaL_error(L, "hub option %s must be a number >= 0", k);
    v = lua_tonumber(L, -1);
    lua_pop(L, 1);
    return v;
}

/* Reads the options table at idx into cfg, raising on bad values. */
static void read_config(lua_State *L, int idx, sb_hub_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    if (lua_isnoneornil(L, idx))
        return;
    luaL_checktype(L, idx, LUA_TTABLE);
    cfg->history = (size_t)opt_number_field(L, idx, "history", 0);
    cfg->history_ttl = opt_number_field(L, idx, "history_ttl", 0);
    cfg->typing_ttl = opt_number_field(L, idx, "typing_ttl", 0);
    cfg->max_channels = (int)opt_number_field(L, idx, "max_channels", 0);
    cfg->max_idle_channels =
        (size_t)opt_number_field(L, idx, "max_idle_channels", 0);
}

/* The uservalue of a new hub: { conns = {}, clock = opts.clock }. */
static void new_hub_uservalue(lua_State *L, int optidx)
{
    lua_createtable(L, 0, 3);
    lua_newtable(L);
    lua_setfield(L, -2, "conns");
    if (lua_istable(L, optidx)) {
        lua_getfield(L, optidx, "clock");
        if (!lua_isnil(L, -1) && !lua_isfunction(L, -1))
            luaL_error(L, "hub option clock must be a function");
        lua_setfield(L, -2, "clock");
    }
}

/* core.hub_new(opts[, loop]) -> hub; raises on bad options or out of
 * memory.  With a loop (and no clock) the hub expires typing and history
 * on that loop's timer (lua_hub_timer.c); the uservalue keeps the loop. */
static int lhub_new(lua_State *L)
{
    sb_hub_config cfg;
    lhub *lh;
    sb_loop *loop;
    int has_clock;

    read_config(L, 1, &cfg);
    loop = lua_isnoneornil(L, 2) ? NULL : sb_lua_checkloop(L, 2);
    new_hub_uservalue(L, 1);
    lua_getfield(L, -1, "clock");
    has_clock = !lua_isnil(L, -1);
    lua_pop(L, 1);
    if (loop && !has_clock) {
        lua_pushvalue(L, 2);
        lua_setfield(L, -2, "loop");
    }
    lh = sb_lua_newobject(L, sizeof *lh, HUB_MT);
    lua_pushvalue(L, -2);
    lua_setuservalue(L, -2);
    lh->L = sb_lua_mainthread(L);
    if (has_clock) {
        cfg.clock = sb_lua_hub_clock_hook;
        cfg.clock_ud = lh;
    }
    lh->h = sb_hub_new(&cfg);
    if (!lh->h)
        return luaL_error(L, "hub_new: out of memory");
    sb_hub_set_event_hook(lh->h, sb_lua_hub_event_hook, lh);
    if (loop && !has_clock && sb_lua_hub_use_loop(lh, loop))
        return luaL_error(L, "hub_new: out of memory");
    sb_lua_remember(L, lh, -1);
    return 1;
}

static int lhub_gc(lua_State *L)
{
    lhub *lh = luaL_checkudata(L, 1, HUB_MT);

    /* a server may keep the C hub alive a little longer (sb_hub_retain);
     * it must not call back into this dying object */
    sb_lua_hub_stop_timer(lh);
    sb_hub_drop_hooks(lh->h);
    sb_hub_free(lh->h);
    lh->h = NULL;
    return 0;
}

static int lhub_tostring(lua_State *L)
{
    lhub *lh = luaL_checkudata(L, 1, HUB_MT);
    lua_pushfstring(L, "switchboard.hub (%p)%s", (void *)lh,
                    lh->h ? "" : " closed");
    return 1;
}

/* hub:on_event(fn or nil): the one Lua function events go to. */
static int lhub_on_event(lua_State *L)
{
    sb_lua_hub_check_lhub(L, 1);
    if (!lua_isnil(L, 2))
        luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_getuservalue(L, 1);
    lua_pushvalue(L, 2);
    lua_setfield(L, -2, "event");
    return 0;
}

/* hub:join(channel, member, conn) -> newly_present | nil, err, code */
static int lhub_join(lua_State *L)
{
    lhub *lh = sb_lua_hub_check_lhub(L, 1);
    size_t chlen, mlen;
    const char *ch = luaL_checklstring(L, 2, &chlen);
    const char *m = luaL_checklstring(L, 3, &mlen);
    sb_conn *c = sb_lua_hub_to_conn(L, 1, 4);
    int rc;

    if (!c)
        return sb_lua_hub_push_closed(L);
    ENTER(lh, L);
    rc = sb_hub_join(lh->h, ch, chlen, m, mlen, c);
    LEAVE(lh);
    return sb_lua_hub_push_flag(L, rc, 2, 3);
}

/* hub:leave(channel, conn) -> now_absent | nil, err, code */
static int lhub_leave(lua_State *L)
{
    lhub *lh = sb_lua_hub_check_lhub(L, 1);
    size_t chlen;
    const char *ch = luaL_checklstring(L, 2, &chlen);
    sb_conn *c = sb_lua_hub_to_conn(L, 1, 3);
    int rc;

    if (!c)
        return sb_lua_hub_push_flag(
            L, sb_hub_valid_channel(ch, chlen) ? 0 : SB_ECHANNEL, 2, 0);
    ENTER(lh, L);
    rc = sb_hub_leave(lh->h, ch, chlen, c);
    LEAVE(lh);
    return sb_lua_hub_push_flag(L, rc, 2, 0);
}

/* hub:disconnect(conn): leaves every channel; unknown conns are ignored. */
static int lhub_disconnect(lua_State *L)
{
    lhub *lh = sb_lua_hub_check_lhub(L, 1);
    sb_conn *c = sb_lua_hub_to_conn(L, 1, 2);

    if (c) {
        ENTER(lh, L);
        sb_hub_disconnect(lh->h, c);
        LEAVE(lh);
    }
    return 0;
}

static const char *opt_lstring(lua_State *L, int idx, size_t *n)
{
    *n = 0;
    return lua_isnoneornil(L, idx) ? NULL : luaL_checklstring(L, idx, n);
}

/* hub:publish(channel, event|nil, payload_json, except_conn|nil,
 *             except_member|nil, from|nil, alias|nil, binary)
 *   -> receivers | nil, err, code */
static int lhub_publish(lua_State *L)
{
    lhub *lh = sb_lua_hub_check_lhub(L, 1);
    size_t chlen, evlen, plen, emlen, flen, alen;
    const char *ch = luaL_checklstring(L, 2, &chlen);
    const char *ev = opt_lstring(L, 3, &evlen);
    const char *p = luaL_checklstring(L, 4, &plen);
    const sb_conn *except =
        lua_isnoneornil(L, 5) ? NULL : sb_lua_hub_to_conn(L, 1, 5);
    const char *em = opt_lstring(L, 6, &emlen);
    const char *from = opt_lstring(L, 7, &flen);
    const char *alias = opt_lstring(L, 8, &alen);
    sb_msg *m;
    int rc;

    if (!sb_hub_valid_channel(ch, chlen))
        return sb_lua_hub_push_error(L, SB_ECHANNEL, 2, 0);
    m = sb_msg_new(ch, chlen, ev, evlen, p, plen, from, flen, alias, alen,
                   lua_toboolean(L, 9));
    if (!m)
        return sb_lua_hub_push_error(L, SB_ENOMEM, 0, 0);
    ENTER(lh, L);
    rc = sb_hub_publish(lh->h, m, except, em, emlen);
    LEAVE(lh);
    sb_msg_unref(m);
    if (rc < 0)
        return sb_lua_hub_push_error(L, rc, 2, 0);
    lua_pushinteger(L, rc);
    return 1;
}

typedef struct list_ctx {
    lua_State *L;
    int n;
} list_ctx;

static void add_member(const char *m, size_t mlen, void *ud)
{
    list_ctx *x = ud;
    lua_pushlstring(x->L, m, mlen);
    lua_rawseti(x->L, -2, ++x->n);
}

/* hub:remote_join(channel, member, key [, uid [, alias [, announce]]])
 * hub:remote_leave(channel, key)
 *   -> changed_cluster_wide | nil, err, code
 * What cluster.c does when another node reports one of its connections
 * (key names it); exposed so the presence rules can be specified without
 * Redis.  A uid makes it a native connection (native clients hear it). */
static int lhub_remote_join(lua_State *L)
{
    lhub *lh = sb_lua_hub_check_lhub(L, 1);
    size_t chlen, mlen, klen;
    const char *ch = luaL_checklstring(L, 2, &chlen);
    const char *m = luaL_checklstring(L, 3, &mlen);
    const char *key = luaL_checklstring(L, 4, &klen);
    sb_conn_tag tag;
    int rc;

    tag.uid = luaL_optstring(L, 5, NULL);
    tag.alias = luaL_optstring(L, 6, NULL);
    tag.flags = (tag.uid ? SB_TAG_NATIVE : 0u) |
                (lua_toboolean(L, 7) ? SB_TAG_ANNOUNCE : 0u);
    ENTER(lh, L);
    rc = sb_hub_remote_join(lh->h, ch, chlen, key, klen, m, mlen, &tag);
    LEAVE(lh);
    return sb_lua_hub_push_flag(L, rc, 2, 3);
}

static int lhub_remote_leave(lua_State *L)
{
    lhub *lh = sb_lua_hub_check_lhub(L, 1);
    size_t chlen, klen;
    const char *ch = luaL_checklstring(L, 2, &chlen);
    const char *key = luaL_checklstring(L, 3, &klen);
    int rc;

    ENTER(lh, L);
    rc = sb_hub_remote_leave(lh->h, ch, chlen, key, klen);
    LEAVE(lh);
    return sb_lua_hub_push_flag(L, rc, 2, 3);
}

typedef void (*each_member_fn)(sb_hub *h, const char *ch, size_t chlen,
                               sb_member_fn fn, void *ud);

/* hub:<list>(channel) for a member walk of hub.h: pushes the array of
 * the members it visits. */
static int push_members(lua_State *L, each_member_fn each)
{
    lhub *lh = sb_lua_hub_check_lhub(L, 1);
    size_t chlen;
    const char *ch = luaL_checklstring(L, 2, &chlen);
    list_ctx x;

    x.L = L;
    x.n = 0;
    lua_newtable(L);
    sb_lua_mark_array(L, -1);
    each(lh->h, ch, chlen, add_member, &x);
    return 1;
}

/* hub:presence(channel) -> { member, ... } in no particular order */
static int lhub_presence(lua_State *L)
{
    return push_members(L, sb_hub_each_member);
}

/* hub:typing(channel) -> { member, ... } of members typing */
static int lhub_typing(lua_State *L)
{
    return push_members(L, sb_hub_each_typing);
}

static void add_channel(const char *ch, size_t chlen, size_t members,
                        size_t conns, void *ud)
{
    list_ctx *x = ud;
    lua_State *L = x->L;

    lua_createtable(L, 0, 3);
    lua_pushlstring(L, ch, chlen);
    lua_setfield(L, -2, "name");
    lua_pushinteger(L, (lua_Integer)members);
    lua_setfield(L, -2, "members");
    lua_pushinteger(L, (lua_Integer)conns);
    lua_setfield(L, -2, "connections");
    lua_rawseti(L, -2, ++x->n);
}

/* hub:channels([conn]) -> { { name=, members=, connections= }, ... } of
 * channels with connections, or of the channels conn is joined to. */
static int lhub_channels(lua_State *L)
{
    lhub *lh = sb_lua_hub_check_lhub(L, 1);
    list_ctx x;
    sb_conn *c = NULL;

    if (!lua_isnoneornil(L, 2) && !(c = sb_lua_hub_to_conn(L, 1, 2))) {
        lua_newtable(L);
        sb_lua_mark_array(L, -1);
        return 1;
    }
    x.L = L;
    x.n = 0;
    lua_newtable(L);
    sb_lua_mark_array(L, -1);
    if (c)
        sb_hub_each_channel_of(lh->h, c, add_channel, &x);
    else
        sb_hub_each_channel(lh->h, add_channel, &x);
    return 1;
}

static int lhub_is_present(lua_State *L)
{
    lhub *lh = sb_lua_hub_check_lhub(L, 1);
    size_t chlen, mlen;
    const char *ch = luaL_checklstring(L, 2, &chlen);
    const char *m = luaL_checklstring(L, 3, &mlen);

    lua_pushboolean(L, sb_hub_is_present(lh->h, ch, chlen, m, mlen));
    return 1;
}

static int lhub_member_count(lua_State *L)
{
    lhub *lh = sb_lua_hub_check_lhub(L, 1);
    size_t chlen;
    const char *ch = luaL_checklstring(L, 2, &chlen);

    lua_pushinteger(L, (lua_Integer)sb_hub_member_count(lh->h, ch, chlen));
    return 1;
}

static int lhub_connection_count(lua_State *L)
{
    lhub *lh = sb_lua_hub_check_lhub(L, 1);
    size_t chlen;
    const char *ch = luaL_checklstring(L, 2, &chlen);

    lua_pushinteger(L,
                    (lua_Integer)sb_hub_connection_count(lh->h, ch, chlen));
    return 1;
}

/* hub:member_of(channel, conn) -> member id the conn joined as, or nil */
static int lhub_member_of(lua_State *L)
{
    lhub *lh = sb_lua_hub_check_lhub(L, 1);
    size_t chlen, mlen;
    const char *ch = luaL_checklstring(L, 2, &chlen);
    sb_conn *c = sb_lua_hub_to_conn(L, 1, 3);
    const char *m = c ? sb_hub_member_of(lh->h, ch, chlen, c, &mlen) : NULL;

    if (m)
        lua_pushlstring(L, m, mlen);
    else
        lua_pushnil(L);
    return 1;
}

/* hub:set_typing(channel, member, typing) -> changed | nil, err, code */
static int lhub_set_typing(lua_State *L)
{
    lhub *lh = sb_lua_hub_check_lhub(L, 1);
    size_t chlen, mlen;
    const char *ch = luaL_checklstring(L, 2, &chlen);
    const char *m = luaL_checklstring(L, 3, &mlen);
    int rc;

    ENTER(lh, L);
    rc = sb_hub_set_typing(lh->h, ch, chlen, m, mlen, lua_toboolean(L, 4));
    LEAVE(lh);
    if (rc == SB_ENOTFOUND) {
        lua_pushnil(L);
        lua_pushliteral(L, "member ");
        sb_lua_hub_push_quoted(L, m, mlen);
        lua_pushliteral(L, " is not present in channel ");
        sb_lua_hub_push_quoted(L, ch, chlen);
        lua_concat(L, 4);
        lua_pushliteral(L, "ENOTFOUND");
        return 3;
    }
    return sb_lua_hub_push_flag(L, rc, 2, 3);
}

/* hub:tick() -> seconds until the next deadline, or nil */
static int lhub_tick(lua_State *L)
{
    lhub *lh = sb_lua_hub_check_lhub(L, 1);
    double next;

    ENTER(lh, L);
    next = sb_hub_tick(lh->h);
    LEAVE(lh);
    if (next < 0)
        lua_pushnil(L);
    else
        lua_pushnumber(L, next);
    return 1;
}

/* hub:position(channel) -> epoch, offset (0, 0 for unknown channels) */
static int lhub_position(lua_State *L)
{
    lhub *lh = sb_lua_hub_check_lhub(L, 1);
    size_t chlen;
    const char *ch = luaL_checklstring(L, 2, &chlen);
    uint64_t epoch, offset;

    sb_hub_position(lh->h, ch, chlen, &epoch, &offset);
    lua_pushinteger(L, (lua_Integer)epoch);
    lua_pushinteger(L, (lua_Integer)offset);
    return 2;
}

static uint64_t check_u64(lua_State *L, int idx)
{
    lua_Number n = luaL_checknumber(L, idx);
    luaL_argcheck(L, n >= 0 && n < 9007199254740992.0, idx,
                  "want an integer in 0..2^53");
    return (uint64_t)n;
}

/* hub:replay(channel, epoch, after, fn) -> count | nil, "gap", "EGAP" */
static int lhub_replay(lua_State *L)
{
    lhub *lh = sb_lua_hub_check_lhub(L, 1);
    size_t chlen;
    const char *ch = luaL_checklstring(L, 2, &chlen);
    uint64_t epoch = check_u64(L, 3), after = check_u64(L, 4);
    replay_ctx x;
    int rc;

    luaL_checktype(L, 5, LUA_TFUNCTION);
    x.L = L;
    x.fnidx = 5;
    ENTER(lh, L);
    rc = sb_hub_replay(lh->h, ch, chlen, epoch, after, sb_lua_hub_replay_one,
                       &x);
    LEAVE(lh);
    if (rc == SB_EGAP) {
        lua_pushnil(L);
        lua_pushliteral(L, "gap");
        lua_pushliteral(L, "EGAP");
        return 3;
    }
    if (rc < 0)
        return sb_lua_hub_push_error(L, rc, 2, 0);
    lua_pushinteger(L, rc);
    return 1;
}

/* hub:stats() -> { channels=, idle_channels=, subscriptions=, members=,
 * typing=, kept_messages= } */
static int lhub_stats(lua_State *L)
{
    lhub *lh = sb_lua_hub_check_lhub(L, 1);
    sb_hub_stats st;

    sb_hub_get_stats(lh->h, &st);
    lua_createtable(L, 0, 6);
    lua_pushinteger(L, (lua_Integer)st.channels);
    lua_setfield(L, -2, "channels");
    lua_pushinteger(L, (lua_Integer)st.idle_channels);
    lua_setfield(L, -2, "idle_channels");
    lua_pushinteger(L, (lua_Integer)st.subscriptions);
    lua_setfield(L, -2, "subscriptions");
    lua_pushinteger(L, (lua_Integer)st.members);
    lua_setfield(L, -2, "members");
    lua_pushinteger(L, (lua_Integer)st.typing);
    lua_setfield(L, -2, "typing");
    lua_pushinteger(L, (lua_Integer)st.kept_messages);
    lua_setfield(L, -2, "kept_messages");
    return 1;
}

static const luaL_Reg hub_meta[] = {
    {"__gc", lhub_gc},
    {"__tostring", lhub_tostring},
    {NULL, NULL}};

static const luaL_Reg hub_methods[] = {
    {"attach", sb_lua_hub_attach},
    {"on_event", lhub_on_event},
    {"join", lhub_join},
    {"leave", lhub_leave},
    {"disconnect", lhub_disconnect},
    {"publish", lhub_publish},
    {"presence", lhub_presence},
    {"typing", lhub_typing},
    {"channels", lhub_channels},
    {"is_present", lhub_is_present},
    {"member_count", lhub_member_count},
    {"connection_count", lhub_connection_count},
    {"member_of", lhub_member_of},
    {"set_typing", lhub_set_typing},
    {"tick", lhub_tick},
    {"position", lhub_position},
    {"replay", lhub_replay},
    {"stats", lhub_stats},
    {"remote_join", lhub_remote_join},
    {"remote_leave", lhub_remote_leave},
    {NULL, NULL}};

/* core.hub_valid_channel(s), core.hub_valid_member(s) -> boolean: the C
 * rules, so the Lua layer can refuse a value without a round trip. */
static int lhub_valid_channel(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    lua_pushboolean(L, sb_hub_valid_channel(s, n));
    return 1;
}

static int lhub_valid_member(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    lua_pushboolean(L, sb_hub_valid_member(s, n));
    return 1;
}

void sb_lua_hub_open(lua_State *L)
{
    lua_pushcfunction(L, lhub_valid_channel);
    lua_setfield(L, -2, "hub_valid_channel");
    lua_pushcfunction(L, lhub_valid_member);
    lua_setfield(L, -2, "hub_valid_member");
    sb_lua_newclass(L, HUB_MT, hub_meta, hub_methods);
    sb_lua_hub_open_conn_class(L);
    lua_pushcfunction(L, lhub_new);
    lua_setfield(L, -2, "hub_new");
}
