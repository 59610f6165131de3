/* Scale-out through Redis: see cluster.h.
 *
 * Wire format.  Every Redis pub/sub payload is a list of netstrings
 * ("<len>:<bytes>,"), binary-safe and cheap to parse; the first three are
 * always "sb1", a kind letter and the origin node, the fourth the origin's
 * sequence number (one counter per node, across all its messages):
 *   m  message   flags, date_ms, event, payload, from, alias, except_member
 *                (flags: 1 binary, 2 has from, 4 has alias, 8 has except)
 *   p  presence  "+" or "-", member        (member present/absent on node)
 *   s  sync      member, member, ...       (node's full member list there)
 *   h  heartbeat ttl_ms, instance          (on sb:nodes; instance is a
 *                                          random number per process)
 *   b  goodbye                             (on sb:nodes)
 * m, p and s travel on sb:ch:<channel>.  Keys: hash sb:pres:<channel> with
 * fields "<node>|<member>" = sequence, and sb:node:<node> with a TTL.
 *
 * Remote presence is kept per followed channel as a set of "<node>|<member>"
 * keys; every change of that set is mirrored into the hub with
 * sb_hub_remote_join/leave, which decides on presence events.  Hub calls
 * run Lua listeners that may join or leave (changing these maps), so batch
 * changes are computed into a list first and applied one by one, each
 * looking its channel up again. */
#include "cluster.h"
#include "buf.h"
#include "map.h"
#include "redis.h"

#include <hiredis/hiredis.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CH_PREFIX "sb:ch:"
#define PRES_PREFIX "sb:pres:"
#define NODE_PREFIX "sb:node:"
#define NODES_CHANNEL "sb:nodes"
#define KEY_MAX (SB_NODE_MAX + 1 + SB_MEMBER_MAX)
#define FIELDS_MAX 12

enum { TAG_PUBLISH = 1, TAG_SNAPSHOT, TAG_OTHER };

/* States of a remote key.  While a snapshot is pending, deltas leave
 * "touched" marks so the snapshot (possibly read before them) does not
 * undo them. */
#define REMOTE_PRESENT ((void *)1)
#define REMOTE_TOUCHED ((void *)2)
#define REMOTE_TOMB ((void *)3)

/* Returns the channel name: the followed channels' remote member sets. */
static const char SNAPSHOT_SCRIPT[] =
    "local out = {ARGV[1]}\n"
    "local all = redis.call('HGETALL', KEYS[1])\n"
    "for i = 1, #all, 2 do\n"
    "  local node = string.match(all[i], '^([^|]*)|')\n"
    "  if node and redis.call('EXISTS', ARGV[2] .. node) == 1 then\n"
    "    out[#out + 1] = all[i]\n"
    "  else\n"
    "    redis.call('HDEL', KEYS[1], all[i])\n"
    "  end\n"
    "end\n"
    "return out\n";

/* Replaces this node's fields in a presence hash (after an outage). */
static const char SYNC_SCRIPT[] =
    "local p = ARGV[1] .. '|'\n"
    "for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do\n"
    "  if string.sub(f, 1, #p) == p then redis.call('HDEL', KEYS[1], f) end\n"
    "end\n"
    "for i = 3, #ARGV do redis.call('HSET', KEYS[1], p .. ARGV[i], ARGV[2]) end\n"
    "return 0\n";

typedef struct cl_channel {
    sb_map remote;          /* "<node>|<member>" -> REMOTE_* */
    int active;             /* has local connections */
    int subscribed;         /* SUBSCRIBE sent on the current link */
    int unsubscribing;      /* UNSUBSCRIBE sent, confirmation pending */
    int snapshot;           /* snapshot requested, reply pending */
    size_t len;
    char name[];
} cl_channel;

/* A dead node is remembered for a while, so that a snapshot read before
 * its death (Redis still held its entries) cannot bring its members back;
 * only a heartbeat revives it. */
typedef struct cl_node {
    double last_seen;       /* loop clock, seconds */
    double ttl;
    int dead;
} cl_node;

struct sb_cluster {
    sb_hub *hub;
    uv_loop_t *loop;
    sb_redis *r;
    uv_timer_t tick;
    sb_map channels;        /* name -> cl_channel* */
    sb_map nodes;           /* other node name -> cl_node* */
    double ttl;
    double next_beat;
    double down_since;      /* < 0 while up */
    uint64_t lost_at_down;
    uint64_t seq;
    int closing;
    int ever_up;
    int twin_logged;        /* another process uses our node name */
    uint64_t instance;
    sb_cluster_stats st;
    void (*log)(const char *line, void *ud);
    void *log_ud;
    char url[300];
    size_t node_len;
    char node[SB_NODE_MAX + 1];
};

/* A list of owned byte strings, for changes computed before applying. */
typedef struct strlist {
    char **s;
    size_t *len;
    size_t n, cap;
    int oom;
} strlist;

static void strlist_add(strlist *l, const char *p, size_t n)
{
    char *copy;

    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **s = realloc(l->s, cap * sizeof *s);
        size_t *len;
        if (!s) {
            l->oom = 1;
            return;
        }
        l->s = s;
        len = realloc(l->len, cap * sizeof *len);
        if (!len) {
            l->oom = 1;
            return;
        }
        l->len = len;
        l->cap = cap;
    }
    if (!(copy = malloc(n + 1))) {
        l->oom = 1;
        return;
    }
    memcpy(copy, p, n);
    copy[n] = '\0';
    l->s[l->n] = copy;
    l->len[l->n++] = n;
}

static void strlist_free(strlist *l)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        free(l->s[i]);
    free(l->s);
    free(l->len);
    memset(l, 0, sizeof *l);
}

