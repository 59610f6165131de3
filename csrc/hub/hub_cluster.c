/* The hub's side of scale-out (cluster.c): the hooks that tell the cluster
 * layer what to send, and the presence other nodes report. */
#include "hub_internal.h"

#include <stdlib.h>
#include <string.h>

void sb_hub_set_cluster_hooks(sb_hub *h, const sb_hub_cluster_hooks *hooks)
{
    if (hooks)
        h->cluster = *hooks;
    else
        memset(&h->cluster, 0, sizeof h->cluster);
}

/* The channel a remote connection joins, created if need be: presence
 * covers the cluster, so a node knows the channels of other nodes too.
 * *m gets the member as the channel knows it (NULL if new).  NULL, with
 * *rc set, when the join does not apply. */
static sb_channel *joined_channel(sb_hub *h, const char *ch, size_t chlen,
                                  const char *member, size_t mlen,
                                  sb_member **m, int *rc)
{
    sb_channel *chan;

    *rc = SB_OK;
    *m = NULL;
    if (!sb_hub_valid_channel(ch, chlen))
        *rc = SB_ECHANNEL;
    else if (!sb_hub_valid_member(member, mlen))
        *rc = SB_EMEMBER;
    else if (!(chan = sb_hub_channel_get(h, ch, chlen)) &&
             !(chan = sb_hub_channel_new(h, ch, chlen)))
        *rc = SB_ENOMEM;
    else {
        sb_hub_idle_unlink(h, chan);
        *m = sb_hub_member_get(chan, member, mlen);
        return chan;
    }
    return NULL;
}

int sb_hub_direct(sb_hub *h, const sb_msg *m, const char *to, size_t tolen)
{
    sb_channel *chan = sb_hub_channel_get(h, m->channel, m->channel_len);
    sb_member *mem = sb_hub_member_get(chan, to, tolen);

    if (!mem || !mem->remote || !h->cluster.direct)
        return SB_ENOTFOUND;
    h->cluster.direct(h, m, to, tolen, h->cluster.ud);
    return 0;
}

/* Walks the channel's subscribers like a publish (hooks may leave or
 * join: the walk holds the channel and dead subscriptions stay linked). */
int sb_hub_deliver_member(sb_hub *h, sb_msg *m, const char *member,
                          size_t mlen)
{
    sb_channel *chan = sb_hub_channel_get(h, m->channel, m->channel_len);
    sb_sub *s;
    int n = 0;

    if (!chan || !sb_hub_member_get(chan, member, mlen))
        return 0;
    m->epoch = m->offset = 0;
    chan->holds++;
    chan->fanouts++;
    for (s = chan->subs; s; s = s->cnext) {
        if (s->dead || s->member->len != mlen ||
            memcmp(s->member->id, member, mlen) != 0)
            continue;
        n++;
        if (s->deliver)
            s->deliver(s->conn, m, s->ud);
    }
    chan->fanouts--;
    sb_hub_channel_release(chan);
    return n;
}

/* Tells the remote watchers (the native protocol) of one remote
 * connection; the channel is held by the caller. */
static void tell_watchers(sb_hub *h, sb_channel *chan, const sb_conn_tag *tag,
                          int joined)
{
    size_t i;

    for (i = 0; i < h->nwatch; i++)
        h->watch[i].fn(h, chan->name, chan->len, tag, joined, h->watch[i].ud);
}

/* A copy of the tag's strings next to the member they belong to. */
static sb_rconn *rconn_new(sb_member *m, const sb_conn_tag *tag)
{
    size_t ul = tag && tag->uid ? strlen(tag->uid) : 0;
    size_t al = tag && tag->alias ? strlen(tag->alias) : 0;
    sb_rconn *rc = calloc(1, sizeof *rc + ul + al + 2);

    if (!rc)
        return NULL;
    rc->m = m;
    if (ul)
        memcpy(rc->text, tag->uid, ul);
    if (al)
        memcpy(rc->text + ul + 1, tag->alias, al);
    rc->tag.uid = ul ? rc->text : NULL;
    rc->tag.alias = al ? rc->text + ul + 1 : NULL;
    rc->tag.flags = tag ? tag->flags : 0;
    return rc;
}

