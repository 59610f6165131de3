/* The SSE request parser (sse_request.c) with any bytes in the path, the
 * Last-Event-ID header and the two query positions.
 *
 * Input layout: byte 0 picks the method (bits 0-1) and which of the three
 * positions are present (bits 2-4); bytes 1-3 are the lengths of the path,
 * the header and the first query value (each taken modulo what is left);
 * the rest is the second query value.  The whole input is also tried as
 * a POST ?event= name.  The verdict is recomputed from the
 * documented rules: the status, the channel span, which position wins, and
 * that an accepted position formats back to exactly its bytes. */
#include "fuzz.h"

#include "protocols/sse/proto_sse.h"
#include "protocols/sse/sse_request.h"

/* The channel rule of hub.h, written again from its comment. */
static int channel_ok(const char *p, size_t n)
{
    size_t i;

    if (n == 0 || n > 255)
        return 0;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '.' || c == ':' ||
              c == '@' || c == '/' || c == '-'))
            return 0;
    }
    return 1;
}

/* The POST event rule: 1..64 bytes, no control characters. */
static int event_ok(const char *p, size_t n)
{
    size_t i;

    if (n == 0 || n > SB_SSE_EVENT_MAX)
        return 0;
    for (i = 0; i < n; i++)
        if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
            return 0;
    return 1;
}

static sb_span take(const char **p, size_t *rest, unsigned k, int present)
{
    sb_span s = { NULL, 0 };
    size_t n = k % (*rest + 1);

    if (present) {
        s.p = *p;
        s.n = n;
    }
    *p += n;
    *rest -= n;
    return s;
}

static void check_position(const sb_sse_request *r, sb_span want)
{
    sb_buf b;

    if (!want.p || want.n == 0) {
        FUZZ_CHECK(!r->has_last && r->last_len == 0);
        return;
    }
    FUZZ_CHECK(r->has_last);
    FUZZ_CHECK(r->last_id[r->last_len] == '\0');
    if (want.n > SB_MSGID_MAX || memchr(want.p, '\0', want.n)) {
        FUZZ_CHECK(r->last_len == 0 && !r->last_ok);
        return;
    }
    FUZZ_CHECK(fuzz_same(r->last_id, r->last_len, want.p, want.n));
    if (!r->last_ok)
        return;
    sb_buf_init(&b, 0);
    FUZZ_CHECK(sb_msgid_format(&b, r->epoch, r->offset) == 0);
    FUZZ_CHECK(fuzz_same(sb_buf_data(&b), b.len, want.p, want.n));
    sb_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_copy(data, size);
    const char *p, *why;
    size_t rest;
    sb_sse_request_in in;
    sb_sse_request r;
    sb_span want;
    int status, path_ok;

    if (!s)
        return 0;
    FUZZ_CHECK(sb_sse_valid_event(s, size) == event_ok(s, size));
    if (size < 4) {
        free(s);
        return 0;
    }
    p = s + 4;
    rest = size - 4;
    in.method = (sb_sse_method)(data[0] & 3);
    in.path = take(&p, &rest, data[1], 1);
    in.header_id = take(&p, &rest, data[2], data[0] & 4);
    in.query_id = take(&p, &rest, data[3], data[0] & 8);
    in.query_evs_id.p = (data[0] & 16) ? p : NULL;
    in.query_evs_id.n = (data[0] & 16) ? rest : 0;
    status = sb_sse_request_parse(&in, &r, &why);
    path_ok = in.path.n >= 5 && memcmp(in.path.p, "/sse/", 5) == 0 &&
              channel_ok(in.path.p + 5, in.path.n - 5);
    FUZZ_CHECK((status == 0) == (why == NULL));
    if (!path_ok) {
        FUZZ_CHECK(status == 400);
    } else if (in.method == SB_SSE_OTHER) {
        FUZZ_CHECK(status == 405);
    } else {
        FUZZ_CHECK(status == 0);
        FUZZ_CHECK(r.channel.p == in.path.p + 5 && r.channel.n == in.path.n - 5);
        want = in.header_id.p ? in.header_id : in.query_id.p ? in.query_id : in.query_evs_id;
        if (in.method != SB_SSE_GET)
            want.p = NULL;
        check_position(&r, want);
    }
    free(s);
    return 0;
}