static double now_s(sb_cluster *cl)
{
    return (double)uv_now(cl->loop) / 1000.0;
}

static void logf_line(sb_cluster *cl, const char *line)
{
    if (cl->log)
        cl->log(line, cl->log_ud);
    else
        fprintf(stderr, "%s\n", line);
}

int sb_cluster_valid_node(const char *node, size_t n)
{
    size_t i;

    if (!node || n == 0 || n > SB_NODE_MAX)
        return 0;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)node[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '.' || c == ':' ||
              c == '-'))
            return 0;
    }
    return 1;
}

/* Netstring helpers. */
static void ns_add(sb_buf *b, const char *p, size_t n)
{
    sb_buf_add_u64(b, n);
    sb_buf_addc(b, ':');
    if (n)
        sb_buf_add(b, p, n);
    sb_buf_addc(b, ',');
}

static void ns_adds(sb_buf *b, const char *s)
{
    ns_add(b, s, strlen(s));
}

static void ns_add_u64(sb_buf *b, uint64_t v)
{
    char tmp[24];
    snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
    ns_adds(b, tmp);
}

/* The common head: sb1, kind, node, sequence. */
static void wire_head(sb_cluster *cl, sb_buf *b, const char *kind)
{
    ns_adds(b, "sb1");
    ns_adds(b, kind);
    ns_add(b, cl->node, cl->node_len);
    ns_add_u64(b, ++cl->seq);
}

typedef struct field {
    const char *p;
    size_t n;
} field;

/* The next netstring of p[0..n) at *pos: 1 and *out, 0 at the end, -1
 * when malformed. */
static int wire_next(const char *p, size_t n, size_t *pos, field *out)
{
    size_t i = *pos, len = 0;

    if (i >= n)
        return 0;
    if (p[i] < '0' || p[i] > '9')
        return -1;
    while (i < n && p[i] >= '0' && p[i] <= '9') {
        len = len * 10 + (size_t)(p[i++] - '0');
        if (len > n)
            return -1;
    }
    if (i >= n || p[i] != ':' || n - i - 1 < len + 1 || p[i + 1 + len] != ',')
        return -1;
    out->p = p + i + 1;
    out->n = len;
    *pos = i + len + 2;
    return 1;
}

/* Splits into at most max netstrings; returns the count or -1. */
static int wire_split(const char *p, size_t n, field *f, int max)
{
    size_t pos = 0;
    int count = 0, rc;

    while ((rc = wire_next(p, n, &pos, &f[count])) == 1)
        if (++count == max && pos < n)
            return -1;
    return rc < 0 ? -1 : count;
}

static uint64_t field_u64(const field *f)
{
    uint64_t v = 0;
    size_t i;

    for (i = 0; i < f->n && f->p[i] >= '0' && f->p[i] <= '9'; i++)
        v = v * 10 + (uint64_t)(f->p[i] - '0');
    return v;
}

static int field_is(const field *f, const char *s)
{
    return f->n == strlen(s) && memcmp(f->p, s, f->n) == 0;
}

/* "<prefix><name>" into buf; returns its length or 0 if it does not fit. */
static size_t make_key(char *buf, size_t cap, const char *prefix,
                       const char *name, size_t n)
{
    size_t pl = strlen(prefix);

    if (pl + n + 1 > cap)
        return 0;
    memcpy(buf, prefix, pl);
    memcpy(buf + pl, name, n);
    buf[pl + n] = '\0';
    return pl + n;
}

static int send_argv(sb_cluster *cl, int tag, int argc, const char **argv,
                     const size_t *lens)
{
    return sb_redis_command(cl->r, tag, argc, argv, lens);
}

/* PUBLISH payload on sb:ch:<channel> (or on sb:nodes when ch is NULL). */
static int publish_raw(sb_cluster *cl, int tag, const char *ch, size_t chlen,
                       sb_buf *payload)
{
    char key[sizeof CH_PREFIX + SB_CHANNEL_MAX];
    const char *argv[3];
    size_t lens[3];

    if (payload->oom)
        return -1;
    argv[0] = "PUBLISH";
    lens[0] = 7;
    if (ch) {
        lens[1] = make_key(key, sizeof key, CH_PREFIX, ch, chlen);
        argv[1] = key;
    } else {
        argv[1] = NODES_CHANNEL;
        lens[1] = strlen(NODES_CHANNEL);
    }
    argv[2] = (const char *)sb_buf_data(payload);
    lens[2] = payload->len;
    return send_argv(cl, tag, 3, argv, lens);
}

/* Node table.  Marks the node alive now; returns NULL if it is dead
 * (unless a heartbeat revives it) or memory ran out. */
static cl_node *node_touch(sb_cluster *cl, const char *name, size_t n,
                           double ttl, int revive)
{
    cl_node *nd = sb_map_get(&cl->nodes, name, n);

    if (nd && nd->dead && !revive)
        return NULL;
    if (nd && nd->dead)
        nd->dead = 0;

    if (!nd) {
        if (!(nd = calloc(1, sizeof *nd)))
            return NULL;
        if (sb_map_put(&cl->nodes, name, n, nd)) {
            free(nd);
            return NULL;
        }
        nd->ttl = cl->ttl;
    }
    nd->last_seen = now_s(cl);
    if (ttl > 0)
        nd->ttl = ttl;
    return nd;
}

/* Applies one remote presence change for key "<node>|<member>" in a
 * channel, looking the channel up afresh.  With mark, a pending snapshot
 * is told not to override it.  The hub call (and so Lua) comes last. */
