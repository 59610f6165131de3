/* The client-frame parser (net/wsparse.c): every rule of RFC 6455 it
 * enforces, the same events whatever the read sizes, and the zero-copy
 * path for frames that arrive whole. */
#include "check.h"
#include "net/wsparse.h"

#include <stdlib.h>

/* What the callbacks saw, as text: "T<n>:<data>;" for a text message, B
 * binary, P ping, O pong, "C<code>:<reason>;" close. */
typedef struct rec {
    sb_buf log;
    const unsigned char *lo, *hi; /* the buffer being fed */
    int in_place;                 /* messages that pointed into it */
    int stop_at;                  /* event number that returns 1 (0: none) */
    int events;
    int rsv1;                     /* msg_rsv1 of the last message */
    const sb_wsparse *p;
} rec;

static int note(rec *r, char kind, const void *d, size_t n)
{
    const unsigned char *u = d;

    if (r->lo && u >= r->lo && u + n <= r->hi)
        r->in_place++;
    sb_buf_addc(&r->log, kind);
    sb_buf_add_u64(&r->log, n);
    sb_buf_addc(&r->log, ':');
    sb_buf_add(&r->log, d, n);
    sb_buf_addc(&r->log, ';');
    return ++r->events == r->stop_at;
}

static int on_message(void *ud, const char *d, size_t n, int binary)
{
    rec *r = ud;

    r->rsv1 = r->p ? r->p->msg_rsv1 : 0;
    return note(r, binary ? 'B' : 'T', d, n);
}

static int on_ping(void *ud, const unsigned char *d, size_t n)
{
    return note(ud, 'P', d, n);
}

static int on_pong(void *ud, const unsigned char *d, size_t n)
{
    return note(ud, 'O', d, n);
}

static int on_close(void *ud, int code, const char *reason, size_t n)
{
    rec *r = ud;

    sb_buf_addc(&r->log, 'C');
    sb_buf_add_u64(&r->log, (uint64_t)code);
    sb_buf_addc(&r->log, ':');
    sb_buf_add(&r->log, reason, n);
    sb_buf_addc(&r->log, ';');
    return ++r->events == r->stop_at;
}

static void rec_init(rec *r)
{
    memset(r, 0, sizeof *r);
    sb_buf_init(&r->log, 0);
}

/* Appends a client frame: first byte b0, the payload masked with a key
 * that changes from frame to frame, the shortest length form. */
