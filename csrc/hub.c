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
#include "hub.h"
#include "map.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct sb_channel sb_channel;
typedef struct sb_member sb_member;

struct sb_member {
    sb_channel *ch;
    int conns;              /* live connections joined as this member */
    int remote;             /* other nodes where it is present (cluster) */
    int typing;             /* also: linked in the hub's typing list */
    double typing_until;
    sb_member *tprev, *tnext;
    size_t len;
    char id[];              /* NUL-terminated copy */
};

struct sb_sub {
    sb_channel *ch;
    sb_conn *conn;          /* not dereferenced once dead: it may be freed */
    sb_member *member;      /* NULL once dead */
    sb_sub *cprev, *cnext;  /* the channel's list */
    sb_sub *oprev, *onext;  /* the connection's list; onext chains the
                               graveyard once dead */
    int dead;
};

typedef struct sb_kept {
    sb_msg *m;
    double t;               /* hub clock when kept, for history_ttl */
} sb_kept;

struct sb_channel {
    sb_hub *hub;
    sb_sub *subs;
    sb_sub *graveyard;      /* dead subs still linked for an iterating publish */
    sb_map by_conn;         /* sb_conn* -> sb_sub* */
    sb_map members;         /* member id -> sb_member* */
    size_t nconns;
    int holds;              /* calls in progress using the channel */
    int fanouts;            /* publishes iterating the subs */
    uint64_t epoch, offset;
    size_t hist_cap;        /* ring size, fixed at creation (history rules) */
    double hist_ttl;
    sb_kept *ring;          /* history, allocated on first publish */
    size_t ring_start, ring_len;
    int idle;               /* no connection, kept for its history */
    sb_channel *iprev, *inext;
    sb_channel *aprev, *anext;
    size_t len;
    char name[];
};

struct sb_hub {
    sb_hub_config cfg;
    sb_map channels;        /* name -> sb_channel* */
    sb_channel *all;        /* every channel, for tick and free */
    sb_channel *idle_head, *idle_tail;
    size_t nidle;
    sb_member *typing_head, *typing_tail;   /* ordered by deadline */
    sb_event_fn on_event;
    void *event_ud;
    uint64_t next_conn_id;
    uint64_t epoch_base, epoch_count;
    uint64_t seed;
    sb_hub_cluster_hooks cluster;  /* all NULL without scale-out */
    /* Per-pattern history overrides (sb_hub_set_history), added for the SSE
     * work: a channel takes the longest matching rule when it is created,
     * else cfg.history / cfg.history_ttl. */
    struct sb_hist_rule {
        char *pattern;      /* "name" exact, "prefix*", or "*" */
        size_t len;
        size_t count;
        double ttl;
    } *rules;
    size_t nrules;
    int rules_ttl;          /* some rule has a ttl: tick must sweep */
    int refs;               /* sb_hub_new's + one per sb_hub_retain */
};

static void channel_settle(sb_channel *ch);
static void history_reset(sb_hub *h, sb_channel *chan);

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double hub_now(sb_hub *h)
{
    return h->cfg.clock ? h->cfg.clock(h->cfg.clock_ud) : now_mono();
}

static int64_t now_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Epochs must differ between incarnations of a channel, also across hub
 * restarts, and stay below 2^53 so Lua 5.1 numbers hold them exactly:
 * wall-clock milliseconds shifted left 12 bits, plus a per-hub counter. */
static uint64_t next_epoch(sb_hub *h)
{
    uint64_t e = (h->epoch_base + ++h->epoch_count) & ((1ULL << 53) - 1);
    return e ? e : 1;
}

