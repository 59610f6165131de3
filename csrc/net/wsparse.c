#include "wsparse.h"

#include <string.h>

#include "base/utf8.h"

#define WS_FIN 0x80
#define WS_RSV1 0x40
#define WS_RSV 0x70
#define WS_MASKED 0x80
#define WS_CONT 0
#define WS_TEXT 1
#define WS_BINARY 2
#define WS_CLOSE 8
#define WS_PING 9
#define WS_PONG 10
#define WS_CONTROL 8        /* opcode bit shared by every control frame */
#define WS_CONTROL_MAX 125  /* payload bytes of a control frame at most */

void sb_wsparse_init(sb_wsparse *p, size_t max_message, size_t max_fragments)
{
    memset(p, 0, sizeof *p);
    p->max_message = max_message;
    p->max_fragments = max_fragments;
    sb_buf_init(&p->buf, 0);
}

void sb_wsparse_free(sb_wsparse *p)
{
    sb_buf_free(&p->buf);
}

size_t sb_wsparse_held(const sb_wsparse *p)
{
    return p->buf.mem ? p->buf.pre + p->buf.cap + 1 : 0;
}

/* A callback asked to stop: later feeds return -1 too. */
static int stop(sb_wsparse *p)
{
    p->err = -1;
    return -1;
}

/* Records an error so that later feeds repeat it; returns the code. */
static int fail(sb_wsparse *p, int code, const char *why, const char **out)
{
    p->err = code;
    p->err_why = why;
    *out = why;
    return code;
}

/* XORs n bytes with the mask, the first byte being at mask offset off.
 * Eight bytes at a time: the key is laid out in memory order, so the word
 * XOR is right on any byte order, and memcpy keeps unaligned access legal
 * (compilers turn it into plain loads and stores). */
static void unmask(unsigned char *d, size_t n, const unsigned char mask[4],
                   unsigned off)
{
    unsigned char k[8];
    uint64_t m, w;
    size_t i;

    for (i = 0; i < 8; i++)
        k[i] = mask[(off + i) & 3];
    memcpy(&m, k, 8);
    for (i = 0; i + 8 <= n; i += 8) {
        memcpy(&w, d + i, 8);
        w ^= m;
        memcpy(d + i, &w, 8);
    }
    for (; i < n; i++)
        d[i] ^= k[i & 7];
}

/* The checks the first two header bytes allow, made as soon as they are
 * in, so a bad frame is refused before the rest of its header comes. */
static const char *check_start(const sb_wsparse *p, unsigned b0, unsigned b1)
{
    unsigned op = b0 & 0x0f, rsv_ok = 0;

    if (p->rsv1_ok && (op == WS_TEXT || op == WS_BINARY))
        rsv_ok = WS_RSV1;
    if (b0 & WS_RSV & ~rsv_ok)
        return "reserved bits";
    if (op > WS_BINARY && op != WS_CLOSE && op != WS_PING && op != WS_PONG)
        return "bad opcode";
    if (op & WS_CONTROL) {
        if (!(b0 & WS_FIN))
            return "fragmented control frame";
        if ((b1 & 0x7f) > WS_CONTROL_MAX)
            return "control frame too long";
    } else if (op == WS_CONT && !p->msg_op) {
        return "continuation without a message";
    } else if (op != WS_CONT && p->msg_op) {
        return "message in progress";
    }
    if (!(b1 & WS_MASKED))
        return "unmasked frame";
    return NULL;
}

/* Header bytes in all, known from the first two. */
static size_t header_size(const unsigned char *h)
{
    unsigned l7 = h[1] & 0x7f;

    return 6 + (l7 == 126 ? 2 : l7 == 127 ? 8 : 0);
}

/* Reads the payload length of a whole header; returns where the mask
 * starts, or 0 for a 64-bit length with the top bit set. */
