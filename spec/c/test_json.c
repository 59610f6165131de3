/* JSON scanner: validation, depth, UTF-8, splitting, lookup, unescape. */
#include <stdlib.h>

#include "check.h"
#include "codec/json.h"

#define VALID(lit) (sb_json_check((lit), sizeof(lit) - 1, 0, NULL) == 0)

static void test_valid(check_ctx *t)
{
    CHECK(VALID("null"));
    CHECK(VALID(" true "));
    CHECK(VALID("false"));
    CHECK(VALID("0"));
    CHECK(VALID("-0.5e+10"));
    CHECK(VALID("1E3"));
    CHECK(VALID("\"\""));
    CHECK(VALID("\"a\\\"b\\\\c\\/\\b\\f\\n\\r\\t\\u00e9\\uD83D\\uDE00\""));
    CHECK(VALID("\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\""));
    CHECK(VALID("[]"));
    CHECK(VALID("{}"));
    CHECK(VALID(" [ 1 , \"x\" , { \"a\" : [ ] } ] \n"));
    CHECK(VALID("{\"a\":{\"b\":{\"c\":null}},\"d\":[true,false]}"));
    CHECK(VALID("\"\\ud800\""));  /* lone surrogate escape: legal syntax */
}

static void test_invalid(check_ctx *t)
{
    static const char *bad[] = {
        "", " ", "undefined", "nul", "tru", "01", "-", "1.", ".5", "1e",
        "+1", "0x10", "[1,]", "[,1]", "[1 2]", "{\"a\"}", "{\"a\":}",
        "{a:1}", "{\"a\":1,}", "{'a':1}", "[1]]", "[1", "{", "\"abc",
        "\"\\x\"", "\"\\u12\"", "\"\\u12g4\"", "1 2", "[]x", "\"\\",
        "{\"a\":1 \"b\":2}", "NaN", "Infinity", "[-]", "\xef\xbb\xbf{}",
    };
    size_t i;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (!CHECK(sb_json_check(bad[i], strlen(bad[i]), 0, NULL) == -1))
            fprintf(stderr, "    input: %s\n", bad[i]);
}

static void test_strings_bytes(check_ctx *t)
{
    static const char *bad[] = {
        "\"\x01\"",             /* raw control character */
        "\"a\nb\"",             /* raw newline */
        "\"\xff\"",             /* never valid */
        "\"\xc3\"",             /* truncated 2-byte sequence */
        "\"\xc0\xaf\"",         /* overlong '/' */
        "\"\xe0\x80\xaf\"",     /* overlong 3-byte */
        "\"\xed\xa0\x80\"",     /* encoded surrogate */
        "\"\xf4\x90\x80\x80\"", /* above U+10FFFF */
        "\"\xf0\x9f\x98\"",     /* truncated 4-byte */
        "\"\x80\"",             /* lone continuation */
    };
    sb_json_err err;
    size_t i;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(sb_json_check(bad[i], strlen(bad[i]), 0, &err) == -1);
    CHECK(sb_json_check("\"a\x00\"", 4, 0, &err) == -1);
    CHECK_INT(err.pos, 2);
    CHECK(sb_json_check("[1,\"\xff\"]", 6, 0, &err) == -1);
    CHECK_INT(err.pos, 4);
    CHECK(strstr(err.msg, "UTF-8") != NULL);
}

static void test_bounds(check_ctx *t)
{
    /* the scanner must stop at n even when valid JSON continues after it */
    const char *s = "[1,2]";
    sb_json_err err;

    CHECK(sb_json_check(s, 4, 0, &err) == -1);
    CHECK_INT(err.pos, 4);
    CHECK(sb_json_check("truex", 3, 0, NULL) == -1);
    CHECK(sb_json_check("\"ab\"", 3, 0, NULL) == -1);
    CHECK(sb_json_check("\"\\u00e9\"", 6, 0, NULL) == -1);
    CHECK(sb_json_check("12", 1, 0, NULL) == 0);
    CHECK(sb_json_check(NULL, 0, 0, NULL) == -1);
}

/* `depth` opening brackets followed by as many closing ones, on the heap
 * so ASan sees any overread. */
static char *nested(size_t depth, size_t *n)
{
    char *s = malloc(2 * depth);
    size_t i;

    if (!s)
        return NULL;
    for (i = 0; i < depth; i++) {
        s[i] = '[';
        s[2 * depth - 1 - i] = ']';
    }
    *n = 2 * depth;
    return s;
}

