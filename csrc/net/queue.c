#include "queue.h"

#include "deflate.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Slot i (0 = the head) of q: in the ring, or the one held in place. */
static sb_frame **sb_fqueue_slot(sb_fqueue *q, size_t i)
{
    return q->cap ? &q->u.ring[(q->head + i) % q->cap] : &q->u.one;
}

/* Frame i (0 = the head) of q, i < q->len. */
static sb_frame *sb_fqueue_at(const sb_fqueue *q, size_t i)
{
    return q->cap ? q->u.ring[(q->head + i) % q->cap] : q->u.one;
}

/* Makes the first ring (8 slots, taking the frame held in place) or
 * doubles it, unrolling it so head becomes 0. */
static int sb_fqueue_grow(sb_fqueue *q)
{
    size_t ncap = q->cap ? q->cap * 2 : 8, i;
    sb_frame **nq = malloc(ncap * sizeof *nq);

    if (!nq)
        return -1;
    for (i = 0; i < q->len; i++)
        nq[i] = sb_fqueue_at(q, i);
    if (q->cap)
        free(q->u.ring);
    q->u.ring = nq;
    q->cap = ncap;
    q->head = 0;
    return 0;
}

int sb_fqueue_push(sb_fqueue *q, sb_frame *f)
{
    if (q->len == (q->cap ? q->cap : 1) && sb_fqueue_grow(q))
        return -1;
    *sb_fqueue_slot(q, q->len) = sb_frame_ref(f);
    q->len++;
    q->bytes += f->len;
    return 0;
}

sb_frame *sb_fqueue_peek(const sb_fqueue *q)
{
    return q->len ? sb_fqueue_at(q, 0) : NULL;
}

void sb_fqueue_pop(sb_fqueue *q)
{
    sb_frame *f;

    if (!q->len)
        return;
    f = sb_fqueue_at(q, 0);
    if (q->cap)
        q->head = (q->head + 1) % q->cap;
    else
        q->u.one = NULL;
    q->len--;
    q->bytes -= f->len;
    sb_frame_unref(f);
}

void sb_fqueue_clear(sb_fqueue *q)
{
    while (q->len)
        sb_fqueue_pop(q);
}

void sb_fqueue_free(sb_fqueue *q)
{
    sb_fqueue_clear(q);
    if (q->cap)
        free(q->u.ring);
    q->u.ring = NULL;
    q->cap = 0;
}

void sb_batch_free(sb_batch *b)
{
    free(b->mem);
    b->mem = NULL;
    b->cap = 0;
}

size_t sb_frame_header(unsigned char *out, const sb_frame *f)
{
    size_t h = 0;

    out[h++] = (unsigned char)(0x80 | (f->rsv1 ? 0x40 : 0) | (f->binary ? 2 : 1));
    if (f->len < 126) {
        out[h++] = (unsigned char)f->len;
    } else if (f->len < 65536) {
        out[h++] = 126;
        out[h++] = (unsigned char)(f->len >> 8);
        out[h++] = (unsigned char)f->len;
    } else {
        int i;
        out[h++] = 127;
        for (i = 7; i >= 0; i--)
            out[h++] = (unsigned char)((uint64_t)f->len >> (8 * i));
    }
    return h;
}

/* Appends one unmasked WebSocket frame (RFC 6455 5.2) for f to out. */
static size_t sb_frame_encode(unsigned char *out, const sb_frame *f)
{
    size_t h = sb_frame_header(out, f);

    memcpy(out + h, f->data, f->len);
    return h + f->len;
}

/* ws: 0 raw bytes, 1 WebSocket frames, each through z when not NULL. */
static size_t sb_fqueue_pack_as(const sb_fqueue *q, sb_batch *b, int ws,
                                sb_pmd *z, size_t *used)
{
    size_t i, n = 0, head = ws ? 14 : 0;

    *used = 0;
    if (!b->mem) {
        b->mem = malloc(LWS_PRE + SB_BATCH_MAX + 14);
        if (!b->mem)
            return 0;
        b->cap = SB_BATCH_MAX;
    }
    for (i = 0; i < q->len; i++) {
        sb_frame *f = sb_fqueue_at(q, i);
        if (z)
            f = sb_pmd_wire(z, f);
        if (*used + f->len + head > b->cap)
            break;
        if (ws) {
            *used += sb_frame_encode(b->mem + LWS_PRE + *used, f);
        } else {
            memcpy(b->mem + LWS_PRE + *used, f->data, f->len);
            *used += f->len;
        }
        n++;
    }
    return n;
}