static void remote_set(sb_cluster *cl, const char *ch, size_t chlen,
                       const char *key, size_t klen, int present, int mark)
{
    cl_channel *cc = sb_map_get(&cl->channels, ch, chlen);
    const char *bar;
    void *cur;
    int was;

    if (!cc || !cc->active || !(bar = memchr(key, '|', klen)))
        return;
    cur = sb_map_get(&cc->remote, key, klen);
    was = cur == REMOTE_PRESENT || cur == REMOTE_TOUCHED;
    if (present) {
        if (!node_touch(cl, key, (size_t)(bar - key), 0, 0) ||
            sb_map_put(&cc->remote, key, klen,
                       mark && cc->snapshot ? REMOTE_TOUCHED : REMOTE_PRESENT))
            return;
        if (!was)
            sb_hub_remote_join(cl->hub, ch, chlen, bar + 1,
                               klen - (size_t)(bar - key) - 1);
    } else {
        if (mark && cc->snapshot) {
            if (sb_map_put(&cc->remote, key, klen, REMOTE_TOMB))
                sb_map_del(&cc->remote, key, klen);
        } else {
            sb_map_del(&cc->remote, key, klen);
        }
        if (was)
            sb_hub_remote_leave(cl->hub, ch, chlen, bar + 1,
                                klen - (size_t)(bar - key) - 1);
    }
}

/* Applies a list of (channel, key) pairs, stored alternately. */
static void apply_pairs(sb_cluster *cl, strlist *l, int present)
{
    size_t i;

    for (i = 0; i + 1 < l->n; i += 2)
        remote_set(cl, l->s[i], l->len[i], l->s[i + 1], l->len[i + 1],
                   present, 0);
}

static int has_prefix(const char *k, size_t klen, const char *p, size_t n)
{
    return klen > n && memcmp(k, p, n) == 0 && k[n] == '|';
}

/* A node died (TTL) or said goodbye: its members leave every channel. */
static void node_gone(sb_cluster *cl, const char *name, size_t n)
{
    strlist l;
    sb_map_iter ci, ki;
    const void *chname, *key;
    size_t chlen, klen;
    void *val, *st;
    cl_channel *cc;
    char copy[SB_NODE_MAX + 1];

    cl_node *nd;

    if (n > SB_NODE_MAX)
        return;
    memcpy(copy, name, n);
    nd = sb_map_get(&cl->nodes, copy, n);
    if (nd && nd->dead)
        return;
    if (!nd && !(nd = node_touch(cl, copy, n, 0, 0)))
        return;
    nd->dead = 1;
    nd->last_seen = now_s(cl);
    cl->st.dead_nodes++;
    memset(&l, 0, sizeof l);
    sb_map_iter_init(&ci);
    while (sb_map_next(&cl->channels, &ci, &chname, &chlen, &val)) {
        cc = val;
        sb_map_iter_init(&ki);
        while (sb_map_next(&cc->remote, &ki, &key, &klen, &st)) {
            if (has_prefix(key, klen, copy, n)) {
                strlist_add(&l, chname, chlen);
                strlist_add(&l, key, klen);
            }
        }
    }
    apply_pairs(cl, &l, 0);
    strlist_free(&l);
}

/* Ends a snapshot window: "touched" keys become plain present ones and
 * tombstones go, so the next snapshot judges every key afresh. */
static void settle_marks(cl_channel *cc)
{
    strlist fix;
    sb_map_iter it;
    const void *key;
    size_t klen, i;
    void *val;

    memset(&fix, 0, sizeof fix);
    sb_map_iter_init(&it);
    while (sb_map_next(&cc->remote, &it, &key, &klen, &val))
        if (val != REMOTE_PRESENT)
            strlist_add(&fix, key, klen);
    for (i = 0; i < fix.n; i++) {
        if (sb_map_get(&cc->remote, fix.s[i], fix.len[i]) == REMOTE_TOMB)
            sb_map_del(&cc->remote, fix.s[i], fix.len[i]);
        else
            sb_map_put(&cc->remote, fix.s[i], fix.len[i], REMOTE_PRESENT);
    }
    strlist_free(&fix);
}

/* Channel following. */
static void request_snapshot(sb_cluster *cl, cl_channel *cc)
{
    char key[sizeof PRES_PREFIX + SB_CHANNEL_MAX];
    const char *argv[6];
    size_t lens[6];

    argv[0] = "EVAL";
    argv[1] = SNAPSHOT_SCRIPT;
    argv[2] = "1";
    argv[3] = key;
    argv[4] = cc->name;
    argv[5] = NODE_PREFIX;
    lens[0] = 4;
    lens[1] = sizeof SNAPSHOT_SCRIPT - 1;
    lens[2] = 1;
    lens[3] = make_key(key, sizeof key, PRES_PREFIX, cc->name, cc->len);
    lens[4] = cc->len;
    lens[5] = strlen(NODE_PREFIX);
    if (send_argv(cl, TAG_SNAPSHOT, 6, argv, lens) == 0)
        cc->snapshot = 1;
}

static void follow(sb_cluster *cl, cl_channel *cc)
{
    char key[sizeof CH_PREFIX + SB_CHANNEL_MAX];
    size_t n = make_key(key, sizeof key, CH_PREFIX, cc->name, cc->len);

    if (cc->subscribed || cc->unsubscribing || !sb_redis_is_up(cl->r))
        return;
    /* the snapshot waits for the confirmation (on_subscribed): read
     * earlier, it could miss a member whose delta also came too early */
    if (sb_redis_subscribe(cl->r, key, n) == 0)
        cc->subscribed = 1;
}