/* A NUL-terminated copy of n bytes; NULL when memory ran out. */
static char *dup_bytes(const char *p, size_t n)
{
    char *s = malloc(n + 1);
    if (!s)
        return NULL;
    if (n)
        memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

sb_msg *sb_msg_new(const char *channel, size_t channel_len,
                   const char *event, size_t event_len,
                   const char *payload, size_t payload_len,
                   const char *from, size_t from_len,
                   const char *alias, size_t alias_len, int binary)
{
    sb_msg *m = calloc(1, sizeof *m);

    if (!m)
        return NULL;
    m->refs = 1;
    if (!event) {
        event = "message";
        event_len = 7;
    }
    m->channel = dup_bytes(channel, channel_len);
    m->event = dup_bytes(event, event_len);
    m->payload = dup_bytes(payload, payload_len);
    m->from = from ? dup_bytes(from, from_len) : NULL;
    m->alias = alias ? dup_bytes(alias, alias_len) : NULL;
    if (!m->channel || !m->event || !m->payload || (from && !m->from) ||
        (alias && !m->alias)) {
        sb_msg_unref(m);
        return NULL;
    }
    m->channel_len = channel_len;
    m->event_len = event_len;
    m->payload_len = payload_len;
    m->from_len = from ? from_len : 0;
    m->alias_len = alias ? alias_len : 0;
    m->binary = binary;
    m->date_ms = now_wall_ms();
    return m;
}

sb_msg *sb_msg_ref(sb_msg *m)
{
    m->refs++;
    return m;
}

void sb_msg_unref(sb_msg *m)
{
    int i;

    if (!m || --m->refs > 0)
        return;
    for (i = 0; i < SB_PROTO_COUNT; i++)
        sb_frame_unref(m->enc[i]);
    free(m->channel);
    free(m->event);
    free(m->payload);
    free(m->from);
    free(m->alias);
    free(m);
}

int sb_hub_valid_channel(const char *ch, size_t chlen)
{
    size_t i;

    if (!ch || chlen == 0 || chlen > SB_CHANNEL_MAX)
        return 0;
    for (i = 0; i < chlen; i++) {
        unsigned char c = (unsigned char)ch[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || strchr("_.:@/-", c)) || c == 0)
            return 0;
    }
    return 1;
}

int sb_hub_valid_member(const char *m, size_t mlen)
{
    size_t i;

    if (!m || mlen == 0 || mlen > SB_MEMBER_MAX)
        return 0;
    for (i = 0; i < mlen; i++)
        if ((unsigned char)m[i] < 0x20 || (unsigned char)m[i] == 0x7f)
            return 0;
    return 1;
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
        h->cfg.typing_ttl = 5;
    if (h->cfg.max_channels <= 0)
        h->cfg.max_channels = 100;
    if (h->cfg.max_idle_channels == 0)
        h->cfg.max_idle_channels = 10000;
    h->epoch_base = (uint64_t)now_wall_ms() << 12;
    h->seed = (uint64_t)now_wall_ms() * 2654435761ULL ^ (uint64_t)(uintptr_t)h;
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
    c->subs = NULL;
    c->nsubs = 0;
    c->id = ++h->next_conn_id;
}

static void fire(sb_hub *h, sb_hub_event_type type, sb_channel *ch,
                 const sb_member *m, sb_conn *c, int typing)
{
    sb_hub_event ev;

    if (!h->on_event)
        return;
    ev.type = type;
    ev.channel = ch->name;
    ev.channel_len = ch->len;
    ev.member = m->id;
    ev.member_len = m->len;
    ev.conn = c;
    ev.typing = typing;
    h->on_event(h, &ev, h->event_ud);
}

/* Typing list: appended on set, so with a monotonic clock and one TTL it
 * stays ordered by deadline and tick only looks at its head. */
static void typing_unlink(sb_hub *h, sb_member *m)
{
    if (!m->typing)
        return;
    if (m->tprev)
        m->tprev->tnext = m->tnext;
    else
        h->typing_head = m->tnext;
    if (m->tnext)
        m->tnext->tprev = m->tprev;
    else
        h->typing_tail = m->tprev;
    m->tprev = m->tnext = NULL;
    m->typing = 0;
}

static void typing_append(sb_hub *h, sb_member *m, double until)
{
    typing_unlink(h, m);
    m->typing = 1;
    m->typing_until = until;
    m->tprev = h->typing_tail;
    m->tnext = NULL;
    if (h->typing_tail)
        h->typing_tail->tnext = m;
    else
        h->typing_head = m;
    h->typing_tail = m;
}

static void idle_unlink(sb_hub *h, sb_channel *ch)
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

/* History size and ttl for a channel name: the longest matching rule
 * (an exact name beats any pattern), else the hub's defaults. */
