/* Cluster-wide presence and node liveness (see cluster.h).
 *
 * Remote presence is kept per followed channel as a set of "<node>|<member>"
 * keys; every change of that set is mirrored into the hub with
 * sb_hub_remote_join/leave, which decides on presence events.  Hub calls
 * run Lua listeners that may join or leave (changing these maps), so batch
 * changes are computed into a list first and applied one by one, each
 * looking its channel up again. */
#include "cluster_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Node table.  Marks the node alive now; returns NULL if it is dead
 * (unless a heartbeat revives it) or memory ran out. */
cl_node *sb_cl_node_touch(sb_cluster *cl, const char *name, size_t n,
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
    nd->last_seen = sb_cl_now_s(cl);
    if (ttl > 0)
        nd->ttl = ttl;
    return nd;
}

/* Applies one remote presence change for key "<node>|<member>" in a
 * channel, looking the channel up afresh.  With mark, a pending snapshot
 * is told not to override it.  The hub call (and so Lua) comes last. */
void sb_cl_remote_set(sb_cluster *cl, const char *ch, size_t chlen,
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
        if (!sb_cl_node_touch(cl, key, (size_t)(bar - key), 0, 0) ||
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
        sb_cl_remote_set(cl, l->s[i], l->len[i], l->s[i + 1], l->len[i + 1],
                   present, 0);
}

/* Applies a list of keys of one channel, named by a copy: the channel
 * may go while the hub runs Lua. */
static void apply_keys(sb_cluster *cl, const char *ch, size_t chlen,
                       strlist *l, int present, int mark)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        sb_cl_remote_set(cl, ch, chlen, l->s[i], l->len[i], present, mark);
    sb_cl_strlist_free(l);
}

/* 1 when k is "<node>|...": member and meta keys carry the node that
 * holds them, and both kinds are dropped or skipped by node. */
int sb_cl_key_of_node(const char *k, size_t klen, const char *node, size_t n)
{
    return klen > n && memcmp(k, node, n) == 0 && k[n] == '|';
}

size_t sb_cl_node_key(char *buf, size_t cap, const char *node, size_t nlen,
                      const char *name, size_t n)
{
    if (nlen + 1 + n > cap)
        return 0;
    memcpy(buf, node, nlen);
    buf[nlen] = '|';
    memcpy(buf + nlen + 1, name, n);
    return nlen + 1 + n;
}

int sb_cl_foreign_key(const sb_cluster *cl, const redisReply *e)
{
    return e->type == REDIS_REPLY_STRING &&
           !sb_cl_key_of_node(e->str, e->len, cl->node, cl->node_len);
}

void sb_cl_listing_init(cl_listing *l, const cl_channel *cc)
{
    sb_map_init(&l->named, (uint64_t)(uintptr_t)cc);
    l->oom = 0;
}

void sb_cl_listing_add(cl_listing *l, const char *k, size_t klen)
{
    if (sb_map_put(&l->named, k, klen, l))
        l->oom = 1;
}

void sb_cl_listing_gone(cl_listing *l, const sb_map *have, cl_keep_fn keep,
                        const void *ud, strlist *gone)
{
    sb_map_iter it;
    const void *k;
    size_t klen;
    void *val;

    sb_map_iter_init(&it);
    while (!l->oom && sb_map_next(have, &it, &k, &klen, &val))
        if (!sb_map_get(&l->named, k, klen) && !(keep && keep(k, klen, val, ud)))
            sb_cl_strlist_add(gone, k, klen);
    sb_map_clear(&l->named);
}

int sb_cl_keep_other_nodes(const void *k, size_t klen, void *val,
                           const void *ud)
{
    const field *node = ud;

    (void)val;
    return !sb_cl_key_of_node(k, klen, node->p, node->n);
}

/* Keeps what a pending snapshot must not judge: keys touched or removed
 * since it was read. */
static int keep_marked(const void *k, size_t klen, void *val, const void *ud)
{
    (void)k;
    (void)klen;
    (void)ud;
    return val != REMOTE_PRESENT;
}

