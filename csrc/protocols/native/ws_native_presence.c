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
 * server busy with a storm coalesces more per turn.
 *
 * A big channel (SB_NATIVE_PRESENCE_PACE_MIN connections or more) is
 * also paced: its events wait a little (conns / PACE_DIV ms from the
 * first one) and go out together, on a timer.  A fan-out to every
 * member on every loop turn of a storm is what kept the loop busy; paced,
 * 20,000 members get a few presence frames a second during a storm, and
 * each frame's count is still the exact one. */
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
    int64_t due;            /* ms (sb_mono_ms) it goes out; 0 = turn end */
    size_t len;
    char name[];
} pres_chan;

struct sb_native_pres {
    sb_turn_hook hook;      /* first: the hook's address is the state's */
    sb_server *srv;
    sb_map chans;           /* channel name -> pres_chan* */
    uint64_t seq;
    lws_sorted_usec_list_t sul;   /* the paced channels' timer */
    struct lws_context *ctx;      /* the timer's context while armed */
    int64_t timer_due;            /* ms it fires; 0 = not armed */
    int stopped;                  /* the server stopped: no more pacing */
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

/* The timer goes with the server's lws context: cancelled here, before
 * the context is destroyed (a later cancel would touch freed memory). */
static void pres_timer_cancel(sb_native_pres *p)
{
    if (p->timer_due && p->ctx)
        lws_sul_cancel(&p->sul);
    p->timer_due = 0;
    p->ctx = NULL;
}

void sb_native_pres_stop(sb_native_pres *p)
{
    if (!p)
        return;
    pres_timer_cancel(p);
    p->stopped = 1;
    if (p->chans.count)
        sb_loop_at_turn_end(sb_server_loop(p->srv), &p->hook);
}

void sb_native_pres_free(sb_native_pres *p)
{
    sb_map_iter it;
    void *val;

    if (!p)
        return;
    if (!p->stopped)
        pres_timer_cancel(p);
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

/* When a channel's first event of a batch goes out: at the end of the
 * turn, or later in a big channel (see the top of the file). */
static int64_t pace_due(const sb_native_pres *p, const char *ch, size_t chlen)
{
    size_t conns = sb_hub_connection_count(sb_server_hub(p->srv), ch, chlen);

    if (p->stopped || conns < SB_NATIVE_PRESENCE_PACE_MIN)
        return 0;
    return sb_mono_ms() + (int64_t)(conns / SB_NATIVE_PRESENCE_PACE_DIV);
}

/* The channel's queue, created on its first event of the batch. */
static pres_chan *chan_get(sb_native_pres *p, const char *ch, size_t chlen)
{
    pres_chan *pc = sb_map_get(&p->chans, ch, chlen);

    if (pc)
        return pc;
    if (!(pc = calloc(1, sizeof *pc + chlen + 1)))
        return NULL;
    memcpy(pc->name, ch, chlen);
    pc->len = chlen;
    pc->due = pace_due(p, ch, chlen);
    if (sb_map_put(&p->chans, pc->name, chlen, pc)) {
        free(pc);
        return NULL;
    }
    sb_server_shared_of(p->srv)->held_events = 1;
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
    sb_server_shared_of(p->srv)->held_events = p->chans.count > 0;
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

static void pres_timer_fire(lws_sorted_usec_list_t *sul);

/* Arms the timer for the earliest paced channel, unless it is armed for
 * then or sooner.  Without a context (the server is going) the channel
 * goes out at the end of the turn instead. */
static void pres_timer_arm(sb_native_pres *p, int64_t due, int64_t now)
{
    struct lws_context *ctx;

    if (p->timer_due && p->timer_due <= due)
        return;
    ctx = p->ctx ? p->ctx : sb_server_lws(p->srv);
    if (!ctx) {
        sb_loop_at_turn_end(sb_server_loop(p->srv), &p->hook);
        return;
    }
    p->ctx = ctx;
    p->timer_due = due;
    lws_sul_schedule(ctx, 0, &p->sul, pres_timer_fire,
                     due > now ? (due - now) * 1000 : 0);
}

/* The first channel whose events are due, copied into name (*len set);
 * 0 when none is.  *next: the earliest due time of the others (0: none). */
static int pres_next_ripe(sb_native_pres *p, int64_t now, char *name,
                          size_t *len, int64_t *next)
{
    sb_map_iter it;
    const void *k;
    size_t klen;
    void *val;

    *next = 0;
    sb_map_iter_init(&it);
    while (sb_map_next(&p->chans, &it, &k, &klen, &val)) {
        const pres_chan *pc = val;
        if (klen > SB_CHANNEL_MAX)
            continue;
        if (p->stopped || pc->due <= now) {
            memcpy(name, k, klen);
            *len = klen;
            return 1;
        }
        if (!*next || pc->due < *next)
            *next = pc->due;
    }
    return 0;
}

/* Every channel whose events are due gets them (by name, one at a time:
 * a flush takes its channel off the map); the timer waits for the rest. */
static void pres_send_ripe(sb_native_pres *p)
{
    char name[SB_CHANNEL_MAX + 1];
    size_t len;
    int64_t now = sb_mono_ms(), next;

    while (pres_next_ripe(p, now, name, &len, &next))
        sb_native_pres_flush(p, name, len);
    if (next)
        pres_timer_arm(p, next, now);
}

static void pres_timer_fire(lws_sorted_usec_list_t *sul)
{
    sb_native_pres *p = lws_container_of(sul, sb_native_pres, sul);

    p->timer_due = 0;
    pres_send_ripe(p);
}

/* The turn is over: the channels with events get them, the paced ones
 * when they are due. */
static void pres_turn_end(sb_turn_hook *h)
{
    pres_send_ripe((sb_native_pres *)h);
}
