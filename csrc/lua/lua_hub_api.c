/* core.hub_deliver and core.hub_history: the two hub calls the server API
 * needs beyond hub:publish and the queries (lua/switchboard/api.lua,
 * docs/api.md), kept apart from lua_hub.c's methods.  Both take the hub
 * userdata (hub.core) first. */
#include "lua_hub_internal.h"

#include <stdlib.h>
#include <string.h>

#include "codec/msgid.h"

/* core.hub_deliver(hub, channel, member, event, payload_json)
 *   -> local_receivers, forwarded
 * Hands one message (no id, not kept) to member's connections in channel
 * on this node, and to the other nodes when the member is present there
 * too (the path of a native direct message, cluster_direct.c).  Every
 * protocol encodes it as it encodes a publish. */
static int sb_lua_hub_deliver(lua_State *L)
{
    lhub *lh = sb_lua_hub_check_lhub(L, 1);
    size_t chlen, mlen, elen, plen;
    const char *ch = luaL_checklstring(L, 2, &chlen);
    const char *member = luaL_checklstring(L, 3, &mlen);
    const char *ev = luaL_checklstring(L, 4, &elen);
    const char *p = luaL_checklstring(L, 5, &plen);
    sb_msg *m;
    int n, forwarded;

    if (!sb_hub_valid_channel(ch, chlen))
        return sb_lua_hub_push_error(L, SB_ECHANNEL, 2, 0);
    if (!sb_hub_valid_member(member, mlen))
        return sb_lua_hub_push_error(L, SB_EMEMBER, 0, 3);
    if (!(m = sb_msg_new(ch, chlen, ev, elen, p, plen, NULL, 0, NULL, 0, 0)))
        return sb_lua_hub_push_error(L, SB_ENOMEM, 0, 0);
    ENTER(lh, L);
    n = sb_hub_deliver_member(lh->h, m, member, mlen);
    forwarded = sb_hub_direct(lh->h, m, member, mlen) == 0;
    LEAVE(lh);
    sb_msg_unref(m);
    lua_pushinteger(L, n);
    lua_pushboolean(L, forwarded);
    return 2;
}

/* Messages of a replay, each with a reference of its own. */
typedef struct sb_hist_list {
    sb_msg **v;
    size_t n, cap, limit;
    int oom;
} sb_hist_list;

static void sb_hist_count(sb_msg *m, void *ud)
{
    (void)m;
    (*(size_t *)ud)++;
}

static void sb_hist_take(sb_msg *m, void *ud)
{
    sb_hist_list *l = ud;
    sb_msg **v;

    if (l->oom || l->n >= l->limit)
        return;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        if (!(v = realloc(l->v, cap * sizeof *v))) {
            l->oom = 1;
            return;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = sb_msg_ref(m);
}

static void sb_hist_free(sb_hist_list *l)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        sb_msg_unref(l->v[i]);
    free(l->v);
}

/* The lowest offset a replay of (epoch, after) still serves: replays
 * are refused once messages after `after` are gone, and a later `after`
 * never fails where an earlier one worked, so a binary search over
 * counting replays (no Lua) finds where the kept history starts. */
