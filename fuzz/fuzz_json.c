/* The JSON scanner: sb_json_check, sb_json_value, sb_json_array,
 * sb_json_object_get, sb_json_unescape and the number readers.
 *
 * Byte 0 picks the depth limit, the rest is the text.  Cross-checks:
 * every function agrees with sb_json_check on valid/invalid; array items
 * are valid JSON and survive being joined into a new array; for objects,
 * a member walk done with sb_json_value must agree with
 * sb_json_object_get (last duplicate wins); every string token unescapes
 * to valid UTF-8 that sb_buf_add_json_string escapes back to a token that
 * unescapes to the same bytes; integers print back as written. */
#include "fuzz.h"

#include "codec/json.h"
#include "base/utf8.h"

#define MAX_ITEMS 64

static size_t ws(const char *s, size_t n, size_t i)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' ||
                     s[i] == '\r'))
        i++;
    return i;
}

/* The one value of a checked text without its surrounding whitespace. */
static sb_span trim(const char *s, size_t n)
{
    sb_span v;
    size_t start = ws(s, n, 0), end = n;

    while (end > start && (s[end - 1] == ' ' || s[end - 1] == '\t' ||
                           s[end - 1] == '\n' || s[end - 1] == '\r'))
        end--;
    v.p = s + start;
    v.n = end - start;
    return v;
}

/* A string token: unescape, re-escape, unescape again. */
static void check_string(const char *s, size_t n)
{
    sb_buf a, enc, b;
    sb_span plain;

    sb_buf_init(&a, 0);
    sb_buf_init(&enc, 0);
    sb_buf_init(&b, 0);
    FUZZ_CHECK(sb_json_type_of(s, n) == SB_JSON_STRING);
    FUZZ_CHECK(sb_json_unescape(s, n, &a) == 0);
    FUZZ_CHECK(sb_utf8_valid((const char *)sb_buf_data(&a), a.len));
    FUZZ_CHECK(sb_json_string_eq(s, n, (const char *)sb_buf_data(&a), a.len));
    if (sb_json_string_plain(s, n, &plain))
        FUZZ_CHECK(fuzz_same(plain.p, plain.n, sb_buf_data(&a), a.len));
    sb_buf_add_json_string(&enc, (const char *)sb_buf_data(&a), a.len);
    FUZZ_CHECK(!enc.oom);
    FUZZ_CHECK(sb_json_check((const char *)sb_buf_data(&enc), enc.len, 1,
                             NULL) == 0);
    FUZZ_CHECK(sb_json_unescape((const char *)sb_buf_data(&enc), enc.len,
                                &b) == 0);
    FUZZ_CHECK(fuzz_same(sb_buf_data(&b), b.len, sb_buf_data(&a), a.len));
    sb_buf_free(&a);
    sb_buf_free(&enc);
    sb_buf_free(&b);
}

static void check_number(const char *s, size_t n)
{
    int64_t v;
    double d;
    sb_buf b;

    if (sb_json_int64(s, n, &v) == 0) {
        sb_buf_init(&b, 0);
        sb_buf_add_i64(&b, v);
        /* "-0" is the one integer token with two spellings */
        if (!fuzz_same(s, n, "-0", 2))
            FUZZ_CHECK(fuzz_same(sb_buf_data(&b), b.len, s, n));
        sb_buf_free(&b);
    }
    if (n < 128)
        FUZZ_CHECK(sb_json_double(s, n, &d) == 0);
}

static void check_array(const char *s, size_t n, int depth)
{
    sb_span items[MAX_ITEMS], again[MAX_ITEMS];
    size_t count, count2, i;
    sb_buf b;

    FUZZ_CHECK(sb_json_array(s, n, depth, items, MAX_ITEMS, &count,
                             NULL) == 0);
    if (count > MAX_ITEMS)
        return;
    sb_buf_init(&b, 0);
    sb_buf_addc(&b, '[');
    for (i = 0; i < count; i++) {
        FUZZ_CHECK(items[i].p >= s && items[i].p + items[i].n <= s + n);
        FUZZ_CHECK(sb_json_check(items[i].p, items[i].n, 0, NULL) == 0);
        if (i)
            sb_buf_addc(&b, ',');
        sb_buf_add(&b, items[i].p, items[i].n);
    }
    sb_buf_addc(&b, ']');
    FUZZ_CHECK(sb_json_array((const char *)sb_buf_data(&b), b.len, depth,
                             again, MAX_ITEMS, &count2, NULL) == 0);
    FUZZ_CHECK(count2 == count);
    for (i = 0; i < count; i++)
        FUZZ_CHECK(fuzz_same(again[i].p, again[i].n, items[i].p,
                             items[i].n));
    sb_buf_free(&b);
}

