/* SSE: sb_msgid_parse (Last-Event-ID from the client) and the event
 * encoder.
 *
 * parse_id is strict, so an accepted id must format back to exactly the
 * same bytes.  The encoder is checked against a small parser written from
 * the EventSource grammar (docs/protocols.md#event-format): what a browser
 * would dispatch must be the id, event and data we meant, with line breaks
 * in data normalised to \n, and exactly one event per call. */
#include "fuzz.h"

#include "protocols/sse/proto_sse.h"

static void check_id(const char *s, size_t n)
{
    uint64_t ep = 0, off = 0;
    sb_buf b;

    if (sb_msgid_parse(s, n, &ep, &off) != 0)
        return;
    sb_buf_init(&b, 0);
    FUZZ_CHECK(sb_msgid_format(&b, ep, off) == 0);
    FUZZ_CHECK(fuzz_same(sb_buf_data(&b), b.len, s, n));
    sb_buf_free(&b);
}

/* What one client would see: the fields of every dispatched event. */
typedef struct seen {
    sb_buf id, event, data;
    int have_id, have_event, have_data, dispatched, blanks, last_blank;
} seen;

static void field(seen *v, const char *line, size_t n)
{
    const char *colon = memchr(line, ':', n);
    size_t nlen = colon ? (size_t)(colon - line) : n;
    const char *val = colon ? colon + 1 : line + n;
    size_t vlen = colon ? n - nlen - 1 : 0;

    v->last_blank = n == 0;
    if (n == 0) {
        v->blanks++;
        if (v->have_data) {
            v->dispatched++;
            /* the dispatched data drops its last \n */
            v->data.len--;
        }
        return;
    }
    if (line[0] == ':')
        return;
    if (vlen && val[0] == ' ') {
        val++;
        vlen--;
    }
    if (nlen == 4 && memcmp(line, "data", 4) == 0) {
        sb_buf_add(&v->data, val, vlen);
        sb_buf_addc(&v->data, '\n');
        v->have_data = 1;
    } else if (nlen == 2 && memcmp(line, "id", 2) == 0) {
        sb_buf_reset(&v->id);
        sb_buf_add(&v->id, val, vlen);
        v->have_id = 1;
    } else if (nlen == 5 && memcmp(line, "event", 5) == 0) {
        sb_buf_reset(&v->event);
        sb_buf_add(&v->event, val, vlen);
        v->have_event = 1;
    }
}

static void parse_stream(seen *v, const char *s, size_t n)
{
    size_t i = 0, start = 0;

    while (i < n) {
        if (s[i] == '\r' || s[i] == '\n') {
            field(v, s + start, i - start);
            if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n')
                i++;
            start = i + 1;
        }
        i++;
    }
    FUZZ_CHECK(start == n);   /* every line ended */
}

/* data with CRLF and lone CR turned into LF, as the client rebuilds it */
static void normalise(sb_buf *out, sb_span d)
{
    size_t i;

    for (i = 0; i < d.n; i++) {
        if (d.p[i] == '\r') {
            sb_buf_addc(out, '\n');
            if (i + 1 < d.n && d.p[i + 1] == '\n')
                i++;
        } else {
            sb_buf_addc(out, d.p[i]);
        }
    }
}

static int has_break(sb_span v)
{
    size_t i;

    for (i = 0; v.p && i < v.n; i++)
        if (v.p[i] == '\r' || v.p[i] == '\n' || v.p[i] == '\0')
            return 1;
    return 0;
}

static void check_event(const uint8_t *data, size_t size)
{
    sb_span id = { NULL, 0 }, ev = { NULL, 0 }, d = { NULL, 0 };
    const char *p = (const char *)data + 3;
    size_t rest = size - 3, k;
    sb_buf b, want;
    seen v;
    int r;

    /* byte 0: which fields are present; bytes 1-2: id and event lengths */
    k = data[1] % (rest + 1);
    if (data[0] & 1) {
        id.p = p;
        id.n = k;
    }
    p += k;
    rest -= k;
    k = data[2] % (rest + 1);
    if (data[0] & 2) {
        ev.p = p;
        ev.n = k;
    }
    p += k;
    rest -= k;
    if (data[0] & 4) {
        d.p = p;
        d.n = rest;
    }
    sb_buf_init(&b, 0);
    r = sb_sse_event(&b, id, ev, d);
    if (has_break(id) || has_break(ev)) {
        FUZZ_CHECK(r == SB_CODEC_EFIELD && b.len == 0);
        sb_buf_free(&b);
        return;
    }
    FUZZ_CHECK(r == 0);
    memset(&v, 0, sizeof v);
    sb_buf_init(&v.id, 0);
    sb_buf_init(&v.event, 0);
    sb_buf_init(&v.data, 0);
    sb_buf_init(&want, 0);
    parse_stream(&v, (const char *)sb_buf_data(&b), b.len);
    /* one blank line, the last one: a block per call, nothing after */
    FUZZ_CHECK(v.blanks == 1 && v.last_blank);
    FUZZ_CHECK(v.dispatched == (d.p ? 1 : 0));
    FUZZ_CHECK(v.have_id == (id.p != NULL) &&
               v.have_event == (ev.p != NULL));
    if (id.p)
        FUZZ_CHECK(fuzz_same(sb_buf_data(&v.id), v.id.len, id.p, id.n));
    if (ev.p)
        FUZZ_CHECK(fuzz_same(sb_buf_data(&v.event), v.event.len, ev.p,
                             ev.n));
    if (d.p) {
        normalise(&want, d);
        FUZZ_CHECK(fuzz_same(sb_buf_data(&v.data), v.data.len,
                             sb_buf_data(&want), want.len));
    }
    sb_buf_free(&want);
    sb_buf_free(&v.id);
    sb_buf_free(&v.event);
    sb_buf_free(&v.data);
    sb_buf_free(&b);
}

static void check_headers(const char *s, size_t n)
{
    sb_sse_header h[SB_SSE_MAX_HEADERS];
    sb_span origin = { s, n };
    int k, i;
    size_t j;

    k = sb_sse_headers(h, SB_SSE_MAX_HEADERS, origin, n & 1, n & 2);
    if (k == SB_CODEC_EFIELD)
        return;
    FUZZ_CHECK(k > 0 && k <= SB_SSE_MAX_HEADERS);
    for (i = 0; i < k; i++)
        for (j = 0; j < h[i].value_len; j++)
            FUZZ_CHECK((unsigned char)h[i].value[j] >= 0x20 &&
                       h[i].value[j] != 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_copy(data, size);

    if (!s)
        return 0;
    check_id(s, size);
    check_headers(s, size);
    if (size >= 3)
        check_event((const uint8_t *)s, size);
    free(s);
    return 0;
}