static void history_policy(sb_hub *h, const char *name, size_t len,
                           size_t *cap, double *ttl)
{
    size_t i, best = 0;
    int found = 0;

    *cap = h->cfg.history;
    *ttl = h->cfg.history_ttl;
    for (i = 0; i < h->nrules; i++) {
        const struct sb_hist_rule *r = &h->rules[i];
        int star = r->len && r->pattern[r->len - 1] == '*';
        size_t plen = star ? r->len - 1 : r->len, score = star ? plen : plen + 1;
        int match = star ? len >= plen && memcmp(name, r->pattern, plen) == 0
                         : len == plen && memcmp(name, r->pattern, plen) == 0;
        if (match && (!found || score > best)) {
            found = 1;
            best = score;
            *cap = r->count;
            *ttl = r->ttl;
        }
    }
}

int sb_hub_set_history(sb_hub *h, const char *pattern, size_t len,
                       size_t count, double ttl)
{
    struct sb_hist_rule *r;
    size_t i;
    char *p;

    for (i = 0; i < h->nrules; i++) {
        r = &h->rules[i];
        if (r->len == len && memcmp(r->pattern, pattern, len) == 0)
            break;
    }
    if (i == h->nrules) {
        if (!(p = dup_bytes(pattern, len)))
            return SB_ENOMEM;
        r = realloc(h->rules, (h->nrules + 1) * sizeof *r);
        if (!r) {
            free(p);
            return SB_ENOMEM;
        }
        h->rules = r;
        r = &h->rules[h->nrules++];
        r->pattern = p;
        r->len = len;
    }
    r->count = count;
    r->ttl = ttl > 0 ? ttl : 0;
    if (r->ttl > 0)
        h->rules_ttl = 1;
    return SB_OK;
}

/* Drops history entries older than the channel's ttl. */
static void history_expire(sb_hub *h, sb_channel *ch, double now)
{
    size_t cap = ch->hist_cap;

    (void)h;
    if (ch->hist_ttl <= 0)
        return;
    while (ch->ring_len && now - ch->ring[ch->ring_start].t >=
                               ch->hist_ttl) {
        sb_msg_unref(ch->ring[ch->ring_start].m);
        ch->ring[ch->ring_start].m = NULL;
        ch->ring_start = (ch->ring_start + 1) % cap;
        ch->ring_len--;
    }
}

static sb_channel *channel_new(sb_hub *h, const char *name, size_t len)
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
    if (sb_map_put(&h->channels, name, len, ch)) {
        free(ch);
        return NULL;
    }
    ch->epoch = next_epoch(h);
    history_policy(h, name, len, &ch->hist_cap, &ch->hist_ttl);
    ch->anext = h->all;
    if (h->all)
        h->all->aprev = ch;
    h->all = ch;
    return ch;
}

/* Frees the channel and everything in it.  Normally it is empty by now;
 * sb_hub_free also uses it on live channels, detaching their connections. */
static void channel_destroy(sb_channel *ch)
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
    idle_unlink(h, ch);
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
        typing_unlink(h, val);
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
        channel_destroy(v);
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
    if (ch->nconns || ch->idle)
        return;
    if (ch->hist_cap && ch->ring_len)
        idle_push(h, ch);
    else
        channel_destroy(ch);
}

static void channel_release(sb_channel *ch)
{
    ch->holds--;
    channel_settle(ch);
}

void sb_hub_free(sb_hub *h)
{
    if (!h || --h->refs > 0)
        return;
    while (h->all)
        channel_destroy(h->all);
    while (h->nrules)
        free(h->rules[--h->nrules].pattern);
    free(h->rules);
    sb_map_clear(&h->channels);
    free(h);
}

static sb_channel *channel_get(sb_hub *h, const char *ch, size_t chlen)
{
    return sb_map_get(&h->channels, ch, chlen);
}

static sb_sub *sub_get(sb_channel *ch, const sb_conn *c)
{
    return sb_map_get(&ch->by_conn, &c, sizeof c);
}

static sb_member *member_get(sb_channel *ch, const char *m, size_t mlen)
{
    return ch ? sb_map_get(&ch->members, m, mlen) : NULL;
}

