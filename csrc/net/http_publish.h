/* POST /sse/<channel> and GET /metrics (http_publish.c), and the
 * complete-response helpers the SSE streams of http_sse.c share. */
#ifndef SB_HTTP_PUBLISH_H
#define SB_HTTP_PUBLISH_H

#include "codec/json.h"
#include "server.h"

/* LWS_CALLBACK_HTTP for /metrics. */
int sb_metrics_http(sb_server *s, struct lws *wsi);

/* POST bodies: lws's per-request user data holds their state. */
size_t sb_sse_post_state_size(void);
int sb_sse_post_body(sb_server *s, struct lws *wsi, void *state,
                     const void *in, size_t len);
int sb_sse_post_done(sb_server *s, struct lws *wsi, void *state);
void sb_sse_post_free(void *state);

/* POST /sse/<channel>: checks the request and starts collecting the body. */
int sb_sse_post_start(sb_server *s, struct lws *wsi, const char *chan);

/* The Access-Control-Allow-Origin value for this request, or none. */
sb_span sb_cors_origin(sb_server *s, struct lws *wsi, char *buf, int len);
/* Adds one response header; nonzero when it does not fit. */
int sb_add_hdr(struct lws *wsi, const char *name, const char *value,
               size_t n, unsigned char **p, unsigned char *end);
/* A complete response with a known length; 0, or -1 to close. */
int sb_http_reply(sb_server *s, struct lws *wsi, unsigned int status,
                  const char *type, const char *body, size_t n,
                  const char *extra);
/* {"error":"<text>"} with an HTTP status; 0, or -1 to close. */
int sb_http_error(sb_server *s, struct lws *wsi, unsigned int status,
                  const char *text);

#endif
