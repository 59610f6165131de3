/* The Pusher Channels protocol 7 on a server connection (docs/pusher.md):
 * `ws://HOST/app/<key>` for the unmodified npm pusher-js client.  One
 * connection subscribes to many channels, which are hub channels of the
 * same name; private- and presence- channels need a signature made with
 * the app's secret (ws_pusher_auth.c), presence channels show their hub
 * members (ws_pusher_presence.c), and the auth endpoint that signs is
 * http_pusher_auth.c.  The files of this folder share the state below. */
#ifndef SB_WS_PUSHER_H
#define SB_WS_PUSHER_H

#include <stdint.h>

#include "net/server.h"

extern const sb_proto_ops sb_pusher_ops;

/* Depth limit for JSON a Pusher client sends. */
#define SB_PUSHER_MAX_DEPTH 64

/* The protocol's per-server state (ws_pusher_server.c); NULL when the
 * server has no pusher = {} option. */
typedef struct sb_pusher_server {
    char *key;
    char *secret;
    char *auth_path;        /* the auth endpoint, or NULL */
    int client_events;      /* client- events relayed on private/presence */
    int activity_timeout;   /* seconds, told to the client */
    uint32_t socket_a;      /* the A of every socket_id "A.B": random */
    size_t auth_max_body;   /* bytes of an auth request's body */
    sb_server *srv;
    sb_hub *hub;            /* watched for presence until the listener goes */
} sb_pusher_server;

/* One subscribed channel of a connection. */
typedef struct sb_pusher_chan {
    char *name;
    size_t len;
    char *user_id;          /* presence: the member it joined as, else NULL */
    size_t user_len;
    char *user_info;        /* presence: JSON of user_info, or NULL */
    size_t info_len;
    int subscribed;         /* joined to the hub channel */
} sb_pusher_chan;

typedef struct sb_pusher_conn {
    sb_pusher_chan **chans;
    size_t n, cap;
    int refuse;             /* a pusher:error code to close with at open */
    char socket_id[32];
} sb_pusher_conn;

const sb_pusher_server *sb_pusher_server_of(const sb_wsconn *c);
static inline sb_pusher_conn *sb_pusher_of(const sb_wsconn *c)
{
    return c->proto;
}

/* The connection's subscription to ch, or NULL. */
sb_pusher_chan *sb_pusher_find(const sb_wsconn *c, const char *ch, size_t n);
/* Queues text as one frame: 0, or -1 (OOM, or the connection closes). */
int sb_pusher_send(sb_wsconn *c, const char *text, size_t n);
/* Sends {"event":event,"channel":channel,"data":"<text>"}. */
void sb_pusher_send_event(sb_wsconn *c, const char *event, const char *channel,
                          size_t chlen, const char *text, size_t n);
/* Sends pusher:error with code (0: null, nothing ends). */
void sb_pusher_send_error(sb_wsconn *c, int code, const char *message);

/* The hub's deliver hook for Pusher connections. */
void sb_pusher_deliver(sb_conn *hc, sb_msg *m, void *ud);

/* ws_pusher_server.c: sb_proto_ops.server_start / stop / free / ws_route. */
int sb_pusher_server_start(sb_server *s, void **state);
void sb_pusher_server_stop(sb_server *s, void *state);
void sb_pusher_server_free(void *state);
int sb_pusher_route(sb_server *s, void *state, const char *path,
                    const char **channel);

/* ws_pusher_auth.c: 1 when auth is "<key>:<hex HMAC-SHA256 of
 * socket_id:channel[:channel_data]>" for this server's key and secret
 * (compared in constant time), else 0. */
int sb_pusher_auth_ok(const sb_pusher_server *ps, const char *socket_id,
                      const char *channel, size_t chlen, const char *auth,
                      size_t alen, const char *cd, size_t cdlen);

/* ws_pusher_presence.c.  The data of presence subscription_succeeded,
 * {"presence":{"ids":[..],"hash":{id:info},"count":n}}, for the hub's
 * members of ch (every protocol's, the cluster's too), into out. */
int sb_pusher_presence_data(const sb_wsconn *c, const char *ch, size_t chlen,
                            sb_buf *out);
/* The hub's event watcher: member_added / member_removed frames for the
 * server's Pusher connections in presence- channels. */
void sb_pusher_presence_event(sb_hub *h, const sb_hub_event *ev, void *ud);
/* 1 when the channel name starts with prefix. */
int sb_pusher_prefixed(const char *ch, size_t n, const char *prefix);

/* http_pusher_auth.c: the auth endpoint (sb_proto_ops.http and body). */
int sb_pusher_http(sb_server *s, void *state, struct lws *wsi, const char *path,
                   void **slot);
int sb_pusher_http_body(sb_server *s, struct lws *wsi, void **slot,
                        const void *in, size_t len);
int sb_pusher_http_body_done(sb_server *s, struct lws *wsi, void **slot);
void sb_pusher_http_free(void **slot);

#endif