size_t sb_fqueue_pack(const sb_fqueue *q, sb_batch *b, int ws, size_t *used)
{
    return sb_fqueue_pack_as(q, b, ws, NULL, used);
}

size_t sb_fqueue_pack_z(const sb_fqueue *q, sb_batch *b, sb_pmd *z, size_t *used)
{
    return sb_fqueue_pack_as(q, b, 1, z, used);
}

/* Frames as many queued messages as fit in SB_BATCH_MAX and sends them in
 * one raw write (lws passes LWS_WRITE_HTTP through untouched on a ws
 * connection, and buffers any part the socket did not take).  One syscall
 * for many small frames is where the fan-out throughput comes from; the
 * copy costs far less than the syscalls it saves.  Returns frames sent (0:
 * fewer than two fit, write them one by one), or -1 when the write failed. */
static int sb_queue_write_batch(struct lws *wsi, sb_fqueue *q, sb_batch *b)
{
    size_t used, i, n = sb_fqueue_pack(q, b, 1, &used);

    if (n < 2)
        return 0;
    if (lws_write(wsi, b->mem + LWS_PRE, used, LWS_WRITE_HTTP) < (int)used)
        return -1;
    for (i = 0; i < n; i++)
        sb_fqueue_pop(q);
    return (int)n;
}

/* lws 4.1 loses the close frame whenever the close starts outside a
 * receive callback (returning -1 from a writeable callback marks the
 * socket unusable; an async kill skips the close handshake), and its
 * LWS_WRITE_CLOSE is private.  Its value has been 4 in every lws release,
 * so write the close frame ourselves, then hang up on the next turn. */
#define SB_LWS_WRITE_CLOSE 4

static void sb_queue_send_close(struct lws *wsi, int code, const char *reason)
{
    unsigned char frame[LWS_PRE + 2 + 123];
    size_t n = strlen(reason);

    if (n > 123)
        n = 123;
    frame[LWS_PRE] = (unsigned char)(code >> 8);
    frame[LWS_PRE + 1] = (unsigned char)(code & 0xff);
    memcpy(frame + LWS_PRE + 2, reason, n);
    lws_write(wsi, frame + LWS_PRE, n + 2, (enum lws_write_protocol)SB_LWS_WRITE_CLOSE);
    lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

/* Writes (packed where it can) until the queue is empty, lws had to buffer
 * a partial send (the socket is full: wait for POLLOUT), or a bound on
 * writes per call so that one fast reader cannot starve the others.
 * lws_partial_buffered costs no syscall, unlike lws_send_pipe_choked. */
#define SB_FLUSH_WRITES 32

int sb_queue_flush(struct lws *wsi, sb_fqueue *q, sb_batch *batch, int close_code,
                   const char *close_reason)
{
    int writes = 0;

    while (q->len && !lws_partial_buffered(wsi) && writes++ < SB_FLUSH_WRITES) {
        sb_frame *f;
        int sent = batch && q->len > 1 ? sb_queue_write_batch(wsi, q, batch) : 0;

        if (sent < 0)
            return -1;
        if (sent > 0)
            continue;
        f = sb_fqueue_peek(q);
        if (lws_write(wsi, f->data, f->len,
                      f->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT) < (int)f->len)
            return -1;
        sb_fqueue_pop(q);
    }
    if (q->len || (close_code && lws_partial_buffered(wsi))) {
        lws_callback_on_writable(wsi);
        return 0;
    }
    if (close_code) {
        sb_queue_send_close(wsi, close_code, close_reason);
        return 1;
    }
    return 0;
}
