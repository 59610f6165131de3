/* The server API's request rules (proto_api.c): which paths are methods,
 * where the key comes from and which values cannot be keys, and the
 * JSON of an error. */
#include "check.h"
#include "protocols/api/proto_api.h"

static void test_routes(check_ctx *t)
{
    sb_span m = NOSPAN;

    CHECK_INT(sb_api_route(S("/api/publish"), S("/api"), &m), SB_API_METHOD);
    CHECK_SPAN(m, "publish");
    CHECK_INT(sb_api_route(S("/api/presence_stats"), S("/api"), &m), SB_API_METHOD);
    CHECK_SPAN(m, "presence_stats");
    CHECK_INT(sb_api_route(S("/x/y/api/history"), S("/x/y/api"), &m), SB_API_METHOD);
    CHECK_SPAN(m, "history");
    CHECK_INT(sb_api_route(S("/api"), S("/api"), &m), SB_API_NO_METHOD);
    CHECK_INT(sb_api_route(S("/api/"), S("/api"), &m), SB_API_NO_METHOD);
    CHECK_INT(sb_api_route(S("/api/a/b"), S("/api"), &m), SB_API_NO_METHOD);
    CHECK_INT(sb_api_route(S("/api/Publish"), S("/api"), &m), SB_API_NO_METHOD);
    CHECK_INT(sb_api_route(S("/api/a b"), S("/api"), &m), SB_API_NO_METHOD);
    CHECK_INT(sb_api_route(S("/api/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), S("/api"), &m),
              SB_API_NO_METHOD);   /* 33 bytes */
    CHECK_INT(sb_api_route(S("/api/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), S("/api"), &m),
              SB_API_METHOD);      /* 32 */
    CHECK_INT(sb_api_route(S("/apix"), S("/api"), &m), SB_API_NOT_OURS);
    CHECK_INT(sb_api_route(S("/ap"), S("/api"), &m), SB_API_NOT_OURS);
    CHECK_INT(sb_api_route(S("/sse/x"), S("/api"), &m), SB_API_NOT_OURS);
    CHECK_INT(sb_api_route(NOSPAN, S("/api"), &m), SB_API_NOT_OURS);
}

static void test_keys(check_ctx *t)
{
    sb_span k = NOSPAN;
    char big[SB_API_KEY_MAX + 8 + 1];

    CHECK_INT(sb_api_key(NOSPAN, S("s3cret"), &k), SB_API_KEY_OK);
    CHECK_SPAN(k, "s3cret");
    /* X-API-Key wins over Authorization */
    CHECK_INT(sb_api_key(S("apikey other"), S("s3cret"), &k), SB_API_KEY_OK);
    CHECK_SPAN(k, "s3cret");
    CHECK_INT(sb_api_key(S("apikey s3cret"), NOSPAN, &k), SB_API_KEY_OK);
    CHECK_SPAN(k, "s3cret");
    CHECK_INT(sb_api_key(S("ApiKey   s3cret  "), NOSPAN, &k), SB_API_KEY_OK);
    CHECK_SPAN(k, "s3cret");
    CHECK_INT(sb_api_key(S("Bearer s3cret"), NOSPAN, &k), SB_API_KEY_MISSING);
    CHECK_INT(sb_api_key(S("apikeys3cret"), NOSPAN, &k), SB_API_KEY_MISSING);
    CHECK_INT(sb_api_key(NOSPAN, NOSPAN, &k), SB_API_KEY_MISSING);
    CHECK_INT(sb_api_key(S("apikey "), NOSPAN, &k), SB_API_KEY_BAD);
    CHECK_INT(sb_api_key(S("apikey a b"), NOSPAN, &k), SB_API_KEY_BAD);
    CHECK_INT(sb_api_key(NOSPAN, S(""), &k), SB_API_KEY_BAD);
    CHECK_INT(sb_api_key(NOSPAN, S("tab\there"), &k), SB_API_KEY_BAD);
    CHECK_INT(sb_api_key(NOSPAN, S("caf\xc3\xa9"), &k), SB_API_KEY_BAD);
    memcpy(big, "apikey ", 7);
    memset(big + 7, 'k', SB_API_KEY_MAX + 1);
    CHECK_INT(sb_api_key(sb_span_of(big, 7 + SB_API_KEY_MAX), NOSPAN, &k), SB_API_KEY_OK);
    CHECK_INT(k.n, SB_API_KEY_MAX);
    CHECK_INT(sb_api_key(sb_span_of(big, 7 + SB_API_KEY_MAX + 1), NOSPAN, &k), SB_API_KEY_BAD);
}

static void test_errors(check_ctx *t)
{
    sb_buf b;

    sb_buf_init(&b, 0);
    sb_api_error_body(&b, "bad_json", "invalid \"JSON\"\n");
    CHECK_BUF(&b, "{\"error\":{\"code\":\"bad_json\",\"message\":\"invalid \\\"JSON\\\"\\n\"}}");
    sb_buf_free(&b);
}

int main(void)
{
    check_ctx ctx = { "test_proto_api", 0, 0 }, *t = &ctx;

    test_routes(t);
    test_keys(t);
    test_errors(t);
    return check_report(t);
}
