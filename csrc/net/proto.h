/* What a wire protocol gives the server: one table of functions.
 *
 * The server, the connection code, the end-of-turn writer and the limits
 * know a protocol only through this table; everything a protocol keeps
 * (per connection: sb_wsconn.proto; per server: the state its
 * server_start returned) is its own.  The list of protocols a server
 * speaks arrives in its config (sb_server_config.protocols), so nothing in
 * net/ names one; docs/adding-a-protocol.md walks through a new one.
 *
 * Every function is called on the loop thread.  Optional ones may be NULL;
 * the comment says what happens then. */
#ifndef SB_PROTO_H
#define SB_PROTO_H

#include <stddef.h>

#include <libwebsockets.h>

#include "hub/hub.h"

#include "types.h"

struct sb_reqsrc;

/* sb_proto_ops.http: the request is not this protocol's. */
#define SB_HTTP_PASS (-2)

typedef struct sb_proto_ops {
    /* "native", "phoenix", ...: conn.protocol in Lua and the /metrics label. */
    const char *name;
    /* 1: the connection is an HTTP response stream, not a WebSocket: it
     * has no close frame, and it writes from its own want_write and
     * http_writeable instead of the end-of-turn writer. */
    int stream;
    /* A Sec-WebSocket-Protocol name this protocol's clients offer, which
     * the server must accept (Phoenix's "phoenix"), or NULL. */
    const char *ws_subprotocol;
    /* What carries the protocol when that is not what its name implies
     * (Phoenix over "longpoll"), or NULL: conn.transport in Lua and a
     * label of /metrics, so two transports of one protocol stay apart. */
    const char *transport;
    /* 1: the connection outlives the HTTP requests that serve it (a
     * LongPoll session): c->wsi stays NULL, frames queue while no request
     * is there to take them, want_write is called whatever c->wsi is, and
     * the protocol ends the connection itself (sb_wsconn_end). */
    int detached;

    /* The server's share (all optional).  server_start makes the
     * protocol's per-server state (*state, NULL is fine); 0 or -1 (out of
     * memory: the server is not made).  server_stop: the listener goes
     * (cancel timers).  server_free: the last reference went. */
    int (*server_start)(sb_server *s, void **state);
    void (*server_stop)(sb_server *s, void *state);
    void (*server_free)(void *state);

    /* Routing.  ws_route: 1 when a WebSocket upgrade to path is this
     * protocol's, with *channel the one channel the path names (or left
     * NULL).  http: a plain HTTP request; SB_HTTP_PASS when not this
     * protocol's, else what the lws callback returns; *req_state is the
     * request's slot, kept for http_body, http_body_done and freed by
     * http_free when the request ends. */
    int (*ws_route)(sb_server *s, void *state, const char *path,
                    const char **channel);
    int (*http)(sb_server *s, void *state, struct lws *wsi, const char *path,
                void **req_state);
    int (*http_body)(sb_server *s, struct lws *wsi, void **req_state,
                     const void *in, size_t len);
    int (*http_body_done)(sb_server *s, struct lws *wsi, void **req_state);
    void (*http_free)(void **req_state);
    /* A stream's HTTP writeable callback (stream protocols). */
    int (*http_writeable)(sb_wsconn *c);
    /* The writeable callback of a plain request this protocol holds open
     * (a long poll waiting for messages); returns what the lws callback
     * returns.  NULL: such requests are not held. */
    int (*http_held_writeable)(sb_server *s, struct lws *wsi, void **req_state);

    /* A connection.  prepare parses per-protocol request options: 0, -1
     * (answered with 400) or an HTTP status to refuse with.  open: it is
     * established; nonzero closes it (policy).  receive: one complete
     * incoming message.  closed: the transport is gone; leave the hub, tell
     * the others.  deliver is its hub deliver hook.  release frees
     * `proto` (also after a refused handshake; may be NULL). */
    int (*prepare)(sb_wsconn *c, const struct sb_reqsrc *r);
    int (*open)(sb_wsconn *c);
    void (*receive)(sb_wsconn *c, const char *data, size_t n, int binary);
    void (*closed)(sb_wsconn *c);
    sb_deliver_fn deliver;
    void (*release)(sb_wsconn *c);

    /* Services for the connect hook and the Lua binding (optional). */
    /* The credential the client offered in the handshake (Phoenix's
     * authToken), or NULL. */
    const char *(*token)(const sb_wsconn *c, size_t *len);
    /* New frames are queued.  NULL: the end-of-turn writer (flush.h). */
    void (*want_write)(sb_wsconn *c);
    /* conn:send(text [, event]).  NULL: one WebSocket text frame. */
    int (*send_text)(sb_wsconn *c, const char *event, const char *data, size_t n);
    /* Tells the client something went wrong without closing (the rate
     * limit drops its messages).  NULL: the client is not told. */
    void (*notice)(sb_wsconn *c, const char *text);
    /* The protocol's own flags for conn:info(), through add. */
    void (*info)(const sb_wsconn *c,
                 void (*add)(void *ud, const char *key, int value), void *ud);
    /* conn:set(key, value) for the protocol's own keys: 0, 1 when the key
     * is not this protocol's, -1 when memory ran out.  value NULL: unset. */
    int (*set)(sb_wsconn *c, const char *key, const char *value, size_t n);
    /* Topic protocols (one connection, many channels): push an event to
     * a joined topic, end a topic from the server side, list topics.
     * Each returns 0, or -1 when the topic is not joined. */
    int (*push)(sb_wsconn *c, const char *topic, size_t tlen,
                const char *event, size_t elen,
                const char *payload, size_t plen, int binary);
    int (*end_topic)(sb_wsconn *c, const char *topic, size_t tlen, int error);
    void (*each_topic)(sb_wsconn *c, void (*fn)(const char *topic, void *ud),
                       void *ud);
} sb_proto_ops;

#endif
