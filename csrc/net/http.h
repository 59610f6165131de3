/* Complete HTTP responses (http.c): what every HTTP endpoint of the server
 * answers with, and GET /metrics. */
#ifndef SB_HTTP_H
#define SB_HTTP_H

#include "codec/json.h"
#include "server.h"

/* LWS_CALLBACK_HTTP for /metrics. */
int sb_metrics_http(sb_server *s, struct lws *wsi);

/* The Access-Control-Allow-Origin value for this request, or none. */
sb_span sb_cors_origin(sb_server *s, struct lws *wsi, char *buf, int len);
/* Adds one response header; nonzero when it does not fit. */
int sb_add_hdr(struct lws *wsi, const char *name, const char *value,
               size_t n, unsigned char **p, unsigned char *end);
/* A complete response with a known length; 0, or -1 to close. */
int sb_http_reply(sb_server *s, struct lws *wsi, unsigned int status,
                  const char *type, const char *body, size_t n,
                  const char *extra);
/* The same response written at once, leaving the transaction open: the
 * caller ends it (lws_http_transaction_completed) after draining the
 * request body.  0, or -1 to close. */
int sb_http_reply_now(sb_server *s, struct lws *wsi, unsigned int status,
                      const char *type, const char *body, size_t n);
/* {"error":"<text>"} with an HTTP status; 0, or -1 to close. */
int sb_http_error(sb_server *s, struct lws *wsi, unsigned int status,
                  const char *text);
/* The same error written at once, leaving the transaction open: the caller
 * ends it (lws_http_transaction_completed) after draining the body. */
int sb_http_error_now(sb_server *s, struct lws *wsi, unsigned int status,
                      const char *text);

#endif
