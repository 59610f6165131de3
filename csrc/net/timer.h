/* A one-shot libuv timer that its owner can drop at any time: the handle
 * lives in its own allocation, freed from libuv's close callback, so the
 * owner (a server, its keepalive) never waits for that callback.  Why not
 * lws's timers (lws_sul_schedule): on a foreign libuv loop lws 4.1 re-arms
 * its one timer only from its own service, and the own transport (tcp.h)
 * gives lws nothing to service -- a deadline set between two lws events
 * would wait for the next one. */
#ifndef SB_NET_TIMER_H
#define SB_NET_TIMER_H

#include <stdint.h>

#include <uv.h>

typedef struct sb_timer sb_timer;
typedef void (*sb_timer_fn)(void *arg);

/* NULL when memory ran out.  The timer does not keep the loop alive. */
sb_timer *sb_timer_new(uv_loop_t *loop, sb_timer_fn fn, void *arg);
/* (Re)starts it: fn(arg) once, ms from now. */
void sb_timer_start(sb_timer *t, uint64_t ms);
void sb_timer_stop(sb_timer *t);
/* Stops it for good; NULL is fine. */
void sb_timer_free(sb_timer *t);

#endif
