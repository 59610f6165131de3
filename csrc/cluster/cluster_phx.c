/* Phoenix presence metas across nodes (hub:track / untrack / update).
 *
 * The presence_diff a node broadcasts for a local change already reaches
 * every node's subscribers (it is an ordinary publish).  What a diff
 * cannot do is tell a client that joins later what other nodes track, so
 * each node also keeps the metas of the channels it follows:
 *   - hash sb:phx:<topic>, field "<node>|<phx_ref>", value netstring(key)
 *     followed by the meta's JSON: what every node tracks now;
 *   - "x" messages on sb:ch:<topic>: +/- ref, key, meta (one change), and
 *     "X": the node's full list for the topic (after it reconnects);
 *   - a mirror per followed channel (cl_channel.metas), read from the hash
 *     when the subscription is confirmed and kept current by x/X.
 * hub:presence_state merges the mirror in (sb_cluster_phx_each).  Metas
 * this node learns of or loses without a diff having been broadcast (read
 * from the hash, or a node that died or said goodbye) are told to this
 * node's own connections with a local presence_diff (no id, not in the
 * history).  Diffs are idempotent for Phoenix clients (refs), so one that
 * also arrived as a broadcast does no harm. */
#include "cluster_internal.h"

#include <stdlib.h>
#include <string.h>

#include "codec/json.h"

#define PHX_PREFIX "sb:phx:"

/* KEYS: the hash.  ARGV: topic, node key prefix.  Returns {topic, field,
 * value, ...} of live nodes (the dead ones' fields are dropped). */
static const char PHX_SNAPSHOT_SCRIPT[] =
    "local out = {ARGV[1]}\n"
    "local all = redis.call('HGETALL', KEYS[1])\n"
    "for i = 1, #all, 2 do\n"
    "  local node = string.match(all[i], '^([^|]*)|')\n"
    "  if node and redis.call('EXISTS', ARGV[2] .. node) == 1 then\n"
    "    out[#out + 1] = all[i]\n"
    "    out[#out + 1] = all[i + 1]\n"
    "  else\n"
    "    redis.call('HDEL', KEYS[1], all[i])\n"
    "  end\n"
    "end\n"
    "return out\n";

/* KEYS: the hash.  ARGV: node, then ref, value pairs: replaces the node's
 * fields. */
static const char PHX_SYNC_SCRIPT[] =
    "local p = ARGV[1] .. '|'\n"
    "for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do\n"
    "  if string.sub(f, 1, #p) == p then redis.call('HDEL', KEYS[1], f) end\n"
    "end\n"
    "for i = 2, #ARGV - 1, 2 do redis.call('HSET', KEYS[1], p .. ARGV[i], ARGV[i + 1]) end\n"
    "return 0\n";

/* A meta: the presence key, then the meta's JSON. */
typedef struct cl_meta {
    size_t klen, mlen;
    char data[];
} cl_meta;

static cl_meta *meta_new(const char *key, size_t klen, const char *meta,
                         size_t mlen)
{
    cl_meta *m = malloc(sizeof *m + klen + mlen + 1);

    if (!m)
        return NULL;
    m->klen = klen;
    m->mlen = mlen;
    memcpy(m->data, key, klen);
    memcpy(m->data + klen, meta, mlen);
    m->data[klen + mlen] = '\0';
    return m;
}

/* Parses a hash value: netstring(key) then the meta. */
static cl_meta *meta_from_value(const char *v, size_t n)
{
    size_t pos = 0;
    field k;

    if (sb_cl_wire_next(v, n, &pos, &k) != 1 || pos >= n)
        return NULL;
    return meta_new(k.p, k.n, v + pos, n - pos);
}

void sb_cl_phx_clear(sb_map *metas)
{
    sb_map_iter it;
    void *val;

    sb_map_iter_init(&it);
    while (sb_map_next(metas, &it, NULL, NULL, &val))
        free(val);
    sb_map_clear(metas);
}

