/* A FIFO of frame references with a byte count: the send queue of every
 * connection, server or client side. */
#ifndef SB_QUEUE_H
#define SB_QUEUE_H

#include <stddef.h>

#include <libwebsockets.h>

#include "base/frame.h"

struct sb_pmd;   /* deflate.h */

/* Zeroed is empty.  While at most one frame waits at a time (an idle
 * connection's welcome, one message per turn of a fan-out) it is held in
 * place and no ring is allocated; the ring comes with the second. */
typedef struct sb_fqueue {
    union {
        sb_frame **ring;   /* cap slots, once cap > 0 */
        sb_frame *one;     /* the only frame (len <= 1) while cap == 0 */
    } u;
    size_t head, len, cap;
    size_t bytes;
} sb_fqueue;

/* Scratch space for packed writes, one per server (not per connection:
 * writes are synchronous, so every connection can share it, and 10k
 * subscribers do not each keep 64 KiB). */
typedef struct sb_batch {
    unsigned char *mem;
    size_t cap;
} sb_batch;

/* Bytes one packed write may hold: large enough that one syscall carries
 * many small messages, small enough to stay in cache.  The transport's
 * tx_packet_size must let a write this big through in one send. */
#define SB_BATCH_MAX (64 * 1024)

void sb_batch_free(sb_batch *b);
/* Copies as many queued frames, oldest first, as fit into b (after its
 * LWS_PRE headroom): as unmasked WebSocket frames (ws = 1) or their bytes
 * as they are (ws = 0: frames that are already wire bytes, SSE chunks).
 * Returns how many, with their total size in *used; 0 when b cannot be
 * allocated or the first frame does not fit. */
size_t sb_fqueue_pack(const sb_fqueue *q, sb_batch *b, int ws, size_t *used);
/* The same as WebSocket frames for a receiver that negotiated
 * permessage-deflate: each frame as sb_pmd_wire gives it (compressed once
 * and cached on the frame, or plain). */
size_t sb_fqueue_pack_z(const sb_fqueue *q, sb_batch *b, struct sb_pmd *z, size_t *used);

/* Writes the header of an unmasked WebSocket frame carrying f (RFC 6455
 * 5.2; RSV1 for a compressed frame, RFC 7692) into out (14 bytes at
 * most); returns its length. */
size_t sb_frame_header(unsigned char *out, const sb_frame *f);
/* Takes a new reference on f; returns -1 when memory ran out. */
int sb_fqueue_push(sb_fqueue *q, sb_frame *f);
/* Oldest frame or NULL; the queue keeps its reference. */
sb_frame *sb_fqueue_peek(const sb_fqueue *q);
/* Drops the oldest frame (and the queue's reference). */
void sb_fqueue_pop(sb_fqueue *q);
void sb_fqueue_clear(sb_fqueue *q);
void sb_fqueue_free(sb_fqueue *q);
/* Writes queued frames while the socket takes them, from a writeable
 * callback or (server side) at the end of a loop turn.  Returns -1 when a
 * write failed (the connection must be dropped); when close_code is set
 * and the queue is now empty, sends the close frame, has lws hang up, and
 * returns 1 (call no more).  batch: frame several queued messages into one
 * write (server side only: server frames are unmasked, so their bytes do
 * not depend on the connection); NULL writes frame by frame. */
int sb_queue_flush(struct lws *wsi, sb_fqueue *q, sb_batch *batch, int close_code,
                   const char *close_reason);

#endif
