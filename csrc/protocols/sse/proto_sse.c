#include "proto_sse.h"

#include <string.h>

static int done(const sb_buf *b)
{
    return b->oom ? SB_CODEC_ENOMEM : SB_CODEC_OK;
}

/* A field value must not end the line early. */
static int line_safe(sb_span v)
{
    size_t i;

    for (i = 0; v.p && i < v.n; i++)
        if (v.p[i] == '\n' || v.p[i] == '\r' || v.p[i] == '\0')
            return 0;
    return 1;
}

/* Clients drop ONE space after the colon (`data: x` reads as "x"), so a
 * value that itself starts with a space gets an extra one in front, or
 * its first space would be lost (found by fuzz/fuzz_sse.c). */
static void add_field(sb_buf *b, const char *name, const char *p, size_t n)
{
    sb_buf_adds(b, name);
    if (n && p[0] == ' ')
        sb_buf_addc(b, ' ');
    sb_buf_add(b, p, n);
    sb_buf_addc(b, '\n');
}

/* One data: line per line of the payload; CRLF counts as one break. */
static void add_data(sb_buf *b, sb_span d)
{
    size_t i, start = 0;

    for (i = 0; i < d.n; i++) {
        if (d.p[i] != '\n' && d.p[i] != '\r')
            continue;
        add_field(b, "data:", d.p + start, i - start);
        if (d.p[i] == '\r' && i + 1 < d.n && d.p[i + 1] == '\n')
            i++;
        start = i + 1;
    }
    add_field(b, "data:", d.p + start, d.n - start);
}

int sb_sse_event(sb_buf *b, sb_span id, sb_span event, sb_span data)
{
    if (!line_safe(id) || !line_safe(event))
        return SB_CODEC_EFIELD;
    if (id.p)
        add_field(b, "id:", id.p, id.n);
    if (event.p)
        add_field(b, "event:", event.p, event.n);
    if (data.p)
        add_data(b, data);
    sb_buf_addc(b, '\n');
    return done(b);
}

int sb_sse_retry(sb_buf *b, uint64_t ms)
{
    sb_buf_adds(b, "retry:");
    sb_buf_add_u64(b, ms);
    sb_buf_adds(b, "\n\n");
    return done(b);
}

int sb_sse_keepalive(sb_buf *b)
{
    sb_buf_adds(b, ":\n\n");
    return done(b);
}

static void put(sb_sse_header *h, size_t *k, const char *name,
                const char *value, size_t len)
{
    h[*k].name = name;
    h[*k].value = value;
    h[*k].value_len = len;
    (*k)++;
}

#define PUT_LIT(h, k, name, value) put(h, k, name, value, sizeof value - 1)

int sb_sse_headers(sb_sse_header *out, size_t max, sb_span origin,
                   int credentials, int http2)
{
    size_t k = 0, i;

    if (max < SB_SSE_MAX_HEADERS)
        return SB_CODEC_ENOMEM;
    for (i = 0; origin.p && i < origin.n; i++)
        if ((unsigned char)origin.p[i] < 0x20 || origin.p[i] == 0x7f)
            return SB_CODEC_EFIELD;
    PUT_LIT(out, &k, "content-type:", "text/event-stream");
    PUT_LIT(out, &k, "cache-control:", "private, no-cache, no-store, "
            "no-transform, must-revalidate, max-age=0");
    if (!http2)
        PUT_LIT(out, &k, "connection:", "keep-alive");
    PUT_LIT(out, &k, "pragma:", "no-cache");
    PUT_LIT(out, &k, "x-accel-buffering:", "no");
    if (origin.p) {
        put(out, &k, "access-control-allow-origin:", origin.p, origin.n);
        if (credentials) {
            PUT_LIT(out, &k, "access-control-allow-credentials:", "true");
            PUT_LIT(out, &k, "vary:", "Origin");
        }
    }
    return (int)k;
}
