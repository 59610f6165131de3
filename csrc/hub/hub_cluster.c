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

/* The channel a remote presence change applies to: it must have a local
 * connection, since only then does this node follow it.  *m gets the
 * member as the channel knows it (NULL if new), which a join and a leave
 * both look at first.  NULL, with *rc set, when the change does not apply. */
static sb_channel *followed(sb_hub *h, const char *ch, size_t chlen,
                            const char *member, size_t mlen, sb_member **m,
                            int *rc)
{
    sb_channel *chan;

    *rc = SB_OK;
    *m = NULL;
    if (!sb_hub_valid_channel(ch, chlen))
        *rc = SB_ECHANNEL;
    else if (!sb_hub_valid_member(member, mlen))
        *rc = SB_EMEMBER;
    else if (!(chan = sb_hub_channel_get(h, ch, chlen)) || !chan->nconns)
        *rc = SB_ENOTFOUND;
    else {
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
        if (s->conn->deliver)
            s->conn->deliver(s->conn, m, s->conn->ud);
    }
    chan->fanouts--;
    sb_hub_channel_release(chan);
    return n;
}

int sb_hub_remote_join(sb_hub *h, const char *ch, size_t chlen,
                       const char *member, size_t mlen)
{
    sb_member *m;
    int rc, fresh;
    sb_channel *chan = followed(h, ch, chlen, member, mlen, &m, &rc);

    if (!chan)
        return rc;
    fresh = m == NULL;
    if (!m && !(m = sb_hub_member_new(chan, member, mlen)))
        return SB_ENOMEM;
    m->remote++;
    if (fresh) {
        chan->holds++;
        sb_hub_fire(h, SB_EV_PRESENCE_JOIN, chan, m, NULL, 0);
        sb_hub_channel_release(chan);
    }
    return fresh;
}

int sb_hub_remote_leave(sb_hub *h, const char *ch, size_t chlen,
                        const char *member, size_t mlen)
{
    sb_member *m;
    int rc, was_typing;
    sb_channel *chan = followed(h, ch, chlen, member, mlen, &m, &rc);

    if (!chan)
        return rc;
    if (!m || m->remote == 0)
        return 0;
    if (--m->remote || m->conns)
        return 0;
    sb_map_del(&chan->members, m->id, m->len);
    was_typing = m->typing;
    sb_hub_typing_unlink(h, m);
    chan->holds++;
    if (was_typing)
        sb_hub_fire(h, SB_EV_TYPING, chan, m, NULL, 0);
    sb_hub_fire(h, SB_EV_PRESENCE_LEAVE, chan, m, NULL, 0);
    free(m);
    sb_hub_channel_release(chan);
    return 1;
}
