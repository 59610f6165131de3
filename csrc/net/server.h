/* A listening server: one lws vhost on the loop, routing each request by
 * path to static files, a native WebSocket channel, a Phoenix socket or an
 * SSE stream.  Everything application-specific reaches the app through the
 * hooks (implemented by the Lua binding), so this file holds no Lua. */
#ifndef SB_SERVER_H
#define SB_SERVER_H

#include "base/buf.h"
#include "base/frame.h"
#include "hub/hub.h"
#include "loop.h"
#include "queue.h"
#include "options.h"
#include "proto.h"

/* Protocols one server can speak at most (the length of its table). */
#define SB_MAX_PROTOCOLS 8

/* What the api hook returns for a call it answers later (below). */
#define SB_API_HELD 1

struct sb_head;

/* Where a request's URI, query and headers are read from: lws's header
 * table (plain HTTP, TLS), or the head our own WebSocket transport parsed
 * (tcp.h, upgrade.h).  The sb_request_* functions below read either. */
typedef struct sb_reqsrc {
    struct lws *wsi;
    const struct sb_head *head;
    const char *peer;       /* the peer's address (with head) */
    int fd;                 /* the socket (with head) */
} sb_reqsrc;

/* A source for an lws request. */
sb_reqsrc sb_reqsrc_lws(struct lws *wsi);
/* The same, as a pointer to a temporary of the enclosing block. */
#define SB_REQSRC_LWS(w) (&(const sb_reqsrc){ (w), NULL, NULL, lws_get_socket_fd(w) })

/* What the connect hook sees of the request (valid during the hook). */
typedef struct sb_request {
    const sb_reqsrc *src;   /* for header look-ups */
    const char *path;       /* decoded path (lws decodes it) */
    const char *protocol;   /* sb_proto_ops.name of the endpoint */
    const char *token;      /* credential from the handshake (decoded) or NULL */
    size_t token_len;
} sb_request;

/* What the app's join hook decided. */
enum { SB_JOIN_OK = 0, SB_JOIN_REFUSED = 1, SB_JOIN_UNMATCHED = 2 };

