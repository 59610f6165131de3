/* The channel hub.  See hub.h for the contract; the shape follows Redis
 * pubsub.c: every subscription is one node linked both in its channel's list
 * and in its connection's list, so publish walks one list and disconnect
 * walks the other, and a channel disappears with its last subscriber.
 *
 * Re-entrancy: hooks (deliver, events) may call back into the hub.  A channel
 * is "held" while a call uses it and is freed only when the last hold goes;
 * while a publish iterates its subscribers, a leaving subscription is marked
 * dead and parked in the channel's graveyard instead of being freed, and new
 * subscriptions are pushed at the head of the list, behind the iterator. */
#include "hub_internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/defaults.h"
#include "base/prefetch.h"

static void channel_settle(sb_channel *ch);

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double sb_hub_now(sb_hub *h)
{
    return h->cfg.clock ? h->cfg.clock(h->cfg.clock_ud) : now_mono();
}

int64_t sb_hub_now_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *sb_hub_strerror(int code)
{
    switch (code) {
    case SB_OK: return "ok";
    case SB_ENOMEM: return "out of memory";
    case SB_ECHANNEL: return "invalid channel name";
    case SB_EMEMBER: return "invalid member id";
    case SB_ELIMIT: return "too many channels for this connection";
    case SB_EJOINED: return "connection already joined as another member";
    case SB_ENOTFOUND: return "not found";
    case SB_EGAP: return "history gap";
    default: return "unknown error";
    }
}

sb_hub *sb_hub_new(const sb_hub_config *cfg)
{
    sb_hub *h = calloc(1, sizeof *h);

    if (!h)
        return NULL;
    if (cfg)
        h->cfg = *cfg;
    if (h->cfg.typing_ttl <= 0)
        h->cfg.typing_ttl = SB_DEFAULT_typing_ttl;
    if (h->cfg.max_channels <= 0)
        h->cfg.max_channels = SB_DEFAULT_max_channels;
    if (h->cfg.max_idle_channels == 0)
        h->cfg.max_idle_channels = SB_DEFAULT_max_idle_channels;
    h->epoch_base = (uint64_t)sb_hub_now_wall_ms() << 12;
    h->seed = (uint64_t)sb_hub_now_wall_ms() * 2654435761ULL ^
              (uint64_t)(uintptr_t)h;
    sb_map_init(&h->channels, h->seed);
    h->refs = 1;
    return h;
}

void sb_hub_retain(sb_hub *h)
{
    h->refs++;
}

void sb_hub_drop_hooks(sb_hub *h)
{
    if (!h)
        return;
    h->on_event = NULL;
    h->event_ud = NULL;
    h->cfg.clock = NULL;
    h->cfg.clock_ud = NULL;
    h->on_deadline = NULL;
    h->deadline_ud = NULL;
}

void sb_hub_set_deadline_hook(sb_hub *h, sb_deadline_fn fn, void *ud)
{
    h->on_deadline = fn;
    h->deadline_ud = ud;
}

void sb_hub_deadline(sb_hub *h, sb_deadline_kind kind, double in)
{
    if (h->on_deadline)
        h->on_deadline(h, kind, in, h->deadline_ud);
}

void sb_hub_set_event_hook(sb_hub *h, sb_event_fn fn, void *ud)
{
    h->on_event = fn;
    h->event_ud = ud;
}

void sb_hub_attach(sb_hub *h, sb_conn *c, sb_deliver_fn fn, void *ud)
{
    c->deliver = fn;
    c->ud = ud;
    memset(&c->tag, 0, sizeof c->tag);
    c->subs = NULL;
    c->nsubs = 0;
    c->id = ++h->next_conn_id;
}

void sb_hub_fire(sb_hub *h, sb_hub_event_type type, sb_channel *ch,
                 const sb_member *m, sb_conn *c, int typing)
{
    sb_hub_event ev;
    size_t i;

    if (!h->on_event && !h->nevwatch)
        return;
    ev.type = type;
    ev.channel = ch->name;
    ev.channel_len = ch->len;
    ev.member = m->id;
    ev.member_len = m->len;
    ev.conn = c;
    ev.typing = typing;
    ev.remote = h->remote_event;
    if (h->on_event)
        h->on_event(h, &ev, h->event_ud);
    /* by index: a watcher may go while the events run */
    for (i = 0; i < h->nevwatch; i++)
        h->evwatch[i].fn(h, &ev, h->evwatch[i].ud);
}