/* Changes to tell local connections: (topic, key, meta, "j" or "l"). */
static void note(strlist *l, const char *topic, size_t tlen, const cl_meta *m,
                 int join)
{
    sb_cl_strlist_add(l, topic, tlen);
    sb_cl_strlist_add(l, m->data, m->klen);
    sb_cl_strlist_add(l, m->data + m->klen, m->mlen);
    sb_cl_strlist_add(l, join ? "j" : "l", 1);
}

/* Sends each noted change to this node's connections of its topic as a
 * presence_diff that is not published (no id, nothing kept).  The map
 * changes are done by now: delivery may run Lua that changes them. */
static void tell(sb_cluster *cl, strlist *l)
{
    size_t i;
    sb_buf b;
    sb_msg *m;

    for (i = 0; i + 3 < l->n; i += 4) {
        int join = l->s[i + 3][0] == 'j';
        sb_buf_init(&b, 0);
        sb_buf_adds(&b, join ? "{\"joins\":{" : "{\"joins\":{},\"leaves\":{");
        sb_buf_add_json_string(&b, l->s[i + 1], l->len[i + 1]);
        sb_buf_adds(&b, ":{\"metas\":[");
        sb_buf_add(&b, l->s[i + 2], l->len[i + 2]);
        sb_buf_adds(&b, join ? "]}},\"leaves\":{}}" : "]}}}");
        m = b.oom ? NULL
                  : sb_msg_new(l->s[i], l->len[i], "presence_diff", 13,
                               (const char *)sb_buf_data(&b), b.len, NULL, 0,
                               NULL, 0, 0);
        sb_buf_free(&b);
        if (m)
            sb_hub_publish_at(cl->hub, m, 0, NULL, 0);
        sb_msg_unref(m);
    }
    sb_cl_strlist_free(l);
}

/* Own metas are kept by "<topic>\n<ref>" (a topic has no newline). */
static size_t own_key(char *buf, size_t cap, const char *topic, size_t tlen,
                      const char *ref, size_t rlen)
{
    size_t n = sb_cl_node_key(buf, cap, topic, tlen, ref, rlen);

    if (n)
        buf[tlen] = '\n';
    return n;
}

/* HSET/HDEL of one own field, and the x message. */
static void announce_one(sb_cluster *cl, const char *topic, size_t tlen,
                         const char *ref, size_t rlen, const cl_meta *m)
{
    char key[sizeof PHX_PREFIX + SB_CHANNEL_MAX], fk[KEY_MAX + 1];
    const char *argv[4];
    size_t lens[4];
    sb_buf v, b;

    if (!sb_redis_is_up(cl->r))
        return; /* re-announced in full when the link returns */
    sb_buf_init(&v, 0);
    if (m) {
        sb_cl_ns_add(&v, m->data, m->klen);
        sb_buf_add(&v, m->data + m->klen, m->mlen);
    }
    argv[0] = m ? "HSET" : "HDEL";
    lens[0] = 4;
    argv[1] = key;
    lens[1] = sb_cl_make_key(key, sizeof key, PHX_PREFIX, topic, tlen);
    argv[2] = fk;
    lens[2] = sb_cl_node_key(fk, sizeof fk, cl->node, cl->node_len, ref, rlen);
    argv[3] = (const char *)sb_buf_data(&v);
    lens[3] = v.len;
    if (lens[1] && lens[2] && !v.oom)
        sb_cl_send_argv(cl, TAG_OTHER, m ? 4 : 3, argv, lens);
    sb_buf_free(&v);
    sb_buf_init(&b, 0);
    sb_cl_wire_head(cl, &b, "x");
    sb_cl_ns_adds(&b, m ? "+" : "-");
    sb_cl_ns_add(&b, ref, rlen);
    sb_cl_ns_add(&b, m ? m->data : NULL, m ? m->klen : 0);
    sb_cl_ns_add(&b, m ? m->data + m->klen : NULL, m ? m->mlen : 0);
    sb_cl_publish_raw(cl, TAG_OTHER, topic, tlen, &b);
    sb_buf_free(&b);
}