static void frame(sb_buf *out, unsigned b0, const void *payload, size_t n)
{
    static const unsigned char keys[3][4] = {
        { 0x37, 0xfa, 0x21, 0x3d }, { 0x01, 0x80, 0xff, 0x5a },
        { 0x00, 0x00, 0x00, 0x00 } };
    const unsigned char *key = keys[(out->len + n) % 3];
    const unsigned char *u = payload;
    unsigned char h[14];
    size_t hl = 2, i;

    h[0] = (unsigned char)b0;
    if (n < 126) {
        h[1] = (unsigned char)(0x80 | n);
    } else if (n < 65536) {
        h[1] = 0x80 | 126;
        h[2] = (unsigned char)(n >> 8);
        h[3] = (unsigned char)n;
        hl = 4;
    } else {
        h[1] = 0x80 | 127;
        for (i = 0; i < 8; i++)
            h[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
        hl = 10;
    }
    memcpy(h + hl, key, 4);
    sb_buf_add(out, h, hl + 4);
    for (i = 0; i < n; i++)
        sb_buf_addc(out, (char)(u[i] ^ key[i & 3]));
}

#define FRAME(out, b0, lit) frame((out), (b0), (lit), sizeof(lit) - 1)

static const sb_wsparse_cb CB = { NULL, on_message, on_ping, on_pong,
                                  on_close };

/* Feeds a copy of bytes (s, n) in pieces of `chunk` bytes (0: at once)
 * and returns the first nonzero answer, or 0. */
static int feed(sb_wsparse *p, rec *r, const void *s, size_t n, size_t chunk,
                const char **why)
{
    unsigned char *copy = malloc(n ? n : 1);
    sb_wsparse_cb cb = CB;
    size_t at = 0, k;
    int rc = 0;

    if (!copy)
        return -2;
    memcpy(copy, s, n);
    cb.ud = r;
    r->lo = copy;
    r->hi = copy + n;
    if (!chunk)
        chunk = n ? n : 1;
    while (at < n && rc == 0) {
        k = n - at < chunk ? n - at : chunk;
        rc = sb_wsparse_feed(p, copy + at, k, &cb, why);
        at += k;
    }
    r->lo = r->hi = NULL;
    free(copy);
    return rc;
}

/* The log of feeding (s, n) to a fresh parser in pieces of chunk bytes;
 * the answer goes to *rc. */
static void run(sb_buf *log, const void *s, size_t n, size_t chunk,
                size_t max_message, int *rc, const char **why)
{
    sb_wsparse p;
    rec r;

    rec_init(&r);
    sb_wsparse_init(&p, max_message, 64);
    *why = NULL;
    *rc = feed(&p, &r, s, n, chunk, why);
    sb_wsparse_free(&p);
    sb_buf_reset(log);
    sb_buf_add(log, sb_buf_data(&r.log) ? sb_buf_data(&r.log)
                                        : (unsigned char *)"", r.log.len);
    sb_buf_free(&r.log);
}

/* One stream, expected to fail: checks the code and the reason. */
#define CHECK_FAIL(buf, code, reason)                                    \
    do {                                                                 \
        const char *w_ = NULL;                                           \
        int rc_;                                                         \
        run(&log, sb_buf_data(buf), (buf)->len, 0, 1000, &rc_, &w_);     \
        CHECK_INT(rc_, code);                                            \
        if (!CHECK(w_ && strcmp(w_, reason) == 0))                       \
            fprintf(stderr, "    why: %s, want %s\n", w_ ? w_ : "NULL",  \
                    reason);                                             \
    } while (0)

static void test_whole_frames(check_ctx *t)
{
    sb_wsparse p;
    sb_buf in;
    rec r;
    const char *why = NULL;

    sb_buf_init(&in, 0);
    FRAME(&in, 0x81, "hello");
    FRAME(&in, 0x82, "\x00\xff\x01");
    FRAME(&in, 0x81, "");
    FRAME(&in, 0x89, "ping!");
    FRAME(&in, 0x8A, "");
    FRAME(&in, 0x81, "caf\xc3\xa9 0123456789abcdef");
    rec_init(&r);
    sb_wsparse_init(&p, 1000, 4);
    CHECK_INT(feed(&p, &r, sb_buf_data(&in), in.len, 0, &why), 0);
    CHECK_BUF(&r.log, "T5:hello;B3:\x00\xff\x01;T0:;P5:ping!;O0:;"
                      "T22:caf\xc3\xa9 0123456789abcdef;");
    /* every one of them was handed over from the fed bytes, not copied */
    CHECK_INT(r.in_place, 6);
    CHECK_INT(sb_wsparse_held(&p), 0);
    CHECK(p.buf.mem == NULL);
    sb_wsparse_free(&p);
    sb_buf_free(&r.log);
    sb_buf_free(&in);
}

/* A mixed stream gives the same events fed at once, a byte at a time and
 * in odd pieces (headers and payloads split everywhere). */
#define HEAD "T3:one;P3:mid;O4:pong;B6:binary;T300:abc"
#define TAIL "opqrstuvwxyzabcdefgh;T4:\xe2\x82\xac!;C1000:bye;"
static void test_any_split(check_ctx *t)
{
    static char big[70000];
    sb_buf in, whole, log;
    const char *why;
    size_t chunks[] = { 1, 2, 3, 5, 7, 13, 126, 4096 };
    size_t i;
    int rc;

    for (i = 0; i < sizeof big; i++)
        big[i] = (char)('a' + i % 26);
    sb_buf_init(&in, 0);
    sb_buf_init(&whole, 0);
    sb_buf_init(&log, 0);
    FRAME(&in, 0x81, "one");
    FRAME(&in, 0x02, "bi");                /* binary in three fragments */
    FRAME(&in, 0x89, "mid");               /* with a ping and a pong between */
    FRAME(&in, 0x00, "na");
    FRAME(&in, 0x8A, "pong");
    FRAME(&in, 0x80, "ry");
    frame(&in, 0x81, big, 300);            /* 16-bit length */
    frame(&in, 0x82, big, sizeof big);     /* 64-bit length */
    FRAME(&in, 0x01, "\xe2\x82");          /* a character split in two */
    FRAME(&in, 0x80, "\xac!");
    FRAME(&in, 0x88, "\x03\xe8" "bye");
    run(&whole, sb_buf_data(&in), in.len, 0, 100000, &rc, &why);
    CHECK_INT(rc, 0);
    CHECK(whole.len > sizeof big);
    CHECK_MEM(sb_buf_data(&whole), sizeof HEAD - 1, HEAD);
    for (i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
        run(&log, sb_buf_data(&in), in.len, chunks[i], 100000, &rc, &why);
        CHECK_INT(rc, 0);
        check_mem_at(t, sb_buf_data(&log), log.len, sb_buf_data(&whole),
                     whole.len, "split feed == whole feed", __FILE__,
                     __LINE__);
    }
    CHECK_MEM(sb_buf_data(&whole) + whole.len - (sizeof TAIL - 1),
              sizeof TAIL - 1, TAIL);
    sb_buf_free(&in);
    sb_buf_free(&whole);
    sb_buf_free(&log);
}

/* Only what is split is copied, and the copy goes once delivered. */
static void test_held(check_ctx *t)
{
    sb_wsparse p;
    sb_buf in;
    rec r;
    const char *why = NULL;
    size_t half;

    sb_buf_init(&in, 0);
    FRAME(&in, 0x81, "split across two reads");
    half = in.len / 2;
    rec_init(&r);
    sb_wsparse_init(&p, 1000, 4);
    CHECK_INT(feed(&p, &r, sb_buf_data(&in), half, 0, &why), 0);
    CHECK(sb_wsparse_held(&p) > 0);
    CHECK_INT(r.events, 0);
    CHECK_INT(feed(&p, &r, sb_buf_data(&in) + half, in.len - half, 0, &why),
              0);
    CHECK_BUF(&r.log, "T22:split across two reads;");
    CHECK_INT(r.in_place, 0);
    CHECK_INT(sb_wsparse_held(&p), 0);

    /* a fragmented message is held until its last frame, a control
     * frame between its fragments is not copied */
    sb_buf_reset(&in);
    sb_buf_reset(&r.log);
    FRAME(&in, 0x01, "frag");
    FRAME(&in, 0x89, "p");
    CHECK_INT(feed(&p, &r, sb_buf_data(&in), in.len, 0, &why), 0);
    CHECK(sb_wsparse_held(&p) > 0);
    CHECK_INT(r.in_place, 1);
    sb_buf_reset(&in);
    FRAME(&in, 0x80, "ment");
    CHECK_INT(feed(&p, &r, sb_buf_data(&in), in.len, 0, &why), 0);
    CHECK_BUF(&r.log, "P1:p;T8:fragment;");
    CHECK_INT(sb_wsparse_held(&p), 0);

    /* a control frame split across reads, inside a message */
    sb_buf_reset(&in);
    sb_buf_reset(&r.log);
    FRAME(&in, 0x02, "ab");
    FRAME(&in, 0x89, "ping body");
    FRAME(&in, 0x80, "cd");
    CHECK_INT(feed(&p, &r, sb_buf_data(&in), 12, 0, &why), 0);
    CHECK_INT(feed(&p, &r, sb_buf_data(&in) + 12, in.len - 12, 0, &why), 0);
    CHECK_BUF(&r.log, "P9:ping body;B4:abcd;");
    CHECK_INT(sb_wsparse_held(&p), 0);
    sb_wsparse_free(&p);
    sb_buf_free(&r.log);
    sb_buf_free(&in);
}

/* Limits: max_message counts all fragments and is refused from the
 * header, before the payload; max_fragments counts empty frames too. */
static void test_limits(check_ctx *t)
{
    static char big[201];
    sb_wsparse p;
    sb_buf in, log;
    rec r;
    const char *why = NULL;
    int rc;

    memset(big, 'x', sizeof big);
    sb_buf_init(&in, 0);
    sb_buf_init(&log, 0);
    frame(&in, 0x82, big, 200);
    run(&log, sb_buf_data(&in), in.len, 0, 200, &rc, &why);
    CHECK_INT(rc, 0);
    CHECK_INT(log.len, 3 + 2 + 200 + 1);
    sb_buf_reset(&in);
    frame(&in, 0x82, big, 201);
    run(&log, sb_buf_data(&in), 8, 1, 200, &rc, &why);  /* header only */
    CHECK_INT(rc, 1009);
    CHECK(why && strcmp(why, "message too big") == 0);

    sb_buf_reset(&in);
    frame(&in, 0x01, big, 100);
    frame(&in, 0x00, big, 0);
    frame(&in, 0x80, big, 100);
    run(&log, sb_buf_data(&in), in.len, 0, 200, &rc, &why);
    CHECK_INT(rc, 0);
    CHECK_INT(log.len, 3 + 2 + 200 + 1);
    sb_buf_reset(&in);
    frame(&in, 0x01, big, 100);
    frame(&in, 0x80, big, 101);
    run(&log, sb_buf_data(&in), in.len - 101, 0, 200, &rc, &why);
    CHECK_INT(rc, 1009);
    CHECK(why && strcmp(why, "message too big") == 0);

    /* a 64-bit length far past the limit, without its payload */
    sb_buf_reset(&in);
    sb_buf_add(&in, "\x82\xff\x00\x00\x00\x01\x00\x00\x00\x00" "abcd", 14);
    run(&log, sb_buf_data(&in), in.len, 0, 200, &rc, &why);
    CHECK_INT(rc, 1009);

    /* max_fragments 3: three frames pass, a fourth (even empty) not */
    rec_init(&r);
    sb_wsparse_init(&p, 1000, 3);
    sb_buf_reset(&in);
    FRAME(&in, 0x01, "a");
    FRAME(&in, 0x00, "");
    FRAME(&in, 0x80, "b");
    FRAME(&in, 0x01, "a");
    FRAME(&in, 0x00, "");
    FRAME(&in, 0x00, "b");
    CHECK_INT(feed(&p, &r, sb_buf_data(&in), in.len, 0, &why), 0);
    CHECK_BUF(&r.log, "T2:ab;");
    sb_buf_reset(&in);
    FRAME(&in, 0x80, "");
    CHECK_INT(feed(&p, &r, sb_buf_data(&in), in.len, 0, &why), 1009);
    CHECK(why && strcmp(why, "too many fragments") == 0);
    sb_wsparse_free(&p);
    sb_buf_free(&r.log);
    sb_buf_free(&log);
    sb_buf_free(&in);
}

static void test_frame_errors(check_ctx *t)
{
    sb_buf in, log;

    sb_buf_init(&in, 0);
    sb_buf_init(&log, 0);
    sb_buf_add(&in, "\x81\x02hi", 4);
    CHECK_FAIL(&in, 1002, "unmasked frame");
    sb_buf_reset(&in);
    FRAME(&in, 0x83, "x");
    CHECK_FAIL(&in, 1002, "bad opcode");
    sb_buf_reset(&in);
    FRAME(&in, 0x8B, "x");
    CHECK_FAIL(&in, 1002, "bad opcode");
    sb_buf_reset(&in);
    FRAME(&in, 0xC1, "x");
    CHECK_FAIL(&in, 1002, "reserved bits");
    sb_buf_reset(&in);
    FRAME(&in, 0xA1, "x");
    CHECK_FAIL(&in, 1002, "reserved bits");
    sb_buf_reset(&in);
    FRAME(&in, 0x91, "x");
    CHECK_FAIL(&in, 1002, "reserved bits");
    sb_buf_reset(&in);
    sb_buf_add(&in, "\x89\xfe\x00\x7e", 4);  /* a 126-byte ping */
    CHECK_FAIL(&in, 1002, "control frame too long");
    sb_buf_reset(&in);
    FRAME(&in, 0x09, "x");
    CHECK_FAIL(&in, 1002, "fragmented control frame");
    sb_buf_reset(&in);
    FRAME(&in, 0x80, "x");
    CHECK_FAIL(&in, 1002, "continuation without a message");
    sb_buf_reset(&in);
    FRAME(&in, 0x81, "done");
    FRAME(&in, 0x00, "x");
    CHECK_FAIL(&in, 1002, "continuation without a message");
    sb_buf_reset(&in);
    FRAME(&in, 0x01, "a");
    FRAME(&in, 0x81, "b");
    CHECK_FAIL(&in, 1002, "message in progress");
    sb_buf_reset(&in);
    FRAME(&in, 0x01, "a");
    FRAME(&in, 0x02, "b");
    CHECK_FAIL(&in, 1002, "message in progress");
    sb_buf_reset(&in);
    sb_buf_add(&in, "\x82\xff\x80\x00\x00\x00\x00\x00\x00\x01" "abcd", 14);
    CHECK_FAIL(&in, 1002, "bad length");
    sb_buf_free(&log);
    sb_buf_free(&in);
}

static void test_utf8(check_ctx *t)
{
    sb_buf in, log;

    sb_buf_init(&in, 0);
    sb_buf_init(&log, 0);
    FRAME(&in, 0x81, "ok\xff");
    CHECK_FAIL(&in, 1007, "bad utf8");
    sb_buf_reset(&in);
    FRAME(&in, 0x81, "\xed\xa0\x80");  /* a surrogate */
    CHECK_FAIL(&in, 1007, "bad utf8");
    sb_buf_reset(&in);
    FRAME(&in, 0x01, "cut \xe2\x82");  /* never finished */
    FRAME(&in, 0x80, "");
    CHECK_FAIL(&in, 1007, "bad utf8");
    sb_buf_reset(&in);
    FRAME(&in, 0x01, "a");
    FRAME(&in, 0x80, "\xc0\xaf");      /* overlong */
    CHECK_FAIL(&in, 1007, "bad utf8");
    /* binary is not checked */
    sb_buf_reset(&in);
    FRAME(&in, 0x82, "\xff");
    FRAME(&in, 0x81, "after");
    {
        const char *why;
        int rc;

        run(&log, sb_buf_data(&in), in.len, 0, 100, &rc, &why);
        CHECK_INT(rc, 0);
        CHECK_BUF(&log, "B1:\xff;T5:after;");
    }
    sb_buf_free(&log);
    sb_buf_free(&in);
}

static void test_close(check_ctx *t)
{
    static const int good[] = { 1000, 1001, 1002, 1003, 1007, 1010, 1014,
                                3000, 4000, 4999 };
    static const int bad[] = { 0, 999, 1004, 1005, 1006, 1015, 1016, 2000,
                               2999, 5000, 65535 };
    sb_buf in, log;
    const char *why;
    unsigned char body[2];
    size_t i;
    int rc;

    sb_buf_init(&in, 0);
    sb_buf_init(&log, 0);
    FRAME(&in, 0x88, "");
    FRAME(&in, 0x81, "ignored");      /* nothing counts after a close */
    run(&log, sb_buf_data(&in), in.len, 0, 100, &rc, &why);
    CHECK_INT(rc, 0);
    CHECK_BUF(&log, "C1005:;");
    sb_buf_reset(&in);
    FRAME(&in, 0x88, "\x0f\xa0gone \xc3\xa9");
    run(&log, sb_buf_data(&in), in.len, 1, 100, &rc, &why);
    CHECK_INT(rc, 0);
    CHECK_BUF(&log, "C4000:gone \xc3\xa9;");
    for (i = 0; i < sizeof good / sizeof good[0]; i++) {
        body[0] = (unsigned char)(good[i] >> 8);
        body[1] = (unsigned char)good[i];
        sb_buf_reset(&in);
        frame(&in, 0x88, body, 2);
        run(&log, sb_buf_data(&in), in.len, 0, 100, &rc, &why);
        CHECK_INT(rc, 0);
        CHECK_INT(log.len > 0, 1);
    }
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        body[0] = (unsigned char)(bad[i] >> 8);
        body[1] = (unsigned char)bad[i];
        sb_buf_reset(&in);
        frame(&in, 0x88, body, 2);
        CHECK_FAIL(&in, 1002, "bad close code");
        CHECK_INT(log.len, 0);
    }
    sb_buf_reset(&in);
    FRAME(&in, 0x88, "\x03");
    CHECK_FAIL(&in, 1002, "bad close frame");
    sb_buf_reset(&in);
    FRAME(&in, 0x88, "\x03\xe8\xc3");
    CHECK_FAIL(&in, 1002, "bad close frame");
    sb_buf_free(&log);
    sb_buf_free(&in);
}