int sb_hub_watch_events(sb_hub *h, sb_event_fn fn, void *ud)
{
    struct sb_ev_watch *w = realloc(h->evwatch, (h->nevwatch + 1) * sizeof *w);

    if (!w)
        return SB_ENOMEM;
    h->evwatch = w;
    w[h->nevwatch].fn = fn;
    w[h->nevwatch].ud = ud;
    h->nevwatch++;
    return SB_OK;
}

void sb_hub_unwatch_events(sb_hub *h, sb_event_fn fn, void *ud)
{
    size_t i;

    for (i = 0; i < h->nevwatch; i++) {
        if (h->evwatch[i].fn == fn && h->evwatch[i].ud == ud) {
            h->evwatch[i] = h->evwatch[--h->nevwatch];
            if (!h->nevwatch) {
                free(h->evwatch);
                h->evwatch = NULL;
            }
            return;
        }
    }
}

/* Takes ch off the idle list (no-op when it is not idle). */
void sb_hub_idle_unlink(sb_hub *h, sb_channel *ch)
{
    if (!ch->idle)
        return;
    if (ch->iprev)
        ch->iprev->inext = ch->inext;
    else
        h->idle_head = ch->inext;
    if (ch->inext)
        ch->inext->iprev = ch->iprev;
    else
        h->idle_tail = ch->iprev;
    ch->iprev = ch->inext = NULL;
    ch->idle = 0;
    h->nidle--;
}

sb_channel *sb_hub_channel_new(sb_hub *h, const char *name, size_t len)
{
    sb_channel *ch = calloc(1, sizeof *ch + len + 1);

    if (!ch)
        return NULL;
    memcpy(ch->name, name, len);
    ch->name[len] = '\0';
    ch->len = len;
    ch->hub = h;
    sb_map_init(&ch->by_conn, h->seed);
    sb_map_init(&ch->members, h->seed);
    sb_map_init(&ch->rconns, h->seed ^ 1);
    if (sb_map_put(&h->channels, name, len, ch)) {
        free(ch);
        return NULL;
    }
    ch->epoch = sb_hub_next_epoch(h);
    sb_hub_history_policy(h, name, len, &ch->hist_cap, &ch->hist_ttl);
    ch->anext = h->all;
    if (h->all)
        h->all->aprev = ch;
    h->all = ch;
    return ch;
}

/* Frees the channel and everything in it.  Normally it is empty by now;
 * sb_hub_free also uses it on live channels, detaching their connections. */
void sb_hub_channel_destroy(sb_channel *ch)
{
    sb_hub *h = ch->hub;
    sb_map_iter it;
    void *val;
    sb_sub *s, *next;
    size_t i;

    sb_map_del(&h->channels, ch->name, ch->len);
    if (ch->aprev)
        ch->aprev->anext = ch->anext;
    else
        h->all = ch->anext;
    if (ch->anext)
        ch->anext->aprev = ch->aprev;
    sb_hub_idle_unlink(h, ch);
    sb_hub_drop_remote(h, ch);
    for (s = ch->subs; s; s = next) {
        next = s->cnext;
        if (!s->dead) {
            s->conn->subs = NULL;
            s->conn->nsubs = 0;
        }
        free(s);
    }
    sb_map_iter_init(&it);
    while (sb_map_next(&ch->members, &it, NULL, NULL, &val)) {
        sb_hub_typing_unlink(h, val);
        free(val);
    }
    for (i = 0; i < ch->ring_len; i++)
        sb_msg_unref(ch->ring[(ch->ring_start + i) % ch->hist_cap].m);
    free(ch->ring);
    sb_map_clear(&ch->by_conn);
    sb_map_clear(&ch->members);
    free(ch);
}

/* Makes an empty channel with history idle; evicts the longest-idle
 * channels beyond max_idle_channels (never one a call still holds).
 * May destroy ch itself: callers must not touch it afterwards. */
static void idle_push(sb_hub *h, sb_channel *ch)
{
    sb_channel *v;

    ch->idle = 1;
    ch->iprev = h->idle_tail;
    ch->inext = NULL;
    if (h->idle_tail)
        h->idle_tail->inext = ch;
    else
        h->idle_head = ch;
    h->idle_tail = ch;
    h->nidle++;
    while (h->nidle > h->cfg.max_idle_channels) {
        for (v = h->idle_head; v && v->holds; v = v->inext)
            ;
        if (!v)
            break;
        sb_hub_channel_destroy(v);
    }
}

static void graveyard_free(sb_channel *ch)
{
    sb_sub *s;

    while ((s = ch->graveyard)) {
        ch->graveyard = s->onext;
        if (s->cprev)
            s->cprev->cnext = s->cnext;
        else
            ch->subs = s->cnext;
        if (s->cnext)
            s->cnext->cprev = s->cprev;
        free(s);
    }
}

