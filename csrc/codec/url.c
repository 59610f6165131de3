#include "url.h"

#include <string.h>

#include "base/utf8.h"

/* The byte that starts at s[*i] after decoding, advancing *i; -1 for a
 * malformed escape or a NUL. */
static int next_byte(const char *s, size_t n, size_t *i, int plus)
{
    int hi, lo;
    char c = s[*i];

    if (c == '%') {
        if (n - *i < 3 || (hi = sb_hex_digit(s[*i + 1])) < 0 ||
            (lo = sb_hex_digit(s[*i + 2])) < 0)
            return -1;
        *i += 3;
        c = (char)(hi * 16 + lo);
    } else {
        *i += 1;
        if (plus && c == '+')
            c = ' ';
    }
    return c == '\0' ? -1 : (unsigned char)c;
}

static int decode(const char *s, size_t n, int plus, sb_buf *out)
{
    size_t i = 0, old = out->len;
    int c, bad = 0;

    /* A refusal is remembered rather than read from i: next_byte has
     * already stepped over a %00, so a NUL escape at the very end used to
     * leave i == n and was dropped silently ("a%00" decoded to "a"), which
     * also disagreed with sb_query_get (found by fuzz/fuzz_url.c). */
    while (i < n) {
        c = next_byte(s, n, &i, plus);
        if (c < 0) {
            bad = 1;
            break;
        }
        sb_buf_addc(out, (char)c);
    }
    if (out->oom) {
        out->len = old;
        return SB_CODEC_ENOMEM;
    }
    if (bad || (out->len > old &&
                  !sb_utf8_valid((const char *)sb_buf_data(out) + old,
                                 out->len - old))) {
        out->len = old;
        return SB_CODEC_EURL;
    }
    return SB_CODEC_OK;
}

int sb_url_decode_path(const char *s, size_t n, sb_buf *out)
{
    return decode(s, n, 0, out);
}

int sb_url_decode_query(const char *s, size_t n, sb_buf *out)
{
    return decode(s, n, 1, out);
}

void sb_query_init(sb_query_iter *it, const char *q, size_t n)
{
    it->s = q;
    it->n = n;
    it->pos = n && q[0] == '?' ? 1 : 0;
}

int sb_query_next(sb_query_iter *it, sb_span *key, sb_span *value)
{
    const char *p, *amp, *eq;
    size_t len;

    while (it->pos < it->n) {
        p = it->s + it->pos;
        amp = memchr(p, '&', it->n - it->pos);
        len = amp ? (size_t)(amp - p) : it->n - it->pos;
        it->pos += len + (amp ? 1 : 0);
        if (len == 0)
            continue;
        eq = memchr(p, '=', len);
        key->p = p;
        key->n = eq ? (size_t)(eq - p) : len;
        value->p = eq ? eq + 1 : p + len;
        value->n = eq ? len - key->n - 1 : 0;
        return 1;
    }
    return 0;
}

/* Compares an encoded key with a decoded one without allocating. */
static int key_eq(sb_span raw, const char *key, size_t keylen)
{
    size_t i = 0, at = 0;
    int c;

    while (i < raw.n) {
        c = next_byte(raw.p, raw.n, &i, 1);
        if (c < 0 || at >= keylen || (unsigned char)key[at] != c)
            return 0;
        at++;
    }
    return at == keylen;
}

int sb_query_get(const char *q, size_t n, const char *key, sb_buf *out)
{
    sb_query_iter it;
    sb_span k, v, last = { NULL, 0 };
    size_t keylen = strlen(key);
    int r;

    sb_query_init(&it, q, n);
    while (sb_query_next(&it, &k, &v))
        if (key_eq(k, key, keylen))
            last = v;
    sb_buf_reset(out);
    if (!last.p)
        return 0;
    r = sb_url_decode_query(last.p, last.n, out);
    return r ? r : 1;
}
