/* Cluster-wide presence (see cluster.h; node liveness is in cluster_nodes.c).
 *
 * Every node knows the connections of every other node in every channel,
 * followed or not, so that counts, presence and the first joiner's own
 * join cover the cluster at once (a node does not wait for a read when a
 * channel gets its first local connection).  They are kept per channel
 * (cl_pchan) as a set of connection keys "<node>|<instance>:<conn id>",
 * each with a record (member, and the uid, alias and flags the native
 * protocol shows); every change of that set is mirrored into the hub with
 * sb_hub_remote_join/leave, which counts the connections and decides on
 * presence events.  Changes travel on one Redis channel, sb:pres, read
 * by every node; Redis keeps the hashes sb:pres:<channel> and the set
 * sb:pchans of their names for a node that (re)connects.  The instance
 * (random per process) keeps a restarted node's connections apart from
 * the ones its previous process left behind.
 *
 * Hub calls run Lua listeners that may join or leave (changing these
 * maps), so batch changes are computed into a list first and applied one
 * by one, each looking its channel up again. */
#include "cluster_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* KEYS[1]: the set of channels with presence.  ARGV: the hash prefix, the
 * node key prefix.  Returns channel, key and record of every connection
 * whose node lives under the same instance (a key of a dead node, or of
 * a previous process of a restarted one, goes; so do empty channels). */
static const char SNAPSHOT_SCRIPT[] =
    "local out = {}\n"
    "for _, ch in ipairs(redis.call('SMEMBERS', KEYS[1])) do\n"
    "  local h = ARGV[1] .. ch\n"
    "  local all = redis.call('HGETALL', h)\n"
    "  for i = 1, #all, 2 do\n"
    "    local node, inst = string.match(all[i], '^([^|]*)|([^:]*):')\n"
    "    if node and redis.call('GET', ARGV[2] .. node) == inst then\n"
    "      out[#out + 1] = ch\n"
    "      out[#out + 1] = all[i]\n"
    "      out[#out + 1] = all[i + 1]\n"
    "    else\n"
    "      redis.call('HDEL', h, all[i])\n"
    "    end\n"
    "  end\n"
    "  if redis.call('EXISTS', h) == 0 then redis.call('SREM', KEYS[1], ch) end\n"
    "end\n"
    "return out\n";

/* Replaces this node's fields in a presence hash (after an outage):
 * KEYS: the hash, the set of channels.  ARGV = node, channel, then pairs
 * of connection id and record. */
static const char SYNC_SCRIPT[] =
    "local p = ARGV[1] .. '|'\n"
    "for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do\n"
    "  if string.sub(f, 1, #p) == p then redis.call('HDEL', KEYS[1], f) end\n"
    "end\n"
    "for i = 3, #ARGV - 1, 2 do\n"
    "  redis.call('HSET', KEYS[1], p .. ARGV[i], ARGV[i + 1])\n"
    "end\n"
    "if #ARGV > 2 then redis.call('SADD', KEYS[2], ARGV[2]) end\n"
    "return 0\n";

/* A connection's record: netstrings member, uid, alias, flags (uid and
 * alias empty when absent). */
static void record_add(sb_buf *b, const char *member, size_t mlen,
                       const sb_conn_tag *tag)
{
    sb_cl_ns_add(b, member, mlen);
    sb_cl_ns_adds(b, tag->uid ? tag->uid : "");
    sb_cl_ns_adds(b, tag->alias ? tag->alias : "");
    sb_cl_ns_add_u64(b, tag->flags);
}

/* A decoded record; uid and alias are copied to be NUL-terminated. */
typedef struct record {
    field member;
    sb_conn_tag tag;
    char uid[SB_MEMBER_MAX + 1], alias[SB_MEMBER_MAX + 1];
} record;

