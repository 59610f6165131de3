/* permessage-deflate (net/deflate.h): which offers the handshake takes,
 * the compress/inflate round trip, the compressed twin made once per
 * frame, and the limit that stops a zip bomb. */
#include "check.h"
#include "net/deflate.h"

#include <stdlib.h>

#include <zlib.h>

static void test_offers(check_ctx *t)
{
    static const struct { const char *h; int ok; } cases[] = {
        { NULL, 0 },
        { "", 0 },
        { "permessage-deflate", 1 },
        { "  permessage-deflate  ", 1 },
        { "permessage-deflate; client_max_window_bits", 1 },
        { "permessage-deflate ;  client_max_window_bits  ", 1 },
        { "permessage-deflate; client_max_window_bits=10", 1 },
        { "permessage-deflate; client_max_window_bits=\"10\"", 1 },
        { "permessage-deflate; client_max_window_bits=8", 1 },
        { "permessage-deflate; client_max_window_bits=16", 0 },
        { "permessage-deflate; client_max_window_bits=7", 0 },
        { "permessage-deflate; client_max_window_bits=010", 0 },
        { "permessage-deflate; client_max_window_bits=", 0 },
        { "permessage-deflate; client_max_window_bits=1x", 0 },
        { "permessage-deflate; server_max_window_bits=15", 1 },
        { "permessage-deflate; server_max_window_bits", 0 },
        /* a smaller server window is declined: the next offer is taken */
        { "permessage-deflate; server_max_window_bits=10", 0 },
        { "permessage-deflate; server_max_window_bits=10, permessage-deflate", 1 },
        { "permessage-deflate; server_max_window_bits=10, "
          "permessage-deflate; client_max_window_bits", 1 },
        { "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
          "server_max_window_bits=15; client_max_window_bits=15", 1 },
        { "permessage-deflate; server_no_context_takeover; server_no_context_takeover", 0 },
        { "permessage-deflate; client_max_window_bits; client_max_window_bits=9", 0 },
        { "permessage-deflate; server_no_context_takeover=1", 0 },
        { "permessage-deflate; client_no_context_takeover=\"\"", 0 },
        { "permessage-deflate; bogus", 0 },
        { "permessage-deflate; bogus, permessage-deflate", 1 },
        { "permessage-deflate;", 0 },
        { "permessage-deflate;;", 0 },
        { "permessage-deflate x", 0 },
        { "x-webkit-deflate-frame", 0 },
        { "x-webkit-deflate-frame, permessage-deflate", 1 },
        { "foo; x=\"a,b\", permessage-deflate", 1 },
        { "permessage-deflate; x=\"a, permessage-deflate", 0 },
        { "foo; x=\"a\\\",permessage-deflate\"", 0 },
        { ", , permessage-deflate", 1 },
        { "permessage-deflate-x", 0 },
        { "PERMESSAGE-DEFLATE", 0 },
        { "\"permessage-deflate\"", 0 },
    };
    size_t i;

    for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (!CHECK(sb_pmd_offer_ok(cases[i].h) == cases[i].ok))
            fprintf(stderr, "    offer: %s\n", cases[i].h ? cases[i].h : "(null)");
}

/* n bytes of JSON-like text that deflate shrinks. */
static sb_frame *json_frame(size_t n)
{
    sb_buf b;
    size_t i;

    sb_buf_init(&b, SB_FRAME_PRE);
    for (i = 0; b.len < n; i++) {
        sb_buf_adds(&b, "{\"uid\":\"u0000");
        sb_buf_add_u64(&b, i % 10);
        sb_buf_adds(&b, "\",\"message\":\"hello\"},");
    }
    b.len = n;
    {
        sb_frame *f = sb_frame_from_buf(&b, 0);
        sb_buf_free(&b);
        return f;
    }
}