static size_t header_length(const unsigned char *h, uint64_t *len)
{
    unsigned l7 = h[1] & 0x7f;
    size_t i;

    if (l7 < 126) {
        *len = l7;
        return 2;
    }
    if (l7 == 126) {
        *len = (uint64_t)h[2] << 8 | h[3];
        return 4;
    }
    if (h[2] & 0x80)
        return 0;
    *len = 0;
    for (i = 2; i < 10; i++)
        *len = *len << 8 | h[i];
    return 10;
}

/* A data frame joins its message: the limits are checked against the
 * announced length, before any payload is taken. */
static int start_data(sb_wsparse *p, unsigned b0, uint64_t len,
                      const char **why)
{
    if ((b0 & 0x0f) != WS_CONT) {
        p->msg_op = b0 & 0x0f;
        p->msg_rsv1 = (b0 & WS_RSV1) != 0;
        p->frags = 0;
    }
    if (p->frags >= p->max_fragments)
        return fail(p, 1009, "too many fragments", why);
    if (p->buf.len > p->max_message ||
        len > (uint64_t)(p->max_message - p->buf.len))
        return fail(p, 1009, "message too big", why);
    p->frags++;
    return 0;
}

/* Sets up the frame of a whole header h (first two bytes already
 * checked). */
static int start_frame(sb_wsparse *p, const unsigned char *h,
                       const char **why)
{
    uint64_t len = 0;
    size_t at = header_length(h, &len);
    int rc;

    if (!at)
        return fail(p, 1002, "bad length", why);
    p->opcode = h[0] & 0x0f;
    p->fin = (h[0] & WS_FIN) != 0;
    if (p->opcode & WS_CONTROL) {
        p->ctl_base = p->buf.len;
    } else if ((rc = start_data(p, h[0], len, why))) {
        return rc;
    }
    memcpy(p->mask, h + at, 4);
    p->mpos = 0;
    p->remaining = len;
    p->copying = 0;
    p->in_frame = 1;
    return 0;
}

/* Takes header bytes; sets in_frame once the header is whole.  The usual
 * case, a whole header in the fed bytes, is read where it lies; otherwise
 * the bytes gather in hdr, however few arrive at a time. */
static int take_header(sb_wsparse *p, const unsigned char *d, size_t len,
                       size_t *used, const char **why)
{
    const char *bad;
    size_t need, n;

    *used = 0;
    if (p->hlen == 0 && len >= 2) {
        if ((bad = check_start(p, d[0], d[1])))
            return fail(p, 1002, bad, why);
        need = header_size(d);
        if (len >= need) {
            *used = need;
            return start_frame(p, d, why);
        }
    }
    while (*used < len) {
        need = p->hlen < 2 ? 2 : header_size(p->hdr);
        n = need - p->hlen < len - *used ? need - p->hlen : len - *used;
        memcpy(p->hdr + p->hlen, d + *used, n);
        p->hlen = (unsigned char)(p->hlen + n);
        *used += n;
        if (p->hlen < need)
            return 0;
        if (need == 2) {
            if ((bad = check_start(p, p->hdr[0], p->hdr[1])))
                return fail(p, 1002, bad, why);
            continue;
        }
        p->hlen = 0;
        return start_frame(p, p->hdr, why);
    }
    return 0;
}

