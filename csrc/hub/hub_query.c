/* Read-only views of the hub: presence and counts, the each_* iterators
 * and the totals of sb_hub_get_stats. */
#include "hub_internal.h"

#include <string.h>

int sb_hub_is_present(sb_hub *h, const char *ch, size_t chlen,
                      const char *member, size_t mlen)
{
    return sb_hub_member_get(sb_hub_channel_get(h, ch, chlen), member,
                             mlen) != NULL;
}

size_t sb_hub_member_count(sb_hub *h, const char *ch, size_t chlen)
{
    sb_channel *chan = sb_hub_channel_get(h, ch, chlen);
    return chan ? chan->members.count : 0;
}

size_t sb_hub_connection_count(sb_hub *h, const char *ch, size_t chlen)
{
    sb_channel *chan = sb_hub_channel_get(h, ch, chlen);
    return chan ? chan->nconns + chan->rconns.count : 0;
}

const char *sb_hub_member_of(sb_hub *h, const char *ch, size_t chlen,
                             const sb_conn *c, size_t *mlen)
{
    sb_channel *chan = sb_hub_channel_get(h, ch, chlen);
    sb_sub *s = chan ? sb_hub_sub_get(chan, c) : NULL;

    if (!s)
        return NULL;
    if (mlen)
        *mlen = s->member->len;
    return s->member->id;
}

/* The members of a channel, or only those typing: each_member and
 * each_typing are the same walk over the channel's member map. */
static void each_member_of(sb_hub *h, const char *ch, size_t chlen,
                           int typing_only, sb_member_fn fn, void *ud)
{
    sb_channel *chan = sb_hub_channel_get(h, ch, chlen);
    sb_map_iter it;
    void *val;

    if (!chan)
        return;
    sb_map_iter_init(&it);
    while (sb_map_next(&chan->members, &it, NULL, NULL, &val)) {
        const sb_member *m = val;
        if (!typing_only || m->typing)
            fn(m->id, m->len, ud);
    }
}

/* The each_* iterators call fn for every item in unspecified order; fn must
 * not change the hub (collect first, act afterwards). */
void sb_hub_each_member(sb_hub *h, const char *ch, size_t chlen,
                        sb_member_fn fn, void *ud)
{
    each_member_of(h, ch, chlen, 0, fn, ud);
}

void sb_hub_each_connection(sb_hub *h, const char *ch, size_t chlen,
                            sb_conn_fn fn, void *ud)
{
    sb_channel *chan = sb_hub_channel_get(h, ch, chlen);
    sb_sub *s;

    for (s = chan ? chan->subs : NULL; s; s = s->cnext)
        if (!s->dead)
            fn(s->conn, s->member->id, s->member->len, ud);
}

/* The members flagged as typing (hub:typing). */
void sb_hub_each_typing(sb_hub *h, const char *ch, size_t chlen,
                        sb_member_fn fn, void *ud)
{
    each_member_of(h, ch, chlen, 1, fn, ud);
}

void sb_hub_each_channel(sb_hub *h, sb_channel_fn fn, void *ud)
{
    sb_channel *ch;

    for (ch = h->all; ch; ch = ch->anext)
        if (ch->nconns || ch->rconns.count)
            fn(ch->name, ch->len, ch->members.count,
               ch->nconns + ch->rconns.count, ud);
}

void sb_hub_each_channel_of(sb_hub *h, const sb_conn *c, sb_channel_fn fn,
                            void *ud)
{
    sb_sub *s;

    (void)h;
    for (s = c->subs; s; s = s->onext)
        fn(s->ch->name, s->ch->len, s->ch->members.count,
           s->ch->nconns + s->ch->rconns.count, ud);
}

void sb_hub_get_stats(sb_hub *h, sb_hub_stats *st)
{
    sb_channel *ch;
    sb_member *m;

    memset(st, 0, sizeof *st);
    /* O(channels), not O(subscriptions): GET /metrics asks every few
     * seconds, and a walk of 20,000 subscriptions each time is a
     * measurable part of a storm.  by_conn holds the live subscriptions
     * (a sub that left during a publish waits in the graveyard, not
     * counted). */
    for (ch = h->all; ch; ch = ch->anext) {
        st->channels++;
        st->idle_channels += ch->idle != 0;
        st->members += ch->members.count;
        st->kept_messages += ch->ring_len;
        st->subscriptions += ch->by_conn.count;
    }
    for (m = h->typing_head; m; m = m->tnext)
        st->typing++;
}