/* Adds a member with no connection yet to the channel's map. */
static sb_member *member_new(sb_channel *ch, const char *id, size_t len)
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
    sb_member *m = member_get(chan, member, mlen);

    *fresh = m == NULL;
    if (!m && !(m = member_new(chan, member, mlen)))
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
    chan = channel_get(h, ch, chlen);
    if (chan && (s = sub_get(chan, c)) != NULL)
        return join_again(s, member, mlen);
    if (c->nsubs >= h->cfg.max_channels)
        return SB_ELIMIT;
    if (!chan) {
        if (!(chan = channel_new(h, ch, chlen)))
            return SB_ENOMEM;
        created = 1;
    }
    if (!(m = join_alloc(chan, member, mlen, c, &fresh))) {
        if (created)
            channel_destroy(chan);
        return SB_ENOMEM;
    }
    was_idle = chan->idle;
    idle_unlink(h, chan);
    chan->holds++;
    if (chan->nconns == 1 && h->cluster.channel_active) {
        /* while idle the node did not follow the channel, so what other
         * nodes published meanwhile is missing from its history: a new
         * epoch makes recovery report a gap instead of a silent hole */
        if (was_idle)
            history_reset(h, chan);
        h->cluster.channel_active(h, chan->name, chan->len, 1, h->cluster.ud);
    }
    if (m->conns == 1 && h->cluster.local_presence)
        h->cluster.local_presence(h, chan->name, chan->len, m->id, m->len, 1,
                                  h->cluster.ud);
    fire(h, SB_EV_SESSION_JOIN, chan, m, c, 0);
    if (fresh)
        fire(h, SB_EV_PRESENCE_JOIN, chan, m, c, 0);
    channel_release(chan);
    return fresh;
}

/* Forgets the channel's history and gives it a new epoch (offsets start
 * again at 1). */
static void history_reset(sb_hub *h, sb_channel *chan)
{
    size_t i;

    for (i = 0; i < chan->ring_len; i++) {
        sb_kept *k = &chan->ring[(chan->ring_start + i) % chan->hist_cap];
        sb_msg_unref(k->m);
        k->m = NULL;
    }
    chan->ring_start = chan->ring_len = 0;
    chan->offset = 0;
    chan->epoch = next_epoch(h);
}

int sb_hub_history_break(sb_hub *h, const char *ch, size_t chlen)
{
    sb_channel *chan = channel_get(h, ch, chlen);

    if (!chan)
        return 0;
    history_reset(h, chan);
    return 1;
}

/* With no local connection left the node no longer follows the channel,
 * so the members only other nodes had are forgotten, without events. */
static void drop_remote_members(sb_hub *h, sb_channel *chan)
{
    sb_map_iter it;
    void *val;

    if (!chan->members.count)
        return;
    sb_map_iter_init(&it);
    while (sb_map_next(&chan->members, &it, NULL, NULL, &val)) {
        typing_unlink(h, val);
        free(val);
    }
    sb_map_clear(&chan->members);
    sb_map_init(&chan->members, h->seed);
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
    if (m->conns == 0 && h->cluster.local_presence)
        h->cluster.local_presence(h, chan->name, chan->len, m->id, m->len, 0,
                                  h->cluster.ud);
    if (chan->nconns == 0 && h->cluster.channel_active)
        h->cluster.channel_active(h, chan->name, chan->len, 0, h->cluster.ud);
    gone = m->conns == 0 && m->remote == 0;
    if (gone) {
        sb_map_del(&chan->members, m->id, m->len);
        was_typing = m->typing;
        typing_unlink(h, m);
    }
    if (was_typing)
        fire(h, SB_EV_TYPING, chan, m, c, 0);
    if (gone)
        fire(h, SB_EV_PRESENCE_LEAVE, chan, m, c, 0);
    fire(h, SB_EV_SESSION_LEAVE, chan, m, c, 0);
    if (gone)
        free(m);
    if (chan->nconns == 0)
        drop_remote_members(h, chan);
    channel_release(chan);
    return gone;
}

int sb_hub_leave(sb_hub *h, const char *ch, size_t chlen, sb_conn *c)
{
    sb_channel *chan;
    sb_sub *s;

    if (!sb_hub_valid_channel(ch, chlen))
        return SB_ECHANNEL;
    chan = channel_get(h, ch, chlen);
    s = chan ? sub_get(chan, c) : NULL;
    return s ? sub_leave(h, s) : 0;
}

void sb_hub_disconnect(sb_hub *h, sb_conn *c)
{
    while (c->subs)
        sub_leave(h, c->subs);
}

/* Stamps m and keeps a reference in the channel's ring, dropping the
 * oldest entry when full.  SB_ENOMEM (nothing changed) if the ring could
 * not be allocated. */
