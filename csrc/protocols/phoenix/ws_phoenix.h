/* The Phoenix Channels protocol on a server connection
 * (docs/protocols.md#phoenix-protocol): V2 JSON text frames and V2 binary
 * frames on `<mount>/websocket`, many topics per connection, each with its
 * current join_ref, heartbeats, and the join/leave/reply/close rules the npm
 * `phoenix` client depends on. Room logic (join authorisation, events, leave)
 * is the app's: it is reached through the join/event/leave server hooks. */
#ifndef SB_WS_PHOENIX_H
#define SB_WS_PHOENIX_H

#include "net/server.h"

extern const sb_proto_ops sb_phoenix_ops;

/* The hub's deliver hook for Phoenix connections. */
void sb_phx_deliver(sb_conn *hc, sb_msg *m, void *ud);

/* The connection side of the protocol, whatever carries it: the
 * WebSocket here and LongPoll (http_longpoll.h) share these.
 * sb_phx_prepare_state makes the connection's state from the request's
 * vsn (0, or an HTTP status to refuse with; -1 out of memory); text_only
 * marks a transport that cannot carry binary frames to the client (they
 * are then treated as on V1).  receive takes one whole client message,
 * open/closed/release are the sb_proto_ops entries. */
int sb_phx_prepare_state(sb_wsconn *c, const sb_reqsrc *r, int text_only);
void sb_phx_receive(sb_wsconn *c, const char *data, size_t n, int binary);
int sb_phx_open(sb_wsconn *c);
void sb_phx_closed(sb_wsconn *c);
void sb_phx_release(sb_wsconn *c);

/* Takes over token (malloc'd, NUL-terminated; NULL for none) as the
 * connection's authToken, which the connect hook sees as req.token. */
void sb_phx_set_token(sb_wsconn *c, char *token, size_t len);

/* Where the transport keeps its own state of a connection (NULL for the
 * WebSocket), or NULL before prepare made the connection's state; the
 * transport frees what it put there before sb_phx_release. */
void **sb_phx_transport(sb_wsconn *c);

/* Finds `base64url.bearer.phx.<token>` among the subprotocols a client
 * offered (ws_phoenix_token.c) and decodes it into a new string in
 * *token (NULL when none was offered).  Returns 0, or -1 for a token that
 * is not base64 or out of memory (the handshake is then refused). */
int sb_phx_read_token(const sb_reqsrc *r, char **token, size_t *len);

/* The authToken a client offered in Sec-WebSocket-Protocol, decoded, or
 * NULL (valid from prepare until the connection is released). */
const char *sb_phx_token(const sb_wsconn *c, size_t *len);

/* Sends a push ([jr, null, topic, event, payload]) to the current join
 * instance of topic; held until after the join reply while the join
 * handler runs.  payload is JSON (an object) or raw bytes when binary.
 * Returns 0, or -1 when the topic is not joined or the send failed. */
int sb_phx_push(sb_wsconn *c, const char *topic, size_t tlen,
                const char *event, size_t elen,
                const char *payload, size_t plen, int binary);

/* Ends a joined topic from the server side: the app's leave hook runs and
 * the client gets [jr, jr, topic, "phx_close" | "phx_error", {}].  Returns
 * 0, or -1 when the topic is not joined. */
int sb_phx_end(sb_wsconn *c, const char *topic, size_t tlen, int error);

/* Calls fn for every topic the connection has joined (or is joining). */
void sb_phx_each_topic(sb_wsconn *c, void (*fn)(const char *topic, void *ud),
                       void *ud);

#endif