static uint64_t sb_hist_first(sb_hub *h, const char *ch, size_t chlen,
                              uint64_t epoch, uint64_t offset)
{
    uint64_t lo = 0, hi = offset;
    size_t count;

    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        count = 0;
        if (sb_hub_replay(h, ch, chlen, epoch, mid, sb_hist_count, &count) >= 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* Pushes { { id=, event=, data=, date=, from=, alias= } } for v[0..n).
 * Binary messages are left out: JSON cannot carry them.  Raises on a
 * memory error (callers are protected). */
void sb_lua_push_history(lua_State *L, sb_msg *const *v, size_t n)
{
    size_t i;
    int k = 0;
    sb_buf id;

    lua_createtable(L, (int)n, 0);
    sb_lua_mark_array(L, -1);
    for (i = 0; i < n; i++) {
        const sb_msg *m = v[i];
        if (m->binary)
            continue;
        lua_createtable(L, 0, 6);
        sb_buf_init(&id, 0);
        sb_msgid_format(&id, m->epoch, m->offset);
        lua_pushlstring(L, id.oom ? "" : (const char *)sb_buf_data(&id), id.len);
        sb_buf_free(&id);
        lua_setfield(L, -2, "id");
        lua_pushlstring(L, m->event, m->event_len);
        lua_setfield(L, -2, "event");
        sb_lua_push_json(L, m->payload, m->payload_len);
        lua_setfield(L, -2, "data");
        lua_pushnumber(L, (lua_Number)m->date_ms);
        lua_setfield(L, -2, "date");
        if (m->from) {
            lua_pushlstring(L, m->from, m->from_len);
            lua_setfield(L, -2, "from");
        }
        if (m->alias) {
            lua_pushlstring(L, m->alias, m->alias_len);
            lua_setfield(L, -2, "alias");
        }
        lua_rawseti(L, -2, ++k);
    }
}

/* Protected: (list) -> the messages (sb_lua_push_history). */
static int sb_hist_push(lua_State *L)
{
    const sb_hist_list *l = lua_touserdata(L, 1);

    sb_lua_push_history(L, l->v, l->n);
    return 1;
}

/* Why a position cannot be served, in the words of SSE's
 * recovery-failed reasons (docs/sse.md#resuming). */
static const char *sb_hist_reason(uint64_t epoch, uint64_t offset,
                                  uint64_t since_epoch, uint64_t since)
{
    if (epoch == 0)
        return "unknown-channel";
    if (since_epoch != epoch)
        return "epoch-changed";
    if (since > offset)
        return "unknown-position";
    return "history-expired";
}

/* Collects what to answer: the kept messages after `since` (at most
 * limit), or without since the last `limit` kept.  Returns NULL, or
 * the reason the position cannot be served. */
static const char *sb_hist_collect(sb_hub *h, const char *ch, size_t chlen,
                                   int has_since, uint64_t se, uint64_t so,
                                   sb_hist_list *l, uint64_t *epoch, uint64_t *offset)
{
    uint64_t after;

    sb_hub_position(h, ch, chlen, epoch, offset);
    if (has_since) {
        if (*epoch == 0 || se != *epoch || so > *offset ||
            sb_hub_replay(h, ch, chlen, se, so, sb_hist_take, l) < 0)
            return sb_hist_reason(*epoch, *offset, se, so);
        return NULL;
    }
    if (*epoch == 0)
        return NULL;
    after = sb_hist_first(h, ch, chlen, *epoch, *offset);
    if (*offset - after > l->limit)
        after = *offset - l->limit;
    sb_hub_replay(h, ch, chlen, *epoch, after, sb_hist_take, l);
    return NULL;
}

/* core.hub_history(hub, channel, limit [, since_id])
 *   -> messages, epoch, offset | nil, reason, epoch, offset
 * What this node keeps of channel's history, oldest first: after
 * since_id ("<epoch>-<offset>") when given, else the newest `limit`. */
static int sb_lua_hub_history(lua_State *L)
{
    lhub *lh = sb_lua_hub_check_lhub(L, 1);
    size_t chlen, slen = 0;
    const char *ch = luaL_checklstring(L, 2, &chlen);
    lua_Number limit = luaL_checknumber(L, 3);
    const char *since = luaL_optlstring(L, 4, NULL, &slen);
    uint64_t se = 0, so = 0, epoch, offset;
    sb_hist_list l;
    const char *why;

    luaL_argcheck(L, limit >= 1, 3, "limit must be >= 1");
    if (!sb_hub_valid_channel(ch, chlen))
        return sb_lua_hub_push_error(L, SB_ECHANNEL, 2, 0);
    if (since && sb_msgid_parse(since, slen, &se, &so))
        return luaL_argerror(L, 4, "an id <epoch>-<offset>");
    memset(&l, 0, sizeof l);
    l.limit = limit > 1e9 ? (size_t)1e9 : (size_t)limit;
    why = sb_hist_collect(lh->h, ch, chlen, since != NULL, se, so, &l, &epoch, &offset);
    if (l.oom || why) {
        sb_hist_free(&l);
        if (!why)
            return sb_lua_hub_push_error(L, SB_ENOMEM, 0, 0);
        lua_pushnil(L);
        lua_pushstring(L, why);
        lua_pushnumber(L, (lua_Number)epoch);
        lua_pushnumber(L, (lua_Number)offset);
        return 4;
    }
    /* pushed under protection: a memory error must not leak the refs */
    lua_pushcfunction(L, sb_hist_push);
    lua_pushlightuserdata(L, &l);
    if (lua_pcall(L, 1, 1, 0)) {
        sb_hist_free(&l);
        return lua_error(L);
    }
    sb_hist_free(&l);
    lua_pushnumber(L, (lua_Number)epoch);
    lua_pushnumber(L, (lua_Number)offset);
    return 3;
}

void sb_lua_hub_api_open(lua_State *L)
{
    lua_pushcfunction(L, sb_lua_hub_deliver);
    lua_setfield(L, -2, "hub_deliver");
    lua_pushcfunction(L, sb_lua_hub_history);
    lua_setfield(L, -2, "hub_history");
}
