/* Keys of the form "<node>|<name>" and the listings that replace them:
 * connection keys (cluster_presence.c) and Phoenix metas (cluster_phx.c)
 * are both held per node, read from a Redis hash by a snapshot script and
 * replaced by a node's full list after it reconnects. */
#include "cluster_internal.h"

#include <string.h>

/* 1 when k is "<node>|...": member and meta keys carry the node that
 * holds them, and both kinds are dropped or skipped by node. */
int sb_cl_key_of_node(const char *k, size_t klen, const char *node, size_t n)
{
    return klen > n && memcmp(k, node, n) == 0 && k[n] == '|';
}

size_t sb_cl_pair_key(char *buf, size_t cap, const char *a, size_t alen,
                      char sep, const char *b, size_t blen)
{
    if (alen + 1 + blen > cap)
        return 0;
    memcpy(buf, a, alen);
    buf[alen] = sep;
    memcpy(buf + alen + 1, b, blen);
    return alen + 1 + blen;
}

size_t sb_cl_node_key(char *buf, size_t cap, const char *node, size_t nlen,
                      const char *name, size_t n)
{
    return sb_cl_pair_key(buf, cap, node, nlen, '|', name, n);
}

int sb_cl_foreign_key(const sb_cluster *cl, const redisReply *e)
{
    return e->type == REDIS_REPLY_STRING &&
           !sb_cl_key_of_node(e->str, e->len, cl->node, cl->node_len);
}

void sb_cl_listing_init(cl_listing *l, const void *owner)
{
    sb_map_init(&l->named, (uint64_t)(uintptr_t)owner);
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
