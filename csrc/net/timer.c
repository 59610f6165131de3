/* A one-shot libuv timer its owner can drop at any time: see timer.h. */
#include "timer.h"

#include <stdlib.h>

struct sb_timer {
    uv_timer_t h;
    sb_timer_fn fn;
    void *arg;
};

static void sb_timer_fire(uv_timer_t *h)
{
    sb_timer *t = h->data;

    t->fn(t->arg);
}

sb_timer *sb_timer_new(uv_loop_t *loop, sb_timer_fn fn, void *arg)
{
    sb_timer *t = calloc(1, sizeof *t);

    if (!t)
        return NULL;
    if (uv_timer_init(loop, &t->h)) {
        free(t);
        return NULL;
    }
    t->h.data = t;
    t->fn = fn;
    t->arg = arg;
    uv_unref((uv_handle_t *)&t->h);
    return t;
}

void sb_timer_start(sb_timer *t, uint64_t ms)
{
    uv_timer_start(&t->h, sb_timer_fire, ms, 0);
}

void sb_timer_stop(sb_timer *t)
{
    uv_timer_stop(&t->h);
}

static void sb_timer_closed(uv_handle_t *h)
{
    free(h->data);
}

void sb_timer_free(sb_timer *t)
{
    if (!t)
        return;
    uv_timer_stop(&t->h);
    uv_close((uv_handle_t *)&t->h, sb_timer_closed);
}