int sb_cluster_phx_track(sb_cluster *cl, const char *topic, size_t tlen,
                         const char *ref, size_t rlen, const char *key,
                         size_t klen, const char *meta, size_t mlen)
{
    char k[SB_CHANNEL_MAX + 1 + SB_MEMBER_MAX + 1];
    size_t n = own_key(k, sizeof k, topic, tlen, ref, rlen);
    cl_meta *m, *old;

    if (!n || !sb_hub_valid_channel(topic, tlen))
        return -1;
    if (!(m = meta_new(key, klen, meta, mlen)))
        return -1;
    old = sb_map_get(&cl->own_metas, k, n);
    if (sb_map_put(&cl->own_metas, k, n, m)) {
        free(m);
        return -1;
    }
    free(old);
    announce_one(cl, topic, tlen, ref, rlen, m);
    return 0;
}

void sb_cluster_phx_untrack(sb_cluster *cl, const char *topic, size_t tlen,
                            const char *ref, size_t rlen)
{
    char k[SB_CHANNEL_MAX + 1 + SB_MEMBER_MAX + 1];
    size_t n = own_key(k, sizeof k, topic, tlen, ref, rlen);

    if (!n || !sb_map_get(&cl->own_metas, k, n))
        return;
    free(sb_map_del(&cl->own_metas, k, n));
    announce_one(cl, topic, tlen, ref, rlen, NULL);
}

void sb_cluster_phx_each(sb_cluster *cl, const char *topic, size_t tlen,
                         sb_cluster_meta_fn fn, void *ud)
{
    cl_channel *cc = sb_map_get(&cl->channels, topic, tlen);
    sb_map_iter it;
    void *val;

    if (!cc || !cc->active)
        return;
    sb_map_iter_init(&it);
    while (sb_map_next(&cc->metas, &it, NULL, NULL, &val)) {
        const cl_meta *m = val;
        fn(m->data, m->klen, m->data + m->klen, m->mlen, ud);
    }
}

/* Sets or removes one mirrored meta; notes a change for local diffs only
 * when asked (a broadcast diff covers the others). */
static void mirror_set(cl_channel *cc, const char *fk, size_t fklen,
                       cl_meta *m, strlist *changes)
{
    cl_meta *old = sb_map_get(&cc->metas, fk, fklen);

    if (m) {
        if (sb_map_put(&cc->metas, fk, fklen, m)) {
            free(m);
            return;
        }
        if (changes && !old)
            note(changes, cc->name, cc->len, m, 1);
    } else if (old) {
        sb_map_del(&cc->metas, fk, fklen);
        if (changes)
            note(changes, cc->name, cc->len, old, 0);
    }
    free(old);
}

/* Removes the metas listed in gone (keys collected first: the map may not
 * change while it is walked), noting each for local diffs; frees the
 * list.  A sync, a node's death and a snapshot all end this way. */
static void drop_all(cl_channel *cc, strlist *gone, strlist *changes)
{
    size_t i;

    for (i = 0; i < gone->n; i++)
        mirror_set(cc, gone->s[i], gone->len[i], NULL, changes);
    sb_cl_strlist_free(gone);
}

void sb_cl_phx_message(sb_cluster *cl, cl_channel *cc, const field *f, int n)
{
    char fk[KEY_MAX + 1];
    size_t fklen;
    cl_meta *m = NULL;

    if (n != 8 || !(fklen = sb_cl_node_key(fk, sizeof fk, f[2].p, f[2].n, f[5].p, f[5].n)) ||
        (sb_cl_field_is(&f[4], "+") && !(m = meta_new(f[6].p, f[6].n, f[7].p, f[7].n)))) {
        cl->st.bad_messages++;
        return;
    }
    /* newer than a snapshot in flight: the snapshot must not undo it */
    if (cc->phx_snapshot)
        sb_map_put(&cc->phx_touched, fk, fklen, cc);
    mirror_set(cc, fk, fklen, m, NULL);
}