/* A callback returning nonzero stops the feed at once, and for good. */
static void test_stop(check_ctx *t)
{
    sb_wsparse p;
    sb_buf in;
    rec r;
    const char *why = "untouched";

    sb_buf_init(&in, 0);
    FRAME(&in, 0x81, "first");
    FRAME(&in, 0x81, "second");
    FRAME(&in, 0x81, "third");
    rec_init(&r);
    r.stop_at = 2;
    sb_wsparse_init(&p, 100, 4);
    CHECK_INT(feed(&p, &r, sb_buf_data(&in), in.len, 0, &why), -1);
    CHECK_BUF(&r.log, "T5:first;T6:second;");
    CHECK_INT(feed(&p, &r, sb_buf_data(&in), in.len, 0, &why), -1);
    CHECK_INT(r.events, 2);
    CHECK(strcmp(why, "untouched") == 0);
    sb_wsparse_free(&p);

    /* stopping from a joined message still lets the buffer go */
    sb_buf_reset(&in);
    sb_buf_reset(&r.log);
    FRAME(&in, 0x02, "ab");
    FRAME(&in, 0x89, "stop");
    FRAME(&in, 0x80, "cd");
    r.events = 0;
    r.stop_at = 1;
    sb_wsparse_init(&p, 100, 4);
    CHECK_INT(feed(&p, &r, sb_buf_data(&in), in.len, 3, &why), -1);
    CHECK_BUF(&r.log, "P4:stop;");
    sb_wsparse_free(&p);
    CHECK_INT(sb_wsparse_held(&p), 0);
    r.events = 0;
    r.stop_at = 1;
    sb_buf_reset(&r.log);
    sb_buf_reset(&in);
    FRAME(&in, 0x88, "");
    sb_wsparse_init(&p, 100, 4);
    CHECK_INT(feed(&p, &r, sb_buf_data(&in), in.len, 0, &why), -1);
    sb_wsparse_free(&p);
    sb_buf_free(&r.log);
    sb_buf_free(&in);
}