static void channel_free(cl_channel *cc)
{
    sb_map_clear(&cc->remote);
    free(cc);
}

static void forget_channel(sb_cluster *cl, cl_channel *cc)
{
    sb_map_del(&cl->channels, cc->name, cc->len);
    channel_free(cc);
}

/* Collects the local members of a channel (hub iteration may not change
 * the hub, so this only copies). */
typedef struct member_acc {
    sb_map seen;
    strlist list;
} member_acc;

static void collect_member(sb_conn *c, const char *m, size_t mlen, void *ud)
{
    member_acc *a = ud;

    (void)c;
    if (sb_map_get(&a->seen, m, mlen))
        return;
    if (sb_map_put(&a->seen, m, mlen, a))
        a->list.oom = 1;
    else
        strlist_add(&a->list, m, mlen);
}

/* After (re)connecting: this node's members of the channel replace what
 * Redis had for it (EVAL of SYNC_SCRIPT), and an "s" message tells the
 * followers the same. */
static void announce_channel(sb_cluster *cl, cl_channel *cc, int leaving)
{
    member_acc a;
    sb_buf b;
    const char **argv;
    size_t *lens, i, argc;
    char key[sizeof PRES_PREFIX + SB_CHANNEL_MAX], seq[24];

    memset(&a, 0, sizeof a);
    sb_map_init(&a.seen, (uint64_t)(uintptr_t)cl);
    if (!leaving)
        sb_hub_each_connection(cl->hub, cc->name, cc->len, collect_member, &a);
    argc = 6 + a.list.n;
    argv = malloc(argc * sizeof *argv);
    lens = malloc(argc * sizeof *lens);
    sb_buf_init(&b, 0);
    wire_head(cl, &b, "s");
    if (argv && lens && !a.list.oom) {
        snprintf(seq, sizeof seq, "%llu", (unsigned long long)cl->seq);
        argv[0] = "EVAL";
        lens[0] = 4;
        argv[1] = SYNC_SCRIPT;
        lens[1] = sizeof SYNC_SCRIPT - 1;
        argv[2] = "1";
        lens[2] = 1;
        argv[3] = key;
        lens[3] = make_key(key, sizeof key, PRES_PREFIX, cc->name, cc->len);
        argv[4] = cl->node;
        lens[4] = cl->node_len;
        argv[5] = seq;
        lens[5] = strlen(seq);
        for (i = 0; i < a.list.n; i++) {
            argv[6 + i] = a.list.s[i];
            lens[6 + i] = a.list.len[i];
            ns_add(&b, a.list.s[i], a.list.len[i]);
        }
        send_argv(cl, TAG_OTHER, (int)argc, argv, lens);
        if (!leaving)
            publish_raw(cl, TAG_OTHER, cc->name, cc->len, &b);
    }
    free(argv);
    free(lens);
    sb_buf_free(&b);
    strlist_free(&a.list);
    sb_map_clear(&a.seen);
}

static void heartbeat(sb_cluster *cl)
{
    char key[sizeof NODE_PREFIX + SB_NODE_MAX], ms[24];
    const char *argv[5];
    size_t lens[5];
    sb_buf b;

    snprintf(ms, sizeof ms, "%llu", (unsigned long long)(cl->ttl * 1000));
    argv[0] = "SET";
    lens[0] = 3;
    argv[1] = key;
    lens[1] = make_key(key, sizeof key, NODE_PREFIX, cl->node, cl->node_len);
    argv[2] = "1";
    lens[2] = 1;
    argv[3] = "PX";
    lens[3] = 2;
    argv[4] = ms;
    lens[4] = strlen(ms);
    send_argv(cl, TAG_OTHER, 5, argv, lens);
    sb_buf_init(&b, 0);
    wire_head(cl, &b, "h");
    ns_adds(&b, ms);
    ns_add_u64(&b, cl->instance);
    publish_raw(cl, TAG_OTHER, NULL, 0, &b);
    sb_buf_free(&b);
}

/* Redis link hooks. */
static void on_up(sb_redis *r, void *ud)
{
    sb_cluster *cl = ud;
    sb_map_iter it;
    void *val;
    char line[1024];
    double t = now_s(cl);
    strlist names;
    size_t i;
    int outage = cl->down_since >= 0;

    (void)r;
    if (cl->down_since >= 0 && cl->ever_up) {
        snprintf(line, sizeof line,
                 "switchboard(redis): node %s reconnected to %s after %.1f s; "
                 "%llu local message(s) were not sent to other nodes and "
                 "messages other nodes published meanwhile were not received "
                 "here; presence re-announced",
                 cl->node, cl->url, t - cl->down_since,
                 (unsigned long long)(cl->st.lost - cl->lost_at_down));
        logf_line(cl, line);
    }
    cl->ever_up = 1;
    cl->down_since = -1;
    cl->st.connected = 1;
    /* other nodes could not be heard while down: give them a fresh TTL */
    sb_map_iter_init(&it);
    while (sb_map_next(&cl->nodes, &it, NULL, NULL, &val))
        if (!((cl_node *)val)->dead)
            ((cl_node *)val)->last_seen = t;
    heartbeat(cl);
    cl->next_beat = t + cl->ttl / 4;
    sb_redis_subscribe(cl->r, NODES_CHANNEL, strlen(NODES_CHANNEL));
    memset(&names, 0, sizeof names);
    sb_map_iter_init(&it);
    while (sb_map_next(&cl->channels, &it, NULL, NULL, &val))
        strlist_add(&names, ((cl_channel *)val)->name, ((cl_channel *)val)->len);
    for (i = 0; i < names.n; i++) {
        cl_channel *cc = sb_map_get(&cl->channels, names.s[i], names.len[i]);
        if (!cc)
            continue;
        /* a snapshot lost with the old link must not leave its marks:
         * they would shield stale keys from the next snapshot */
        settle_marks(cc);
        cc->subscribed = cc->unsubscribing = cc->snapshot = 0;
        if (!cc->active) {
            forget_channel(cl, cc);
            continue;
        }
        follow(cl, cc);
        announce_channel(cl, cc, 0);
        /* messages other nodes published during the outage are missing
         * from this node's history: recovery must see a gap */
        if (outage)
            sb_hub_history_break(cl->hub, cc->name, cc->len);
    }
    strlist_free(&names);
}