static int record_read(const char *p, size_t n, record *r)
{
    field f[4];

    if (sb_cl_wire_split(p, n, f, 4) != 4 || f[1].n > SB_MEMBER_MAX ||
        f[2].n > SB_MEMBER_MAX || memchr(f[1].p, 0, f[1].n) ||
        memchr(f[2].p, 0, f[2].n))
        return -1;
    r->member = f[0];
    memcpy(r->uid, f[1].p, f[1].n);
    r->uid[f[1].n] = '\0';
    memcpy(r->alias, f[2].p, f[2].n);
    r->alias[f[2].n] = '\0';
    r->tag.uid = f[1].n ? r->uid : NULL;
    r->tag.alias = f[2].n ? r->alias : NULL;
    r->tag.flags = (unsigned)sb_cl_field_u64(&f[3]);
    return 0;
}

/* "<instance>:<conn id>": the part of a connection's key after "<node>|". */
static size_t conn_id(const sb_cluster *cl, const sb_conn *c, char *buf,
                      size_t cap)
{
    int n = snprintf(buf, cap, "%llu:%llu", (unsigned long long)cl->instance,
                     (unsigned long long)c->id);

    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* The presence of other nodes in a channel; created when create is set
 * (NULL when memory ran out). */
static cl_pchan *pchan_get(sb_cluster *cl, const char *ch, size_t chlen,
                           int create)
{
    cl_pchan *pc = sb_map_get(&cl->pchans, ch, chlen);

    if (pc || !create)
        return pc;
    if (!(pc = calloc(1, sizeof *pc + chlen + 1)))
        return NULL;
    memcpy(pc->name, ch, chlen);
    pc->len = chlen;
    sb_map_init(&pc->remote, (uint64_t)(uintptr_t)pc);
    if (sb_map_put(&cl->pchans, pc->name, chlen, pc)) {
        free(pc);
        return NULL;
    }
    return pc;
}

/* Lets an empty channel's presence go. */
static void pchan_settle(sb_cluster *cl, cl_pchan *pc)
{
    if (pc->remote.count)
        return;
    sb_map_del(&cl->pchans, pc->name, pc->len);
    sb_map_clear(&pc->remote);
    free(pc);
}

void sb_cl_pchans_free(sb_cluster *cl)
{
    sb_map_iter it;
    void *val;

    sb_map_iter_init(&it);
    while (sb_map_next(&cl->pchans, &it, NULL, NULL, &val)) {
        sb_map_clear(&((cl_pchan *)val)->remote);
        free(val);
    }
    sb_map_clear(&cl->pchans);
}

/* Applies one remote presence change for connection key
 * "<node>|<instance>:<id>" in a channel (rec: its record, for a join),
 * looking the channel up afresh.  With mark, a pending snapshot is told
 * not to override it.  The hub call (and so Lua) comes last. */
void sb_cl_remote_set(sb_cluster *cl, const char *ch, size_t chlen,
                const char *key, size_t klen, const char *rec, size_t reclen,
                int present, int mark)
{
    cl_pchan *pc = pchan_get(cl, ch, chlen, present);
    const char *bar;
    void *cur;
    int was, snap = mark && cl->psnap;
    record r;

    if (!pc || !(bar = memchr(key, '|', klen)))
        return;
    if (present && (!rec || record_read(rec, reclen, &r))) {
        cl->st.bad_messages++;
        pchan_settle(cl, pc);
        return;
    }
    cur = sb_map_get(&pc->remote, key, klen);
    was = cur == REMOTE_PRESENT || cur == REMOTE_TOUCHED;
    if (present) {
        if (!sb_cl_node_touch(cl, key, (size_t)(bar - key), 0, 0) ||
            sb_map_put(&pc->remote, key, klen,
                       snap ? REMOTE_TOUCHED : REMOTE_PRESENT)) {
            pchan_settle(cl, pc);
            return;
        }
        /* also when known: the hub replaces a record that changed */
        sb_hub_remote_join(cl->hub, ch, chlen, key, klen, r.member.p,
                           r.member.n, &r.tag);
        return;
    }
    if (!snap || sb_map_put(&pc->remote, key, klen, REMOTE_TOMB))
        sb_map_del(&pc->remote, key, klen);
    pchan_settle(cl, pc);
    if (was)
        sb_hub_remote_leave(cl->hub, ch, chlen, key, klen);
}

/* Applies a list of (channel, key) pairs, stored alternately. */
static void apply_pairs(sb_cluster *cl, strlist *l, int present)
{
    size_t i;

    for (i = 0; i + 1 < l->n; i += 2)
        sb_cl_remote_set(cl, l->s[i], l->len[i], l->s[i + 1], l->len[i + 1],
                   NULL, 0, present, 0);
}

/* Applies a list of keys of one channel leaving, named by a copy: the
 * channel may go while the hub runs Lua. */
static void apply_leaves(sb_cluster *cl, const char *ch, size_t chlen,
                         strlist *l, int mark)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        sb_cl_remote_set(cl, ch, chlen, l->s[i], l->len[i], NULL, 0, 0, mark);
    sb_cl_strlist_free(l);
}

