/* The client-frame parser (net/wsparse.c).
 *
 * The first three bytes choose the limits, rsv1_ok and a read size; the
 * rest is the byte stream.  It is fed once whole and once in pieces of the
 * read size: both runs must give the same events and the same answer
 * (however the socket splits the bytes, the client sees one behaviour).
 * Every event must also keep the parser's promises: messages within
 * max_message, text valid UTF-8, control payloads of at most 125 bytes,
 * only valid close codes, and nothing held once the parser is idle. */
#include "fuzz.h"

#include "base/utf8.h"
#include "net/wsparse.h"

typedef struct run {
    sb_buf log;
    const sb_wsparse *p;
} run;

static void note(run *r, char kind, const void *d, size_t n)
{
    sb_buf_addc(&r->log, kind);
    sb_buf_add_u64(&r->log, n);
    sb_buf_addc(&r->log, ':');
    sb_buf_add(&r->log, d, n);
}

static int on_message(void *ud, const char *d, size_t n, int binary)
{
    run *r = ud;

    FUZZ_CHECK(d != NULL && n <= r->p->max_message);
    FUZZ_CHECK(binary || r->p->msg_rsv1 || sb_utf8_valid(d, n));
    FUZZ_CHECK(r->p->rsv1_ok || !r->p->msg_rsv1);
    note(r, binary ? 'B' : 'T', d, n);
    /* a message whose first byte is '!' asks to stop */
    return n > 0 && d[0] == '!';
}

static int on_ping(void *ud, const unsigned char *d, size_t n)
{
    FUZZ_CHECK(d != NULL && n <= 125);
    note(ud, 'P', d, n);
    return 0;
}

static int on_pong(void *ud, const unsigned char *d, size_t n)
{
    FUZZ_CHECK(d != NULL && n <= 125);
    note(ud, 'O', d, n);
    return 0;
}

static int on_close(void *ud, int code, const char *reason, size_t n)
{
    FUZZ_CHECK(code == 1005 || (code >= 1000 && code <= 1003) ||
               (code >= 1007 && code <= 1014) ||
               (code >= 3000 && code <= 4999));
    FUZZ_CHECK(n <= 123 && sb_utf8_valid(reason, n));
    note(ud, 'C', reason, n);
    sb_buf_add_u64(&((run *)ud)->log, (uint64_t)code);
    return 0;
}

/* Feeds a fresh copy of (s, n) in pieces of chunk bytes; returns the
 * answer and the reason. */
static int feed_all(sb_wsparse *p, run *r, const uint8_t *s, size_t n,
                    size_t chunk, const char **why)
{
    sb_wsparse_cb cb = { r, on_message, on_ping, on_pong, on_close };
    unsigned char *copy = (unsigned char *)fuzz_copy(s, n);
    size_t at = 0, k;
    int rc = 0;

    FUZZ_CHECK(copy != NULL);
    while (at < n && rc == 0) {
        k = n - at < chunk ? n - at : chunk;
        rc = sb_wsparse_feed(p, copy + at, k, &cb, why);
        at += k;
    }
    free(copy);
    return rc;
}

static void check_idle(const sb_wsparse *p, int rc)
{
    if (rc == 0 && !p->in_frame && !p->msg_op && p->hlen == 0)
        FUZZ_CHECK(sb_wsparse_held(p) == 0);
    if (rc == 0 && !p->msg_op && !p->copying)
        FUZZ_CHECK(sb_wsparse_held(p) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *why1 = NULL, *why2 = NULL;
    size_t max_message, max_frags, chunk;
    sb_wsparse p1, p2;
    run r1, r2;
    int rc1, rc2;

    if (size < 3)
        return 0;
    max_message = data[0] == 255 ? SIZE_MAX : (size_t)data[0] * 16;
    max_frags = data[1] & 0x0f ? (size_t)(data[1] & 0x0f) : SIZE_MAX;
    chunk = data[2] % 32 + 1;
    sb_wsparse_init(&p1, max_message, max_frags);
    sb_wsparse_init(&p2, max_message, max_frags);
    p1.rsv1_ok = p2.rsv1_ok = (data[1] & 0x10) != 0;
    r1.p = &p1;
    r2.p = &p2;
    sb_buf_init(&r1.log, 0);
    sb_buf_init(&r2.log, 0);
    rc1 = feed_all(&p1, &r1, data + 3, size - 3, size, &why1);
    rc2 = feed_all(&p2, &r2, data + 3, size - 3, chunk, &why2);
    FUZZ_CHECK(rc1 == rc2);
    FUZZ_CHECK(rc1 <= 0 || (why1 && why2 && strcmp(why1, why2) == 0));
    FUZZ_CHECK(!r1.log.oom && !r2.log.oom);
    FUZZ_CHECK(fuzz_same(sb_buf_data(&r1.log), r1.log.len,
                         sb_buf_data(&r2.log), r2.log.len));
    check_idle(&p1, rc1);
    check_idle(&p2, rc2);
    sb_wsparse_free(&p1);
    sb_wsparse_free(&p2);
    FUZZ_CHECK(sb_wsparse_held(&p1) == 0);
    sb_buf_free(&r1.log);
    sb_buf_free(&r2.log);
    return 0;
}