static void on_down(sb_redis *r, const char *why, void *ud)
{
    sb_cluster *cl = ud;
    char line[1024];

    (void)r;
    if (cl->down_since >= 0)
        return; /* a failed retry of the same outage */
    cl->down_since = now_s(cl);
    cl->lost_at_down = cl->st.lost;
    cl->st.connected = 0;
    cl->st.outages++;
    snprintf(line, sizeof line,
             "switchboard(redis): node %s %s %s (%s); local fan-out goes on, "
             "cross-node messages are dropped and counted until it returns",
             cl->node, cl->ever_up ? "lost Redis at" : "cannot reach Redis at",
             cl->url, why);
    logf_line(cl, line);
}

/* Applies a snapshot reply: {channel, "<node>|<member>", ...}. */
static void on_snapshot(sb_cluster *cl, redisReply *rep)
{
    cl_channel *cc;
    strlist joins, leaves;
    sb_map snap;
    sb_map_iter it;
    const void *key;
    size_t klen, i;
    void *val;
    redisReply *e;

    if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements < 1 ||
        rep->element[0]->type != REDIS_REPLY_STRING)
        return;
    cc = sb_map_get(&cl->channels, rep->element[0]->str, rep->element[0]->len);
    if (!cc || !cc->active || !cc->snapshot)
        return;
    cc->snapshot = 0;
    memset(&joins, 0, sizeof joins);
    memset(&leaves, 0, sizeof leaves);
    sb_map_init(&snap, (uint64_t)(uintptr_t)cc);
    for (i = 1; i < rep->elements; i++) {
        e = rep->element[i];
        if (e->type != REDIS_REPLY_STRING ||
            has_prefix(e->str, e->len, cl->node, cl->node_len))
            continue;
        sb_map_put(&snap, e->str, e->len, cc);
        if (!sb_map_get(&cc->remote, e->str, e->len)) {
            strlist_add(&joins, cc->name, cc->len);
            strlist_add(&joins, e->str, e->len);
        }
    }
    /* untouched keys the snapshot lacks are gone; marks are done with */
    sb_map_iter_init(&it);
    while (sb_map_next(&cc->remote, &it, &key, &klen, &val)) {
        if (val == REMOTE_PRESENT && !sb_map_get(&snap, key, klen)) {
            strlist_add(&leaves, cc->name, cc->len);
            strlist_add(&leaves, key, klen);
        }
    }
    settle_marks(cc);
    sb_map_clear(&snap);
    apply_pairs(cl, &leaves, 0);
    apply_pairs(cl, &joins, 1);
    strlist_free(&joins);
    strlist_free(&leaves);
}

static void on_reply(sb_redis *r, int tag, redisReply *rep, void *ud)
{
    sb_cluster *cl = ud;

    (void)r;
    if (tag == TAG_SNAPSHOT) {
        on_snapshot(cl, rep);
        return;
    }
    if (tag == TAG_PUBLISH && (!rep || rep->type == REDIS_REPLY_ERROR)) {
        /* it may or may not have reached Redis: count it as lost */
        cl->st.lost++;
        if (cl->st.published)
            cl->st.published--;
    }
}

static void on_unsubscribed(sb_redis *r, const char *ch, size_t chlen,
                            void *ud)
{
    sb_cluster *cl = ud;
    size_t pl = strlen(CH_PREFIX);
    cl_channel *cc;

    (void)r;
    if (chlen <= pl || memcmp(ch, CH_PREFIX, pl) != 0)
        return;
    cc = sb_map_get(&cl->channels, ch + pl, chlen - pl);
    if (!cc || !cc->unsubscribing)
        return;
    cc->unsubscribing = 0;
    if (cc->active)
        follow(cl, cc);
    else
        forget_channel(cl, cc);
}

static void on_subscribed(sb_redis *r, const char *ch, size_t chlen, void *ud)
{
    sb_cluster *cl = ud;
    size_t pl = strlen(CH_PREFIX);
    cl_channel *cc;

    (void)r;
    if (chlen <= pl || memcmp(ch, CH_PREFIX, pl) != 0)
        return;
    cc = sb_map_get(&cl->channels, ch + pl, chlen - pl);
    if (cc && cc->active && cc->subscribed && !cc->unsubscribing)
        request_snapshot(cl, cc);
}

/* An "m" message from another node: into the local fan-out. */
static void deliver_remote(sb_cluster *cl, const char *ch, size_t chlen,
                           const field *f, int n)
{
    unsigned flags;
    sb_msg *m;

    if (n != 11) {
        cl->st.bad_messages++;
        return;
    }
    flags = (unsigned)field_u64(&f[4]);
    m = sb_msg_new(ch, chlen, f[6].p, f[6].n, f[7].p, f[7].n,
                   flags & 2 ? f[8].p : NULL, f[8].n,
                   flags & 4 ? f[9].p : NULL, f[9].n, (int)(flags & 1));
    if (!m)
        return;
    m->date_ms = (int64_t)field_u64(&f[5]);
    cl->st.received++;
    sb_hub_publish_remote(cl->hub, m, flags & 8 ? f[10].p : NULL, f[10].n);
    sb_msg_unref(m);
}

