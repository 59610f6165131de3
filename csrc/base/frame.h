/* A refcounted, ready-to-send frame.
 *
 * Fan-out encodes a message once per protocol into an sb_frame and queues a
 * reference to it on every subscriber, so N receivers cost N pointer pushes,
 * not N encodings or copies.  SB_FRAME_PRE bytes of headroom sit in front of
 * the data because libwebsockets writes the WebSocket header there (LWS_PRE);
 * the transport checks at compile time that SB_FRAME_PRE >= LWS_PRE. */
#ifndef SB_FRAME_H
#define SB_FRAME_H

#include <stddef.h>

#include "buf.h"

#define SB_FRAME_PRE 16

typedef struct sb_frame {
    int refs;
    int binary;            /* 1: binary WebSocket frame, 0: text */
    /* permessage-deflate (net/deflate.h): rsv1 marks a frame whose data
     * is compressed (its header gets RSV1); z is the compressed twin of
     * a plain frame, made once on its first write to a receiver that
     * negotiated compression and shared by all of them; z_tried says it
     * was tried (z NULL then: sent plain to everyone). */
    unsigned char rsv1;
    unsigned char z_tried;
    struct sb_frame *z;
    size_t len;            /* bytes of data after the headroom */
    unsigned char *data;   /* = mem + SB_FRAME_PRE */
    unsigned char *mem;    /* allocation, owned */
} sb_frame;

/* Takes over a buffer built with sb_buf_init(b, SB_FRAME_PRE); the buffer is
 * left empty.  Returns NULL when the buffer had run out of memory. */
sb_frame *sb_frame_from_buf(sb_buf *b, int binary);
sb_frame *sb_frame_new(const void *data, size_t len, int binary);
sb_frame *sb_frame_ref(sb_frame *f);
void sb_frame_unref(sb_frame *f);

#endif