typedef struct sb_server_hooks {
    /* Accept (return 0) or refuse with an HTTP status; reason is the body. */
    int (*connect)(void *ud, sb_wsconn *c, const sb_request *req,
                   char *reason, size_t reason_len);
    /* The connection is open and joined; may send. */
    void (*open)(void *ud, sb_wsconn *c);
    /* A message on a one-channel connection marked `handled`, as its
     * protocol decoded it: data is the message (valid JSON, or the raw
     * bytes of a binary frame when binary), to the uid of a direct message
     * or NULL.  Return 1 to let the C relay deliver it, 0 to drop it (the
     * app handled it). */
    int (*message)(void *ud, sb_wsconn *c, const char *data, size_t n,
                   const char *to, size_t to_len, int binary);
    /* The connection is gone (already left the hub). */
    void (*close)(void *ud, sb_wsconn *c, int code);
    /* Topic protocols (one connection, many topics: Phoenix).  join runs
     * the app's join of topic with the join params (JSON) and writes the
     * reply's response object (JSON) into out; returns SB_JOIN_*, or -1
     * when the app's join crashed. */
    int (*join)(void *ud, sb_wsconn *c, const char *topic, size_t tlen,
                const char *params, size_t n, sb_buf *out);
    /* An app event on a joined topic (payload is JSON, or raw bytes when
     * binary).  Returns 0 for no reply, 1 to reply with `status` and the
     * response in out (JSON object, or raw bytes when *out_binary), -1
     * when the handler crashed (the topic then ends with an error). */
    int (*event)(void *ud, sb_wsconn *c, const char *topic, size_t tlen,
                 const char *event, size_t elen, const char *payload,
                 size_t n, int binary, char *status, size_t status_len,
                 sb_buf *out, int *out_binary);
    /* A joined topic ended (why: "leave", "rejoin", "crash", "kick",
     * "error", "closed", "refused"); the connection already left the hub
     * channel. */
    void (*leave)(void *ud, sb_wsconn *c, const char *topic, size_t tlen,
                  const char *why);
    /* A publish over HTTP (POST /sse/<channel>): accept (0) or refuse with
     * an HTTP status; reason is the error text.  payload is the JSON body. */
    int (*publish)(void *ud, const sb_request *req, const char *channel,
                   const char *event, const char *payload, size_t n,
                   char *reason, size_t reason_len);
    /* The server API (protocols/api, docs/api.md).  api_auth: may `key`
     * call `method`?  0, or an HTTP status with the JSON error body
     * appended to out; asked before the body is read, so a caller without
     * a valid key never gets one in.  api: the call itself with its body
     * (valid JSON; "{}" when the request had none): returns the HTTP
     * status, with the JSON answer appended to out; or SB_API_HELD when
     * the answer needs the cluster: the request is held and the app
     * answers it later with sb_server_api_reply(ticket, ...), or the
     * server answers 504 once api_timeout has passed. */
    int (*api_auth)(void *ud, const char *method, const char *key, sb_buf *out);
    int (*api)(void *ud, const char *method, const char *key,
               const char *body, size_t n, uint64_t ticket, sb_buf *out);
    /* A protocol's own HTTP endpoint that the app answers (Pusher's auth
     * endpoint): the request (req->protocol names the protocol) and its
     * body; returns the HTTP status, with the answer (JSON) appended to
     * out. */
    int (*endpoint)(void *ud, const sb_request *req, const char *body, size_t n,
                    sb_buf *out);
    /* The Pusher HTTP API (protocols/pusher_api, docs/pusher-http.md),
     * called once a request is signed by the app: method "GET" or
     * "POST", path what follows /apps/<id> ("/events"), params the
     * query's parameters but the auth_* ones as a JSON object of strings
     * (keys lowercased), body the raw body (n = 0: none; not checked as
     * JSON).  Returns the HTTP status, with the answer appended to out
     * (JSON for a 2xx, else a line of text). */
    int (*pusher_api)(void *ud, const char *method, const char *path,
                      const char *params, size_t pn, const char *body, size_t n,
                      sb_buf *out);
    /* GET /metrics: appends the app's own lines (Prometheus text). */
    void (*metrics)(void *ud, sb_buf *out);
    /* Most connections just went (a storm fell): free what the app no
     * longer uses (a full GC) before the memory goes back (trim.h). */
    void (*collect)(void *ud);
    void *ud;
} sb_server_hooks;

/* Counters for GET /metrics; plain integers, the loop is single-threaded. */
typedef struct sb_server_stats {
    uint64_t open[SB_MAX_PROTOCOLS];  /* open connections by protocol */
    uint64_t published;          /* messages published by clients and POST */
    uint64_t delivered;          /* frames queued to connections */
    uint64_t recovered;          /* successful history replays */
    uint64_t recovery_failed;    /* resumes that could not be served */
    uint64_t post_refused;       /* POST /sse answered 4xx */
} sb_server_stats;