static int same_str(const char *a, const char *b)
{
    return a && b ? strcmp(a, b) == 0 : a == b;
}

/* 1 when a known remote connection is the one described. */
static int same_conn(const sb_rconn *rc, const char *member, size_t mlen,
                     const sb_conn_tag *tag)
{
    return rc->m->len == mlen && memcmp(rc->m->id, member, mlen) == 0 &&
           same_str(rc->tag.uid, tag ? tag->uid : NULL) &&
           same_str(rc->tag.alias, tag ? tag->alias : NULL) &&
           rc->tag.flags == (tag ? tag->flags : 0u);
}

int sb_hub_remote_join(sb_hub *h, const char *ch, size_t chlen,
                       const char *key, size_t klen, const char *member,
                       size_t mlen, const sb_conn_tag *tag)
{
    sb_member *m;
    sb_rconn *rc;
    int err, fresh;
    sb_channel *chan = joined_channel(h, ch, chlen, member, mlen, &m, &err);

    if (!chan)
        return err;
    chan->holds++;      /* a fresh channel goes again if nothing joins */
    if ((rc = sb_map_get(&chan->rconns, key, klen)) && !same_conn(rc, member, mlen, tag)) {
        /* the connection joined again as someone else (its leave was
         * lost with the link): the old one leaves first */
        sb_hub_remote_leave(h, ch, chlen, key, klen);
        m = sb_hub_member_get(chan, member, mlen);
    }
    fresh = m == NULL;
    if (sb_map_get(&chan->rconns, key, klen) ||
        (!m && !(m = sb_hub_member_new(chan, member, mlen)))) {
        sb_hub_channel_release(chan);
        return m ? 0 : SB_ENOMEM;
    }
    if (!(rc = rconn_new(m, tag)) || sb_map_put(&chan->rconns, key, klen, rc)) {
        free(rc);
        if (fresh)
            free(sb_map_del(&chan->members, member, mlen));
        sb_hub_channel_release(chan);
        return SB_ENOMEM;
    }
    m->remote++;
    /* first: an event listener may end the following, freeing rc */
    tell_watchers(h, chan, &rc->tag, 1);
    if (fresh)
        sb_hub_fire(h, SB_EV_PRESENCE_JOIN, chan, m, NULL, 0);
    sb_hub_channel_release(chan);
    return fresh;
}

int sb_hub_remote_leave(sb_hub *h, const char *ch, size_t chlen,
                        const char *key, size_t klen)
{
    sb_channel *chan = sb_hub_channel_get(h, ch, chlen);
    sb_rconn *rc = chan ? sb_map_del(&chan->rconns, key, klen) : NULL;
    sb_member *m;
    int was_typing, gone;

    if (!rc)
        return 0;
    m = rc->m;
    gone = --m->remote == 0 && m->conns == 0;
    chan->holds++;
    if (gone) {
        sb_map_del(&chan->members, m->id, m->len);
        was_typing = m->typing;
        sb_hub_typing_unlink(h, m);
        if (was_typing)
            sb_hub_fire(h, SB_EV_TYPING, chan, m, NULL, 0);
        sb_hub_fire(h, SB_EV_PRESENCE_LEAVE, chan, m, NULL, 0);
        free(m);
    }
    tell_watchers(h, chan, &rc->tag, 0);
    free(rc);
    sb_hub_channel_release(chan);
    return gone;
}

void sb_hub_drop_remote(sb_hub *h, sb_channel *chan)
{
    sb_map_iter it;
    void *val;

    (void)h;
    sb_map_iter_init(&it);
    while (sb_map_next(&chan->rconns, &it, NULL, NULL, &val))
        free(val);
    sb_map_clear(&chan->rconns);
}

