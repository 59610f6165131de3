/* Percent-decoding of request paths and query strings.
 *
 * Clients build these with encodeURIComponent (Phoenix params) or
 * URLSearchParams (itty-sockets options, which writes a space as '+').
 * Decoded text ends up in JSON frames, so decoding refuses what cannot be
 * sent on: malformed %-escapes, NUL bytes and invalid UTF-8. */
#ifndef SB_URL_H
#define SB_URL_H

#include <stddef.h>

#include "base/buf.h"
#include "codec.h"
#include "json.h"

/* Appends the decoded path (a '+' stays a '+').  Returns 0, SB_CODEC_EURL
 * (out keeps its old length) or SB_CODEC_ENOMEM. */
int sb_url_decode_path(const char *s, size_t n, sb_buf *out);
/* Same for a query key or value, where '+' means a space. */
int sb_url_decode_query(const char *s, size_t n, sb_buf *out);

/* Walks `k=v&k2=v2`.  A leading '?' is skipped; empty components (`&&`,
 * a trailing '&' or a bare '?') are skipped; `k` alone has an empty
 * value.  Spans are still encoded: decode with sb_url_decode_query. */
typedef struct sb_query_iter {
    const char *s;
    size_t n;
    size_t pos;
} sb_query_iter;

void sb_query_init(sb_query_iter *it, const char *q, size_t n);
/* Returns 1 and the next pair, or 0 at the end. */
int sb_query_next(sb_query_iter *it, sb_span *key, sb_span *value);

/* Looks up a decoded key (NUL-terminated); when it repeats the LAST value
 * wins, as in Plug and Phoenix.  Replaces out's contents with the decoded
 * value.  Returns 1 found, 0 absent, or SB_CODEC_EURL / SB_CODEC_ENOMEM. */
int sb_query_get(const char *q, size_t n, const char *key, sb_buf *out);

#endif
