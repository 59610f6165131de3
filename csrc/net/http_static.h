/* Plain HTTP answers of a server (http_static.c). */
#ifndef SB_HTTP_STATIC_H
#define SB_HTTP_STATIC_H

#include <libwebsockets.h>

#include "base/buf.h"

/* The reason phrase of an HTTP status ("Accepted"); a class name for a
 * code it does not know ("Client Error"). */
const char *sb_http_reason(unsigned int code);
/* Starts a response: "HTTP/1.1 <code> <phrase>", Content-Type (unless
 * type is NULL) and Content-Length.  0, or -1 when it does not fit. */
int sb_http_head(struct lws *wsi, unsigned int code, const char *type, size_t len,
                 unsigned char **p, unsigned char *end);
/* {"error":"<text>"}, the body of every refusal (the shape POST /sse
 * has always answered with; the status is the response's own). */
void sb_http_error_body(sb_buf *b, const char *text);
/* Answers with a status and that JSON body and finishes the transaction;
 * returns what the lws callback should return. */
int sb_http_status(struct lws *wsi, unsigned int code, const char *text);
/* Refuses a WebSocket upgrade from FILTER_PROTOCOL_CONNECTION: the status,
 * x-switchboard-error: <text>, and the JSON body.  0 written, -1 not;
 * the filter then returns nonzero and lws closes. */
int sb_http_refuse(struct lws *wsi, unsigned int code, const char *text);
/* text as a header value: printable ASCII only, at most len - 1 bytes;
 * returns its length. */
size_t sb_http_header_value(const char *text, char *out, size_t len);
/* Serves path from below static_dir (NULL: 404), with its content type;
 * refuses ".." and anything not starting with "/" (403), and, unless
 * follow_links, anything whose real path (symlinks resolved) is outside
 * the real path of static_dir (404).  A refusal is a small self-contained
 * HTML page when the request's Accept lists text/html (a browser), else
 * the JSON of sb_http_status.  Returns what the lws callback should
 * return. */
int sb_http_static(const char *static_dir, int follow_links, struct lws *wsi,
                   const char *path);

#endif