/* Called when a call lets go of a channel: frees what was deferred and the
 * channel itself once nobody uses it (or parks it idle for its history). */
static void channel_settle(sb_channel *ch)
{
    sb_hub *h = ch->hub;

    if (ch->holds)
        return;
    graveyard_free(ch);
    /* other nodes' connections keep it too: presence covers the cluster */
    if (ch->nconns || ch->rconns.count || ch->idle)
        return;
    if (ch->hist_cap && ch->ring_len)
        idle_push(h, ch);
    else
        sb_hub_channel_destroy(ch);
}

void sb_hub_channel_release(sb_channel *ch)
{
    ch->holds--;
    channel_settle(ch);
}

void sb_hub_free(sb_hub *h)
{
    if (!h || --h->refs > 0)
        return;
    while (h->all)
        sb_hub_channel_destroy(h->all);
    while (h->nrules)
        free(h->rules[--h->nrules].pattern);
    free(h->rules);
    free(h->watch);
    free(h->evwatch);
    sb_map_clear(&h->channels);
    free(h);
}

sb_channel *sb_hub_channel_get(sb_hub *h, const char *ch, size_t chlen)
{
    return sb_map_get(&h->channels, ch, chlen);
}

sb_sub *sb_hub_sub_get(sb_channel *ch, const sb_conn *c)
{
    return sb_map_get(&ch->by_conn, &c, sizeof c);
}

sb_member *sb_hub_member_get(sb_channel *ch, const char *m, size_t mlen)
{
    return ch ? sb_map_get(&ch->members, m, mlen) : NULL;
}

/* Adds a member with no connection yet to the channel's map. */
sb_member *sb_hub_member_new(sb_channel *ch, const char *id, size_t len)
{
    sb_member *m = calloc(1, sizeof *m + len + 1);

    if (!m)
        return NULL;
    m->ch = ch;
    m->len = len;
    memcpy(m->id, id, len);
    m->id[len] = '\0';
    if (sb_map_put(&ch->members, id, len, m)) {
        free(m);
        return NULL;
    }
    return m;
}

/* Creates the subscription and links it both ways; NULL on OOM with
 * nothing changed.  Pushed at the head: an iterating publish, already past
 * the head, will not reach it. */
static sb_sub *sub_new(sb_channel *ch, sb_member *m, sb_conn *c)
{
    sb_sub *s = calloc(1, sizeof *s);

    if (!s)
        return NULL;
    if (sb_map_put(&ch->by_conn, &c, sizeof c, s)) {
        free(s);
        return NULL;
    }
    s->ch = ch;
    s->conn = c;
    s->deliver = c->deliver;
    s->ud = c->ud;
    s->member = m;
    s->cnext = ch->subs;
    if (ch->subs)
        ch->subs->cprev = s;
    ch->subs = s;
    s->onext = c->subs;
    if (c->subs)
        c->subs->oprev = s;
    c->subs = s;
    c->nsubs++;
    ch->nconns++;
    m->conns++;
    return s;
}

/* Unlinks s from its connection and the indexes at once; from the channel
 * list too unless a publish is walking it (then the graveyard keeps it). */
static void sub_kill(sb_sub *s)
{
    sb_channel *ch = s->ch;
    sb_conn *c = s->conn;

    sb_map_del(&ch->by_conn, &c, sizeof c);
    if (s->oprev)
        s->oprev->onext = s->onext;
    else
        c->subs = s->onext;
    if (s->onext)
        s->onext->oprev = s->oprev;
    c->nsubs--;
    ch->nconns--;
    s->member->conns--;
    s->dead = 1;
    s->member = NULL;
    s->oprev = NULL;
    s->onext = ch->graveyard;
    ch->graveyard = s;
    if (!ch->fanouts)
        graveyard_free(ch);
}

/* Subscribes c to an existing or just created channel: finds or adds the
 * member, then the subscription.  Returns the member, or NULL on OOM after
 * undoing its own additions (*fresh says whether the member is new). */
static sb_member *join_alloc(sb_channel *chan, const char *member,
                             size_t mlen, sb_conn *c, int *fresh)
{
    sb_member *m = sb_hub_member_get(chan, member, mlen);

    *fresh = m == NULL;
    if (!m && !(m = sb_hub_member_new(chan, member, mlen)))
        return NULL;
    if (!sub_new(chan, m, c)) {
        if (*fresh)
            free(sb_map_del(&chan->members, member, mlen));
        return NULL;
    }
    return m;
}