typedef struct sb_server_config {
    /* The protocols, NULL-terminated (protocols/registry.h lists them all);
     * routes are tried in this order. */
    const sb_proto_ops *const *protocols;
    const char *host;          /* NULL = all interfaces */
    int port;                  /* 0 = pick a free one */
    const char *static_dir;    /* NULL = no static files */
    int static_follow_links;   /* serve symlinks that lead out of static_dir */
    size_t max_message;        /* bytes per incoming message; 0 = default */
    size_t max_queue;          /* bytes queued per connection; 0 = default */
    int max_connections;       /* WebSocket + SSE connections in all;
                                  0 = default, < 0 = no cap */
    int max_per_ip;            /* ... from one peer address (peers.h) */
    double max_connect_rate;   /* new connections/s per peer address */
    int limit_loopback;        /* count loopback peers per address too */
    int reuse_port;            /* SO_REUSEPORT: workers share the port */
    double max_rate;           /* messages/s per connection; 0 = default, < 0 = off */
    double max_burst;          /* bucket size; 0 = default (a multiple of max_rate) */
    /* limits.c: 0 = default, < 0 = off (where it can be off) */
    int handshake_timeout;     /* seconds to deliver a request head (and a
                                  POST body); 0 = default */
    int max_header_bytes;      /* request line + headers; 0 = default */
    int max_url;               /* path + query bytes, else 414; 0 = default */
    int ping_interval;         /* WebSocket ping every n s; 0 = default, < 0 = off */
    int idle_timeout;          /* no pong / unacked data for n s closes;
                                  0 = default, < 0 = off */
    const char *cors;          /* CORS of HTTP answers: NULL none; "*"; or
                                  allowed origins separated by spaces */
    /* Every other option, by name, for the protocols' server_start
     * (options.h); NULL: every default.  Valid during sb_server_new. */
    const sb_options *options;
    const char *tls_cert;      /* PEM paths: both set = TLS (wss://, https://) */
    /* permessage-deflate on the own transport (net/deflate.h): 0 = on
     * (the default) for clients that offer it, < 0 = off */
    int compression;
    const char *tls_key;
} sb_server_config;

/* What every connection of a server uses on its send path, reachable
 * without a call into the server (it runs once per delivery). */
typedef struct sb_server_shared {
    size_t max_queue;            /* bytes queued per connection */
    sb_server_stats stats;
    struct sb_flusher *flush;    /* the end-of-turn writer (flush.h) */
    /* nonzero while the native protocol holds join/leave events of this
     * turn that a delivery must not overtake (ws_native_presence.c):
     * without, a delivery reads no presence state */
    unsigned held_events;
} sb_server_shared;

/* A WebSocket (or SSE) connection of a server.  The hub sees `hc`.
 * What every delivery and every end-of-turn write touches comes first,
 * in two cache lines (bytes 0..111; the connection is allocated on a
 * line boundary, accept.c, and it is the hub's ud, whose first 128
 * bytes the fan-out prefetches, hub.h): with thousands of connections
 * each line is a cache miss per fan-out and per flush (bench/RESULTS.md,
 * "Rooms against uWebSockets").  Then hc, then the rest: pointers and
 * 8-byte fields first, then the 4-byte ones, then the bytes, with no
 * padding between them (10k idle connections hold 10k of these). */
struct sb_wsconn {
    /* hot: the send path (conn.c), the native deliver, the flush */
    sb_server_shared *shared;   /* srv's, for the send path */
    struct sb_tcp *tcp;     /* the own transport's socket (tcp.h), or NULL */
    struct lws *wsi;
    const sb_proto_ops *ops;
    void *proto;           /* the protocol's own state of this connection */
    struct sb_resume_wait *resume;  /* a history read in flight (resume.c) */
    sb_wsconn *dirty_prev, *dirty_next;
    sb_fqueue q;           /* send queue */
    unsigned short close_code;  /* nonzero: close once the queue is flushed */
    unsigned char proto_hot;    /* what the protocol's deliver hook reads
                                   of c, as bits of its own (native:
                                   ws_native.h), so that a delivery
                                   touches no state of the protocol's */
    unsigned char closed;      /* transport closed; object awaits release */
    unsigned char dirty;       /* on the server's end-of-turn write list */
    unsigned char close_sent;
    unsigned char ping_due;
    sb_conn hc;
    /* the rest */
    sb_server *srv;
    char *channel;         /* the one channel a path names, or NULL */
    char *member;          /* hub member id (defaults to uid) */
    char *alias;
    sb_buf rx;             /* fragments of the message being received */
    size_t rx_drained;     /* bytes of an oversize message dropped so far
                              (nonzero: dropping it until its end) */
    const char *close_reason;  /* "" until a close names one (then a copy
                                  of at most 63 bytes when close_owned) */
    char *ip;              /* peer address while counted (peers.h) */
    double tokens;         /* rate limit: token bucket ... */
    int64_t tokens_at;     /* ... last refilled (ms; 0 = full, not started) */
    sb_wsconn *prev, *next;   /* the server's list of connections */
    /* keepalive.h: which of its lists c waits in, since when (ms,
     * sb_mono_ms), and a PING to write with the next write */
    sb_wsconn *ka_prev, *ka_next;
    int64_t ka_at;
    int proto_index;       /* of ops in the server's table (stats.open) */
    unsigned rx_frags;     /* frames of that message so far (receive.c) */
    int dropped;           /* messages dropped in the current flood */
    char uid[12];
    unsigned char open;        /* established and joined */
    unsigned char handled;     /* app wants native messages (hooks.message) */
    unsigned char rx_binary;
    unsigned char rx_frame_done;   /* the last piece lws gave ended its frame */
    unsigned char close_owned;     /* close_reason is malloc'd */
    unsigned char counted;     /* in stats.open[proto_index] and the connection caps */
    unsigned char ka_list;
};