/* A node died (TTL) or said goodbye: its members leave every channel. */
void sb_cl_node_gone(sb_cluster *cl, const char *name, size_t n)
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
    if (!nd && !(nd = sb_cl_node_touch(cl, copy, n, 0, 0)))
        return;
    nd->dead = 1;
    nd->last_seen = sb_cl_now_s(cl);
    cl->st.dead_nodes++;
    memset(&l, 0, sizeof l);
    sb_map_iter_init(&ci);
    while (sb_map_next(&cl->channels, &ci, &chname, &chlen, &val)) {
        cc = val;
        sb_map_iter_init(&ki);
        while (sb_map_next(&cc->remote, &ki, &key, &klen, &st)) {
            if (sb_cl_key_of_node(key, klen, copy, n)) {
                sb_cl_strlist_add(&l, chname, chlen);
                sb_cl_strlist_add(&l, key, klen);
            }
        }
    }
    apply_pairs(cl, &l, 0);
    sb_cl_strlist_free(&l);
    sb_cl_phx_node_gone(cl, copy, n);
}

/* Ends a snapshot window: "touched" keys become plain present ones and
 * tombstones go, so the next snapshot judges every key afresh. */
void sb_cl_settle_marks(cl_channel *cc)
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
            sb_cl_strlist_add(&fix, key, klen);
    for (i = 0; i < fix.n; i++) {
        if (sb_map_get(&cc->remote, fix.s[i], fix.len[i]) == REMOTE_TOMB)
            sb_map_del(&cc->remote, fix.s[i], fix.len[i]);
        else
            sb_map_put(&cc->remote, fix.s[i], fix.len[i], REMOTE_PRESENT);
    }
    sb_cl_strlist_free(&fix);
}

/* EVALs a snapshot script over the channel's hash "<prefix><channel>"
 * (member sets and Phoenix metas both read this way, skipping dead nodes);
 * returns what sb_cl_send_argv returned (0: sent, reply under tag). */
int sb_cl_send_snapshot(sb_cluster *cl, int tag, const char *script, size_t slen,
                        const char *prefix, cl_channel *cc)
{
    char key[32 + SB_CHANNEL_MAX];
    const char *argv[6];
    size_t lens[6];

    argv[0] = "EVAL";
    argv[1] = script;
    argv[2] = "1";
    argv[3] = key;
    argv[4] = cc->name;
    argv[5] = NODE_PREFIX;
    lens[0] = 4;
    lens[1] = slen;
    lens[2] = 1;
    lens[3] = sb_cl_make_key(key, sizeof key, prefix, cc->name, cc->len);
    lens[4] = cc->len;
    lens[5] = strlen(NODE_PREFIX);
    return sb_cl_send_argv(cl, tag, 6, argv, lens);
}

/* A snapshot reply {channel, ...} (either kind) names its channel first;
 * the channel it is for, or NULL when the reply is malformed or this node
 * no longer follows the channel (the reply is then of no use). */
cl_channel *sb_cl_snapshot_channel(sb_cluster *cl, const redisReply *rep)
{
    cl_channel *cc;

    if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements < 1 ||
        rep->element[0]->type != REDIS_REPLY_STRING)
        return NULL;
    cc = sb_map_get(&cl->channels, rep->element[0]->str, rep->element[0]->len);
    return cc && cc->active ? cc : NULL;
}

/* Asks for the channel's remote member set (SNAPSHOT_SCRIPT); the reply
 * goes to sb_cl_on_snapshot. */
void sb_cl_request_snapshot(sb_cluster *cl, cl_channel *cc)
{
    if (sb_cl_send_snapshot(cl, TAG_SNAPSHOT, SNAPSHOT_SCRIPT, sizeof SNAPSHOT_SCRIPT - 1,
                            PRES_PREFIX, cc) == 0)
        cc->snapshot = 1;
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
        sb_cl_strlist_add(&a->list, m, mlen);
}

/* After (re)connecting: this node's members of the channel replace what
 * Redis had for it (EVAL of SYNC_SCRIPT), and an "s" message tells the
 * followers the same. */