static int history_keep(sb_hub *h, sb_channel *ch, sb_msg *m)
{
    size_t cap = ch->hist_cap;
    sb_kept *k;

    if (!ch->ring && !(ch->ring = calloc(cap, sizeof *ch->ring)))
        return SB_ENOMEM;
    if (ch->ring_len == cap) {
        sb_msg_unref(ch->ring[ch->ring_start].m);
        ch->ring_start = (ch->ring_start + 1) % cap;
        ch->ring_len--;
    }
    m->epoch = ch->epoch;
    m->offset = ++ch->offset;
    k = &ch->ring[(ch->ring_start + ch->ring_len) % cap];
    k->m = sb_msg_ref(m);
    k->t = hub_now(h);
    ch->ring_len++;
    return SB_OK;
}

static int excluded(const sb_sub *s, const sb_conn *except, const char *em,
                    size_t emlen)
{
    if (s->conn == except)
        return 1;
    return em && s->member->len == emlen &&
           memcmp(s->member->id, em, emlen) == 0;
}

/* Hands m to every live subscriber present when the walk started.  Dead
 * subs stay linked (graveyard) until the outermost walk ends, so the next
 * pointer of the current node is always valid. */
static int fanout(sb_channel *ch, sb_msg *m, const sb_conn *except,
                  const char *em, size_t emlen)
{
    sb_sub *s;
    int n = 0;

    ch->holds++;
    ch->fanouts++;
    for (s = ch->subs; s; s = s->cnext) {
        if (s->dead || excluded(s, except, em, emlen))
            continue;
        n++;
        if (s->conn->deliver)
            s->conn->deliver(s->conn, m, s->conn->ud);
    }
    ch->fanouts--;
    channel_release(ch);
    return n;
}

static int publish_local(sb_hub *h, sb_msg *m, const sb_conn *except,
                         const char *except_member, size_t emlen)
{
    sb_channel *ch;
    int created = 0;
    size_t cap;
    double ttl;

    ch = channel_get(h, m->channel, m->channel_len);
    if (!ch) {
        history_policy(h, m->channel, m->channel_len, &cap, &ttl);
        if (!cap)
            return 0;
    }
    if (!ch) {
        if (!(ch = channel_new(h, m->channel, m->channel_len)))
            return SB_ENOMEM;
        created = 1;
    }
    if (ch->hist_cap) {
        if (history_keep(h, ch, m)) {
            if (created)
                channel_destroy(ch);
            return SB_ENOMEM;
        }
    } else {
        m->epoch = ch->epoch;
        m->offset = ++ch->offset;
    }
    return fanout(ch, m, except, except_member, emlen);
}

int sb_hub_publish(sb_hub *h, sb_msg *m, const sb_conn *except,
                   const char *except_member, size_t emlen)
{
    if (!sb_hub_valid_channel(m->channel, m->channel_len))
        return SB_ECHANNEL;
    if (h->cluster.published)
        h->cluster.published(h, m, except_member, emlen, h->cluster.ud);
    return publish_local(h, m, except, except_member, emlen);
}

int sb_hub_publish_remote(sb_hub *h, sb_msg *m, const char *except_member,
                          size_t emlen)
{
    if (!sb_hub_valid_channel(m->channel, m->channel_len))
        return SB_ECHANNEL;
    return publish_local(h, m, NULL, except_member, emlen);
}

void sb_hub_set_cluster_hooks(sb_hub *h, const sb_hub_cluster_hooks *hooks)
{
    if (hooks)
        h->cluster = *hooks;
    else
        memset(&h->cluster, 0, sizeof h->cluster);
}

/* The channel a remote presence change applies to: it must have a local
 * connection, since only then does this node follow it. */
static sb_channel *followed(sb_hub *h, const char *ch, size_t chlen,
                            const char *member, size_t mlen, int *rc)
{
    sb_channel *chan;

    *rc = SB_OK;
    if (!sb_hub_valid_channel(ch, chlen))
        *rc = SB_ECHANNEL;
    else if (!sb_hub_valid_member(member, mlen))
        *rc = SB_EMEMBER;
    else if (!(chan = channel_get(h, ch, chlen)) || !chan->nconns)
        *rc = SB_ENOTFOUND;
    else
        return chan;
    return NULL;
}

