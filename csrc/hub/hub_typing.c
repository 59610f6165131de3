/* Typing flags with their TTL, and the tick that expires them (and, when a
 * history ttl is set, old history and the idle channels it leaves empty). */
#include "hub_internal.h"

/* Typing list: appended on set, so with a monotonic clock and one TTL it
 * stays ordered by deadline and tick only looks at its head. */
void sb_hub_typing_unlink(sb_hub *h, sb_member *m)
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
    sb_hub_typing_unlink(h, m);
    m->typing = 1;
    m->typing_until = until;
    m->tprev = h->typing_tail;
    m->tnext = NULL;
    if (h->typing_tail)
        h->typing_tail->tnext = m;
    else
        h->typing_head = m;
    h->typing_tail = m;
    sb_hub_deadline(h, SB_DEADLINE_TYPING, until - sb_hub_now(h));
}

/* Sets or clears the flag; remote: the change came from another node
 * (not sent back to the cluster, and the event says so). */
static int set_typing(sb_hub *h, const char *ch, size_t chlen,
                      const char *member, size_t mlen, int typing, int remote)
{
    sb_channel *chan;
    sb_member *m;
    int changed;

    if (!sb_hub_valid_channel(ch, chlen))
        return SB_ECHANNEL;
    if (!sb_hub_valid_member(member, mlen))
        return SB_EMEMBER;
    chan = sb_hub_channel_get(h, ch, chlen);
    m = sb_hub_member_get(chan, member, mlen);
    if (!m)
        return SB_ENOTFOUND;
    typing = typing != 0;
    changed = m->typing != typing;
    if (!remote && h->cluster.typing)
        h->cluster.typing(h, ch, chlen, member, mlen, typing, h->cluster.ud);
    if (typing)
        typing_append(h, m, sb_hub_now(h) + h->cfg.typing_ttl);
    else
        sb_hub_typing_unlink(h, m);
    if (changed) {
        chan->holds++;
        h->remote_event = remote;
        sb_hub_fire(h, SB_EV_TYPING, chan, m, NULL, typing);
        h->remote_event = 0;
        sb_hub_channel_release(chan);
    }
    return changed;
}

int sb_hub_set_typing(sb_hub *h, const char *ch, size_t chlen,
                      const char *member, size_t mlen, int typing)
{
    return set_typing(h, ch, chlen, member, mlen, typing, 0);
}

int sb_hub_remote_typing(sb_hub *h, const char *ch, size_t chlen,
                         const char *member, size_t mlen, int typing)
{
    return set_typing(h, ch, chlen, member, mlen, typing, 1);
}

/* Expires due typing flags, firing SB_EV_TYPING for each; looks only at
 * the head of the list, which is ordered by deadline. */
double sb_hub_expire_typing(sb_hub *h)
{
    double now = sb_hub_now(h);
    sb_member *m;

    while ((m = h->typing_head) && m->typing_until <= now) {
        sb_channel *chan = m->ch;
        sb_hub_typing_unlink(h, m);
        chan->holds++;
        sb_hub_fire(h, SB_EV_TYPING, chan, m, NULL, 0);
        sb_hub_channel_release(chan);
    }
    return h->typing_head ? h->typing_head->typing_until - now : -1;
}

/* When a history ttl is set, drops old history and frees the idle channels
 * it leaves empty.  Visits every channel: a timer paces it (lua_hub.c). */
double sb_hub_expire_history(sb_hub *h)
{
    double now, next = -1, due;
    sb_channel *ch, *nx;

    if (h->cfg.history_ttl <= 0 && !h->rules_ttl)
        return -1;
    now = sb_hub_now(h);
    for (ch = h->all; ch; ch = nx) {
        nx = ch->anext;
        sb_hub_history_expire(h, ch, now);
        if (ch->ring_len) {
            /* channels without a ttl keep their history until evicted */
            due = ch->ring[ch->ring_start].t + ch->hist_ttl - now;
            if (ch->hist_ttl > 0 && (next < 0 || due < next))
                next = due;
        } else if (ch->idle && !ch->holds) {
            sb_hub_channel_destroy(ch);
        }
    }
    return next;
}

double sb_hub_tick(sb_hub *h)
{
    double t = sb_hub_expire_typing(h), hist = sb_hub_expire_history(h);

    if (t < 0 || (hist >= 0 && hist < t))
        return hist;
    return t;
}