/* The same for joins: the list holds key and record alternately. */
static void apply_joins(sb_cluster *cl, const char *ch, size_t chlen,
                        strlist *l, int mark)
{
    size_t i;

    for (i = 0; i + 1 < l->n; i += 2)
        sb_cl_remote_set(cl, ch, chlen, l->s[i], l->len[i], l->s[i + 1],
                         l->len[i + 1], 1, mark);
    sb_cl_strlist_free(l);
}

/* A node died or said goodbye: its connections leave every channel. */
void sb_cl_presence_node_gone(sb_cluster *cl, const char *node, size_t n)
{
    strlist l;
    sb_map_iter ci, ki;
    const void *chname, *key;
    size_t chlen, klen;
    void *val, *st;

    memset(&l, 0, sizeof l);
    sb_map_iter_init(&ci);
    while (sb_map_next(&cl->pchans, &ci, &chname, &chlen, &val)) {
        sb_map_iter_init(&ki);
        while (sb_map_next(&((cl_pchan *)val)->remote, &ki, &key, &klen, &st)) {
            if (sb_cl_key_of_node(key, klen, node, n)) {
                sb_cl_strlist_add(&l, chname, chlen);
                sb_cl_strlist_add(&l, key, klen);
            }
        }
    }
    apply_pairs(cl, &l, 0);
    sb_cl_strlist_free(&l);
}

/* Ends a snapshot window: "touched" keys become plain present ones and
 * tombstones go, so the next snapshot judges every key afresh. */
static void settle_marks(sb_cluster *cl, cl_pchan *pc)
{
    strlist fix;
    sb_map_iter it;
    const void *key;
    size_t klen, i;
    void *val;

    memset(&fix, 0, sizeof fix);
    sb_map_iter_init(&it);
    while (sb_map_next(&pc->remote, &it, &key, &klen, &val))
        if (val != REMOTE_PRESENT)
            sb_cl_strlist_add(&fix, key, klen);
    for (i = 0; i < fix.n; i++) {
        if (sb_map_get(&pc->remote, fix.s[i], fix.len[i]) == REMOTE_TOMB)
            sb_map_del(&pc->remote, fix.s[i], fix.len[i]);
        else
            sb_map_put(&pc->remote, fix.s[i], fix.len[i], REMOTE_PRESENT);
    }
    sb_cl_strlist_free(&fix);
    (void)cl;
}

void sb_cl_settle_all_marks(sb_cluster *cl)
{
    sb_map_iter it;
    void *val;
    strlist names;
    size_t i;
    cl_pchan *pc;

    memset(&names, 0, sizeof names);
    sb_map_iter_init(&it);
    while (sb_map_next(&cl->pchans, &it, NULL, NULL, &val)) {
        settle_marks(cl, val);
        if (!((cl_pchan *)val)->remote.count)
            sb_cl_strlist_add(&names, ((cl_pchan *)val)->name, ((cl_pchan *)val)->len);
    }
    for (i = 0; i < names.n; i++)
        if ((pc = sb_map_get(&cl->pchans, names.s[i], names.len[i])))
            pchan_settle(cl, pc);
    sb_cl_strlist_free(&names);
    cl->psnap = 0;
}

/* Asks for every channel's connections of the other nodes
 * (SNAPSHOT_SCRIPT); the reply goes to sb_cl_on_snapshot. */