/* An "s" message: the node's full member list in the channel. */
static void sync_remote(sb_cluster *cl, cl_channel *cc, const field *node,
                        const char *data, size_t len, size_t pos)
{
    strlist joins, leaves;
    field mem;
    sb_map listed;
    sb_map_iter it;
    const void *key;
    size_t klen;
    void *val;
    char k[KEY_MAX + 1];
    size_t i;

    memset(&joins, 0, sizeof joins);
    memset(&leaves, 0, sizeof leaves);
    sb_map_init(&listed, (uint64_t)(uintptr_t)cc);
    while (wire_next(data, len, &pos, &mem) == 1) {
        if (node->n + 1 + mem.n > KEY_MAX)
            continue;
        memcpy(k, node->p, node->n);
        k[node->n] = '|';
        memcpy(k + node->n + 1, mem.p, mem.n);
        sb_map_put(&listed, k, node->n + 1 + mem.n, cc);
        strlist_add(&joins, cc->name, cc->len);
        strlist_add(&joins, k, node->n + 1 + mem.n);
    }
    sb_map_iter_init(&it);
    while (sb_map_next(&cc->remote, &it, &key, &klen, &val)) {
        if (has_prefix(key, klen, node->p, node->n) &&
            !sb_map_get(&listed, key, klen)) {
            strlist_add(&leaves, cc->name, cc->len);
            strlist_add(&leaves, key, klen);
        }
    }
    sb_map_clear(&listed);
    for (i = 0; i + 1 < leaves.n; i += 2)
        remote_set(cl, leaves.s[i], leaves.len[i], leaves.s[i + 1],
                   leaves.len[i + 1], 0, 1);
    for (i = 0; i + 1 < joins.n; i += 2)
        remote_set(cl, joins.s[i], joins.len[i], joins.s[i + 1],
                   joins.len[i + 1], 1, 1);
    strlist_free(&joins);
    strlist_free(&leaves);
}

/* A heartbeat.  A node coming back from the dead (a stall longer than
 * its TTL) is asked for nothing: every followed channel is re-read. */
static void node_heard(sb_cluster *cl, const char *name, size_t n, double ttl)
{
    cl_node *nd = sb_map_get(&cl->nodes, name, n);
    int was_dead = nd && nd->dead;
    sb_map_iter it;
    void *val;

    node_touch(cl, name, n, ttl, 1);
    if (!was_dead)
        return;
    sb_map_iter_init(&it);
    while (sb_map_next(&cl->channels, &it, NULL, NULL, &val)) {
        cl_channel *cc = val;
        if (cc->active && cc->subscribed && !cc->unsubscribing && !cc->snapshot)
            request_snapshot(cl, cc);
    }
}

static void on_message(sb_redis *r, const char *ch, size_t chlen,
                       const char *data, size_t len, void *ud)
{
    sb_cluster *cl = ud;
    field f[FIELDS_MAX];
    int n = 0;
    size_t pl = strlen(CH_PREFIX), pos = 0;
    cl_channel *cc;
    char k[KEY_MAX + 1];

    (void)r;
    /* the head first: an "s" message may list any number of members */
    while (n < 4 && wire_next(data, len, &pos, &f[n]) == 1)
        n++;
    if (n == 4 && f[1].n == 1 && f[1].p[0] != 's') {
        n = wire_split(data, len, f, FIELDS_MAX);
    }
    if (n < 4 || !field_is(&f[0], "sb1") || f[1].n != 1 ||
        !sb_cluster_valid_node(f[2].p, f[2].n)) {
        cl->st.bad_messages++;
        return;
    }
    if (f[2].n == cl->node_len && memcmp(f[2].p, cl->node, f[2].n) == 0) {
        /* our own, delivered locally already; but a heartbeat of another
         * instance means two processes share a name and ignore each other */
        if (f[1].p[0] == 'h' && n >= 6 && field_u64(&f[5]) != cl->instance &&
            !cl->twin_logged) {
            char line[256];
            cl->twin_logged = 1;
            snprintf(line, sizeof line,
                     "switchboard(redis): another process also uses node name "
                     "%s: they will not see each other's messages; give every "
                     "node its own name", cl->node);
            logf_line(cl, line);
        }
        return;
    }
    if (chlen == strlen(NODES_CHANNEL) && memcmp(ch, NODES_CHANNEL, chlen) == 0) {
        if (f[1].p[0] == 'h' && n >= 5)
            node_heard(cl, f[2].p, f[2].n, (double)field_u64(&f[4]) / 1000.0);
        else if (f[1].p[0] == 'b')
            node_gone(cl, f[2].p, f[2].n);
        return;
    }
    if (chlen <= pl || memcmp(ch, CH_PREFIX, pl) != 0)
        return;
    ch += pl;
    chlen -= pl;
    cc = sb_map_get(&cl->channels, ch, chlen);
    if (!cc || !cc->active)
        return; /* stopped following it; the unsubscribe is on its way */
    if (!node_touch(cl, f[2].p, f[2].n, 0, 0) && f[1].p[0] != 'm')
        return; /* presence of a node declared dead: wait for a heartbeat */
    switch (f[1].p[0]) {
    case 'm':
        deliver_remote(cl, ch, chlen, f, n);
        break;
    case 'p':
        if (n != 6 || f[2].n + 1 + f[5].n > KEY_MAX) {
            cl->st.bad_messages++;
            break;
        }
        memcpy(k, f[2].p, f[2].n);
        k[f[2].n] = '|';
        memcpy(k + f[2].n + 1, f[5].p, f[5].n);
        remote_set(cl, ch, chlen, k, f[2].n + 1 + f[5].n,
                   field_is(&f[4], "+"), 1);
        break;
    case 's':
        sync_remote(cl, cc, &f[2], data, len, pos);
        break;
    default:
        cl->st.bad_messages++;
    }
}