void sb_cl_announce_channel(sb_cluster *cl, cl_channel *cc, int leaving)
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
    sb_cl_wire_head(cl, &b, "s");
    if (argv && lens && !a.list.oom) {
        snprintf(seq, sizeof seq, "%llu", (unsigned long long)cl->seq);
        argv[0] = "EVAL";
        lens[0] = 4;
        argv[1] = SYNC_SCRIPT;
        lens[1] = sizeof SYNC_SCRIPT - 1;
        argv[2] = "1";
        lens[2] = 1;
        argv[3] = key;
        lens[3] = sb_cl_make_key(key, sizeof key, PRES_PREFIX, cc->name, cc->len);
        argv[4] = cl->node;
        lens[4] = cl->node_len;
        argv[5] = seq;
        lens[5] = strlen(seq);
        for (i = 0; i < a.list.n; i++) {
            argv[6 + i] = a.list.s[i];
            lens[6 + i] = a.list.len[i];
            sb_cl_ns_add(&b, a.list.s[i], a.list.len[i]);
        }
        sb_cl_send_argv(cl, TAG_OTHER, (int)argc, argv, lens);
        if (!leaving)
            sb_cl_publish_raw(cl, TAG_OTHER, cc->name, cc->len, &b);
    }
    free(argv);
    free(lens);
    sb_buf_free(&b);
    sb_cl_strlist_free(&a.list);
    sb_map_clear(&a.seen);
}

void sb_cl_heartbeat(sb_cluster *cl)
{
    char key[sizeof NODE_PREFIX + SB_NODE_MAX], ms[24];
    const char *argv[5];
    size_t lens[5];
    sb_buf b;

    snprintf(ms, sizeof ms, "%llu", (unsigned long long)(cl->ttl * 1000));
    argv[0] = "SET";
    lens[0] = 3;
    argv[1] = key;
    lens[1] = sb_cl_make_key(key, sizeof key, NODE_PREFIX, cl->node, cl->node_len);
    argv[2] = "1";
    lens[2] = 1;
    argv[3] = "PX";
    lens[3] = 2;
    argv[4] = ms;
    lens[4] = strlen(ms);
    sb_cl_send_argv(cl, TAG_OTHER, 5, argv, lens);
    sb_buf_init(&b, 0);
    sb_cl_wire_head(cl, &b, "h");
    sb_cl_ns_adds(&b, ms);
    sb_cl_ns_add_u64(&b, cl->instance);
    sb_cl_publish_raw(cl, TAG_OTHER, NULL, 0, &b);
    sb_buf_free(&b);
}

/* Applies a snapshot reply: {channel, "<node>|<member>", ...}. */
void sb_cl_on_snapshot(sb_cluster *cl, redisReply *rep)
{
    cl_channel *cc;
    strlist joins, leaves;
    cl_listing snap;
    char ch[SB_CHANNEL_MAX];
    size_t chlen, i;
    const redisReply *e;

    if (!(cc = sb_cl_snapshot_channel(cl, rep)) || !cc->snapshot)
        return;
    cc->snapshot = 0;
    memset(&joins, 0, sizeof joins);
    memset(&leaves, 0, sizeof leaves);
    sb_cl_listing_init(&snap, cc);
    for (i = 1; i < rep->elements; i++) {
        e = rep->element[i];
        if (!sb_cl_foreign_key(cl, e))
            continue;
        sb_cl_listing_add(&snap, e->str, e->len);
        if (!sb_map_get(&cc->remote, e->str, e->len))
            sb_cl_strlist_add(&joins, e->str, e->len);
    }
    /* untouched keys the snapshot lacks are gone; marks are done with */
    sb_cl_listing_gone(&snap, &cc->remote, keep_marked, NULL, &leaves);
    sb_cl_settle_marks(cc);
    chlen = cc->len;
    memcpy(ch, cc->name, chlen);
    apply_keys(cl, ch, chlen, &leaves, 0, 0);
    apply_keys(cl, ch, chlen, &joins, 1, 0);
}