void sb_cl_request_snapshot(sb_cluster *cl)
{
    const char *argv[6];
    size_t lens[6];

    if (cl->psnap)
        return;
    argv[0] = "EVAL";
    argv[1] = SNAPSHOT_SCRIPT;
    argv[2] = "1";
    argv[3] = PCHANS_KEY;
    argv[4] = PRES_PREFIX;
    argv[5] = NODE_PREFIX;
    lens[0] = 4;
    lens[1] = sizeof SNAPSHOT_SCRIPT - 1;
    lens[2] = 1;
    lens[3] = strlen(PCHANS_KEY);
    lens[4] = strlen(PRES_PREFIX);
    lens[5] = strlen(NODE_PREFIX);
    if (sb_cl_send_argv(cl, TAG_SNAPSHOT, 6, argv, lens) == 0)
        cl->psnap = 1;
}

/* Collects the local connections of a channel as pairs of connection id
 * and record (hub iteration may not change the hub, so this only copies). */
typedef struct conn_acc {
    sb_cluster *cl;
    strlist list;
} conn_acc;

static void collect_conn(sb_conn *c, const char *m, size_t mlen, void *ud)
{
    conn_acc *a = ud;
    char id[48];
    size_t n = conn_id(a->cl, c, id, sizeof id);
    sb_buf rec;

    sb_buf_init(&rec, 0);
    record_add(&rec, m, mlen, &c->tag);
    if (!n || rec.oom) {
        a->list.oom = 1;
    } else {
        sb_cl_strlist_add(&a->list, id, n);
        sb_cl_strlist_add(&a->list, (const char *)sb_buf_data(&rec), rec.len);
    }
    sb_buf_free(&rec);
}

/* This node's connections of a channel replace what Redis had for it
 * (EVAL of SYNC_SCRIPT), and an "s" message on sb:pres tells the other
 * nodes the same; leaving (or no connection left): an empty list, and the
 * channel is no longer one this node announced. */
void sb_cl_announce_channel(sb_cluster *cl, const char *ch, size_t chlen,
                            int leaving)
{
    conn_acc a;
    sb_buf b;
    const char **argv;
    size_t *lens, i, argc;
    char key[sizeof PRES_PREFIX + SB_CHANNEL_MAX];

    memset(&a, 0, sizeof a);
    a.cl = cl;
    if (!leaving)
        sb_hub_each_connection(cl->hub, ch, chlen, collect_conn, &a);
    argc = 7 + a.list.n;
    argv = malloc(argc * sizeof *argv);
    lens = malloc(argc * sizeof *lens);
    sb_buf_init(&b, 0);
    sb_cl_wire_head(cl, &b, "s");
    sb_cl_ns_add(&b, ch, chlen);
    if (argv && lens && !a.list.oom) {
        argv[0] = "EVAL";
        lens[0] = 4;
        argv[1] = SYNC_SCRIPT;
        lens[1] = sizeof SYNC_SCRIPT - 1;
        argv[2] = "2";
        lens[2] = 1;
        argv[3] = key;
        lens[3] = sb_cl_make_key(key, sizeof key, PRES_PREFIX, ch, chlen);
        argv[4] = PCHANS_KEY;
        lens[4] = strlen(PCHANS_KEY);
        argv[5] = cl->node;
        lens[5] = cl->node_len;
        argv[6] = ch;
        lens[6] = chlen;
        for (i = 0; i < a.list.n; i++) {
            argv[7 + i] = a.list.s[i];
            lens[7 + i] = a.list.len[i];
            sb_cl_ns_add(&b, a.list.s[i], a.list.len[i]);
        }
        sb_cl_send_argv(cl, TAG_OTHER, (int)argc, argv, lens);
        sb_cl_publish_on(cl, TAG_OTHER, PRES_CHANNEL, &b);
        if (!a.list.n)
            sb_map_del(&cl->mine, ch, chlen);
        else if (sb_map_put(&cl->mine, ch, chlen, cl))
            cl->st.presence_deferred++;
    }
    free(argv);
    free(lens);
    sb_buf_free(&b);
    sb_cl_strlist_free(&a.list);
}