int sb_hub_remote_join(sb_hub *h, const char *ch, size_t chlen,
                       const char *member, size_t mlen)
{
    int rc, fresh;
    sb_channel *chan = followed(h, ch, chlen, member, mlen, &rc);
    sb_member *m;

    if (!chan)
        return rc;
    m = member_get(chan, member, mlen);
    fresh = m == NULL;
    if (!m && !(m = member_new(chan, member, mlen)))
        return SB_ENOMEM;
    m->remote++;
    if (fresh) {
        chan->holds++;
        fire(h, SB_EV_PRESENCE_JOIN, chan, m, NULL, 0);
        channel_release(chan);
    }
    return fresh;
}

int sb_hub_remote_leave(sb_hub *h, const char *ch, size_t chlen,
                        const char *member, size_t mlen)
{
    int rc, was_typing;
    sb_channel *chan = followed(h, ch, chlen, member, mlen, &rc);
    sb_member *m;

    if (!chan)
        return rc;
    m = member_get(chan, member, mlen);
    if (!m || m->remote == 0)
        return 0;
    if (--m->remote || m->conns)
        return 0;
    sb_map_del(&chan->members, m->id, m->len);
    was_typing = m->typing;
    typing_unlink(h, m);
    chan->holds++;
    if (was_typing)
        fire(h, SB_EV_TYPING, chan, m, NULL, 0);
    fire(h, SB_EV_PRESENCE_LEAVE, chan, m, NULL, 0);
    free(m);
    channel_release(chan);
    return 1;
}

int sb_hub_is_present(sb_hub *h, const char *ch, size_t chlen,
                      const char *member, size_t mlen)
{
    return member_get(channel_get(h, ch, chlen), member, mlen) != NULL;
}

size_t sb_hub_member_count(sb_hub *h, const char *ch, size_t chlen)
{
    sb_channel *chan = channel_get(h, ch, chlen);
    return chan ? chan->members.count : 0;
}

size_t sb_hub_connection_count(sb_hub *h, const char *ch, size_t chlen)
{
    sb_channel *chan = channel_get(h, ch, chlen);
    return chan ? chan->nconns : 0;
}

const char *sb_hub_member_of(sb_hub *h, const char *ch, size_t chlen,
                             const sb_conn *c, size_t *mlen)
{
    sb_channel *chan = channel_get(h, ch, chlen);
    sb_sub *s = chan ? sub_get(chan, c) : NULL;

    if (!s)
        return NULL;
    if (mlen)
        *mlen = s->member->len;
    return s->member->id;
}

/* The each_* iterators call fn for every item in unspecified order; fn must
 * not change the hub (collect first, act afterwards). */
void sb_hub_each_member(sb_hub *h, const char *ch, size_t chlen,
                        sb_member_fn fn, void *ud)
{
    sb_channel *chan = channel_get(h, ch, chlen);
    sb_map_iter it;
    void *val;

    if (!chan)
        return;
    sb_map_iter_init(&it);
    while (sb_map_next(&chan->members, &it, NULL, NULL, &val))
        fn(((sb_member *)val)->id, ((sb_member *)val)->len, ud);
}

void sb_hub_each_connection(sb_hub *h, const char *ch, size_t chlen,
                            sb_conn_fn fn, void *ud)
{
    sb_channel *chan = channel_get(h, ch, chlen);
    sb_sub *s;

    for (s = chan ? chan->subs : NULL; s; s = s->cnext)
        if (!s->dead)
            fn(s->conn, s->member->id, s->member->len, ud);
}

void sb_hub_each_typing(sb_hub *h, const char *ch, size_t chlen,
                        sb_member_fn fn, void *ud)
{
    sb_channel *chan = channel_get(h, ch, chlen);
    sb_map_iter it;
    void *val;

    if (!chan)
        return;
    sb_map_iter_init(&it);
    while (sb_map_next(&chan->members, &it, NULL, NULL, &val))
        if (((sb_member *)val)->typing)
            fn(((sb_member *)val)->id, ((sb_member *)val)->len, ud);
}

void sb_hub_each_channel(sb_hub *h, sb_channel_fn fn, void *ud)
{
    sb_channel *ch;

    for (ch = h->all; ch; ch = ch->anext)
        if (ch->nconns)
            fn(ch->name, ch->len, ch->members.count, ch->nconns, ud);
}

void sb_hub_each_channel_of(sb_hub *h, const sb_conn *c, sb_channel_fn fn,
                            void *ud)
{
    sb_sub *s;

    (void)h;
    for (s = c->subs; s; s = s->onext)
        fn(s->ch->name, s->ch->len, s->ch->members.count, s->ch->nconns, ud);
}

