/* Server-Sent Events (docs/protocols.md, "Server-Sent Events"):
 *   GET  /sse/<channel>   a long-lived text/event-stream that is a hub
 *                         connection, resumable with Last-Event-ID or
 *                         ?lastEventId= (http_sse.c)
 *   POST /sse/<channel>   publishes the JSON body, event from ?event=
 *                         (sse_post.c)
 * The server reaches all of it through sb_sse_ops. */
#ifndef SB_HTTP_SSE_H
#define SB_HTTP_SSE_H

#include "net/server.h"

extern const sb_proto_ops sb_sse_ops;

/* Requests a writeable callback for a stream (rx is off between writes). */
void sb_sse_want_write(sb_wsconn *c);
/* A stream's writeable callback. */
int sb_sse_writeable(sb_wsconn *c);
/* Frees the stream's private state (c->proto). */
void sb_sse_release(sb_wsconn *c);
/* One event with an event name (NULL or "message": unnamed). */
int sb_sse_send_event(sb_wsconn *c, const char *event, const char *data, size_t n);

/* The hub deliver hook of SSE connections, and the cached encoding of a
 * message as one chunk of an SSE stream. */
void sb_sse_deliver(sb_conn *hc, sb_msg *m, void *ud);
sb_frame *sb_sse_frame(sb_msg *m);

/* The POST body limit of s (sse_max_body). */
size_t sb_sse_max_body(sb_server *s);

/* POST /sse/<channel> (sse_post.c): checks the request and starts
 * collecting the body into *slot; the body's parts, its end (publish and
 * answer), and the slot's release. */
int sb_sse_post_start(sb_server *s, struct lws *wsi, const char *chan, void **slot);
int sb_sse_post_body(sb_server *s, struct lws *wsi, void **slot,
                     const void *in, size_t len);
int sb_sse_post_done(sb_server *s, struct lws *wsi, void **slot);
void sb_sse_post_free(void **slot);

#endif