/* The close codes a peer may send (RFC 6455 7.4.1, 7.4.2). */
static int close_code_ok(int code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

static int on_close(sb_wsparse *p, const unsigned char *d, size_t n,
                    const sb_wsparse_cb *cb, const char **why)
{
    int code = 1005;

    if (n == 1)
        return fail(p, 1002, "bad close frame", why);
    if (n >= 2) {
        code = d[0] << 8 | d[1];
        if (!close_code_ok(code))
            return fail(p, 1002, "bad close code", why);
        if (!sb_utf8_valid((const char *)d + 2, n - 2))
            return fail(p, 1002, "bad close frame", why);
        d += 2;
        n -= 2;
    }
    p->closed = 1;
    if (cb->close && cb->close(cb->ud, code, (const char *)d, n))
        return stop(p);
    return 0;
}

/* Hands a finished message or control frame to its callback.  The
 * message state is cleared first, so the callback sees an idle parser. */
static int deliver(sb_wsparse *p, const unsigned char *d, size_t n,
                   const sb_wsparse_cb *cb, const char **why)
{
    int (*ctl)(void *, const unsigned char *, size_t) = NULL;
    int binary;

    if (p->opcode == WS_CLOSE)
        return on_close(p, d, n, cb, why);
    if (p->opcode & WS_CONTROL) {
        ctl = p->opcode == WS_PING ? cb->ping : cb->pong;
        if (ctl && ctl(cb->ud, d, n))
            return stop(p);
        return 0;
    }
    binary = p->msg_op == WS_BINARY;
    p->msg_op = 0;
    p->frags = 0;
    /* a compressed text is checked by the layer that inflates it */
    if (!binary && !p->msg_rsv1 && !sb_utf8_valid((const char *)d, n))
        return fail(p, 1007, "bad utf8", why);
    if (cb->message && cb->message(cb->ud, (const char *)d, n, binary))
        return stop(p);
    return 0;
}

/* The last byte of a copied frame is in: a control frame or a final
 * fragment goes out from buf, which then drops it, and is freed once no
 * message is open. */
static int finish_copied(sb_wsparse *p, const sb_wsparse_cb *cb,
                         const char **why)
{
    const unsigned char *d = sb_buf_data(&p->buf);
    size_t base = p->opcode & WS_CONTROL ? p->ctl_base : 0;
    int rc = 0;

    if (p->fin || (p->opcode & WS_CONTROL))
        rc = deliver(p, d ? d + base : (const unsigned char *)"",
                     p->buf.len - base, cb, why);
    if (p->opcode & WS_CONTROL)
        p->buf.len = base;
    if (!p->msg_op)
        sb_buf_free(&p->buf);
    return rc;
}

/* Takes payload bytes of the current frame.  A frame wholly here that is
 * a message by itself, or a control frame, is unmasked in place and
 * delivered from the caller's buffer; anything else is copied. */
static int take_payload(sb_wsparse *p, unsigned char *d, size_t len,
                        size_t *used, const sb_wsparse_cb *cb,
                        const char **why)
{
    size_t n;

    if (!p->copying && p->remaining <= len &&
        ((p->opcode & WS_CONTROL) || (p->fin && p->frags == 1))) {
        n = (size_t)p->remaining;
        unmask(d, n, p->mask, 0);
        *used = n;
        p->remaining = 0;
        p->in_frame = 0;
        return deliver(p, d, n, cb, why);
    }
    n = p->remaining < len ? (size_t)p->remaining : len;
    *used = n;
    if (n) {
        unmask(d, n, p->mask, p->mpos);
        sb_buf_add(&p->buf, d, n);
        if (p->buf.oom)
            return fail(p, 1011, "out of memory", why);
        p->copying = 1;
        p->mpos = (unsigned char)((p->mpos + n) & 3);
        p->remaining -= n;
    }
    if (p->remaining)
        return 0;
    p->in_frame = 0;
    return finish_copied(p, cb, why);
}

int sb_wsparse_feed(sb_wsparse *p, unsigned char *data, size_t len,
                    const sb_wsparse_cb *cb, const char **why)
{
    size_t used;
    int rc;

    if (p->err) {
        if (p->err > 0)
            *why = p->err_why;
        return p->err;
    }
    while (len && !p->closed) {
        if (!p->in_frame) {
            if ((rc = take_header(p, data, len, &used, why)))
                return rc;
            data += used;
            len -= used;
            if (!p->in_frame)
                break;
        }
        if ((rc = take_payload(p, data, len, &used, cb, why)))
            return rc;
        data += used;
        len -= used;
    }
    return 0;
}
