/* Join and leave events of the native protocol, coalesced per loop turn
 * (see ws_native_presence.h).
 *
 * Sent one by one, N connections joining a channel cost N^2/2 frames, and
 * as many again when they all drop: a storm of 20,000 sockets was 400
 * million frames.  So an event is queued on its channel with a sequence
 * number and the count it carries, and at the end of the turn (or before
 * the channel's next message, which must not overtake it) every native
 * connection of the channel gets the events that followed its own join:
 * all of them when there are at most its budget, else the first budget -
 * 1 and the last, whose count is the exact one.  The budget is 16 events,
 * less in a big channel (ws_native_presence.h), so that a turn sends at
 * most about 16,384 frames to one channel: turns stay short, and a
 * server busy with a storm coalesces more per turn. */
#include "ws_native_presence.h"

#include <stdlib.h>
#include <string.h>

#include "base/map.h"
#include "ws_native.h"

/* One queued event: its frame (join or leave, with its count). */
typedef struct pres_ev {
    uint64_t seq;
    sb_frame *f;
} pres_ev;

/* The events of one channel this turn, in sequence order. */
typedef struct pres_chan {
    pres_ev *ev;
    size_t n, cap;
    size_t len;
    char name[];
} pres_chan;

struct sb_native_pres {
    sb_turn_hook hook;      /* first: the hook's address is the state's */
    sb_server *srv;
    sb_map chans;           /* channel name -> pres_chan* */
    uint64_t seq;
};

static void pres_turn_end(sb_turn_hook *h);

sb_native_pres *sb_native_pres_new(sb_server *srv)
{
    sb_native_pres *p = calloc(1, sizeof *p);

    if (!p)
        return NULL;
    p->hook.fn = pres_turn_end;
    p->srv = srv;
    sb_map_init(&p->chans, (uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ULL);
    return p;
}

static void chan_free(pres_chan *pc)
{
    size_t i;

    for (i = 0; i < pc->n; i++)
        sb_frame_unref(pc->ev[i].f);
    free(pc->ev);
    free(pc);
}

void sb_native_pres_free(sb_native_pres *p)
{
    sb_map_iter it;
    void *val;

    if (!p)
        return;
    sb_loop_turn_hook_cancel(sb_server_loop(p->srv), &p->hook);
    sb_map_iter_init(&it);
    while (sb_map_next(&p->chans, &it, NULL, NULL, &val))
        chan_free(val);
    sb_map_clear(&p->chans);
    free(p);
}

uint64_t sb_native_pres_next(sb_native_pres *p)
{
    return ++p->seq;
}

/* The channel's queue, created on its first event of the turn. */
static pres_chan *chan_get(sb_native_pres *p, const char *ch, size_t chlen)
{
    pres_chan *pc = sb_map_get(&p->chans, ch, chlen);

    if (pc)
        return pc;
    if (!(pc = calloc(1, sizeof *pc + chlen + 1)))
        return NULL;
    memcpy(pc->name, ch, chlen);
    pc->len = chlen;
    if (sb_map_put(&p->chans, pc->name, chlen, pc)) {
        free(pc);
        return NULL;
    }
    return pc;
}

int sb_native_pres_event(sb_native_pres *p, const char *ch, size_t chlen,
                         uint64_t seq, sb_frame *f)
{
    pres_chan *pc = chan_get(p, ch, chlen);
    pres_ev *ev;
    size_t cap;

    if (!pc)
        return -1;
    if (pc->n == pc->cap) {
        cap = pc->cap ? pc->cap * 2 : 8;
        if (!(ev = realloc(pc->ev, cap * sizeof *ev)))
            return -1;
        pc->ev = ev;
        pc->cap = cap;
    }
    pc->ev[pc->n].seq = seq;
    pc->ev[pc->n].f = f;
    pc->n++;
    sb_frame_ref(f);
    sb_loop_at_turn_end(sb_server_loop(p->srv), &p->hook);
    return 0;
}

/* The first event after seq (events are in sequence order). */
static size_t first_after(const pres_chan *pc, uint64_t seq)
{
    size_t lo = 0, hi = pc->n, mid;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        if (pc->ev[mid].seq <= seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

struct send_ctx {
    const sb_native_pres *p;
    const pres_chan *pc;
    size_t budget;          /* events per connection this turn */
};

/* One connection of the channel: the events that followed its join,
 * within the budget (the last one always: its count is the exact one). */
static void send_to(sb_conn *hc, const char *member, size_t mlen, void *ud)
{
    const struct send_ctx *x = ud;
    sb_wsconn *c = hc->ud;
    size_t i, from, n;

    (void)member;
    (void)mlen;
    if (hc->deliver != sb_native_deliver || c->srv != x->p->srv || !sb_native_of(c))
        return;
    from = first_after(x->pc, sb_native_of(c)->join_seq);
    n = x->pc->n - from;
    if (n > x->budget) {
        for (i = from; i < from + x->budget - 1; i++)
            sb_wsconn_send(c, x->pc->ev[i].f);
        sb_wsconn_send(c, x->pc->ev[x->pc->n - 1].f);
        return;
    }
    for (i = from; i < x->pc->n; i++)
        sb_wsconn_send(c, x->pc->ev[i].f);
}

/* Events per connection for a channel of `conns` connections: 16 in a
 * room, 1 (the last, with the exact count) in a crowd of 16,384. */
static size_t budget_for(size_t conns)
{
    size_t b = conns ? SB_NATIVE_PRESENCE_FRAMES / conns : SB_NATIVE_PRESENCE_BUDGET;

    if (b > SB_NATIVE_PRESENCE_BUDGET)
        return SB_NATIVE_PRESENCE_BUDGET;
    return b ? b : 1;
}

void sb_native_pres_flush(sb_native_pres *p, const char *ch, size_t chlen)
{
    pres_chan *pc = sb_map_del(&p->chans, ch, chlen);
    struct send_ctx x;

    if (!pc)
        return;
    x.p = p;
    x.pc = pc;
    x.budget = budget_for(sb_hub_connection_count(sb_server_hub(p->srv), pc->name, pc->len));
    sb_hub_each_connection(sb_server_hub(p->srv), pc->name, pc->len, send_to, &x);
    chan_free(pc);
}

int sb_native_pres_pending(const sb_native_pres *p)
{
    return p && p->chans.count > 0;
}

/* The turn is over: every channel with events gets them.  By name, one
 * at a time: a flush takes its channel off the map. */
static void pres_turn_end(sb_turn_hook *h)
{
    sb_native_pres *p = (sb_native_pres *)h;
    sb_map_iter it;
    const void *k;
    size_t klen;
    char name[SB_CHANNEL_MAX + 1];

    for (;;) {
        sb_map_iter_init(&it);
        if (!sb_map_next(&p->chans, &it, &k, &klen, NULL) || klen > SB_CHANNEL_MAX)
            break;
        memcpy(name, k, klen);
        sb_native_pres_flush(p, name, klen);
    }
}