/* Raw deflate of n bytes as a client sends it (trailer stripped), into out. */
static void client_deflate(const void *p, size_t n, sb_buf *out)
{
    z_stream z;
    size_t cap;

    memset(&z, 0, sizeof z);
    deflateInit2(&z, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
    cap = deflateBound(&z, (uLong)n) + 16;
    sb_buf_reserve(out, cap);
    z.next_in = (unsigned char *)(size_t)p;
    z.avail_in = (uInt)n;
    z.next_out = out->mem + out->pre;
    z.avail_out = (uInt)cap;
    deflate(&z, Z_SYNC_FLUSH);
    out->len = z.total_out - 4;
    deflateEnd(&z);
}

static void test_round_trip(check_ctx *t)
{
    sb_pmd z = { NULL, NULL }, other = { NULL, NULL };
    sb_frame *f = json_frame(1024), *w;
    const char *why = NULL;
    sb_buf out;

    w = sb_pmd_wire(&z, f);
    CHECK(w != f);
    CHECK(w->rsv1 && !f->rsv1);
    CHECK(w->len < f->len / 4);
    CHECK_INT(w->binary, 0);
    /* once per frame: every later receiver, of any server, gets the twin */
    CHECK(sb_pmd_wire(&z, f) == w);
    CHECK(sb_pmd_wire(&other, f) == w);
    CHECK(other.def == NULL);
    /* a twin is never compressed again */
    CHECK(sb_pmd_wire(&z, w) == w);
    sb_buf_init(&out, 0);
    CHECK_INT(sb_pmd_inflate(&z, w->data, w->len, 65536, &out, &why), 0);
    CHECK(out.len == f->len && memcmp(sb_buf_data(&out), f->data, f->len) == 0);
    sb_buf_free(&out);
    /* the deflater is reset per message: the same bytes again */
    {
        sb_frame *g = json_frame(1024), *wg = sb_pmd_wire(&z, g);
        CHECK(wg != g && wg->len == w->len && memcmp(wg->data, w->data, w->len) == 0);
        sb_frame_unref(g);   /* frees the twin too (ASan sees a leak) */
    }
    sb_frame_unref(f);
    sb_pmd_free(&z);
    sb_pmd_free(&other);
}

static void test_plain(check_ctx *t)
{
    sb_pmd z = { NULL, NULL };
    sb_frame *small = json_frame(SB_PMD_MIN - 1), *noise;
    unsigned char rnd[2000];
    size_t i;
    unsigned v = 12345;

    CHECK(sb_pmd_wire(&z, small) == small);
    CHECK(small->z_tried && !small->z);
    CHECK(z.def == NULL);   /* not even a deflater for it */
    for (i = 0; i < sizeof rnd; i++) {
        v = v * 1103515245u + 12345u;
        rnd[i] = (unsigned char)(v >> 16);
    }
    noise = sb_frame_new(rnd, sizeof rnd, 1);
    CHECK(sb_pmd_wire(&z, noise) == noise);
    CHECK(noise->z_tried && !noise->z);
    sb_frame_unref(small);
    sb_frame_unref(noise);
    sb_pmd_free(&z);
}

static void test_inflate(check_ctx *t)
{
    sb_pmd z = { NULL, NULL };
    const char *why = NULL;
    sb_buf in, out;
    static const char text[] = "hello hello hello hello";

    sb_buf_init(&in, 0);
    sb_buf_init(&out, 0);
    client_deflate(text, sizeof text - 1, &in);
    CHECK_INT(sb_pmd_inflate(&z, sb_buf_data(&in), in.len, 100, &out, &why), 0);
    CHECK_BUF(&out, "hello hello hello hello");
    sb_buf_reset(&out);
    /* the empty message: one 00 byte (RFC 7692 7.2.3.6), or none */
    CHECK_INT(sb_pmd_inflate(&z, (const unsigned char *)"\0", 1, 100, &out, &why), 0);
    CHECK_INT(out.len, 0);
    CHECK_INT(sb_pmd_inflate(&z, (const unsigned char *)"", 0, 100, &out, &why), 0);
    CHECK_INT(out.len, 0);
    /* a stored block, as a client may send it */
    CHECK_INT(sb_pmd_inflate(&z, (const unsigned char *)"\0\3\0\374\377abc\0", 9, 100, &out, &why), 0);
    CHECK_BUF(&out, "abc");
    sb_buf_reset(&out);
    /* BTYPE 11 does not exist */
    CHECK_INT(sb_pmd_inflate(&z, (const unsigned char *)"\xff\xff\xff", 3, 100, &out, &why), 1007);
    CHECK(why && strcmp(why, "bad deflate data") == 0);
    sb_buf_reset(&out);
    /* cut in the middle of a block: not a whole message */
    CHECK_INT(sb_pmd_inflate(&z, sb_buf_data(&in), in.len / 2, 100, &out, &why), 1007);
    sb_buf_reset(&out);
    /* still good after the errors (reset per message) */
    CHECK_INT(sb_pmd_inflate(&z, sb_buf_data(&in), in.len, 100, &out, &why), 0);
    CHECK_BUF(&out, "hello hello hello hello");
    sb_buf_reset(&out);
    /* the limit, exactly */
    CHECK_INT(sb_pmd_inflate(&z, sb_buf_data(&in), in.len, sizeof text - 1, &out, &why), 0);
    sb_buf_reset(&out);
    CHECK_INT(sb_pmd_inflate(&z, sb_buf_data(&in), in.len, sizeof text - 2, &out, &why), 1009);
    sb_buf_free(&in);
    sb_buf_free(&out);
    sb_pmd_free(&z);
}

/* 16 MiB of zeros deflate to ~16 KiB; the limit stops it early. */
static void test_zip_bomb(check_ctx *t)
{
    size_t n = 16u << 20;
    unsigned char *zeros = calloc(1, n);
    sb_pmd z = { NULL, NULL };
    const char *why = NULL;
    sb_buf in, out;

    if (!CHECK(zeros != NULL))
        return;
    sb_buf_init(&in, 0);
    sb_buf_init(&out, 0);
    client_deflate(zeros, n, &in);
    free(zeros);
    CHECK(in.len < 65536);
    CHECK_INT(sb_pmd_inflate(&z, sb_buf_data(&in), in.len, 65536, &out, &why), 1009);
    CHECK(why && strcmp(why, "message too big") == 0);
    CHECK(out.len == 65537);
    CHECK(out.cap <= 2 * 65537);   /* never the whole thing */
    sb_buf_free(&in);
    sb_buf_free(&out);
    sb_pmd_free(&z);
}

int main(void)
{
    check_ctx ctx = { "test_deflate", 0, 0 }, *t = &ctx;

    test_offers(t);
    test_round_trip(t);
    test_plain(t);
    test_inflate(t);
    test_zip_bomb(t);
    return check_report(t);
}
