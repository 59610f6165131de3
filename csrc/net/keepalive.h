/* WebSocket keepalive of a server (keepalive.c): a PING to every
 * connection that has been silent (no PONG) for ping_interval, and a
 * hang-up for one that still has not answered by idle_timeout.  Only
 * PONGs count, not data frames: a peer that sends but never reads would
 * otherwise stay forever.
 *
 * Why not lws's retry_and_idle_policy: lws 4.1 keeps one timer per
 * connection for it in a single sorted list, and each (re)arm walks that
 * list, so a storm of n new connections costs O(n^2) on the loop.  Here
 * every connection waits in one of two lists kept in deadline order for
 * free (the same delay is added to a monotonic clock), with one lws
 * timer per server for the earliest deadline: O(1) per connection, pong
 * and ping. */
#ifndef SB_KEEPALIVE_H
#define SB_KEEPALIVE_H

#include <stdint.h>
#include <libwebsockets.h>

#include "timer.h"
#include "types.h"

/* Connections in deadline order (linked through sb_wsconn's ka_*). */
typedef struct sb_ka_list {
    sb_wsconn *head, *tail;
} sb_ka_list;

typedef struct sb_keepalive {
    sb_timer *timer;              /* the one timer; NULL: stopped (or off) */
    int64_t ping_ms;              /* silent this long: ping */
    int64_t hup_ms;               /* pinged this long ago, no pong: hang up */
    sb_ka_list quiet;             /* waiting for ping_ms (from their last pong) */
    sb_ka_list pinged;            /* waiting for a pong */
    int64_t due;                  /* when the timer fires; 0 = not armed */
} sb_keepalive;

/* Off (ping_interval or idle_timeout <= 0, or idle_timeout not past
 * ping_interval: the same rule lws had) leaves ka stopped: adds do
 * nothing. */
void sb_keepalive_start(sb_keepalive *ka, uv_loop_t *loop,
                        int ping_interval, int idle_timeout);
/* The server stops listening (its lws context goes): no more timer;
 * connections may still be removed. */
void sb_keepalive_stop(sb_keepalive *ka);
/* c is an established WebSocket: its first ping is ping_interval away. */
void sb_keepalive_add(sb_keepalive *ka, sb_wsconn *c);
/* c answered (a PONG): its next ping is ping_interval from now. */
void sb_keepalive_pong(sb_keepalive *ka, sb_wsconn *c);
/* c is gone (or closing): no more pings or hang-up. */
void sb_keepalive_remove(sb_keepalive *ka, sb_wsconn *c);
/* Writes c's ping if one is due; call where c may write (end of turn or
 * its writeable callback).  -1 when the write failed. */
int sb_keepalive_write_ping(sb_wsconn *c);

#endif
