/* Request paths and query strings: sb_url_decode_path/_query, the
 * sb_query_iter walk and sb_query_get.
 *
 * A decoded string must be valid UTF-8 without NUL (it goes into JSON
 * frames) and must survive percent-encoding and decoding again.  The
 * iterator's spans must tile the query without '&' inside them, and
 * sb_query_get (which compares keys without decoding them into memory)
 * must agree with decoding every key and keeping the last match. */
#include "fuzz.h"

#include "codec/url.h"
#include "base/utf8.h"

#define MAX_PAIRS 32

/* Percent-encodes every byte but the unreserved ones. */
static void encode(sb_buf *out, const unsigned char *p, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i;

    for (i = 0; i < n; i++) {
        unsigned char c = p[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
            c == '~') {
            sb_buf_addc(out, (char)c);
        } else {
            sb_buf_addc(out, '%');
            sb_buf_addc(out, hex[c >> 4]);
            sb_buf_addc(out, hex[c & 15]);
        }
    }
}

static void check_decode(const char *s, size_t n, int query)
{
    sb_buf a, enc, b;
    int r;

    sb_buf_init(&a, 0);
    sb_buf_init(&enc, 0);
    sb_buf_init(&b, 0);
    sb_buf_adds(&a, "x");   /* decoders append: keep a prefix to check */
    r = query ? sb_url_decode_query(s, n, &a) : sb_url_decode_path(s, n, &a);
    if (r == 0) {
        FUZZ_CHECK(sb_buf_data(&a)[0] == 'x');
        FUZZ_CHECK(sb_utf8_valid((const char *)sb_buf_data(&a) + 1,
                                 a.len - 1));
        FUZZ_CHECK(!memchr(sb_buf_data(&a), 0, a.len));
        encode(&enc, sb_buf_data(&a) + 1, a.len - 1);
        r = query ? sb_url_decode_query((const char *)sb_buf_data(&enc),
                                        enc.len, &b)
                  : sb_url_decode_path((const char *)sb_buf_data(&enc),
                                       enc.len, &b);
        FUZZ_CHECK(r == 0);
        FUZZ_CHECK(fuzz_same(sb_buf_data(&b), b.len, sb_buf_data(&a) + 1,
                             a.len - 1));
    } else {
        FUZZ_CHECK(r == SB_CODEC_EURL);
        FUZZ_CHECK(a.len == 1);   /* a refusal leaves out as it was */
    }
    sb_buf_free(&a);
    sb_buf_free(&enc);
    sb_buf_free(&b);
}

static void check_query(const char *s, size_t n)
{
    sb_query_iter it;
    sb_span k[MAX_PAIRS], v[MAX_PAIRS], kk, vv;
    sb_buf key, want, got;
    size_t np = 0, i, j, last;
    int r, wr;

    sb_query_init(&it, s, n);
    while (np < MAX_PAIRS && sb_query_next(&it, &k[np], &v[np])) {
        FUZZ_CHECK(k[np].p >= s && k[np].p + k[np].n <= s + n);
        FUZZ_CHECK(v[np].p >= k[np].p + k[np].n && v[np].p + v[np].n <= s + n);
        FUZZ_CHECK(!memchr(k[np].p, '&', k[np].n) &&
                   !memchr(k[np].p, '=', k[np].n));
        FUZZ_CHECK(!memchr(v[np].p, '&', v[np].n));
        np++;
    }
    if (np == MAX_PAIRS)
        return;   /* sb_query_get would see pairs we did not record */
    FUZZ_CHECK(!sb_query_next(&it, &kk, &vv));   /* stays at the end */
    sb_buf_init(&key, 0);
    sb_buf_init(&want, 0);
    sb_buf_init(&got, 0);
    for (i = 0; i < np; i++) {
        sb_buf_reset(&key);
        if (sb_url_decode_query(k[i].p, k[i].n, &key) || key.len == 0)
            continue;
        sb_buf_addc(&key, '\0');   /* sb_query_get wants a C string */
        last = i;
        for (j = i + 1; j < np; j++) {
            sb_buf_reset(&want);
            if (sb_url_decode_query(k[j].p, k[j].n, &want) == 0 &&
                fuzz_same(sb_buf_data(&want), want.len, sb_buf_data(&key),
                          key.len - 1))
                last = j;
        }
        sb_buf_reset(&want);
        wr = sb_url_decode_query(v[last].p, v[last].n, &want);
        r = sb_query_get(s, n, (const char *)sb_buf_data(&key), &got);
        if (wr == 0) {
            FUZZ_CHECK(r == 1);
            FUZZ_CHECK(fuzz_same(sb_buf_data(&got), got.len,
                                 sb_buf_data(&want), want.len));
        } else {
            FUZZ_CHECK(r == wr);
        }
    }
    sb_buf_free(&key);
    sb_buf_free(&want);
    sb_buf_free(&got);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_copy(data, size);

    if (!s)
        return 0;
    check_decode(s, size, 0);
    check_decode(s, size, 1);
    check_query(s, size);
    free(s);
    return 0;
}