/* Drops one channel's remote connections and the members only they kept
 * present (no events; typing of those members goes too). */
static void forget_channel_remote(sb_hub *h, sb_channel *chan)
{
    sb_map_iter it;
    void *val;
    sb_rconn *rc;

    sb_map_iter_init(&it);
    while (sb_map_next(&chan->rconns, &it, NULL, NULL, &val)) {
        rc = val;
        rc->m->remote--;
        free(rc);
    }
    sb_map_clear(&chan->rconns);
    sb_map_init(&chan->rconns, h->seed ^ 1);
    for (;;) {
        sb_member *gone = NULL;
        sb_map_iter_init(&it);
        while (!gone && sb_map_next(&chan->members, &it, NULL, NULL, &val))
            if (((sb_member *)val)->conns == 0)
                gone = val;
        if (!gone)
            break;
        sb_map_del(&chan->members, gone->id, gone->len);
        sb_hub_typing_unlink(h, gone);
        free(gone);
    }
}

void sb_hub_forget_remote(sb_hub *h)
{
    sb_channel *ch;
    char **names = NULL;
    size_t *lens = NULL, n = 0, i;

    for (ch = h->all; ch; ch = ch->anext)
        n += ch->rconns.count > 0;
    if (n && (!(names = calloc(n, sizeof *names)) || !(lens = calloc(n, sizeof *lens))))
        n = 0;  /* out of memory: the channels stay as they are */
    i = 0;
    for (ch = h->all; ch && i < n; ch = ch->anext) {
        if (!ch->rconns.count)
            continue;
        forget_channel_remote(h, ch);
        /* a copy: settling one channel may evict another */
        if ((names[i] = malloc(ch->len)) != NULL) {
            memcpy(names[i], ch->name, ch->len);
            lens[i++] = ch->len;
        }
    }
    /* settling may free channels (and evict idle ones): by name, held */
    n = i;
    for (i = 0; i < n; i++) {
        if ((ch = sb_hub_channel_get(h, names[i], lens[i]))) {
            ch->holds++;
            sb_hub_channel_release(ch);
        }
        free(names[i]);
    }
    free(names);
    free(lens);
}

void sb_hub_each_remote_conn(sb_hub *h, const char *ch, size_t chlen,
                             sb_rconn_fn fn, void *ud)
{
    sb_channel *chan = sb_hub_channel_get(h, ch, chlen);
    sb_map_iter it;
    void *val;

    sb_map_iter_init(&it);
    while (chan && sb_map_next(&chan->rconns, &it, NULL, NULL, &val)) {
        const sb_rconn *rc = val;
        fn(&rc->tag, rc->m->id, rc->m->len, ud);
    }
}

int sb_hub_watch_remote(sb_hub *h, sb_remote_watch_fn fn, void *ud)
{
    struct sb_watch *w = realloc(h->watch, (h->nwatch + 1) * sizeof *w);

    if (!w)
        return SB_ENOMEM;
    h->watch = w;
    w[h->nwatch].fn = fn;
    w[h->nwatch].ud = ud;
    h->nwatch++;
    return SB_OK;
}

void sb_hub_unwatch_remote(sb_hub *h, sb_remote_watch_fn fn, void *ud)
{
    size_t i;

    for (i = 0; i < h->nwatch; i++) {
        if (h->watch[i].fn == fn && h->watch[i].ud == ud) {
            h->watch[i] = h->watch[--h->nwatch];
            /* nothing of the watcher's may stay behind: it points at its
             * server, which points at this hub */
            memset(&h->watch[h->nwatch], 0, sizeof h->watch[0]);
            if (!h->nwatch) {
                free(h->watch);
                h->watch = NULL;
            }
            return;
        }
    }
}
