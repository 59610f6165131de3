/* Presence channels for Pusher clients (docs/pusher.md#presence).  The
 * members are the hub's, whoever joined them: a Pusher subscription joins
 * as its channel_data's user_id, a native or Phoenix client as its member
 * id, another node's connections through the cluster.  The hub counts
 * connections per member, so a user with two sockets is one member:
 * member_added goes out when a member becomes present and member_removed
 * when its last connection left, which is exactly when the hub fires
 * its presence events; this file listens to them. */
#include "ws_pusher.h"

#include <string.h>

#include "base/map.h"
#include "codec/json.h"
#include "proto_pusher.h"

/* What the hub shows of the members of a hidden SSE watcher (hub.lua). */
static const char watchers[] = "(watchers)";

int sb_pusher_prefixed(const char *ch, size_t n, const char *prefix)
{
    size_t k = strlen(prefix);

    return n >= k && memcmp(ch, prefix, k) == 0;
}

static int sb_pusher_hidden(const char *member, size_t n)
{
    return n == sizeof watchers - 1 && memcmp(member, watchers, n) == 0;
}

/* The subscription of a Pusher connection to ch, or NULL for another
 * protocol's connection. */
static sb_pusher_chan *sb_pusher_chan_of(const sb_conn *hc, const char *ch, size_t n)
{
    const sb_wsconn *c = hc ? hc->ud : NULL;

    if (!hc || hc->deliver != sb_pusher_deliver || !c->proto)
        return NULL;
    return sb_pusher_find(c, ch, n);
}

/* member -> the subscription with its user_info, for one channel. */
typedef struct sb_pusher_infos {
    sb_map *infos;
    const char *ch;
    size_t n;
} sb_pusher_infos;

/* Collects member -> user_info of the channel's Pusher connections. */
static void sb_pusher_collect_info(sb_conn *hc, const char *member, size_t mlen, void *ud)
{
    sb_pusher_infos *x = ud;
    sb_pusher_chan *pc = sb_pusher_chan_of(hc, x->ch, x->n);

    if (pc && pc->user_info && !sb_map_get(x->infos, member, mlen))
        sb_map_put(x->infos, member, mlen, pc);   /* OOM: info shows as null */
}

typedef struct sb_pusher_list {
    sb_buf ids, hash;
    sb_map *infos;
    size_t count;
} sb_pusher_list;

static void sb_pusher_add_member(const char *member, size_t mlen, void *ud)
{
    sb_pusher_list *l = ud;
    sb_pusher_chan *pc;

    if (sb_pusher_hidden(member, mlen))
        return;
    pc = sb_map_get(l->infos, member, mlen);
    if (l->count++) {
        sb_buf_addc(&l->ids, ',');
        sb_buf_addc(&l->hash, ',');
    }
    sb_buf_add_json_string(&l->ids, member, mlen);
    sb_buf_add_json_string(&l->hash, member, mlen);
    sb_buf_addc(&l->hash, ':');
    if (pc)
        sb_buf_add(&l->hash, pc->user_info, pc->info_len);
    else
        sb_buf_adds(&l->hash, "null");
}

int sb_pusher_presence_data(const sb_wsconn *c, const char *ch, size_t chlen, sb_buf *out)
{
    sb_hub *hub = sb_server_hub(c->srv);
    sb_pusher_infos x;
    sb_pusher_list l;
    sb_map infos;
    int rc;

    sb_map_init(&infos, (uint64_t)(uintptr_t)c ^ 0x9E3779B97F4A7C15ULL);
    x.infos = &infos;
    x.ch = ch;
    x.n = chlen;
    sb_hub_each_connection(hub, ch, chlen, sb_pusher_collect_info, &x);
    memset(&l, 0, sizeof l);
    sb_buf_init(&l.ids, 0);
    sb_buf_init(&l.hash, 0);
    l.infos = &infos;
    sb_hub_each_member(hub, ch, chlen, sb_pusher_add_member, &l);
    sb_buf_adds(out, "{\"presence\":{\"ids\":[");
    sb_buf_add(out, sb_buf_data(&l.ids), l.ids.len);
    sb_buf_adds(out, "],\"hash\":{");
    sb_buf_add(out, sb_buf_data(&l.hash), l.hash.len);
    sb_buf_adds(out, "},\"count\":");
    sb_buf_add_u64(out, l.count);
    sb_buf_adds(out, "}}");
    rc = out->oom || l.ids.oom || l.hash.oom ? -1 : 0;
    sb_buf_free(&l.ids);
    sb_buf_free(&l.hash);
    sb_map_clear(&infos);
    return rc;
}

/* One member_added or member_removed, for every other Pusher connection
 * of the server in the channel. */
typedef struct sb_pusher_fan {
    const sb_pusher_server *ps;
    const sb_hub_event *ev;
    sb_frame *f;
} sb_pusher_fan;

static void sb_pusher_tell(sb_conn *hc, const char *member, size_t mlen, void *ud)
{
    const sb_pusher_fan *x = ud;
    sb_wsconn *c = hc->ud;

    if (hc->deliver != sb_pusher_deliver || c->srv != x->ps->srv || !c->proto)
        return;
    /* the member's own connections: it knows it is there */
    if (mlen == x->ev->member_len && memcmp(member, x->ev->member, mlen) == 0)
        return;
    if (sb_pusher_chan_of(hc, x->ev->channel, x->ev->channel_len))
        sb_wsconn_send(c, x->f);
}

/* {"user_id":U[,"user_info":I]} as the event's data, in a frame. */
static sb_frame *sb_pusher_member_frame(const sb_hub_event *ev)
{
    int added = ev->type == SB_EV_PRESENCE_JOIN;
    const sb_pusher_chan *pc = added ? sb_pusher_chan_of(ev->conn, ev->channel,
                                                         ev->channel_len) : NULL;
    sb_buf data, b;
    sb_frame *f = NULL;

    sb_buf_init(&data, 0);
    sb_buf_init(&b, SB_FRAME_PRE);
    sb_buf_adds(&data, "{\"user_id\":");
    sb_buf_add_json_string(&data, ev->member, ev->member_len);
    if (added) {
        sb_buf_adds(&data, ",\"user_info\":");
        if (pc && pc->user_info)
            sb_buf_add(&data, pc->user_info, pc->info_len);
        else
            sb_buf_adds(&data, "null");
    }
    sb_buf_addc(&data, '}');
    if (!data.oom &&
        sb_pusher_event(&b, sb_span_str(added ? "pusher_internal:member_added"
                                              : "pusher_internal:member_removed"),
                        sb_span_of(ev->channel, ev->channel_len),
                        sb_span_of((const char *)sb_buf_data(&data), data.len),
                        sb_span_of(NULL, 0)) == 0)
        f = sb_frame_from_buf(&b, 0);
    sb_buf_free(&data);
    sb_buf_free(&b);
    return f;
}

void sb_pusher_presence_event(sb_hub *h, const sb_hub_event *ev, void *ud)
{
    sb_pusher_fan x;

    if ((ev->type != SB_EV_PRESENCE_JOIN && ev->type != SB_EV_PRESENCE_LEAVE) ||
        !sb_pusher_prefixed(ev->channel, ev->channel_len, "presence-") ||
        sb_pusher_hidden(ev->member, ev->member_len))
        return;
    x.ps = ud;
    x.ev = ev;
    if (!(x.f = sb_pusher_member_frame(ev)))
        return;
    sb_hub_each_connection(h, ev->channel, ev->channel_len, sb_pusher_tell, &x);
    sb_frame_unref(x.f);
}