sb_server *sb_server_new(sb_loop *loop, sb_hub *hub, const sb_server_config *cfg,
                         const sb_server_hooks *hooks, char *err, size_t errlen);
/* Closes every connection (code 1001) and the listener.  The server object
 * stays valid until sb_server_free. */
void sb_server_close(sb_server *s);
void sb_server_free(sb_server *s);
int sb_server_port(const sb_server *s);
/* The i-th address the server listens on, as a URL writes it ("127.0.0.1",
 * "[::1]"), or NULL past the last or once it stopped listening. */
const char *sb_server_address(const sb_server *s, int i);
sb_hub *sb_server_hub(const sb_server *s);
/* What its connections share (c->shared): for a protocol's server-wide
 * state that deliveries read. */
sb_server_shared *sb_server_shared_of(sb_server *s);
/* The loop the server runs on (for end-of-turn work, loop.h). */
sb_loop *sb_server_loop(const sb_server *s);
/* The server's lws context, for a protocol's timers (lws_sul_schedule);
 * NULL once it stopped listening (its timers must be cancelled in its
 * server_stop, before the context goes). */
struct lws_context *sb_server_lws(const sb_server *s);

/* Queues a frame (takes a reference).  Returns 0, or -1 if the connection is
 * closing or its queue is over the limit (it is then closed with 1013). */
int sb_wsconn_send(sb_wsconn *c, sb_frame *f);
/* Text convenience: copies data into a new frame. */
int sb_wsconn_send_text(sb_wsconn *c, const char *data, size_t n);
/* Cuts c's socket secs seconds from now unless called again (a
 * heartbeat timeout), on whichever transport carries it. */
void sb_wsconn_expire_in(sb_wsconn *c, int secs);
/* Flushes what is queued, then closes with code and reason. */
void sb_wsconn_close(sb_wsconn *c, int code, const char *reason);
/* Ends a detached connection (sb_proto_ops.detached): the protocol's
 * closed, the hub, the app's close hook with code, then c is freed.
 * Never from inside the hub's fan-out or a hook of c. */
void sb_wsconn_end(sb_wsconn *c, int code);
int sb_wsconn_set_member(sb_wsconn *c, const char *member, size_t n);
int sb_wsconn_set_alias(sb_wsconn *c, const char *alias, size_t n);

/* Query arg number idx of a request, as lws hands them over (one per
 * `key=value`, already percent- and '+'-decoded): copies it into out,
 * splits it at the first '=' (out becomes the key, *value the value) and
 * returns its length, or -1 past the last one.  An arg longer than
 * outlen - 1 comes back as an empty key and value (length 0). */
int sb_request_arg(const sb_reqsrc *r, int idx, char *out, int outlen,
                   const char **value);

