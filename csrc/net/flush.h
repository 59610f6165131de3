/* End-of-turn writes for server connections.
 *
 * Asking lws for a writeable callback costs two epoll_ctl calls per
 * connection per turn (POLLOUT on, then off again), which profiling showed
 * costs more than the sends themselves in a big fan-out.  Instead, a
 * connection with new frames is put on its server's dirty list, and at the
 * end of the loop turn each one gets its whole turn's frames in one packed
 * write, straight from here.  Only when the socket is full (lws had to
 * buffer part of a send) or the connection is not in a plain established
 * state does it fall back to lws's writeable callback.
 *
 * A turn writes to at most SB_FLUSH_PER_TURN connections, in the order
 * they got their first frame; the rest stay on the list for the next
 * turn (their frames pack into fewer writes meanwhile).  A fan-out to
 * 20,000 connections is then spread over turns instead of making one
 * turn of 20,000 sends, and an HTTP request (GET /metrics) waiting for
 * the poll is answered between them. */
#ifndef SB_FLUSH_H
#define SB_FLUSH_H

#include "loop.h"
#include "queue.h"

#include "types.h"

/* Connections written per loop turn at most, and the time a turn's
 * writes may take: a write to a loopback reader costs 5 to 20 us, so
 * 2,048 can take 40 ms, and everything else waits that long. */
#define SB_FLUSH_PER_TURN 2048
#define SB_FLUSH_TURN_US 5000

typedef struct sb_flusher {
    sb_turn_hook hook;     /* first: the hook's address is the flusher's */
    sb_loop *loop;
    sb_wsconn *dirty;      /* connections with frames to write, oldest first */
    sb_wsconn *dirty_tail;
    sb_batch batch;        /* shared scratch for packed writes */
} sb_flusher;

void sb_flusher_init(sb_flusher *fl, sb_loop *loop);
/* Disarms the hook and frees the scratch (the dirty list must be empty:
 * every connection unmarks itself when freed). */
void sb_flusher_free(sb_flusher *fl);
/* c has new frames (or a close to send): write them at the end of the turn. */
void sb_flush_mark(sb_flusher *fl, sb_wsconn *c);
/* c is being freed: take it off the dirty list. */
void sb_flush_unmark(sb_flusher *fl, sb_wsconn *c);

#endif