static void test_depth(check_ctx *t)
{
    sb_json_err err;
    size_t n;
    char *s;

    CHECK(sb_json_check("[[1]]", 5, 2, NULL) == 0);
    CHECK(sb_json_check("[[1]]", 5, 1, &err) == -1);
    CHECK_INT(err.pos, 1);
    CHECK(strstr(err.msg, "deep") != NULL);
    CHECK(sb_json_check("{\"a\":{\"b\":[]}}", 14, 3, NULL) == 0);
    CHECK(sb_json_check("{\"a\":{\"b\":[]}}", 14, 2, NULL) == -1);
    CHECK(sb_json_check("[[],[],{}]", 10, 2, NULL) == 0);
    CHECK(sb_json_check("1", 1, 1, NULL) == 0);

    s = nested(SB_JSON_MAX_DEPTH, &n);
    if (!CHECK(s != NULL))
        return;
    CHECK(sb_json_check(s, n, 0, NULL) == 0);
    free(s);
    s = nested(SB_JSON_MAX_DEPTH + 1, &n);  /* the cap holds for 0 */
    if (!CHECK(s != NULL))
        return;
    CHECK(sb_json_check(s, n, 0, NULL) == -1);
    CHECK(sb_json_check(s, n, 1000000, NULL) == -1);
    free(s);
    s = nested(200000, &n);  /* depth bomb: rejected without recursion */
    if (!CHECK(s != NULL))
        return;
    CHECK(sb_json_check(s, n, 32, &err) == -1);
    CHECK_INT(err.pos, 32);
    CHECK(sb_json_check(s, n - 1, 0, NULL) == -1);
    free(s);
}

static void test_type_of(check_ctx *t)
{
    CHECK(sb_json_type_of(" null", 5) == SB_JSON_NULL);
    CHECK(sb_json_type_of("true", 4) == SB_JSON_TRUE);
    CHECK(sb_json_type_of("false", 5) == SB_JSON_FALSE);
    CHECK(sb_json_type_of("-1", 2) == SB_JSON_NUMBER);
    CHECK(sb_json_type_of("\"x\"", 3) == SB_JSON_STRING);
    CHECK(sb_json_type_of("[]", 2) == SB_JSON_ARRAY);
    CHECK(sb_json_type_of("{}", 2) == SB_JSON_OBJECT);
    CHECK(sb_json_type_of("  ", 2) == SB_JSON_BAD);
    CHECK(sb_json_type_of("x", 1) == SB_JSON_BAD);
}

static void test_array(check_ctx *t)
{
    const char *s = " [ \"6\" , null,{\"a\":[1,2]} , [] ,-3 ] ";
    sb_span it[3];
    size_t count;

    CHECK(sb_json_array(s, strlen(s), 0, it, 3, &count, NULL) == 0);
    CHECK_INT(count, 5);
    CHECK_SPAN(it[0], "\"6\"");
    CHECK_SPAN(it[1], "null");
    CHECK_SPAN(it[2], "{\"a\":[1,2]}");
    CHECK(sb_json_array("[]", 2, 0, it, 3, &count, NULL) == 0);
    CHECK_INT(count, 0);
    CHECK(sb_json_array("{}", 2, 0, it, 3, &count, NULL) == -1);
    CHECK(sb_json_array("[1,2", 4, 0, it, 3, &count, NULL) == -1);
    CHECK(sb_json_array("[1,2] x", 7, 0, it, 3, &count, NULL) == -1);
    CHECK(sb_json_array("[[1]]", 5, 1, it, 3, &count, NULL) == -1);
    CHECK(sb_json_array("[[1]]", 5, 2, it, 3, &count, NULL) == 0);
    CHECK(sb_json_array("[1]", 3, 0, NULL, 0, &count, NULL) == 0);
    CHECK_INT(count, 1);
}

static void test_object_get(check_ctx *t)
{
    const char *s =
        "{\"a\":1, \"b\" : {\"a\":2} ,\"c\\u0064\":\"x\",\"a\":[3]}";
    size_t n = strlen(s);
    sb_span v;

    CHECK(sb_json_object_get(s, n, 0, "a", 1, &v, NULL) == 1);
    CHECK_SPAN(v, "[3]");  /* last occurrence wins */
    CHECK(sb_json_object_get(s, n, 0, "b", 1, &v, NULL) == 1);
    CHECK_SPAN(v, "{\"a\":2}");
    CHECK(sb_json_object_get(s, n, 0, "cd", 2, &v, NULL) == 1);
    CHECK_SPAN(v, "\"x\"");
    CHECK(sb_json_object_get(s, n, 0, "c", 1, &v, NULL) == 0);
    CHECK(sb_json_object_get(s, n, 0, "zz", 2, &v, NULL) == 0);
    CHECK(sb_json_object_get("{}", 2, 0, "a", 1, &v, NULL) == 0);
    CHECK(sb_json_object_get("[]", 2, 0, "a", 1, &v, NULL) == -1);
    CHECK(sb_json_object_get("{\"a\":1", 6, 0, "a", 1, &v, NULL) == -1);
    CHECK(sb_json_object_get("{\"a\" 1}", 7, 0, "a", 1, &v, NULL) == -1);
    CHECK(sb_json_object_get("{\"\":0}", 6, 0, "", 0, &v, NULL) == 1);
}