/* Errors are sticky, and the buffer is freed by sb_wsparse_free. */
static void test_after_error(check_ctx *t)
{
    sb_wsparse p;
    sb_buf in;
    rec r;
    const char *why = NULL;

    sb_buf_init(&in, 0);
    FRAME(&in, 0x01, "held");
    FRAME(&in, 0x83, "x");
    rec_init(&r);
    sb_wsparse_init(&p, 100, 4);
    CHECK_INT(feed(&p, &r, sb_buf_data(&in), in.len, 0, &why), 1002);
    CHECK(sb_wsparse_held(&p) > 0);
    why = NULL;
    CHECK_INT(feed(&p, &r, sb_buf_data(&in), in.len, 0, &why), 1002);
    CHECK(why && strcmp(why, "bad opcode") == 0);
    sb_wsparse_free(&p);
    CHECK_INT(sb_wsparse_held(&p), 0);

    /* out of memory while copying (forced: the buffer's failure flag) */
    sb_wsparse_init(&p, 100, 4);
    p.buf.oom = 1;
    CHECK_INT(feed(&p, &r, sb_buf_data(&in), 8, 0, &why), 1011);
    CHECK(why && strcmp(why, "out of memory") == 0);
    sb_wsparse_free(&p);
    CHECK_INT(r.events, 0);
    sb_buf_free(&r.log);
    sb_buf_free(&in);
}

