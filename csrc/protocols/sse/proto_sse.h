/* Server-Sent Events framing (docs/protocols.md#sse-protocol).
 *
 * Event ids are `<epoch>-<offset>` (two decimal uint64) so that a
 * Last-Event-ID names a position in a channel's history; the parser is
 * strict because the value comes from the client.  Encoders append to an
 * sb_buf and return 0, SB_CODEC_ENOMEM or SB_CODEC_EFIELD. */
#ifndef SB_PROTO_SSE_H
#define SB_PROTO_SSE_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "codec/codec.h"
#include "codec/msgid.h"
#include "codec/json.h"

#define SB_SSE_STATUS 200
/* Room sb_sse_headers needs in its output array. */
#define SB_SSE_MAX_HEADERS 8

/* id:<id>\nevent:<name>\ndata:<line>\n...\n\n.  id or event with p == NULL
 * are left out; data is split on \n, \r\n and \r into one data: line each
 * so the client rebuilds it exactly (p == NULL: no data line at all, an
 * id-only block).  SB_CODEC_EFIELD when id or event holds CR, LF or NUL,
 * which would break the framing; nothing is written then. */
int sb_sse_event(sb_buf *b, sb_span id, sb_span event, sb_span data);
/* retry:<ms>\n\n */
int sb_sse_retry(sb_buf *b, uint64_t ms);
/* :\n\n -- a comment that keeps proxies from closing an idle stream. */
int sb_sse_keepalive(sb_buf *b);

/* One response header in the form lws_add_http_header_by_name() takes:
 * a lower-case name WITH its trailing colon, and a value. */
typedef struct sb_sse_header {
    const char *name;
    const char *value;
    size_t value_len;
} sb_sse_header;

/* The better-sse header set for a stream answered with SB_SSE_STATUS:
 * content-type, cache-control, connection (not on HTTP/2), pragma,
 * x-accel-buffering; plus access-control-allow-origin when origin.p is set,
 * and with credentials also access-control-allow-credentials and vary.
 * Values point to literals or into origin.  Returns the header count, or
 * SB_CODEC_EFIELD for an origin with control characters, or
 * SB_CODEC_ENOMEM when max < SB_SSE_MAX_HEADERS. */
int sb_sse_headers(sb_sse_header *out, size_t max, sb_span origin,
                   int credentials, int http2);

#endif
