/* The compressor and the inflater of permessage-deflate (deflate.h): raw
 * deflate (no zlib header), one stream per message, each zlib stream
 * reset and reused by every connection of the server. */
#include "deflate.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

/* What a sync flush ends with, and what RFC 7692 7.2.1 strips. */
static const unsigned char sb_pmd_tail[4] = { 0x00, 0x00, 0xff, 0xff };

/* How much the output may grow per step while inflating: large enough
 * for few inflate calls, small enough that a message near the limit does
 * not double its memory. */
#define SB_PMD_STEP (64 * 1024)

void sb_pmd_free(sb_pmd *z)
{
    if (z->def) {
        deflateEnd(z->def);
        free(z->def);
    }
    if (z->inf) {
        inflateEnd(z->inf);
        free(z->inf);
    }
    z->def = z->inf = NULL;
}

/* The server's deflater, made on first use; NULL when memory ran out
 * (the caller sends plain).  Window 15, the default level: a frame is
 * compressed once however many receive it, so the level costs little. */
static z_stream *sb_pmd_deflater(sb_pmd *z)
{
    z_stream *s;

    if (z->def)
        return z->def;
    if (!(s = calloc(1, sizeof *s)))
        return NULL;
    if (deflateInit2(s, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK) {
        free(s);
        return NULL;
    }
    return z->def = s;
}

static z_stream *sb_pmd_inflater(sb_pmd *z)
{
    z_stream *s;

    if (z->inf)
        return z->inf;
    if (!(s = calloc(1, sizeof *s)))
        return NULL;
    if (inflateInit2(s, -15) != Z_OK) {
        free(s);
        return NULL;
    }
    return z->inf = s;
}

/* Deflates f's payload into b (headroom SB_FRAME_PRE), the trailing
 * 00 00 ff ff removed.  The output may take no more room than the input
 * (and the 4 bytes to strip): a payload that does not shrink stops
 * deflate early and is sent as it is.  0, or -1 (send plain). */
static int sb_pmd_deflate(z_stream *s, const sb_frame *f, sb_buf *b)
{
    size_t cap = f->len + sizeof sb_pmd_tail, got;
    int rc;

    if (f->len > UINT_MAX - 64 || sb_buf_reserve(b, cap))
        return -1;
    deflateReset(s);
    s->next_in = f->data;
    s->avail_in = (uInt)f->len;
    s->next_out = b->mem + b->pre;
    s->avail_out = (uInt)cap;
    rc = deflate(s, Z_SYNC_FLUSH);
    got = cap - s->avail_out;
    /* avail_out 0: the flush may not be complete, and it did not shrink */
    if ((rc != Z_OK && rc != Z_BUF_ERROR) || s->avail_in || !s->avail_out ||
        got < sizeof sb_pmd_tail ||
        memcmp(b->mem + b->pre + got - sizeof sb_pmd_tail, sb_pmd_tail,
               sizeof sb_pmd_tail) != 0)
        return -1;
    b->len = got - sizeof sb_pmd_tail;
    return b->len < f->len ? 0 : -1;
}

/* Gives back the room deflate did not use: the twin lives as long as its
 * frame (a history entry, a slow reader's queue), and 1 KiB of JSON
 * typically deflates to a fifth of that.  Failing to shrink is harmless. */
static void sb_pmd_shrink(sb_buf *b)
{
    unsigned char *m = realloc(b->mem, b->pre + b->len + 1);

    if (m) {
        b->mem = m;
        b->cap = b->len;
    }
}

/* f's compressed twin, or NULL (send f plain). */
static sb_frame *sb_pmd_compress(sb_pmd *z, const sb_frame *f)
{
    z_stream *s = sb_pmd_deflater(z);
    sb_frame *out = NULL;
    sb_buf b;

    if (!s)
        return NULL;
    sb_buf_init(&b, SB_FRAME_PRE);
    if (sb_pmd_deflate(s, f, &b) == 0) {
        sb_pmd_shrink(&b);
        out = sb_frame_from_buf(&b, f->binary);
    }
    if (out) {
        out->rsv1 = 1;
        out->z_tried = 1;   /* a twin is never compressed again */
    }
    sb_buf_free(&b);
    return out;
}

sb_frame *sb_pmd_wire(sb_pmd *z, sb_frame *f)
{
    if (!f->z_tried) {
        f->z_tried = 1;
        if (f->len >= SB_PMD_MIN && !f->rsv1)
            f->z = sb_pmd_compress(z, f);
    }
    return f->z ? f->z : f;
}

/* Room for the next inflate step in out, never past max + 1 bytes in
 * all (one byte over is how the limit is seen). */
static int sb_pmd_room(z_stream *s, sb_buf *out, size_t max)
{
    size_t left = max - out->len + 1, want;

    if (out->cap <= out->len) {
        want = out->len < SB_PMD_STEP ? (out->len ? out->len : 1024) : SB_PMD_STEP;
        if (want > left)
            want = left;
        if (sb_buf_reserve(out, want))
            return -1;
    }
    want = out->cap - out->len;
    if (want > left)
        want = left;
    if (want > UINT_MAX)
        want = UINT_MAX;
    s->next_out = out->mem + out->pre + out->len;
    s->avail_out = (uInt)want;
    return 0;
}

/* Inflates n bytes of input into out.  1: the stream ended (a final
 * block: what follows is ignored); 0: all input taken; or a close code. */
static int sb_pmd_inflate_part(z_stream *s, const unsigned char *in, size_t n,
                               size_t max, sb_buf *out, const char **why)
{
    int rc;

    s->next_in = (unsigned char *)(size_t)in;   /* zlib does not write it */
    s->avail_in = (uInt)n;
    do {
        if (sb_pmd_room(s, out, max))
            return *why = "out of memory", 1011;
        rc = inflate(s, Z_SYNC_FLUSH);
        out->len = (size_t)(s->next_out - (out->mem + out->pre));
        if (out->len > max)
            return *why = "message too big", 1009;
        if (rc == Z_STREAM_END)
            return 1;
        if (rc == Z_MEM_ERROR)
            return *why = "out of memory", 1011;
        if (rc != Z_OK && rc != Z_BUF_ERROR)
            return *why = "bad deflate data", 1007;
    } while (s->avail_in || !s->avail_out);
    return 0;
}

int sb_pmd_inflate(sb_pmd *z, const unsigned char *in, size_t n, size_t max,
                   sb_buf *out, const char **why)
{
    z_stream *s = sb_pmd_inflater(z);
    int rc;

    if (!s)
        return *why = "out of memory", 1011;
    if (n > UINT_MAX)
        return *why = "message too big", 1009;
    if (max == SIZE_MAX)
        max--;
    /* no bytes at all is not a deflate stream, but it can only mean the
     * empty message (RFC 7692 7.2.3.6 sends it as one 00 byte) */
    if (!n)
        return sb_buf_reserve(out, 0) ? (*why = "out of memory", 1011) : 0;
    inflateReset(s);
    rc = sb_pmd_inflate_part(s, in, n, max, out, why);
    if (rc == 0)
        rc = sb_pmd_inflate_part(s, sb_pmd_tail, sizeof sb_pmd_tail, max, out, why);
    if (rc == 0 && !(s->data_type & 128))
        rc = (*why = "truncated deflate data", 1007);
    if (rc == 1)
        rc = 0;
    if (!rc && sb_buf_reserve(out, 0))
        rc = (*why = "out of memory", 1011);
    return rc;
}