/* rsv1_ok lets RSV1 through on a message's first frame only, and does
 * not check the (compressed) text. */
static void test_rsv1(check_ctx *t)
{
    sb_wsparse p;
    sb_buf in;
    rec r;
    const char *why = NULL;

    sb_buf_init(&in, 0);
    FRAME(&in, 0x41, "\xff");
    FRAME(&in, 0x80, "z");
    FRAME(&in, 0x82, "plain");
    rec_init(&r);
    r.p = &p;
    sb_wsparse_init(&p, 100, 4);
    p.rsv1_ok = 1;
    CHECK_INT(feed(&p, &r, sb_buf_data(&in), in.len, 0, &why), 0);
    CHECK_BUF(&r.log, "T2:\xffz;B5:plain;");
    CHECK_INT(r.rsv1, 0);
    sb_buf_reset(&in);
    FRAME(&in, 0xC2, "c");
    CHECK_INT(feed(&p, &r, sb_buf_data(&in), in.len, 0, &why), 0);
    CHECK_INT(r.rsv1, 1);
    sb_buf_reset(&in);
    FRAME(&in, 0x01, "a");
    FRAME(&in, 0xC0, "b");
    CHECK_INT(feed(&p, &r, sb_buf_data(&in), in.len, 0, &why), 1002);
    CHECK(why && strcmp(why, "reserved bits") == 0);
    sb_wsparse_free(&p);
    sb_wsparse_init(&p, 100, 4);
    p.rsv1_ok = 1;
    sb_buf_reset(&in);
    FRAME(&in, 0xC9, "");
    CHECK_INT(feed(&p, &r, sb_buf_data(&in), in.len, 0, &why), 1002);
    sb_wsparse_free(&p);
    sb_buf_free(&r.log);
    sb_buf_free(&in);
}