/* The peer's address as people write it: the listener is dual-stack, so
 * lws reports an IPv4 peer as "::ffff:127.0.0.1"; this gives
 * "127.0.0.1".  Returns buf. */
const char *sb_request_peer(const sb_reqsrc *r, char *buf, size_t len);

/* Header tok of the request copied into buf: its length, or -1 when it
 * is absent or does not fit.  WSI_TOKEN_GET_URI is the decoded path. */
int sb_request_header(const sb_reqsrc *r, enum lws_token_indexes tok, char *buf, int len);

/* Value of the last query arg named key ("" for a bare key) copied into
 * buf, or NULL when absent.  A value longer than len - 1 comes back as ""
 * (present but empty), so callers refuse it instead of taking a cut one
 * or none at all. */
const char *sb_request_get(const sb_reqsrc *r, const char *key, char *buf, int len);

/* A query key that appears twice (not a "key[]" list), copied into dup;
 * NULL when none does.  The handshake refuses such a request with 400. */
const char *sb_request_repeated(const sb_reqsrc *r, char *dup, size_t duplen);

/* Message-rate limit (limits.c): 1 pass, 0 drop, -1 close with 1008. */
int sb_wsconn_rate_ok(sb_wsconn *c);
/* One RECEIVE callback's bytes (receive.c): joins fragments, enforces
 * max_message (1009) and the rate limit (1008), hands each whole message
 * to the protocol.  Returns -1 when lws should close the connection. */
int sb_wsconn_receive(sb_wsconn *c, const void *in, size_t len);
/* One whole incoming message of c (text checked UTF-8): the rate limit,
 * then its protocol's receive.  0, or 1008 when c must close for its rate
 * (receive.c; both transports). */
int sb_wsconn_deliver(sb_wsconn *c, const char *msg, size_t n, int binary);
/* Most frames one message may arrive in (receive.c). */
size_t sb_wsconn_max_fragments(const sb_server_config *cfg);
/* The rest of limits.c: fills in the defaults of cfg's limits; sets the
 * vhost's header-phase timeout and WebSocket ping/idle policy (retry must
 * live as long as the vhost); 0 when the request's URL is over max_url
 * (the caller answers 414), else 1; bounds how long data sent on an
 * accepted socket may stay unacknowledged (half-open and stalled peers). */
void sb_limits_defaults(sb_server_config *cfg);
void sb_limits_vhost(const sb_server_config *cfg,
                     struct lws_context_creation_info *info, lws_retry_bo_t *retry);
int sb_limits_url_ok(const sb_server_config *cfg, const sb_reqsrc *r);
void sb_limits_socket(const sb_server_config *cfg, const sb_reqsrc *r);

/* For the transport files (server.c, conn.c, ws_*.c, http_sse.c). */
int sb_wsconn_flush(sb_wsconn *c);
sb_server_stats *sb_server_stats_of(sb_server *s);
/* The server's end-of-turn writer (flush.h). */
struct sb_flusher *sb_server_flusher(sb_server *s);
/* The server's connections (linked by c->next), for a protocol's timer. */
sb_wsconn *sb_server_conns(const sb_server *s);
/* The state ops's server_start made for s (NULL when it made none). */
void *sb_server_proto_state(const sb_server *s, const sb_proto_ops *ops);
/* Protocol i of the server's table, or NULL past the end. */
const sb_proto_ops *sb_server_protocol(const sb_server *s, int i);
/* Builds a hub connection of protocol ops for a request, runs its prepare
 * and the app's connect hook.  Returns the connection (not yet bound to
 * its socket), or NULL with *status set (HTTP status, reason filled) or 0 when
 * memory ran out. */
sb_wsconn *sb_server_accept(sb_server *s, const sb_reqsrc *r,
                            const sb_proto_ops *ops, const char *path,
                            const char *chan, int *status, char *reason,
                            size_t reason_len);
const sb_server_hooks *sb_server_hooks_of(const sb_server *s);
const sb_server_config *sb_server_config_of(const sb_server *s);

#endif