/* The node's full list ("X": ref, key, meta, ref, key, meta, ...). */
void sb_cl_phx_sync(sb_cluster *cl, cl_channel *cc, const field *node,
                    const char *data, size_t len, size_t pos)
{
    strlist changes, gone;
    cl_listing listed;
    field r, key, meta;
    char fk[KEY_MAX + 1];
    size_t fklen;

    memset(&changes, 0, sizeof changes);
    memset(&gone, 0, sizeof gone);
    sb_cl_listing_init(&listed, cc);
    while (sb_cl_wire_next(data, len, &pos, &r) == 1 &&
           sb_cl_wire_next(data, len, &pos, &key) == 1 &&
           sb_cl_wire_next(data, len, &pos, &meta) == 1) {
        if (!(fklen = sb_cl_node_key(fk, sizeof fk, node->p, node->n, r.p, r.n)))
            continue;
        sb_cl_listing_add(&listed, fk, fklen);
        mirror_set(cc, fk, fklen, meta_new(key.p, key.n, meta.p, meta.n), &changes);
    }
    sb_cl_listing_gone(&listed, &cc->metas, sb_cl_keep_other_nodes, node, &gone);
    drop_all(cc, &gone, &changes);
    tell(cl, &changes);
}

/* A node is gone: its metas leave every followed channel. */
void sb_cl_phx_node_gone(sb_cluster *cl, const char *name, size_t n)
{
    strlist changes, gone;
    sb_map_iter ci, ki;
    const void *k;
    size_t klen;
    void *val, *mv;

    memset(&changes, 0, sizeof changes);
    sb_map_iter_init(&ci);
    while (sb_map_next(&cl->channels, &ci, NULL, NULL, &val)) {
        cl_channel *cc = val;
        memset(&gone, 0, sizeof gone);
        sb_map_iter_init(&ki);
        while (sb_map_next(&cc->metas, &ki, &k, &klen, &mv))
            if (sb_cl_key_of_node(k, klen, name, n))
                sb_cl_strlist_add(&gone, k, klen);
        drop_all(cc, &gone, &changes);
    }
    tell(cl, &changes);
}

/* Keeps the metas a message changed after the snapshot was read. */
static int keep_touched(const void *k, size_t klen, void *val, const void *ud)
{
    const cl_channel *cc = ud;

    (void)val;
    return sb_map_get(&cc->phx_touched, k, klen) != NULL;
}

void sb_cl_phx_request_snapshot(sb_cluster *cl, cl_channel *cc)
{
    if (sb_cl_send_snapshot(cl, TAG_PHX_SNAPSHOT, PHX_SNAPSHOT_SCRIPT,
                            sizeof PHX_SNAPSHOT_SCRIPT - 1, PHX_PREFIX, cc) == 0)
        cc->phx_snapshot = 1;
}

/* The hash as read: metas it lists that are new here join, metas here
 * it does not list leave, except those a message touched meanwhile (the
 * message is newer than the read). */
void sb_cl_phx_on_snapshot(sb_cluster *cl, redisReply *rep)
{
    cl_channel *cc;
    strlist changes, gone;
    cl_listing listed;
    size_t i;

    if (!(cc = sb_cl_snapshot_channel(cl, rep)) || !cc->phx_snapshot)
        return;
    cc->phx_snapshot = 0;
    memset(&changes, 0, sizeof changes);
    memset(&gone, 0, sizeof gone);
    sb_cl_listing_init(&listed, cc);
    for (i = 1; i + 1 < rep->elements; i += 2) {
        const redisReply *f = rep->element[i], *v = rep->element[i + 1];
        if (v->type != REDIS_REPLY_STRING || !sb_cl_foreign_key(cl, f))
            continue;
        sb_cl_listing_add(&listed, f->str, f->len);
        if (!sb_map_get(&cc->phx_touched, f->str, f->len))
            mirror_set(cc, f->str, f->len, meta_from_value(v->str, v->len), &changes);
    }
    sb_cl_listing_gone(&listed, &cc->metas, keep_touched, cc, &gone);
    drop_all(cc, &gone, &changes);
    sb_map_clear(&cc->phx_touched);
    sb_map_init(&cc->phx_touched, (uint64_t)(uintptr_t)cc);
    tell(cl, &changes);
}