/* 0 if c is joined to chan as this member already, else SB_EJOINED. */
static int join_again(const sb_sub *s, const char *member, size_t mlen)
{
    if (s->member->len == mlen && memcmp(s->member->id, member, mlen) == 0)
        return 0;
    return SB_EJOINED;
}

int sb_hub_join(sb_hub *h, const char *ch, size_t chlen,
                const char *member, size_t mlen, sb_conn *c)
{
    sb_channel *chan;
    sb_member *m;
    sb_sub *s;
    int created = 0, fresh, was_idle;

    if (!sb_hub_valid_channel(ch, chlen))
        return SB_ECHANNEL;
    if (!sb_hub_valid_member(member, mlen))
        return SB_EMEMBER;
    chan = sb_hub_channel_get(h, ch, chlen);
    if (chan && (s = sb_hub_sub_get(chan, c)) != NULL)
        return join_again(s, member, mlen);
    if (c->nsubs >= h->cfg.max_channels)
        return SB_ELIMIT;
    if (!chan) {
        if (!(chan = sb_hub_channel_new(h, ch, chlen)))
            return SB_ENOMEM;
        created = 1;
    }
    if (!(m = join_alloc(chan, member, mlen, c, &fresh))) {
        if (created)
            sb_hub_channel_destroy(chan);
        return SB_ENOMEM;
    }
    /* idle, or known only from other nodes: not followed until now */
    was_idle = chan->idle || (!created && chan->nconns == 1);
    sb_hub_idle_unlink(h, chan);
    chan->holds++;
    if (chan->nconns == 1 && h->cluster.channel_active) {
        /* while idle the node did not follow the channel, so what other
         * nodes published meanwhile is missing from its history: a new
         * epoch makes recovery report a gap instead of a silent hole */
        if (was_idle)
            sb_hub_history_reset(h, chan);
        h->cluster.channel_active(h, chan->name, chan->len, 1, h->cluster.ud);
    }
    if (h->cluster.local_conn)
        h->cluster.local_conn(h, chan->name, chan->len, c, m->id, m->len, 1,
                              h->cluster.ud);
    sb_hub_fire(h, SB_EV_SESSION_JOIN, chan, m, c, 0);
    if (fresh)
        sb_hub_fire(h, SB_EV_PRESENCE_JOIN, chan, m, c, 0);
    sb_hub_channel_release(chan);
    return fresh;
}

/* Removes one subscription and fires, in order: typing cleared (if the
 * member goes and was typing), presence:leave (if the member goes),
 * session:leave.  Returns 1 if the member became absent. */
static int sub_leave(sb_hub *h, sb_sub *s)
{
    sb_channel *chan = s->ch;
    sb_member *m = s->member;
    sb_conn *c = s->conn;
    int gone, was_typing = 0;

    chan->holds++;
    sub_kill(s);
    /* locally gone is what the cluster announces; gone (from the whole
     * cluster) is what the events and the return value report */
    if (h->cluster.local_conn)
        h->cluster.local_conn(h, chan->name, chan->len, c, m->id, m->len, 0,
                              h->cluster.ud);
    if (chan->nconns == 0 && h->cluster.channel_active)
        h->cluster.channel_active(h, chan->name, chan->len, 0, h->cluster.ud);
    /* the node stops following the channel: its ring, a cache of the
     * shared history, would go stale */
    if (chan->nconns == 0 && h->cluster.history_shared)
        sb_hub_history_reset(h, chan);
    gone = m->conns == 0 && m->remote == 0;
    if (gone) {
        sb_map_del(&chan->members, m->id, m->len);
        was_typing = m->typing;
        sb_hub_typing_unlink(h, m);
    }
    if (was_typing)
        sb_hub_fire(h, SB_EV_TYPING, chan, m, c, 0);
    if (gone)
        sb_hub_fire(h, SB_EV_PRESENCE_LEAVE, chan, m, c, 0);
    sb_hub_fire(h, SB_EV_SESSION_LEAVE, chan, m, c, 0);
    if (gone)
        free(m);
    sb_hub_channel_release(chan);
    return gone;
}

int sb_hub_leave(sb_hub *h, const char *ch, size_t chlen, sb_conn *c)
{
    sb_channel *chan;
    sb_sub *s;

    if (!sb_hub_valid_channel(ch, chlen))
        return SB_ECHANNEL;
    chan = sb_hub_channel_get(h, ch, chlen);
    s = chan ? sb_hub_sub_get(chan, c) : NULL;
    return s ? sub_leave(h, s) : 0;
}

void sb_hub_disconnect(sb_hub *h, sb_conn *c)
{
    while (c->subs)
        sub_leave(h, c->subs);
}

