/* A FIFO of frame references with a byte count: the send queue of every
 * connection, server or client side. */
#ifndef SB_QUEUE_H
#define SB_QUEUE_H

#include <stddef.h>

#include <libwebsockets.h>

#include "frame.h"

typedef struct sb_fqueue {
    sb_frame **q;
    size_t head, len, cap;
    size_t bytes;
    unsigned char *batch;   /* scratch for packed writes (server side) */
    size_t batch_cap;
} sb_fqueue;

/* Takes a new reference on f; returns -1 when memory ran out. */
int sb_fqueue_push(sb_fqueue *q, sb_frame *f);
/* Oldest frame or NULL; the queue keeps its reference. */
sb_frame *sb_fqueue_peek(const sb_fqueue *q);
/* Drops the oldest frame (and the queue's reference). */
void sb_fqueue_pop(sb_fqueue *q);
void sb_fqueue_clear(sb_fqueue *q);
void sb_fqueue_free(sb_fqueue *q);
/* Writes queued frames while the socket takes them (from a writeable
 * callback).  Returns -1 when a write failed (lws should drop the
 * connection); when close_code is set and the queue is now empty, sends
 * the close frame, has lws hang up, and returns 1 (call no more).
 * pack: frame several queued messages into one write (server side only:
 * server frames are unmasked, so their bytes do not depend on the
 * connection). */
int sb_queue_flush(struct lws *wsi, sb_fqueue *q, int pack, int close_code,
                   const char *close_reason);

#endif
