/* The SSE request parser (sse_request.c): channel from the path, which
 * resume position wins, ids that are too long or hold NUL, methods, and
 * POST event names. */
#include "check.h"
#include "protocols/sse/sse_request.h"

static int parse(const char *path, sb_sse_method m, sb_span hdr, sb_span q,
                 sb_span evs, sb_sse_request *out, const char **why)
{
    sb_sse_request_in in;

    in.path = sb_span_of(path, path ? strlen(path) : 0);
    in.method = m;
    in.header_id = hdr;
    in.query_id = q;
    in.query_evs_id = evs;
    return sb_sse_request_parse(&in, out, why);
}

static void test_channel(check_ctx *t)
{
    sb_sse_request r;
    const char *why;
    char long_path[300];

    CHECK_INT(parse("/sse/room:1", SB_SSE_GET, NOSPAN, NOSPAN, NOSPAN, &r, &why), 0);
    CHECK_SPAN(r.channel, "room:1");
    CHECK(why == NULL && !r.has_last);
    CHECK_INT(parse("/sse/", SB_SSE_GET, NOSPAN, NOSPAN, NOSPAN, &r, &why), 400);
    CHECK(why && strstr(why, "bad channel name"));
    CHECK_INT(parse("/sse/a b", SB_SSE_GET, NOSPAN, NOSPAN, NOSPAN, &r, &why), 400);
    CHECK_INT(parse("/sse/caf\xc3\xa9", SB_SSE_POST, NOSPAN, NOSPAN, NOSPAN, &r, &why), 400);
    CHECK_INT(parse("/other/x", SB_SSE_GET, NOSPAN, NOSPAN, NOSPAN, &r, &why), 400);
    CHECK_INT(parse(NULL, SB_SSE_GET, NOSPAN, NOSPAN, NOSPAN, &r, &why), 400);
    memcpy(long_path, "/sse/", 5);
    memset(long_path + 5, 'a', 256);
    long_path[261] = '\0';
    CHECK_INT(parse(long_path, SB_SSE_GET, NOSPAN, NOSPAN, NOSPAN, &r, &why), 400);
    long_path[260] = '\0';   /* 255 bytes: the longest name */
    CHECK_INT(parse(long_path, SB_SSE_GET, NOSPAN, NOSPAN, NOSPAN, &r, &why), 0);
    CHECK_INT(r.channel.n, 255);
}

static void test_methods(check_ctx *t)
{
    sb_sse_request r;
    const char *why;

    CHECK_INT(parse("/sse/x", SB_SSE_OTHER, NOSPAN, NOSPAN, NOSPAN, &r, &why), 405);
    CHECK(why && strstr(why, "GET"));
    CHECK_INT(parse("/sse/x", SB_SSE_OPTIONS, S("1-2"), NOSPAN, NOSPAN, &r, &why), 0);
    CHECK(!r.has_last);   /* only a stream resumes */
    CHECK_INT(parse("/sse/x", SB_SSE_POST, S("1-2"), NOSPAN, NOSPAN, &r, &why), 0);
    CHECK(!r.has_last);
    /* a bad channel is named before a bad method */
    CHECK_INT(parse("/sse/%", SB_SSE_OTHER, NOSPAN, NOSPAN, NOSPAN, &r, &why), 400);
}

static void test_positions(check_ctx *t)
{
    sb_sse_request r;
    const char *why;
    char big[80];

    parse("/sse/x", SB_SSE_GET, S("5-7"), S("1-1"), S("2-2"), &r, &why);
    CHECK(r.has_last && r.last_ok && r.epoch == 5 && r.offset == 7);
    CHECK_MEM(r.last_id, r.last_len, "5-7");
    parse("/sse/x", SB_SSE_GET, NOSPAN, S("1-1"), S("2-2"), &r, &why);
    CHECK(r.epoch == 1 && r.offset == 1);
    parse("/sse/x", SB_SSE_GET, NOSPAN, NOSPAN, S("2-3"), &r, &why);
    CHECK(r.epoch == 2 && r.offset == 3);
    /* an empty position is none, even when another place has one */
    parse("/sse/x", SB_SSE_GET, S(""), S("1-1"), NOSPAN, &r, &why);
    CHECK(!r.has_last);
    /* not ours: kept for the recovery-failed echo, not parsed */
    parse("/sse/x", SB_SSE_GET, S("45cdc2e4-5b81"), NOSPAN, NOSPAN, &r, &why);
    CHECK(r.has_last && !r.last_ok);
    CHECK_MEM(r.last_id, r.last_len, "45cdc2e4-5b81");
    /* too long or holding NUL: present, but "" (bad-id, nothing echoed) */
    memset(big, '1', sizeof big);
    parse("/sse/x", SB_SSE_GET, sb_span_of(big, 65), NOSPAN, NOSPAN, &r, &why);
    CHECK(r.has_last && !r.last_ok && r.last_len == 0 && r.last_id[0] == '\0');
    parse("/sse/x", SB_SSE_GET, sb_span_of(big, 64), NOSPAN, NOSPAN, &r, &why);
    CHECK(r.has_last && !r.last_ok && r.last_len == 64);
    parse("/sse/x", SB_SSE_GET, S("1-2\0"), NOSPAN, NOSPAN, &r, &why);
    CHECK(r.has_last && !r.last_ok && r.last_len == 0);
    CHECK(r.last_id[r.last_len] == '\0');
}

static void test_events(check_ctx *t)
{
    char big[70];

    CHECK(sb_sse_valid_event("tick", 4));
    CHECK(sb_sse_valid_event("caf\xc3\xa9 au lait", 13));
    CHECK(!sb_sse_valid_event("", 0));
    CHECK(!sb_sse_valid_event(NULL, 0));
    CHECK(!sb_sse_valid_event("a\nb", 3));
    CHECK(!sb_sse_valid_event("a\0b", 3));
    CHECK(!sb_sse_valid_event("del\x7f", 4));
    memset(big, 'e', sizeof big);
    CHECK(sb_sse_valid_event(big, 64));
    CHECK(!sb_sse_valid_event(big, 65));
}

int main(void)
{
    check_ctx ctx = { "test_sse_request", 0, 0 }, *t = &ctx;

    test_channel(t);
    test_methods(t);
    test_positions(t);
    test_events(t);
    return check_report(t);
}
