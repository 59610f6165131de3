/* Deadlines for many sockets on one timer: see expiry.h. */
#include "expiry.h"

#include <stddef.h>
#include <string.h>

#include "loop.h"

/* Entries handled per fire: the rest waits a turn, so that a storm's
 * worth of handshakes timing out together does not make one long turn. */
#define SB_EXPIRY_BUDGET 2048
/* An entry due this much after the one that fired goes in the same fire. */
#define SB_EXPIRY_SLACK_MS 20

static void sb_expiry_unlink(sb_expiries *l, sb_expiry *d)
{
    if (d->prev)
        d->prev->next = d->next;
    else
        l->head = d->next;
    if (d->next)
        d->next->prev = d->prev;
    else
        l->tail = d->prev;
    d->prev = d->next = NULL;
    d->at = 0;
}

static void sb_expiries_fire(void *arg);

/* Keeps the timer on the head's deadline (never later than it). */
static void sb_expiries_arm(sb_expiries *l)
{
    int64_t now, at;

    if (!l->head) {
        if (l->armed_at)
            sb_timer_stop(l->timer);
        l->armed_at = 0;
        return;
    }
    at = l->head->at;
    if (l->armed_at && l->armed_at <= at)
        return;
    now = sb_mono_ms();
    l->armed_at = at;
    sb_timer_start(l->timer, at > now ? (uint64_t)(at - now) : 0);
}

static void sb_expiries_fire(void *arg)
{
    sb_expiries *l = arg;
    int64_t now = sb_mono_ms() + SB_EXPIRY_SLACK_MS;
    int budget = SB_EXPIRY_BUDGET;
    sb_expiry *d;

    l->armed_at = 0;
    while (budget-- > 0 && (d = l->head) && d->at <= now) {
        sb_expiry_unlink(l, d);
        d->fn(d);   /* may set or cancel other entries */
    }
    if (l->head && l->head->at <= now) {
        l->armed_at = l->head->at;
        sb_timer_start(l->timer, 0);
    } else {
        sb_expiries_arm(l);
    }
}

int sb_expiries_init(sb_expiries *l, uv_loop_t *loop)
{
    memset(l, 0, sizeof *l);
    l->timer = sb_timer_new(loop, sb_expiries_fire, l);
    l->started = l->timer != NULL;
    return l->started ? 0 : -1;
}

void sb_expiries_stop(sb_expiries *l)
{
    if (!l->started)
        return;
    l->started = 0;
    sb_timer_free(l->timer);
    l->timer = NULL;
    l->armed_at = 0;
}

void sb_expiry_cancel(sb_expiries *l, sb_expiry *d)
{
    if (!d->at)
        return;
    sb_expiry_unlink(l, d);
    if (l->started)
        sb_expiries_arm(l);
}

void sb_expiry_set(sb_expiries *l, sb_expiry *d, int64_t ms, sb_expiry_fn fn)
{
    sb_expiry *p;
    int64_t at = sb_mono_ms() + (ms > 0 ? ms : 0);

    if (d->at)
        sb_expiry_unlink(l, d);
    d->at = at ? at : 1;
    d->fn = fn;
    /* from the tail: the first entry not later than this one */
    for (p = l->tail; p && p->at > d->at; p = p->prev)
        ;
    d->prev = p;
    d->next = p ? p->next : l->head;
    if (d->next)
        d->next->prev = d;
    else
        l->tail = d;
    if (p)
        p->next = d;
    else
        l->head = d;
    if (l->started)
        sb_expiries_arm(l);
}