/* Hub hooks. */
static void on_published(sb_hub *h, const sb_msg *m, const char *em,
                         size_t emlen, void *ud)
{
    sb_cluster *cl = ud;
    sb_buf b;
    unsigned flags;
    char tmp[24];

    (void)h;
    if (!sb_redis_is_up(cl->r)) {
        cl->st.lost++;
        return;
    }
    flags = (m->binary ? 1u : 0u) | (m->from ? 2u : 0u) | (m->alias ? 4u : 0u) |
            (em ? 8u : 0u);
    sb_buf_init(&b, 0);
    wire_head(cl, &b, "m");
    snprintf(tmp, sizeof tmp, "%u", flags);
    ns_adds(&b, tmp);
    snprintf(tmp, sizeof tmp, "%lld", (long long)m->date_ms);
    ns_adds(&b, tmp);
    ns_add(&b, m->event, m->event_len);
    ns_add(&b, m->payload, m->payload_len);
    ns_add(&b, m->from, m->from_len);
    ns_add(&b, m->alias, m->alias_len);
    ns_add(&b, em, em ? emlen : 0);
    if (publish_raw(cl, TAG_PUBLISH, m->channel, m->channel_len, &b) == 0)
        cl->st.published++;
    else
        cl->st.lost++;
    sb_buf_free(&b);
}

static void on_local_presence(sb_hub *h, const char *ch, size_t chlen,
                              const char *member, size_t mlen, int present,
                              void *ud)
{
    sb_cluster *cl = ud;
    char key[sizeof PRES_PREFIX + SB_CHANNEL_MAX], field_[KEY_MAX + 1], seq[24];
    const char *argv[4];
    size_t lens[4];
    sb_buf b;

    (void)h;
    if (!sb_redis_is_up(cl->r) || cl->node_len + 1 + mlen > KEY_MAX) {
        cl->st.presence_deferred++;
        return;
    }
    sb_buf_init(&b, 0);
    wire_head(cl, &b, "p");
    ns_adds(&b, present ? "+" : "-");
    ns_add(&b, member, mlen);
    memcpy(field_, cl->node, cl->node_len);
    field_[cl->node_len] = '|';
    memcpy(field_ + cl->node_len + 1, member, mlen);
    snprintf(seq, sizeof seq, "%llu", (unsigned long long)cl->seq);
    argv[0] = present ? "HSET" : "HDEL";
    lens[0] = 4;
    argv[1] = key;
    lens[1] = make_key(key, sizeof key, PRES_PREFIX, ch, chlen);
    argv[2] = field_;
    lens[2] = cl->node_len + 1 + mlen;
    argv[3] = seq;
    lens[3] = strlen(seq);
    send_argv(cl, TAG_OTHER, present ? 4 : 3, argv, lens);
    publish_raw(cl, TAG_OTHER, ch, chlen, &b);
    sb_buf_free(&b);
}

static void on_channel_active(sb_hub *h, const char *ch, size_t chlen,
                              int active, void *ud)
{
    sb_cluster *cl = ud;
    cl_channel *cc = sb_map_get(&cl->channels, ch, chlen);
    char key[sizeof CH_PREFIX + SB_CHANNEL_MAX];
    size_t n;

    (void)h;
    if (active) {
        if (!cc) {
            if (!(cc = calloc(1, sizeof *cc + chlen + 1)))
                return;
            memcpy(cc->name, ch, chlen);
            cc->len = chlen;
            sb_map_init(&cc->remote, (uint64_t)(uintptr_t)cc);
            if (sb_map_put(&cl->channels, cc->name, chlen, cc)) {
                free(cc);
                return;
            }
        }
        cc->active = 1;
        follow(cl, cc);
        return;
    }
    if (!cc)
        return;
    /* the hub forgets the remote members itself (no events) */
    cc->active = 0;
    cc->snapshot = 0;
    sb_map_clear(&cc->remote);
    sb_map_init(&cc->remote, (uint64_t)(uintptr_t)cc);
    if (cc->unsubscribing)
        return;
    n = make_key(key, sizeof key, CH_PREFIX, ch, chlen);
    if (cc->subscribed && sb_redis_unsubscribe(cl->r, key, n) == 0) {
        cc->subscribed = 0;
        cc->unsubscribing = 1;
        return;
    }
    forget_channel(cl, cc);
}

/* Heartbeats and node expiry, ttl/20 apart.  Expiry waits while the link
 * is down: silence then says nothing about the other nodes. */
static void on_tick(uv_timer_t *t)
{
    sb_cluster *cl = t->data;
    double now = now_s(cl);
    sb_map_iter it;
    const void *name;
    size_t n, i;
    void *val;
    strlist dead;

    if (!sb_redis_is_up(cl->r))
        return;
    if (now >= cl->next_beat) {
        heartbeat(cl);
        cl->next_beat = now + cl->ttl / 4;
    }
    memset(&dead, 0, sizeof dead);
    sb_map_iter_init(&it);
    while (sb_map_next(&cl->nodes, &it, &name, &n, &val)) {
        cl_node *nd = val;
        if (now - nd->last_seen > (nd->dead ? nd->ttl * 3 : nd->ttl * 0.85))
            strlist_add(&dead, name, n);
    }
    for (i = 0; i < dead.n; i++) {
        cl_node *nd = sb_map_get(&cl->nodes, dead.s[i], dead.len[i]);
        if (nd && nd->dead)
            free(sb_map_del(&cl->nodes, dead.s[i], dead.len[i]));
        else
            node_gone(cl, dead.s[i], dead.len[i]);
    }
    strlist_free(&dead);
}

