/* URL decoding and the query-string iterator. */
#include "check.h"
#include "codec/url.h"

static void test_decode(check_ctx *t)
{
    sb_buf b;

    sb_buf_init(&b, 0);
    CHECK_INT(sb_url_decode_path("/c/my%20room%3Ax+y", 18, &b), 0);
    CHECK_BUF(&b, "/c/my room:x+y");
    sb_buf_reset(&b);
    /* 15 bytes: this used to pass 16, counting the literal's NUL, which
     * only worked because a trailing NUL was dropped (test_trailing_nul) */
    CHECK_INT(sb_url_decode_query("a+b%2Bc%5Bid%5d", 15, &b), 0);
    CHECK_BUF(&b, "a b+c[id]");
    sb_buf_reset(&b);
    CHECK_INT(sb_url_decode_query("%C3%A9t%c3%a9", 13, &b), 0);
    CHECK_BUF(&b, "\xc3\xa9t\xc3\xa9");
    sb_buf_reset(&b);
    CHECK_INT(sb_url_decode_query("", 0, &b), 0);
    CHECK_INT(b.len, 0);

    sb_buf_adds(&b, "keep");
    CHECK_INT(sb_url_decode_query("%", 1, &b), SB_CODEC_EURL);
    CHECK_INT(sb_url_decode_query("ab%4", 4, &b), SB_CODEC_EURL);
    CHECK_INT(sb_url_decode_query("%zz", 3, &b), SB_CODEC_EURL);
    CHECK_INT(sb_url_decode_query("%4g", 3, &b), SB_CODEC_EURL);
    CHECK_INT(sb_url_decode_query("a%00b", 5, &b), SB_CODEC_EURL);
    CHECK_INT(sb_url_decode_path("a\0b", 3, &b), SB_CODEC_EURL);
    CHECK_INT(sb_url_decode_query("%FF", 3, &b), SB_CODEC_EURL);
    CHECK_INT(sb_url_decode_query("%C3", 3, &b), SB_CODEC_EURL);
    CHECK_INT(sb_url_decode_query("%ED%A0%80", 9, &b), SB_CODEC_EURL);
    CHECK_INT(sb_url_decode_path("\xc3(", 2, &b), SB_CODEC_EURL);
    CHECK_BUF(&b, "keep");  /* failures leave the buffer as it was */
    CHECK_INT(sb_url_decode_query("%41%4", 4, &b), SB_CODEC_EURL);
    CHECK_INT(sb_url_decode_query("%41%42", 3, &b), 0);  /* stops at n */
    CHECK_BUF(&b, "keepA");
    sb_buf_free(&b);
}

/* Collects the iterator's pairs as "k=v;" for easy comparison. */
static void walk(const char *q, sb_buf *out)
{
    sb_query_iter it;
    sb_span k, v;

    sb_buf_reset(out);
    sb_query_init(&it, q, strlen(q));
    while (sb_query_next(&it, &k, &v)) {
        sb_buf_add(out, k.p, k.n);
        sb_buf_addc(out, '=');
        sb_buf_add(out, v.p, v.n);
        sb_buf_addc(out, ';');
    }
}

static void test_iter(check_ctx *t)
{
    sb_buf b;

    sb_buf_init(&b, 0);
    walk("?as=alice&announce=true&echo=true", &b);
    CHECK_BUF(&b, "as=alice;announce=true;echo=true;");
    walk("token=abc&user%5Bid%5D=7&vsn=2.0.0", &b);
    CHECK_BUF(&b, "token=abc;user%5Bid%5D=7;vsn=2.0.0;");
    walk("?", &b);
    CHECK_BUF(&b, "");
    walk("", &b);
    CHECK_BUF(&b, "");
    walk("&&a&&b=&=c&", &b);
    CHECK_BUF(&b, "a=;b=;=c;");
    walk("a=1=2", &b);
    CHECK_BUF(&b, "a=1=2;");
    walk("token=abc&vsn=2.0.0&", &b);
    CHECK_BUF(&b, "token=abc;vsn=2.0.0;");
    sb_buf_free(&b);
}

static void test_get(check_ctx *t)
{
    const char *q = "?token=abc&user%5Bid%5D=7&alias=Kevin+B%C3%A9&x=&"
                    "token=T&flag";
    size_t n = strlen(q);
    sb_buf b;

    sb_buf_init(&b, 0);
    CHECK_INT(sb_query_get(q, n, "token", &b), 1);
    CHECK_BUF(&b, "T");  /* repeated key: the last wins (docs/protocols.md#query-strings) */
    CHECK_INT(sb_query_get(q, n, "user[id]", &b), 1);
    CHECK_BUF(&b, "7");
    CHECK_INT(sb_query_get(q, n, "alias", &b), 1);
    CHECK_BUF(&b, "Kevin B\xc3\xa9");
    CHECK_INT(sb_query_get(q, n, "x", &b), 1);
    CHECK_BUF(&b, "");
    CHECK_INT(sb_query_get(q, n, "flag", &b), 1);
    CHECK_BUF(&b, "");
    CHECK_INT(sb_query_get(q, n, "missing", &b), 0);
    CHECK_INT(b.len, 0);
    CHECK_INT(sb_query_get(q, n, "tok", &b), 0);
    CHECK_INT(sb_query_get(q, n, "user", &b), 0);
    CHECK_INT(sb_query_get("", 0, "a", &b), 0);
    CHECK_INT(sb_query_get("?", 1, "a", &b), 0);
    CHECK_INT(sb_query_get("a=%zz", 5, "a", &b), SB_CODEC_EURL);
    CHECK_INT(sb_query_get("a=1&a=%zz", 9, "a", &b), SB_CODEC_EURL);
    CHECK_INT(sb_query_get("a=%zz&a=1", 9, "a", &b), 1);
    CHECK_BUF(&b, "1");
    CHECK_INT(sb_query_get("a%zz=1", 6, "a%zz", &b), 0);
    CHECK_INT(sb_query_get("a+b=1", 5, "a b", &b), 1);
    CHECK_INT(sb_query_get("as=x&as=", 8, "as", &b), 1);
    CHECK_BUF(&b, "");
    sb_buf_free(&b);
}

/* A NUL as the LAST byte (escaped or raw) used to be dropped instead of
 * refused, so "a%00" decoded to "a" while sb_query_get did not match it
 * (found by fuzz/fuzz_url.c). */
static void test_trailing_nul(check_ctx *t)
{
    sb_buf b;

    sb_buf_init(&b, 0);
    CHECK_INT(sb_url_decode_query("a%00", 4, &b), SB_CODEC_EURL);
    CHECK_INT(sb_url_decode_query("%00", 3, &b), SB_CODEC_EURL);
    CHECK_INT(sb_url_decode_path("a\0", 2, &b), SB_CODEC_EURL);
    CHECK_INT(b.len, 0);
    CHECK_INT(sb_query_get("a%00=1&a=2", 10, "a", &b), 1);
    CHECK_BUF(&b, "2");
    sb_buf_free(&b);
}

int main(void)
{
    check_ctx ctx = { "test_url", 0, 0 }, *t = &ctx;

    test_decode(t);
    test_iter(t);
    test_get(t);
    test_trailing_nul(t);
    return check_report(t);
}