/* After (re)connecting, and when leaving: every channel this node has
 * connections in or announced some in before (they may have left while
 * Redis was unreachable).  By name, from a copy: announcing changes the
 * set. */
void sb_cl_announce_all(sb_cluster *cl, int leaving)
{
    sb_map_iter it;
    const void *k;
    size_t klen, i;
    void *val;
    strlist names;

    memset(&names, 0, sizeof names);
    sb_map_iter_init(&it);
    while (sb_map_next(&cl->mine, &it, &k, &klen, NULL)) {
        /* a channel waiting for its subscription is announced then */
        val = sb_map_get(&cl->channels, k, klen);
        if (leaving || !val || !((cl_channel *)val)->active ||
            ((cl_channel *)val)->confirmed)
            sb_cl_strlist_add(&names, k, klen);
    }
    sb_map_iter_init(&it);
    while (sb_map_next(&cl->channels, &it, &k, &klen, &val))
        if (((cl_channel *)val)->active && !sb_map_get(&cl->mine, k, klen) &&
            (leaving || ((cl_channel *)val)->confirmed))
            sb_cl_strlist_add(&names, k, klen);
    for (i = 0; i < names.n; i++)
        sb_cl_announce_channel(cl, names.s[i], names.len[i], leaving);
    sb_cl_strlist_free(&names);
}

/* Keys "<channel>\0<key>" of a snapshot, to tell what it lacks. */
static size_t snap_key(char *buf, size_t cap, const char *ch, size_t chlen,
                       const char *k, size_t klen)
{
    return sb_cl_pair_key(buf, cap, ch, chlen, '\0', k, klen);
}

/* The keys known here that the snapshot lacks and nothing touched since
 * it was read, as (channel, key) pairs. */
static void snapshot_gone(sb_cluster *cl, const sb_map *named, strlist *gone)
{
    sb_map_iter ci, ki;
    const void *ch, *k;
    size_t chlen, klen, n;
    void *val, *st;
    char buf[SB_CHANNEL_MAX + 2 + KEY_MAX];

    sb_map_iter_init(&ci);
    while (sb_map_next(&cl->pchans, &ci, &ch, &chlen, &val)) {
        sb_map_iter_init(&ki);
        while (sb_map_next(&((cl_pchan *)val)->remote, &ki, &k, &klen, &st)) {
            if (st != REMOTE_PRESENT)
                continue;
            n = snap_key(buf, sizeof buf, ch, chlen, k, klen);
            if (n && !sb_map_get(named, buf, n)) {
                sb_cl_strlist_add(gone, ch, chlen);
                sb_cl_strlist_add(gone, k, klen);
            }
        }
    }
}

/* Applies a snapshot reply: {channel, key, record, ...} of every channel
 * (this node's own keys are known here first-hand and skipped). */
void sb_cl_on_snapshot(sb_cluster *cl, redisReply *rep)
{
    strlist joins, leaves;
    sb_map named;
    char buf[SB_CHANNEL_MAX + 2 + KEY_MAX];
    size_t i, n;
    int oom = 0;
    const redisReply *c, *k, *v;
    cl_pchan *pc;
    void *st;

    if (!cl->psnap)
        return;
    memset(&joins, 0, sizeof joins);
    memset(&leaves, 0, sizeof leaves);
    sb_map_init(&named, (uint64_t)(uintptr_t)cl ^ 7);
    for (i = 0; rep && rep->type == REDIS_REPLY_ARRAY && i + 2 < rep->elements; i += 3) {
        c = rep->element[i];
        k = rep->element[i + 1];
        v = rep->element[i + 2];
        if (c->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING ||
            !sb_cl_foreign_key(cl, k) ||
            !(n = snap_key(buf, sizeof buf, c->str, c->len, k->str, k->len)))
            continue;
        if (sb_map_put(&named, buf, n, cl))
            oom = 1;
        /* known keys too, unless a change came since the read: a record
         * may have changed (the hub compares) */
        pc = pchan_get(cl, c->str, c->len, 0);
        st = pc ? sb_map_get(&pc->remote, k->str, k->len) : NULL;
        if (!st || st == REMOTE_PRESENT) {
            sb_cl_strlist_add(&joins, c->str, c->len);
            sb_cl_strlist_add(&joins, k->str, k->len);
            sb_cl_strlist_add(&joins, v->str, v->len);
        }
    }
    /* a failed reply judges nothing; neither does a listing that lost keys */
    if (rep && rep->type == REDIS_REPLY_ARRAY && !oom)
        snapshot_gone(cl, &named, &leaves);
    sb_map_clear(&named);
    sb_cl_settle_all_marks(cl);
    if (rep && rep->type == REDIS_REPLY_ARRAY)
        cl->st.synced = 1;
    for (i = 0; i + 1 < leaves.n; i += 2)
        sb_cl_remote_set(cl, leaves.s[i], leaves.len[i], leaves.s[i + 1],
                         leaves.len[i + 1], NULL, 0, 0, 0);
    for (i = 0; i + 2 < joins.n; i += 3)
        sb_cl_remote_set(cl, joins.s[i], joins.len[i], joins.s[i + 1],
                         joins.len[i + 1], joins.s[i + 2], joins.len[i + 2], 1, 0);
    sb_cl_strlist_free(&leaves);
    sb_cl_strlist_free(&joins);
}