/* Walks the members with sb_json_value and asks object_get for each key. */
static void check_object(const char *s, size_t n, int depth)
{
    sb_span key[MAX_ITEMS], val[MAX_ITEMS], got;
    size_t nm = 0, i = ws(s, n, 0) + 1, j, start, last;
    sb_buf dk, other;

    i = ws(s, n, i);
    while (i < n && s[i] != '}' && nm < MAX_ITEMS) {
        start = i;
        FUZZ_CHECK(sb_json_value(s, n, &i, 1, NULL) == 0);
        key[nm].p = s + start;
        key[nm].n = i - start;
        i = ws(s, n, i);
        FUZZ_CHECK(i < n && s[i] == ':');
        i = ws(s, n, i + 1);
        start = i;
        FUZZ_CHECK(sb_json_value(s, n, &i, 0, NULL) == 0);
        val[nm].p = s + start;
        val[nm].n = i - start;
        nm++;
        i = ws(s, n, i);
        FUZZ_CHECK(i < n && (s[i] == ',' || s[i] == '}'));
        if (s[i] == ',')
            i = ws(s, n, i + 1);
    }
    if (nm == MAX_ITEMS)
        return;
    sb_buf_init(&dk, 0);
    sb_buf_init(&other, 0);
    for (j = 0; j < nm; j++) {
        check_string(key[j].p, key[j].n);
        sb_buf_reset(&dk);
        FUZZ_CHECK(sb_json_unescape(key[j].p, key[j].n, &dk) == 0);
        last = j;
        for (i = j + 1; i < nm; i++)
            if (sb_json_string_eq(key[i].p, key[i].n,
                                  (const char *)sb_buf_data(&dk), dk.len))
                last = i;
        FUZZ_CHECK(sb_json_object_get(s, n, depth,
                                      (const char *)sb_buf_data(&dk), dk.len,
                                      &got, NULL) == 1);
        FUZZ_CHECK(got.p == val[last].p && got.n == val[last].n);
    }
    /* a key no member has (decoded keys never hold a raw 0xFF byte) */
    FUZZ_CHECK(sb_json_object_get(s, n, depth, "\xff", 1, &got, NULL) == 0);
    sb_buf_free(&dk);
    sb_buf_free(&other);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s;
    size_t n, pos = 0;
    int depth, ok, r;
    size_t count;
    sb_span v;
    sb_json_err err;
    sb_buf out;

    if (size < 1)
        return 0;
    depth = data[0] % 16;   /* 0 = the default ceiling */
    n = size - 1;
    s = fuzz_copy(data + 1, n);
    if (!s)
        return 0;
    err.msg = NULL;
    ok = sb_json_check(s, n, depth, &err) == 0;
    if (!ok)
        FUZZ_CHECK(err.msg != NULL && err.pos <= n);
    /* sb_json_value accepts the same values, minus the trailing check */
    r = sb_json_value(s, n, &pos, depth, NULL);
    if (ok)
        FUZZ_CHECK(r == 0 && ws(s, n, pos) == n);
    else if (r == 0)
        FUZZ_CHECK(pos <= n && ws(s, n, pos) < n);
    if (!ok) {
        FUZZ_CHECK(sb_json_array(s, n, depth, NULL, 0, &count, NULL) == -1);
        FUZZ_CHECK(sb_json_object_get(s, n, depth, "a", 1, &v, NULL) == -1);
        /* unescape takes any bytes; when it accepts, UTF-8 comes out */
        sb_buf_init(&out, 0);
        if (sb_json_unescape(s, n, &out) == 0)
            FUZZ_CHECK(sb_utf8_valid((const char *)sb_buf_data(&out),
                                     out.len));
        else
            FUZZ_CHECK(out.len == 0);
        sb_buf_free(&out);
        free(s);
        return 0;
    }
    switch (sb_json_type_of(s, n)) {
    case SB_JSON_ARRAY:
        check_array(s, n, depth);
        FUZZ_CHECK(sb_json_object_get(s, n, depth, "a", 1, &v, NULL) == -1);
        break;
    case SB_JSON_OBJECT:
        check_object(s, n, depth);
        FUZZ_CHECK(sb_json_array(s, n, depth, NULL, 0, &count, NULL) == -1);
        break;
    case SB_JSON_STRING:
        v = trim(s, n);
        check_string(v.p, v.n);
        break;
    case SB_JSON_NUMBER:
        v = trim(s, n);
        check_number(v.p, v.n);
        break;
    default:
        FUZZ_CHECK(sb_json_type_of(s, n) != SB_JSON_BAD);
    }
    free(s);
    return 0;
}
