/* The hub's own timer: a hub made on a loop expires typing flags and
 * history by itself while step()/run() turn that loop, instead of waiting
 * for someone to call hub:tick().
 *
 * One uv timer per hub, armed for the earliest deadline the hub reported
 * (sb_hub_set_deadline_hook) and re-armed from what the expiry returns; it
 * is stopped when nothing is pending.  It is unref'd and no loop user, like
 * a signal watcher: housekeeping never keeps run() going by itself (a
 * history ttl of an hour would otherwise hold the process that long after
 * its last server closed).
 *
 * Typing expiry costs only what expires, so it runs at its deadlines;
 * history expiry visits every channel, so sweeps are at least
 * SWEEP_PACE_MS apart (history only ever expires late, never early, and
 * replay checks ages on its own).
 *
 * A hub with an injected clock gets no timer: its time is not the loop's,
 * and its tests call hub:tick() after moving the clock. */
#include "lua_hub_internal.h"

#include <stdlib.h>

#define SWEEP_PACE_MS 1000

struct lhub_timer {
    uv_timer_t h;
    sb_loop *loop;
    lhub *lh;              /* NULL once the hub is collected */
    uint64_t due;          /* loop ms the timer is armed for; 0: stopped */
    uint64_t sweep_due;    /* loop ms of the next history sweep; 0: none */
    uint64_t swept;        /* loop ms of the last history sweep */
};

static void lhub_timer_fire(uv_timer_t *h);

static uint64_t lhub_timer_ms_from_now(const lhub_timer *t, double in)
{
    if (in < 0)
        in = 0;
    /* rounded up so the timer does not fire just before what it waits for */
    return uv_now(&t->loop->uv) + (uint64_t)(in * 1000.0 + 0.999);
}

/* Arms the timer for loop time `at` unless it is armed for earlier. */
static void lhub_timer_arm(lhub_timer *t, uint64_t at)
{
    uint64_t now = uv_now(&t->loop->uv);

    if (t->due && t->due <= at)
        return;
    t->due = at;
    uv_timer_start(&t->h, lhub_timer_fire, at > now ? at - now : 0, 0);
}

/* The hub's deadline hook: a typing flag or a kept message is due `in`
 * seconds from now. */
static void lhub_timer_deadline(sb_hub *h, sb_deadline_kind kind, double in,
                                void *ud)
{
    lhub_timer *t = ud;
    uint64_t at = lhub_timer_ms_from_now(t, in);

    (void)h;
    if (kind == SB_DEADLINE_HISTORY) {
        if (at < t->swept + SWEEP_PACE_MS)
            at = t->swept + SWEEP_PACE_MS;
        if (t->sweep_due && t->sweep_due <= at)
            return;
        t->sweep_due = at;
    }
    lhub_timer_arm(t, at);
}

/* Expires what is due, then re-arms for what is left (or stays stopped).
 * The Lua listeners of typing events run from here, on the thread that
 * turns the loop; the hub is retained so that a listener whose hub gets
 * collected meanwhile does not pull it from under the expiry. */
static void lhub_timer_fire(uv_timer_t *h)
{
    lhub_timer *t = h->data;
    lua_State *L = sb_lua_loop_state(t->loop);
    sb_hub *hub;
    double typing, hist = -1;
    uint64_t now, next = 0;

    t->due = 0;
    if (!L || !t->lh || !t->lh->h)
        return;
    hub = t->lh->h;
    sb_hub_retain(hub);
    {
        ENTER(t->lh, L);
        now = uv_now(&t->loop->uv);
        typing = sb_hub_expire_typing(hub);
        if (t->sweep_due && t->sweep_due <= now) {
            t->swept = now;
            t->sweep_due = 0;
            hist = sb_hub_expire_history(hub);
        }
        if (t->lh)
            LEAVE(t->lh);
    }
    sb_hub_free(hub);
    if (!t->lh)
        return;
    if (hist >= 0)
        lhub_timer_deadline(NULL, SB_DEADLINE_HISTORY, hist, t);
    if (t->sweep_due)
        next = t->sweep_due;
    if (typing >= 0 && (!next || lhub_timer_ms_from_now(t, typing) < next))
        next = lhub_timer_ms_from_now(t, typing);
    if (next)
        lhub_timer_arm(t, next);
}

int sb_lua_hub_use_loop(lhub *lh, sb_loop *loop)
{
    lhub_timer *t = calloc(1, sizeof *t);

    if (!t)
        return SB_ENOMEM;
    uv_timer_init(&loop->uv, &t->h);
    uv_unref((uv_handle_t *)&t->h);
    t->h.data = t;
    t->loop = loop;
    t->lh = lh;
    lh->timer = t;
    sb_hub_set_deadline_hook(lh->h, lhub_timer_deadline, t);
    return SB_OK;
}

static void lhub_timer_closed(uv_handle_t *h)
{
    free(h->data);
}

/* The handle closes asynchronously: its memory goes in the close
 * callback, and a fire already running sees t->lh == NULL. */
void sb_lua_hub_stop_timer(lhub *lh)
{
    lhub_timer *t = lh->timer;

    if (!t)
        return;
    if (lh->h)
        sb_hub_set_deadline_hook(lh->h, NULL, NULL);
    t->lh = NULL;
    lh->timer = NULL;
    uv_close((uv_handle_t *)&t->h, lhub_timer_closed);
}