/* An "s" message: the node's full connection list in a channel (after
 * the head: the channel, then pairs of connection id and record). */
void sb_cl_sync_remote(sb_cluster *cl, const field *node, const char *data,
                       size_t len, size_t pos)
{
    strlist joins, leaves;
    field chf, mem, rec;
    cl_listing listed;
    cl_pchan *pc;
    char k[KEY_MAX + 1], ch[SB_CHANNEL_MAX];
    size_t klen, chlen;

    if (sb_cl_wire_next(data, len, &pos, &chf) != 1 || !chf.n ||
        chf.n > SB_CHANNEL_MAX) {
        cl->st.bad_messages++;
        return;
    }
    chlen = chf.n;
    memcpy(ch, chf.p, chlen);
    memset(&joins, 0, sizeof joins);
    memset(&leaves, 0, sizeof leaves);
    sb_cl_listing_init(&listed, cl);
    while (sb_cl_wire_next(data, len, &pos, &mem) == 1 &&
           sb_cl_wire_next(data, len, &pos, &rec) == 1) {
        if (!(klen = sb_cl_node_key(k, KEY_MAX, node->p, node->n, mem.p, mem.n)))
            continue;
        sb_cl_listing_add(&listed, k, klen);
        sb_cl_strlist_add(&joins, k, klen);
        sb_cl_strlist_add(&joins, rec.p, rec.n);
    }
    if ((pc = pchan_get(cl, ch, chlen, 0)))
        sb_cl_listing_gone(&listed, &pc->remote, sb_cl_keep_other_nodes, node,
                           &leaves);
    else
        sb_map_clear(&listed.named);
    apply_leaves(cl, ch, chlen, &leaves, 1);
    apply_joins(cl, ch, chlen, &joins, 1);
}