/* The timer's close callback frees the cluster (its data). */
static void on_tick_closed(uv_handle_t *h)
{
    free(h->data);
}

sb_cluster *sb_cluster_new(uv_loop_t *loop, sb_hub *hub,
                           const sb_cluster_config *cfg, char *err,
                           size_t errlen)
{
    sb_cluster *cl;
    sb_redis_hooks rh;
    sb_hub_cluster_hooks hh;
    char host[256];
    int port, db;
    uint64_t every;

    if (!cfg->node || !sb_cluster_valid_node(cfg->node, strlen(cfg->node))) {
        snprintf(err, errlen, "node name must be 1..%d bytes of [A-Za-z0-9_.:-]",
                 SB_NODE_MAX);
        return NULL;
    }
    if (sb_redis_parse_url(cfg->url, host, sizeof host, &port, &db, err, errlen))
        return NULL;
    if (!(cl = calloc(1, sizeof *cl))) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    cl->hub = hub;
    cl->loop = loop;
    cl->ttl = cfg->ttl > 0 ? cfg->ttl : 10;
    cl->down_since = -1;
    /* 53 bits: survives a trip through a Lua 5.1 number if ever exposed */
    cl->instance = (((uint64_t)uv_hrtime() << 20) ^ (uint64_t)(uintptr_t)cl) &
                   ((1ULL << 53) - 1);
    cl->log = cfg->log;
    cl->log_ud = cfg->log_ud;
    snprintf(cl->url, sizeof cl->url, "%s", cfg->url);
    cl->node_len = strlen(cfg->node);
    memcpy(cl->node, cfg->node, cl->node_len + 1);
    sb_map_init(&cl->channels, (uint64_t)(uintptr_t)cl);
    sb_map_init(&cl->nodes, (uint64_t)(uintptr_t)cl ^ 0x9e3779b97f4a7c15ULL);
    memset(&rh, 0, sizeof rh);
    rh.up = on_up;
    rh.down = on_down;
    rh.message = on_message;
    rh.reply = on_reply;
    rh.unsubscribed = on_unsubscribed;
    rh.subscribed = on_subscribed;
    rh.ud = cl;
    uv_timer_init(loop, &cl->tick);
    cl->tick.data = cl;
    every = (uint64_t)(cl->ttl * 1000 / 20);
    uv_timer_start(&cl->tick, on_tick, every ? every : 1, every ? every : 1);
    if (!(cl->r = sb_redis_new(loop, host, port, db, &rh))) {
        snprintf(err, errlen, "out of memory");
        uv_close((uv_handle_t *)&cl->tick, on_tick_closed);
        return NULL;
    }
    memset(&hh, 0, sizeof hh);
    hh.published = on_published;
    hh.local_presence = on_local_presence;
    hh.channel_active = on_channel_active;
    hh.ud = cl;
    sb_hub_set_cluster_hooks(hub, &hh);
    return cl;
}

void sb_cluster_free(sb_cluster *cl)
{
    char key[sizeof NODE_PREFIX + SB_NODE_MAX];
    const char *argv[2];
    size_t lens[2];
    sb_buf b;
    sb_map_iter it;
    void *val;

    if (!cl)
        return;
    sb_hub_set_cluster_hooks(cl->hub, NULL);
    if (sb_redis_is_up(cl->r)) {
        /* this node's entries go from the presence hashes, so nodes that
         * start following a channel later do not even see them */
        sb_map_iter_init(&it);
        while (sb_map_next(&cl->channels, &it, NULL, NULL, &val))
            if (((cl_channel *)val)->active)
                announce_channel(cl, val, 1);
        sb_buf_init(&b, 0);
        wire_head(cl, &b, "b");
        publish_raw(cl, TAG_OTHER, NULL, 0, &b);
        sb_buf_free(&b);
        argv[0] = "DEL";
        lens[0] = 3;
        argv[1] = key;
        lens[1] = make_key(key, sizeof key, NODE_PREFIX, cl->node, cl->node_len);
        send_argv(cl, TAG_OTHER, 2, argv, lens);
    }
    sb_redis_free(cl->r);
    cl->r = NULL;
    sb_map_iter_init(&it);
    while (sb_map_next(&cl->channels, &it, NULL, NULL, &val))
        channel_free(val);
    sb_map_clear(&cl->channels);
    sb_map_iter_init(&it);
    while (sb_map_next(&cl->nodes, &it, NULL, NULL, &val))
        free(val);
    sb_map_clear(&cl->nodes);
    uv_timer_stop(&cl->tick);
    uv_close((uv_handle_t *)&cl->tick, on_tick_closed);
}

void sb_cluster_get_stats(const sb_cluster *cl, sb_cluster_stats *st)
{
    sb_map_iter it;
    void *val;

    *st = cl->st;
    st->connected = sb_redis_is_up(cl->r);
    st->nodes = 0;
    sb_map_iter_init(&it);
    while (sb_map_next(&cl->nodes, &it, NULL, NULL, &val))
        st->nodes += !((cl_node *)val)->dead;
    st->channels = cl->channels.count;
}

const char *sb_cluster_node(const sb_cluster *cl)
{
    return cl->node;
}
