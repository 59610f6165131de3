/* The HTTP side of the server (PROTOCOLS.md section 3):
 *   GET  /sse/<channel>   a long-lived text/event-stream that is a hub
 *                         connection (kind SB_KIND_SSE), resumable with
 *                         Last-Event-ID or ?lastEventId=
 *   POST /sse/<channel>   publishes the JSON body (event from ?event=)
 *   GET  /metrics         Prometheus text
 * server.c routes the lws HTTP callbacks here; POST and /metrics are in
 * http_publish.h. */
#ifndef SB_HTTP_SSE_H
#define SB_HTTP_SSE_H

#include "net/server.h"

extern const sb_proto_ops sb_sse_ops;

/* One timer per server for all its streams (peer-close checks and
 * keep-alives), held in the server and started by the first stream. */
typedef struct sb_sse_ticker {
    lws_sorted_usec_list_t sul;   /* first: the callback finds the ticker */
    sb_server *srv;
    struct lws_context *ctx;      /* NULL: not scheduled */
} sb_sse_ticker;
/* Cancels the timer (the server's context is going). */
void sb_sse_ticker_stop(sb_sse_ticker *t);

/* LWS_CALLBACK_HTTP for a path below /sse/.  Returns what the callback
 * returns (0 keep going, -1 close). */
int sb_sse_http(sb_server *s, struct lws *wsi, const char *path);

/* Requests a writeable callback for a stream (rx is off between writes). */
void sb_sse_want_write(sb_wsconn *c);
/* A stream's writeable callback. */
int sb_sse_writeable(sb_wsconn *c);
/* Frees the stream's private state (c->proto). */
void sb_sse_release(sb_wsconn *c);
/* conn:send() on a stream: one unnamed event with data = text. */
int sb_sse_send_text(sb_wsconn *c, const char *data, size_t n);
/* The same with an event name (NULL or "message": unnamed). */
int sb_sse_send_event(sb_wsconn *c, const char *event, const char *data, size_t n);

/* The hub deliver hook of SSE connections, and the cached encoding of a
 * message as one chunk of an SSE stream. */
void sb_sse_deliver(sb_conn *hc, sb_msg *m, void *ud);
sb_frame *sb_sse_frame(sb_msg *m);

#endif