static int excluded(const sb_sub *s, const sb_conn *except, uint64_t except_id,
                    const char *em, size_t emlen)
{
    if (s->conn == except || (except_id && s->conn->id == except_id))
        return 1;
    return em && s->member->len == emlen &&
           memcmp(s->member->id, em, emlen) == 0;
}

/* Hands m to every live subscriber present when the walk started.  Dead
 * subs stay linked (graveyard) until the outermost walk ends, so the next
 * pointer of the current node is always valid. */
static int fanout(sb_channel *ch, sb_msg *m, const sb_conn *except,
                  uint64_t except_id, const char *em, size_t emlen)
{
    sb_sub *s;
    int n = 0;

    ch->holds++;
    ch->fanouts++;
    for (s = ch->subs; s; s = s->cnext) {
        /* the sub after next and the first lines of the next one's
         * deliver state (hub.h) start loading while this one is
         * delivered (base/prefetch.h; a prefetch of a dead sub's freed
         * connection is harmless: it never faults) */
        if (s->cnext) {
            SB_PREFETCH(s->cnext->cnext);
            SB_PREFETCH(s->cnext->ud);
            SB_PREFETCH((const char *)s->cnext->ud + 64);
        }
        if (s->dead || excluded(s, except, except_id, em, emlen))
            continue;
        n++;
        if (s->deliver)
            s->deliver(s->conn, m, s->ud);
    }
    ch->fanouts--;
    sb_hub_channel_release(ch);
    return n;
}

/* How many connections a publish would reach now (for a publish the
 * cluster delivers later). */
static int receivers(sb_hub *h, const sb_msg *m, const sb_conn *except,
                     const char *em, size_t emlen)
{
    sb_channel *ch = sb_hub_channel_get(h, m->channel, m->channel_len);
    sb_sub *s;
    int n = 0;

    if (!ch)
        return 0;
    if (!except && !em)
        return (int)ch->nconns;
    for (s = ch->subs; s; s = s->cnext)
        n += !s->dead && !excluded(s, except, 0, em, emlen);
    return n;
}

static int publish_local(sb_hub *h, sb_msg *m, const sb_conn *except,
                         const char *except_member, size_t emlen)
{
    sb_channel *ch;
    int created = 0;
    size_t cap;
    double ttl;

    ch = sb_hub_channel_get(h, m->channel, m->channel_len);
    if (!ch) {
        sb_hub_history_policy(h, m->channel, m->channel_len, &cap, &ttl);
        if (!cap)
            return 0;
    }
    if (!ch) {
        if (!(ch = sb_hub_channel_new(h, m->channel, m->channel_len)))
            return SB_ENOMEM;
        created = 1;
    }
    if (ch->hist_cap) {
        if (sb_hub_history_keep(h, ch, m)) {
            if (created)
                sb_hub_channel_destroy(ch);
            return SB_ENOMEM;
        }
    } else {
        m->epoch = ch->epoch;
        m->offset = ++ch->offset;
    }
    return fanout(ch, m, except, 0, except_member, emlen);
}

int sb_hub_publish(sb_hub *h, sb_msg *m, const sb_conn *except,
                   const char *except_member, size_t emlen)
{
    sb_channel *ch;
    int how = SB_PUBLISH_LOCAL;

    if (!sb_hub_valid_channel(m->channel, m->channel_len))
        return SB_ECHANNEL;
    if (h->cluster.published)
        how = h->cluster.published(h, m, except, except_member, emlen,
                                   h->cluster.ud);
    if (how == SB_PUBLISH_TAKEN)
        return receivers(h, m, except, except_member, emlen);
    if (how == SB_PUBLISH_UNNUMBERED) {
        ch = sb_hub_channel_get(h, m->channel, m->channel_len);
        m->epoch = m->offset = 0;
        return ch ? fanout(ch, m, except, 0, except_member, emlen) : 0;
    }
    return publish_local(h, m, except, except_member, emlen);
}

int sb_hub_publish_remote(sb_hub *h, sb_msg *m, const char *except_member,
                          size_t emlen)
{
    if (!sb_hub_valid_channel(m->channel, m->channel_len))
        return SB_ECHANNEL;
    return publish_local(h, m, NULL, except_member, emlen);
}

int sb_hub_publish_at(sb_hub *h, sb_msg *m, uint64_t except_conn,
                      const char *except_member, size_t emlen)
{
    sb_channel *ch = sb_hub_channel_get(h, m->channel, m->channel_len);

    if (!ch || !ch->nconns)
        return 0;
    if (m->epoch)
        sb_hub_history_put(h, ch, m);
    return fanout(ch, m, NULL, except_conn, except_member, emlen);
}