int sb_hub_set_typing(sb_hub *h, const char *ch, size_t chlen,
                      const char *member, size_t mlen, int typing)
{
    sb_channel *chan;
    sb_member *m;
    int changed;

    if (!sb_hub_valid_channel(ch, chlen))
        return SB_ECHANNEL;
    if (!sb_hub_valid_member(member, mlen))
        return SB_EMEMBER;
    chan = channel_get(h, ch, chlen);
    m = member_get(chan, member, mlen);
    if (!m)
        return SB_ENOTFOUND;
    typing = typing != 0;
    changed = m->typing != typing;
    if (typing)
        typing_append(h, m, hub_now(h) + h->cfg.typing_ttl);
    else
        typing_unlink(h, m);
    if (changed) {
        chan->holds++;
        fire(h, SB_EV_TYPING, chan, m, NULL, typing);
        channel_release(chan);
    }
    return changed;
}

/* Expires due typing flags (firing SB_EV_TYPING) and, when history_ttl is
 * set, old history, freeing idle channels whose history is gone.  The
 * history sweep visits every channel: fine for a timer every few seconds. */
double sb_hub_tick(sb_hub *h)
{
    double now = hub_now(h), next = -1, due;
    sb_member *m;
    sb_channel *ch, *nx;

    while ((m = h->typing_head) && m->typing_until <= now) {
        sb_channel *chan = m->ch;
        typing_unlink(h, m);
        chan->holds++;
        fire(h, SB_EV_TYPING, chan, m, NULL, 0);
        channel_release(chan);
    }
    if (h->typing_head)
        next = h->typing_head->typing_until - now;
    if (h->cfg.history_ttl <= 0 && !h->rules_ttl)
        return next;
    for (ch = h->all; ch; ch = nx) {
        nx = ch->anext;
        history_expire(h, ch, now);
        if (ch->ring_len) {
            /* channels without a ttl keep their history until evicted */
            due = ch->ring[ch->ring_start].t + ch->hist_ttl - now;
            if (ch->hist_ttl > 0 && (next < 0 || due < next))
                next = due;
        } else if (ch->idle && !ch->holds) {
            channel_destroy(ch);
        }
    }
    return next;
}

void sb_hub_position(sb_hub *h, const char *ch, size_t chlen,
                     uint64_t *epoch, uint64_t *offset)
{
    sb_channel *chan = channel_get(h, ch, chlen);

    *epoch = chan ? chan->epoch : 0;
    *offset = chan ? chan->offset : 0;
}

/* The requested messages are referenced into an array before fn runs, so
 * fn may publish or leave (changing the ring) without harm. */
int sb_hub_replay(sb_hub *h, const char *ch, size_t chlen, uint64_t epoch,
                  uint64_t after, sb_msg_fn fn, void *ud)
{
    sb_channel *chan = channel_get(h, ch, chlen);
    uint64_t cur = chan ? chan->epoch : 0, last = chan ? chan->offset : 0;
    size_t n, i, skip;
    sb_msg **list;

    if (chan)
        history_expire(h, chan, hub_now(h));
    if (epoch != cur || after > last)
        return SB_EGAP;
    if (after == last)
        return 0;
    n = (size_t)(last - after);
    if (!chan->ring_len || n > chan->ring_len)
        return SB_EGAP;
    if (!(list = malloc(n * sizeof *list)))
        return SB_ENOMEM;
    skip = chan->ring_len - n;
    for (i = 0; i < n; i++)
        list[i] = sb_msg_ref(
            chan->ring[(chan->ring_start + skip + i) % chan->hist_cap].m);
    for (i = 0; i < n; i++) {
        fn(list[i], ud);
        sb_msg_unref(list[i]);
    }
    free(list);
    return (int)n;
}

void sb_hub_get_stats(sb_hub *h, sb_hub_stats *st)
{
    sb_channel *ch;
    sb_member *m;
    sb_sub *s;

    memset(st, 0, sizeof *st);
    for (ch = h->all; ch; ch = ch->anext) {
        st->channels++;
        st->idle_channels += ch->idle != 0;
        st->members += ch->members.count;
        st->kept_messages += ch->ring_len;
        for (s = ch->subs; s; s = s->cnext)
            st->subscriptions++;
    }
    for (m = h->typing_head; m; m = m->tnext)
        st->typing++;
}