/* After (re)connecting, and when leaving (empty lists): this node's metas
 * replace its fields in each hash, and an X message tells the followers. */
void sb_cl_phx_announce_all(sb_cluster *cl, int leaving)
{
    strlist topics;
    sb_map_iter it;
    const void *k;
    size_t klen, i;
    void *val;

    memset(&topics, 0, sizeof topics);
    sb_map_iter_init(&it);
    while (sb_map_next(&cl->own_metas, &it, &k, &klen, &val)) {
        const char *nl = memchr(k, '\n', klen);
        size_t tlen = (size_t)(nl - (const char *)k);
        for (i = 0; i < topics.n; i++)
            if (topics.len[i] == tlen && memcmp(topics.s[i], k, tlen) == 0)
                break;
        if (i == topics.n)
            sb_cl_strlist_add(&topics, k, tlen);
    }
    for (i = 0; i < topics.n; i++)
        sb_cl_phx_announce(cl, topics.s[i], topics.len[i], leaving);
    sb_cl_strlist_free(&topics);
}

void sb_cl_phx_announce(sb_cluster *cl, const char *topic, size_t tlen,
                        int leaving)
{
    char key[sizeof PHX_PREFIX + SB_CHANNEL_MAX];
    strlist vals;
    sb_buf b, v;
    sb_map_iter it;
    const void *k;
    size_t klen, i, argc = 5;
    void *val;
    const char **argv = NULL;
    size_t *lens = NULL;

    memset(&vals, 0, sizeof vals);
    sb_buf_init(&b, 0);
    sb_cl_wire_head(cl, &b, "X");
    sb_map_iter_init(&it);
    while (!leaving && sb_map_next(&cl->own_metas, &it, &k, &klen, &val)) {
        const cl_meta *m = val;
        if (klen <= tlen || memcmp(k, topic, tlen) != 0 || ((const char *)k)[tlen] != '\n')
            continue;
        sb_cl_strlist_add(&vals, (const char *)k + tlen + 1, klen - tlen - 1);
        sb_buf_init(&v, 0);
        sb_cl_ns_add(&v, m->data, m->klen);
        sb_buf_add(&v, m->data + m->klen, m->mlen);
        sb_cl_strlist_add(&vals, (const char *)sb_buf_data(&v), v.len);
        sb_buf_free(&v);
        sb_cl_ns_add(&b, (const char *)k + tlen + 1, klen - tlen - 1);
        sb_cl_ns_add(&b, m->data, m->klen);
        sb_cl_ns_add(&b, m->data + m->klen, m->mlen);
    }
    argc += vals.n;
    argv = malloc(argc * sizeof *argv);
    lens = malloc(argc * sizeof *lens);
    if (argv && lens && !vals.oom) {
        argv[0] = "EVAL";
        argv[1] = PHX_SYNC_SCRIPT;
        argv[2] = "1";
        argv[3] = key;
        argv[4] = cl->node;
        lens[0] = 4;
        lens[1] = sizeof PHX_SYNC_SCRIPT - 1;
        lens[2] = 1;
        lens[3] = sb_cl_make_key(key, sizeof key, PHX_PREFIX, topic, tlen);
        lens[4] = cl->node_len;
        for (i = 0; i < vals.n; i++) {
            argv[5 + i] = vals.s[i];
            lens[5 + i] = vals.len[i];
        }
        sb_cl_send_argv(cl, TAG_OTHER, (int)argc, argv, lens);
        if (!leaving)
            sb_cl_publish_raw(cl, TAG_OTHER, topic, tlen, &b);
    }
    free(argv);
    free(lens);
    sb_buf_free(&b);
    sb_cl_strlist_free(&vals);
}
