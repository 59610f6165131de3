/* Channel history: epochs, the per-channel ring of kept messages, per-pattern
 * history rules, expiry by ttl, and replay for recovering clients. */
#include "hub_internal.h"
#include "base/str.h"

#include <stdlib.h>
#include <string.h>

/* Epochs must differ between incarnations of a channel, also across hub
 * restarts, and stay below 2^53 so Lua 5.1 numbers hold them exactly:
 * wall-clock milliseconds shifted left 12 bits, plus a per-hub counter. */
uint64_t sb_hub_next_epoch(sb_hub *h)
{
    uint64_t e = (h->epoch_base + ++h->epoch_count) & ((1ULL << 53) - 1);
    return e ? e : 1;
}

/* History size and ttl for a channel name: the longest matching rule
 * (an exact name beats any pattern), else the hub's defaults. */
void sb_hub_history_policy(sb_hub *h, const char *name, size_t len,
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
        if (!(p = sb_memdup(pattern, len)))
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
void sb_hub_history_expire(sb_hub *h, sb_channel *ch, double now)
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

/* Drops every kept message (the epoch and offset stay). */
static void history_clear(sb_channel *chan)
{
    size_t i;

    for (i = 0; i < chan->ring_len; i++) {
        sb_kept *k = &chan->ring[(chan->ring_start + i) % chan->hist_cap];
        sb_msg_unref(k->m);
        k->m = NULL;
    }
    chan->ring_start = chan->ring_len = 0;
}

/* Forgets the channel's history and gives it a new epoch (offsets start
 * again at 1). */
void sb_hub_history_reset(sb_hub *h, sb_channel *chan)
{
    history_clear(chan);
    chan->offset = 0;
    chan->epoch = sb_hub_next_epoch(h);
}

int sb_hub_history_break(sb_hub *h, const char *ch, size_t chlen)
{
    sb_channel *chan = sb_hub_channel_get(h, ch, chlen);

    if (!chan)
        return 0;
    sb_hub_history_reset(h, chan);
    return 1;
}

/* Appends m (stamped already) to the ring, dropping the oldest entry when
 * full.  SB_ENOMEM (nothing changed) if the ring could not be allocated. */
static int history_append(sb_hub *h, sb_channel *ch, sb_msg *m)
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
    k = &ch->ring[(ch->ring_start + ch->ring_len) % cap];
    k->m = sb_msg_ref(m);
    k->t = sb_hub_now(h);
    ch->ring_len++;
    if (ch->hist_ttl > 0)
        sb_hub_deadline(h, SB_DEADLINE_HISTORY, ch->hist_ttl);
    return SB_OK;
}

/* Stamps m and keeps a reference in the channel's ring, dropping the
 * oldest entry when full.  SB_ENOMEM (nothing changed) if the ring could
 * not be allocated. */
int sb_hub_history_keep(sb_hub *h, sb_channel *ch, sb_msg *m)
{
    if (history_append(h, ch, m))
        return SB_ENOMEM;
    m->epoch = ch->epoch;
    m->offset = ++ch->offset;
    return SB_OK;
}

/* Keeps a message the cluster numbered.  The ring must stay one unbroken
 * run ending at ch->offset (replay relies on it), so a position that does
 * not follow on restarts the ring there; so does a failed allocation. */
void sb_hub_history_put(sb_hub *h, sb_channel *ch, sb_msg *m)
{
    if (m->epoch != ch->epoch || m->offset != ch->offset + 1) {
        history_clear(ch);
        ch->epoch = m->epoch;
    }
    ch->offset = m->offset;
    if (ch->hist_cap && history_append(h, ch, m))
        history_clear(ch);
}

void sb_hub_history_set_position(sb_hub *h, const char *ch, size_t chlen,
                                 uint64_t epoch, uint64_t offset)
{
    sb_channel *chan = sb_hub_channel_get(h, ch, chlen);

    if (!chan || (chan->epoch == epoch && chan->offset == offset))
        return;
    history_clear(chan);
    chan->epoch = epoch;
    chan->offset = offset;
}

void sb_hub_history_rule(sb_hub *h, const char *ch, size_t chlen,
                         size_t *count, double *ttl)
{
    sb_hub_history_policy(h, ch, chlen, count, ttl);
}

int sb_hub_history_shared(sb_hub *h, const char *ch, size_t chlen)
{
    if (!h->cluster.history_shared)
        return 0;
    return h->cluster.history_shared(h, ch, chlen, h->cluster.ud);
}

sb_fetch *sb_hub_history_fetch(sb_hub *h, const char *ch, size_t chlen,
                               uint64_t epoch, uint64_t after, sb_fetch_fn fn,
                               void *fn_ud)
{
    if (!h->cluster.history_fetch)
        return NULL;
    return h->cluster.history_fetch(h, ch, chlen, epoch, after, fn, fn_ud,
                                    h->cluster.ud);
}

void sb_hub_history_cancel(sb_hub *h, sb_fetch *f)
{
    if (f && h->cluster.history_cancel)
        h->cluster.history_cancel(h, f, h->cluster.ud);
}

void sb_hub_position(sb_hub *h, const char *ch, size_t chlen,
                     uint64_t *epoch, uint64_t *offset)
{
    sb_channel *chan = sb_hub_channel_get(h, ch, chlen);

    *epoch = chan ? chan->epoch : 0;
    *offset = chan ? chan->offset : 0;
}

/* The requested messages are referenced into an array before fn runs, so
 * fn may publish or leave (changing the ring) without harm. */
int sb_hub_replay(sb_hub *h, const char *ch, size_t chlen, uint64_t epoch,
                  uint64_t after, sb_msg_fn fn, void *ud)
{
    sb_channel *chan = sb_hub_channel_get(h, ch, chlen);
    uint64_t cur = chan ? chan->epoch : 0, last = chan ? chan->offset : 0;
    size_t n, i, skip;
    sb_msg **list;

    if (chan)
        sb_hub_history_expire(h, chan, sb_hub_now(h));
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