/* A bad frame is refused from its first two bytes, even one at a time. */
static void test_early(check_ctx *t)
{
    sb_wsparse p;
    rec r;
    const char *why = NULL;

    rec_init(&r);
    sb_wsparse_init(&p, 100, 4);
    CHECK_INT(feed(&p, &r, "\x81", 1, 0, &why), 0);
    CHECK_INT(feed(&p, &r, "\x05", 1, 0, &why), 1002);
    CHECK(why && strcmp(why, "unmasked frame") == 0);
    sb_wsparse_free(&p);
    sb_wsparse_init(&p, 100, 4);
    CHECK_INT(feed(&p, &r, "\x82\xfe\x00", 3, 1, &why), 0);
    CHECK_INT(feed(&p, &r, "\x65", 1, 0, &why), 0);
    CHECK_INT(feed(&p, &r, "abcd", 4, 1, &why), 1009);
    sb_wsparse_free(&p);
    sb_buf_free(&r.log);
}

int main(void)
{
    check_ctx ctx = { "test_wsparse", 0, 0 }, *t = &ctx;

    test_whole_frames(t);
    test_any_split(t);
    test_held(t);
    test_limits(t);
    test_frame_errors(t);
    test_utf8(t);
    test_close(t);
    test_stop(t);
    test_after_error(t);
    test_rsv1(t);
    test_early(t);
    return check_report(t);
}