/* An "s" message: the node's full member list in the channel. */
void sb_cl_sync_remote(sb_cluster *cl, cl_channel *cc, const field *node,
                 const char *data, size_t len, size_t pos)
{
    strlist joins, leaves;
    field mem;
    cl_listing listed;
    char k[KEY_MAX + 1], ch[SB_CHANNEL_MAX];
    size_t klen, chlen = cc->len;

    memset(&joins, 0, sizeof joins);
    memset(&leaves, 0, sizeof leaves);
    sb_cl_listing_init(&listed, cc);
    while (sb_cl_wire_next(data, len, &pos, &mem) == 1) {
        if (!(klen = sb_cl_node_key(k, KEY_MAX, node->p, node->n, mem.p, mem.n)))
            continue;
        sb_cl_listing_add(&listed, k, klen);
        sb_cl_strlist_add(&joins, k, klen);
    }
    sb_cl_listing_gone(&listed, &cc->remote, sb_cl_keep_other_nodes, node,
                       &leaves);
    memcpy(ch, cc->name, chlen);
    apply_keys(cl, ch, chlen, &leaves, 0, 1);
    apply_keys(cl, ch, chlen, &joins, 1, 1);
}

/* A heartbeat.  A node coming back from the dead (a stall longer than
 * its TTL) is asked for nothing: every followed channel is re-read. */
void sb_cl_node_heard(sb_cluster *cl, const char *name, size_t n, double ttl)
{
    cl_node *nd = sb_map_get(&cl->nodes, name, n);
    int was_dead = nd && nd->dead;
    sb_map_iter it;
    void *val;

    sb_cl_node_touch(cl, name, n, ttl, 1);
    if (!was_dead)
        return;
    sb_map_iter_init(&it);
    while (sb_map_next(&cl->channels, &it, NULL, NULL, &val)) {
        cl_channel *cc = val;
        if (cc->active && cc->subscribed && !cc->unsubscribing && !cc->snapshot)
            sb_cl_request_snapshot(cl, cc);
        if (cc->active && cc->subscribed && !cc->unsubscribing && !cc->phx_snapshot)
            sb_cl_phx_request_snapshot(cl, cc);
    }
}

void sb_cl_on_local_presence(sb_hub *h, const char *ch, size_t chlen,
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
    sb_cl_wire_head(cl, &b, "p");
    sb_cl_ns_adds(&b, present ? "+" : "-");
    sb_cl_ns_add(&b, member, mlen);
    snprintf(seq, sizeof seq, "%llu", (unsigned long long)cl->seq);
    argv[0] = present ? "HSET" : "HDEL";
    lens[0] = 4;
    argv[1] = key;
    lens[1] = sb_cl_make_key(key, sizeof key, PRES_PREFIX, ch, chlen);
    argv[2] = field_;
    lens[2] = sb_cl_node_key(field_, sizeof field_, cl->node, cl->node_len,
                             member, mlen);
    argv[3] = seq;
    lens[3] = strlen(seq);
    sb_cl_send_argv(cl, TAG_OTHER, present ? 4 : 3, argv, lens);
    sb_cl_publish_raw(cl, TAG_OTHER, ch, chlen, &b);
    sb_buf_free(&b);
}

/* Heartbeats and node expiry, ttl/20 apart.  Expiry waits while the link
 * is down: silence then says nothing about the other nodes. */
void sb_cl_on_tick(uv_timer_t *t)
{
    sb_cluster *cl = t->data;
    double now = sb_cl_now_s(cl);
    sb_map_iter it;
    const void *name;
    size_t n, i;
    void *val;
    strlist dead;

    if (!sb_redis_is_up(cl->r))
        return;
    if (now >= cl->next_beat) {
        sb_cl_heartbeat(cl);
        cl->next_beat = now + cl->ttl / 4;
    }
    memset(&dead, 0, sizeof dead);
    sb_map_iter_init(&it);
    while (sb_map_next(&cl->nodes, &it, &name, &n, &val)) {
        cl_node *nd = val;
        if (now - nd->last_seen > (nd->dead ? nd->ttl * 3 : nd->ttl * 0.85))
            sb_cl_strlist_add(&dead, name, n);
    }
    for (i = 0; i < dead.n; i++) {
        cl_node *nd = sb_map_get(&cl->nodes, dead.s[i], dead.len[i]);
        if (nd && nd->dead)
            free(sb_map_del(&cl->nodes, dead.s[i], dead.len[i]));
        else
            sb_cl_node_gone(cl, dead.s[i], dead.len[i]);
    }
    sb_cl_strlist_free(&dead);
}