static void test_unescape(check_ctx *t)
{
    sb_buf b;
    sb_span v;

    sb_buf_init(&b, 0);
    CHECK(sb_json_unescape("\"a\\\"\\\\\\/\\b\\f\\n\\r\\tz\"", 20, &b) == 0);
    CHECK_BUF(&b, "a\"\\/\b\f\n\r\tz");
    sb_buf_reset(&b);
    CHECK(sb_json_unescape("\"\\u00e9\\u20AC\\ud83d\\ude00\\u0000\"", 32,
                           &b) == 0);
    CHECK_BUF(&b, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\0");
    sb_buf_reset(&b);
    /* lone or reversed surrogates become U+FFFD */
    CHECK(sb_json_unescape("\"\\ud800x\\udc00\\ude00\\ud800\"", 27, &b) == 0);
    CHECK_BUF(&b, "\xef\xbf\xbdx\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    sb_buf_reset(&b);
    CHECK(sb_json_unescape("\"\\ud83d\\u0041\"", 14, &b) == 0);
    CHECK_BUF(&b, "\xef\xbf\xbd" "A");
    sb_buf_reset(&b);
    CHECK(sb_json_unescape("\"ok\"", 4, &b) == 0);
    CHECK(sb_json_unescape("\"\\\"", 3, &b) == -1);
    CHECK(sb_json_unescape("\"\\u12\"", 6, &b) == -1);
    CHECK(sb_json_unescape("\"\xff\"", 3, &b) == -1);
    CHECK(sb_json_unescape("\"a\"b\"", 5, &b) == -1);
    CHECK(sb_json_unescape("x", 1, &b) == -1);
    CHECK_BUF(&b, "ok");  /* failures leave the buffer as it was */
    sb_buf_free(&b);

    CHECK(sb_json_string_plain("\"abc\"", 5, &v) == 1);
    CHECK_SPAN(v, "abc");
    CHECK(sb_json_string_plain("\"a\\nb\"", 6, &v) == 0);
    CHECK(sb_json_string_eq("\"\\u0061b\"", 9, "ab", 2) == 1);
    CHECK(sb_json_string_eq("\"ab\"", 4, "abc", 3) == 0);
    CHECK(sb_json_string_eq("\"abc\"", 5, "ab", 2) == 0);
}

static void test_numbers(check_ctx *t)
{
    int64_t i = 0;
    double d = 0;

    CHECK(sb_json_int64("0", 1, &i) == 0 && i == 0);
    CHECK(sb_json_int64("-42", 3, &i) == 0 && i == -42);
    CHECK(sb_json_int64("9223372036854775807", 19, &i) == 0 &&
          i == INT64_MAX);
    CHECK(sb_json_int64("-9223372036854775808", 20, &i) == 0 &&
          i == INT64_MIN);
    CHECK(sb_json_int64("9223372036854775808", 19, &i) == -1);
    CHECK(sb_json_int64("-9223372036854775809", 20, &i) == -1);
    CHECK(sb_json_int64("1.5", 3, &i) == -1);
    CHECK(sb_json_int64("1e3", 3, &i) == -1);
    CHECK(sb_json_int64("01", 2, &i) == -1);
    CHECK(sb_json_int64("", 0, &i) == -1);
    CHECK(sb_json_int64("12", 1, &i) == 0 && i == 1);
    CHECK(sb_json_double("-2.5e2", 6, &d) == 0 && d == -250.0);
    CHECK(sb_json_double("1", 1, &d) == 0 && d == 1.0);
    CHECK(sb_json_double("1.", 2, &d) == -1);
    CHECK(sb_json_double("abc", 3, &d) == -1);
}

/* An empty string may come as (NULL, 0), e.g. the data of an empty
 * sb_buf; NULL + 0 is undefined behaviour that UBSan reports (found by
 * fuzz/fuzz_json.c). */
static void test_empty_string_null(check_ctx *t)
{
    sb_buf b;

    sb_buf_init(&b, 0);
    sb_buf_add_json_string(&b, NULL, 0);
    CHECK_BUF(&b, "\"\"");
    sb_buf_free(&b);
}

int main(void)
{
    check_ctx ctx = { "test_json", 0, 0 }, *t = &ctx;

    test_valid(t);
    test_invalid(t);
    test_strings_bytes(t);
    test_bounds(t);
    test_depth(t);
    test_type_of(t);
    test_array(t);
    test_object_get(t);
    test_unescape(t);
    test_numbers(t);
    test_empty_string_null(t);
    return check_report(t);
}
