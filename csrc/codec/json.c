#include "json.h"

#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"

static int fail(sb_json_err *err, size_t pos, const char *msg)
{
    if (err) {
        err->pos = pos;
        err->msg = msg;
    }
    return -1;
}

static int clamp_depth(int max_depth)
{
    return max_depth <= 0 || max_depth > SB_JSON_MAX_DEPTH
               ? SB_JSON_MAX_DEPTH : max_depth;
}

static size_t skip_ws(const char *s, size_t n, size_t i)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' ||
                     s[i] == '\r'))
        i++;
    return i;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

int sb_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

sb_span sb_span_str(const char *s)
{
    return sb_span_of(s, s ? strlen(s) : 0);
}

sb_span sb_span_of(const char *s, size_t n)
{
    sb_span x;

    x.p = s;
    x.n = n;
    return x;
}

/* Value of the 4 hex digits at s (caller guarantees 4 bytes), or -1. */
static long hex4(const char *s)
{
    long v = 0;
    int i, d;

    for (i = 0; i < 4; i++) {
        d = sb_hex_digit(s[i]);
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* Scans the string token whose opening quote is at *pos. */
static int scan_string(const char *s, size_t n, size_t *pos, sb_json_err *err)
{
    size_t i = *pos + 1, k;

    while (i < n) {
        unsigned char c = (unsigned char)s[i];

        if (c == '"') {
            *pos = i + 1;
            return 0;
        }
        if (c < 0x20)
            return fail(err, i, "control character in string");
        if (c == '\\') {
            if (i + 1 >= n)
                break;
            switch (s[i + 1]) {
            case '"': case '\\': case '/': case 'b':
            case 'f': case 'n': case 'r': case 't':
                i += 2;
                break;
            case 'u':
                if (n - i < 6 || hex4(s + i + 2) < 0)
                    return fail(err, i, "bad \\u escape");
                i += 6;
                break;
            default:
                return fail(err, i, "bad escape in string");
            }
        } else if (c < 0x80) {
            i++;
        } else {
            k = sb_utf8_seq((const unsigned char *)s + i, n - i);
            if (!k)
                return fail(err, i, "invalid UTF-8 in string");
            i += k;
        }
    }
    return fail(err, n, "unterminated string");
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? starting at *pos. */
static int scan_number(const char *s, size_t n, size_t *pos, sb_json_err *err)
{
    size_t i = *pos;

    if (i < n && s[i] == '-')
        i++;
    if (i >= n || !is_digit(s[i]))
        return fail(err, i, "bad number");
    if (s[i] == '0')
        i++;
    else
        while (i < n && is_digit(s[i]))
            i++;
    if (i < n && s[i] == '.') {
        if (++i >= n || !is_digit(s[i]))
            return fail(err, i, "bad number fraction");
        while (i < n && is_digit(s[i]))
            i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= n || !is_digit(s[i]))
            return fail(err, i, "bad number exponent");
        while (i < n && is_digit(s[i]))
            i++;
    }
    *pos = i;
    return 0;
}

static int scan_literal(const char *s, size_t n, size_t *pos, const char *lit,
                        sb_json_err *err)
{
    size_t len = strlen(lit);

    if (n - *pos < len || memcmp(s + *pos, lit, len) != 0)
        return fail(err, *pos, "unexpected character");
    *pos += len;
    return 0;
}

static int scan_scalar(const char *s, size_t n, size_t *pos, sb_json_err *err)
{
    switch (s[*pos]) {
    case '"': return scan_string(s, n, pos, err);
    case 't': return scan_literal(s, n, pos, "true", err);
    case 'f': return scan_literal(s, n, pos, "false", err);
    case 'n': return scan_literal(s, n, pos, "null", err);
    default:
        if (s[*pos] == '-' || is_digit(s[*pos]))
            return scan_number(s, n, pos, err);
        return fail(err, *pos, "unexpected character");
    }
}

/* Object member prefix: "key" then ':'; leaves *pos after the colon. */
static int scan_key(const char *s, size_t n, size_t *pos, sb_json_err *err)
{
    size_t i = skip_ws(s, n, *pos);

    if (i >= n || s[i] != '"')
        return fail(err, i, "expected string key");
    if (scan_string(s, n, &i, err))
        return -1;
    i = skip_ws(s, n, i);
    if (i >= n || s[i] != ':')
        return fail(err, i, "expected ':'");
    *pos = i + 1;
    return 0;
}

/* The container kinds open at each level: bit set means object. */
typedef struct nest {
    unsigned char obj[SB_JSON_MAX_DEPTH / 8];
    int depth;
} nest;

static void nest_push(nest *st, int obj)
{
    unsigned char bit = (unsigned char)(1u << (st->depth % 8));

    if (obj)
        st->obj[st->depth / 8] |= bit;
    else
        st->obj[st->depth / 8] &= (unsigned char)~bit;
    st->depth++;
}

static int nest_top_is_obj(const nest *st)
{
    int d = st->depth - 1;

    return (st->obj[d / 8] >> (d % 8)) & 1;
}

/* After a value inside containers: consumes closers until a ',' opens the
 * next slot (returns 1) or the outermost container closed (returns 0). */
static int after_value(const char *s, size_t n, size_t *pos, nest *st,
                       sb_json_err *err)
{
    size_t i = *pos;
    int obj;

    while (st->depth > 0) {
        i = skip_ws(s, n, i);
        if (i >= n)
            return fail(err, i, "unexpected end of input");
        obj = nest_top_is_obj(st);
        if (s[i] == ',') {
            i++;
            if (obj && scan_key(s, n, &i, err))
                return -1;
            *pos = i;
            return 1;
        }
        if (s[i] != (obj ? '}' : ']'))
            return fail(err, i, obj ? "expected ',' or '}'"
                                    : "expected ',' or ']'");
        i++;
        st->depth--;
    }
    *pos = i;
    return 0;
}

/* Iterative: one loop turn per value, containers kept in a bitset. */
static int scan_value(const char *s, size_t n, size_t *pos, int limit,
                      sb_json_err *err)
{
    nest st;
    size_t i = *pos;
    int r, obj;

    st.depth = 0;
    for (;;) {
        i = skip_ws(s, n, i);
        if (i >= n)
            return fail(err, i, "unexpected end of input");
        if (s[i] == '[' || s[i] == '{') {
            obj = s[i] == '{';
            if (st.depth >= limit)
                return fail(err, i, "nesting too deep");
            nest_push(&st, obj);
            i = skip_ws(s, n, i + 1);
            if (i < n && s[i] == (obj ? '}' : ']')) {
                i++;
                st.depth--;
            } else {
                if (obj && scan_key(s, n, &i, err))
                    return -1;
                continue;
            }
        } else if (scan_scalar(s, n, &i, err)) {
            return -1;
        }
        r = after_value(s, n, &i, &st, err);
        if (r < 0)
            return -1;
        if (r == 0) {
            *pos = i;
            return 0;
        }
    }
}

int sb_json_value(const char *s, size_t n, size_t *pos, int max_depth,
                  sb_json_err *err)
{
    return scan_value(s, n, pos, clamp_depth(max_depth), err);
}

int sb_json_check(const char *s, size_t n, int max_depth, sb_json_err *err)
{
    size_t i = 0;

    if (scan_value(s, n, &i, clamp_depth(max_depth), err))
        return -1;
    i = skip_ws(s, n, i);
    if (i != n)
        return fail(err, i, "trailing characters after JSON value");
    return 0;
}

sb_json_type sb_json_type_of(const char *s, size_t n)
{
    size_t i = skip_ws(s, n, 0);

    if (i >= n)
        return SB_JSON_BAD;
    switch (s[i]) {
    case '"': return SB_JSON_STRING;
    case '{': return SB_JSON_OBJECT;
    case '[': return SB_JSON_ARRAY;
    case 't': return SB_JSON_TRUE;
    case 'f': return SB_JSON_FALSE;
    case 'n': return SB_JSON_NULL;
    default:
        return s[i] == '-' || is_digit(s[i]) ? SB_JSON_NUMBER : SB_JSON_BAD;
    }
}

/* Opens the top-level container `open`; returns the index after it and its
 * optional whitespace, or (size_t)-1 on error. */
static size_t open_top(const char *s, size_t n, char open, sb_json_err *err)
{
    size_t i = skip_ws(s, n, 0);

    if (i >= n || s[i] != open) {
        fail(err, i, open == '[' ? "expected an array" : "expected an object");
        return (size_t)-1;
    }
    return skip_ws(s, n, i + 1);
}

/* Common tail of a top-level container: the next ',' (returns 1), the
 * closer followed only by whitespace (0), or an error (-1). */
static int next_member(const char *s, size_t n, size_t *pos, char close,
                       sb_json_err *err)
{
    size_t i = skip_ws(s, n, *pos);

    if (i < n && s[i] == ',') {
        *pos = i + 1;
        return 1;
    }
    if (i >= n || s[i] != close)
        return fail(err, i, close == ']' ? "expected ',' or ']'"
                                         : "expected ',' or '}'");
    i = skip_ws(s, n, i + 1);
    if (i != n)
        return fail(err, i, "trailing characters after JSON value");
    *pos = i;
    return 0;
}

int sb_json_array(const char *s, size_t n, int max_depth, sb_span *items,
                  size_t max, size_t *count, sb_json_err *err)
{
    int limit = clamp_depth(max_depth) - 1, r = 1;
    size_t i = open_top(s, n, '[', err), start, k = 0;

    *count = 0;
    if (i == (size_t)-1)
        return -1;
    if (i < n && s[i] == ']')
        r = next_member(s, n, &i, ']', err);
    else
        while (r == 1) {
            start = skip_ws(s, n, i);
            i = start;
            if (scan_value(s, n, &i, limit, err))
                return -1;
            if (k < max) {
                items[k].p = s + start;
                items[k].n = i - start;
            }
            k++;
            r = next_member(s, n, &i, ']', err);
        }
    *count = k;
    return r < 0 ? -1 : 0;
}

int sb_json_object_get(const char *s, size_t n, int max_depth,
                       const char *key, size_t keylen, sb_span *val,
                       sb_json_err *err)
{
    int limit = clamp_depth(max_depth) - 1, r = 1, found = 0;
    size_t i = open_top(s, n, '{', err), kstart, kend, start;

    if (i == (size_t)-1)
        return -1;
    if (i < n && s[i] == '}')
        r = next_member(s, n, &i, '}', err);
    else
        while (r == 1) {
            kstart = skip_ws(s, n, i);
            if (scan_key(s, n, &i, err))
                return -1;
            kend = kstart;
            scan_string(s, n, &kend, NULL);  /* cannot fail: scan_key did */
            start = skip_ws(s, n, i);
            i = start;
            if (scan_value(s, n, &i, limit, err))
                return -1;
            if (sb_json_string_eq(s + kstart, kend - kstart, key, keylen)) {
                val->p = s + start;
                val->n = i - start;
                found = 1;
            }
            r = next_member(s, n, &i, '}', err);
        }
    return r < 0 ? -1 : found;
}

int sb_json_string_plain(const char *s, size_t n, sb_span *out)
{
    if (n < 2 || s[0] != '"' || s[n - 1] != '"' ||
        memchr(s + 1, '\\', n - 2))
        return 0;
    out->p = s + 1;
    out->n = n - 2;
    return 1;
}

/* The code point of a \uXXXX escape at s[*i] (bounded by end), joining a
 * following low surrogate; lone surrogates become U+FFFD.  -1 if bad. */
static long unicode_escape(const char *s, size_t end, size_t *i)
{
    long hi, lo;

    if (end - *i < 6 || (hi = hex4(s + *i + 2)) < 0)
        return -1;
    *i += 6;
    if (hi < 0xD800 || hi > 0xDFFF)
        return hi;
    if (hi > 0xDBFF || end - *i < 6 || s[*i] != '\\' || s[*i + 1] != 'u')
        return 0xFFFD;
    lo = hex4(s + *i + 2);
    if (lo < 0xDC00 || lo > 0xDFFF)
        return 0xFFFD;
    *i += 6;
    return 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
}

/* Decodes one unit of string contents at s[*i] (end = index of the closing
 * quote) into out: a raw UTF-8 sequence or one escape.  Returns the bytes
 * written (1..4) or 0 when the input is malformed. */
static size_t decode_unit(const char *s, size_t end, size_t *i,
                          unsigned char out[4])
{
    unsigned char c = (unsigned char)s[*i];
    size_t k;
    long cp;

    if (c == '"' || c < 0x20)
        return 0;
    if (c != '\\') {
        k = sb_utf8_seq((const unsigned char *)s + *i, end - *i);
        if (k)
            memcpy(out, s + *i, k);
        *i += k;
        return k;
    }
    if (end - *i < 2)
        return 0;
    switch (s[*i + 1]) {
    case '"': c = '"'; break;
    case '\\': c = '\\'; break;
    case '/': c = '/'; break;
    case 'b': c = '\b'; break;
    case 'f': c = '\f'; break;
    case 'n': c = '\n'; break;
    case 'r': c = '\r'; break;
    case 't': c = '\t'; break;
    case 'u':
        cp = unicode_escape(s, end, i);
        return cp < 0 ? 0 : sb_utf8_put((uint32_t)cp, out);
    default:
        return 0;
    }
    *i += 2;
    out[0] = c;
    return 1;
}

int sb_json_unescape(const char *s, size_t n, sb_buf *out)
{
    size_t i = 1, k, old = out->len;
    unsigned char u[4];

    if (n < 2 || s[0] != '"' || s[n - 1] != '"')
        return -1;
    while (i < n - 1) {
        k = decode_unit(s, n - 1, &i, u);
        if (!k) {
            out->len = old;
            return -1;
        }
        sb_buf_add(out, u, k);
    }
    if (out->oom) {
        out->len = old;
        return -1;
    }
    return 0;
}

int sb_json_string_eq(const char *s, size_t n, const char *key,
                      size_t keylen)
{
    size_t i = 1, at = 0, k;
    unsigned char u[4];

    if (n < 2 || s[0] != '"' || s[n - 1] != '"')
        return 0;
    while (i < n - 1) {
        k = decode_unit(s, n - 1, &i, u);
        if (!k || keylen - at < k || memcmp(key + at, u, k) != 0)
            return 0;
        at += k;
    }
    return at == keylen;
}

int sb_json_int64(const char *s, size_t n, int64_t *v)
{
    size_t i = 0, end = 0;
    uint64_t mag = 0, lim;
    int neg;

    if (scan_number(s, n, &end, NULL) || end != n)
        return -1;
    neg = s[0] == '-';
    i = (size_t)neg;
    lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < n; i++) {
        if (!is_digit(s[i]))
            return -1;
        if (mag > (lim - (uint64_t)(s[i] - '0')) / 10)
            return -1;
        mag = mag * 10 + (uint64_t)(s[i] - '0');
    }
    if (neg)
        *v = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
    else
        *v = (int64_t)mag;
    return 0;
}

int sb_json_double(const char *s, size_t n, double *v)
{
    char tmp[128];
    size_t end = 0;

    if (scan_number(s, n, &end, NULL) || end != n || n >= sizeof tmp)
        return -1;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    *v = strtod(tmp, NULL);
    return 0;
}