void sb_cl_on_local_conn(sb_hub *h, const char *ch, size_t chlen,
                         const sb_conn *c, const char *member, size_t mlen,
                         int joined, void *ud)
{
    sb_cluster *cl = ud;
    char key[sizeof PRES_PREFIX + SB_CHANNEL_MAX], field_[KEY_MAX + 1], id[48];
    const char *argv[4];
    size_t lens[4], idlen = conn_id(cl, c, id, sizeof id);
    sb_buf b, rec;

    cl_channel *cc = sb_map_get(&cl->channels, ch, chlen);

    (void)h;
    /* announced in full once the subscription is confirmed (or the link
     * is back): cluster_hold.c says why */
    if (cc && cc->active && !cc->confirmed)
        return;
    if (!sb_redis_is_up(cl->r) || !idlen || cl->node_len + 1 + idlen > KEY_MAX) {
        cl->st.presence_deferred++;
        return;
    }
    sb_buf_init(&rec, 0);
    record_add(&rec, member, mlen, &c->tag);
    sb_buf_init(&b, 0);
    sb_cl_wire_head(cl, &b, "p");
    sb_cl_ns_adds(&b, joined ? "+" : "-");
    sb_cl_ns_add(&b, ch, chlen);
    sb_cl_ns_add(&b, id, idlen);
    sb_cl_ns_add(&b, (const char *)sb_buf_data(&rec), rec.len);
    argv[0] = joined ? "HSET" : "HDEL";
    lens[0] = 4;
    argv[1] = key;
    lens[1] = sb_cl_make_key(key, sizeof key, PRES_PREFIX, ch, chlen);
    argv[2] = field_;
    lens[2] = sb_cl_node_key(field_, sizeof field_, cl->node, cl->node_len,
                             id, idlen);
    argv[3] = (const char *)sb_buf_data(&rec);
    lens[3] = rec.len;
    if (!rec.oom && !b.oom) {
        sb_cl_send_argv(cl, TAG_OTHER, joined ? 4 : 3, argv, lens);
        if (joined && !sb_map_get(&cl->mine, ch, chlen)) {
            argv[0] = "SADD";
            argv[1] = PCHANS_KEY;
            lens[1] = strlen(PCHANS_KEY);
            argv[2] = ch;
            lens[2] = chlen;
            sb_cl_send_argv(cl, TAG_OTHER, 3, argv, lens);
            if (sb_map_put(&cl->mine, ch, chlen, cl))
                cl->st.presence_deferred++;
        }
        sb_cl_publish_on(cl, TAG_OTHER, PRES_CHANNEL, &b);
    }
    sb_buf_free(&b);
    sb_buf_free(&rec);
}

/* Counts one channel's remote connections per node, then reports them. */
static void report_pchan(const cl_pchan *pc, sb_cluster_count_fn fn,
                         void *ud, size_t *total)
{
    sb_map nodes;
    sb_map_iter it;
    const void *k;
    size_t klen;
    void *st, *n;
    const char *bar;

    sb_map_init(&nodes, (uint64_t)(uintptr_t)pc ^ 3);
    *total = 0;
    sb_map_iter_init(&it);
    while (sb_map_next(&pc->remote, &it, &k, &klen, &st)) {
        if ((st != REMOTE_PRESENT && st != REMOTE_TOUCHED) ||
            !(bar = memchr(k, '|', klen)))
            continue;
        n = sb_map_get(&nodes, k, (size_t)(bar - (const char *)k));
        if (sb_map_put(&nodes, k, (size_t)(bar - (const char *)k),
                       (void *)((uintptr_t)n + 1)) == 0)
            (*total)++;
    }
    sb_map_iter_init(&it);
    while (sb_map_next(&nodes, &it, &k, &klen, &n))
        fn(pc->name, pc->len, k, klen, (size_t)(uintptr_t)n, ud);
    sb_map_clear(&nodes);
}

struct own_count {
    sb_cluster *cl;
    sb_cluster_count_fn fn;
    void *ud;
};

/* This node's share of a channel: what the hub counts minus the rest. */
static void report_own(const char *ch, size_t chlen, size_t members,
                       size_t conns, void *ud)
{
    struct own_count *oc = ud;
    const cl_pchan *pc = sb_map_get(&oc->cl->pchans, ch, chlen);
    sb_map_iter it;
    void *st;
    size_t remote = 0;

    (void)members;
    sb_map_iter_init(&it);
    while (pc && sb_map_next(&pc->remote, &it, NULL, NULL, &st))
        remote += st == REMOTE_PRESENT || st == REMOTE_TOUCHED;
    if (conns > remote)
        oc->fn(ch, chlen, oc->cl->node, oc->cl->node_len, conns - remote, oc->ud);
}

void sb_cluster_each_count(sb_cluster *cl, sb_cluster_count_fn fn, void *ud)
{
    sb_map_iter it;
    void *val;
    size_t total;
    struct own_count oc;

    sb_map_iter_init(&it);
    while (sb_map_next(&cl->pchans, &it, NULL, NULL, &val))
        report_pchan(val, fn, ud, &total);
    oc.cl = cl;
    oc.fn = fn;
    oc.ud = ud;
    sb_hub_each_channel(cl->hub, report_own, &oc);
}
