/* Deadlines for many sockets on one timer: a list kept in deadline order,
 * inserted from its tail.  Almost every deadline of one kind is "now plus
 * the same delay" and the clock only goes forward, so an insert stops at
 * the first entry it looks at: O(1), where lws 4.1's sorted timeout list
 * walks from its head (O(n) per insert, O(n^2) for a connection storm).
 * The own transport (tcp.h) uses it for handshake, heartbeat and
 * close-wait deadlines. */
#ifndef SB_NET_EXPIRY_H
#define SB_NET_EXPIRY_H

#include <stdint.h>

#include <uv.h>

#include "timer.h"

typedef struct sb_expiry sb_expiry;
typedef struct sb_expiries sb_expiries;

/* Called for each entry that fell due (already unlinked). */
typedef void (*sb_expiry_fn)(sb_expiry *d);

struct sb_expiry {
    sb_expiry *prev, *next;
    int64_t at;                /* sb_mono_ms; 0 = not in the list */
    sb_expiry_fn fn;
};

struct sb_expiries {
    sb_timer *timer;           /* one timer for the whole list */
    sb_expiry *head, *tail;
    int64_t armed_at;          /* when the timer fires; 0 = stopped */
    int started;
};

/* Starts the list on loop.  0, or -1 when memory ran out. */
int sb_expiries_init(sb_expiries *l, uv_loop_t *loop);
/* Stops the timer for good; entries stay linked, unfired. */
void sb_expiries_stop(sb_expiries *l);
/* (Re)schedules d to fire fn ms milliseconds from now. */
void sb_expiry_set(sb_expiries *l, sb_expiry *d, int64_t ms, sb_expiry_fn fn);
void sb_expiry_cancel(sb_expiries *l, sb_expiry *d);

#endif
