/* What server.c and accept.c share of a server (not for the protocols,
 * which see it only through server.h). */
#ifndef SB_SERVER_INTERNAL_H
#define SB_SERVER_INTERNAL_H

#include "base/map.h"
#include "deflate.h"
#include "expiry.h"
#include "flush.h"
#include "keepalive.h"
#include "listener.h"
#include "peers.h"
#include "trim.h"
#include "server.h"

#define SB_UID_SPACE 2176782336ULL   /* 36^6: six base-36 characters */
#define SB_UID_MULT 1000003ULL       /* coprime with 36, so the map is 1:1 */

struct sb_server {
    sb_loop *loop;
    sb_hub *hub;
    struct lws_context *ctx;   /* this server's own (see sb_loop_new_lws) */
    struct lws_vhost *vh;
    /* lws's table: ours, then each subprotocol the protocols accept */
    struct lws_protocols protocols[SB_MAX_PROTOCOLS + 2];
    const sb_proto_ops *protos[SB_MAX_PROTOCOLS];
    void *pstate[SB_MAX_PROTOCOLS];   /* each protocol's server_start state */
    int nprotos;
    lws_retry_bo_t retry;      /* the vhost's policy: all off (limits.c) */
    sb_keepalive ka;           /* WebSocket pings and idle hang-ups */
    sb_server_hooks hooks;
    sb_server_config cfg;
    char *host;
    char *static_dir;
    int port;
    int closing;
    int refs;              /* owner + live vhost + each connection */
    sb_wsconn *conns;      /* accepted connections, for close and stats */
    int nconns;            /* of them, counted against max_connections */
    sb_peers peers;        /* per-address caps and connect rate (peers.h) */
    uint64_t uid_seq;      /* uids are a bijection of this counter */
    uint64_t uid_salt;
    char *cors;            /* copy of cfg.cors */
    sb_server_shared shared;   /* max_queue, stats, flusher (server.h) */
    sb_flusher flush;      /* end-of-turn writes (flush.h) */
    sb_trimmer trim;       /* memory back after a storm (trim.h) */
    sb_listener *lsn;      /* the listening sockets (listener.h) */
    sb_timer *close_cut;   /* cuts what is left after close */
    int own_ws;            /* WebSocket upgrades on the own transport (tcp.h) */
    sb_expiries hs_dl;    /* its sockets reading their head */
    sb_expiries tcp_dl;   /* its heartbeat and close-wait deadlines */
    unsigned char *tcp_rx; /* its read buffer, SB_TCP_RX bytes, shared */
    struct sb_tcp *tcps;   /* its sockets, linked by next */
    struct sb_tcp *reap_head, *reap_tail;  /* killed: released in order */
    sb_turn_hook reaper;   /* ... at the end of the turn (tcp.c) */
    int64_t io_us;         /* time its sockets' events took this turn */
    sb_turn_hook io_reset; /* ... set back to 0 at the end of the turn */
    struct sb_tcp *held, *held_tail;  /* upgrades waiting for admission */
    sb_turn_hook teardown; /* the loop goes: every socket of it ends now */
    int vhost_ref;         /* the vhost's reference is still held */
    sb_turn_hook vhost_exit; /* ... and goes when the loop does, at the latest */
    sb_pmd pmd;            /* permessage-deflate's zlib streams, shared */
};

/* lws's per-request data: which protocol took an HTTP request, and that
 * protocol's state of it (a POST body being collected).  Only a pointer
 * more: lws keeps this for every connection, WebSockets included. */
typedef struct sb_http_slot {
    const sb_proto_ops *owner;
    void *state;
} sb_http_slot;

/* lws's callback for every protocol of the server's vhost (server_lws.c). */
int sb_server_lws_cb(struct lws *wsi, enum lws_callback_reasons reason,
                     void *user, void *in, size_t len);
/* lws reports the vhost gone: its reference on the server goes (server.c). */
void sb_server_vhost_gone(sb_server *s);
/* Drops a reference; the last one frees the server (server.c). */
void sb_server_unref(sb_server *s);
/* Stops listening: the server's lws context goes (server.c). */
void sb_server_drop_vhost(sb_server *s);
/* A malloc'd copy of s, or NULL for NULL or when memory ran out. */
char *sb_server_strdup(const char *s);
/* Frees a connection: counts, lists, the protocol's state (accept.c). */
void sb_wsconn_free(sb_wsconn *c);
/* Which protocol a WebSocket path speaks; *channel for those that name
 * their one channel in the path (server.c). */
const sb_proto_ops *sb_server_route(sb_server *s, const char *path, const char **channel);
/* The transport of c is gone: leave the hub, tell the app once (server.c). */
void sb_wsconn_transport_gone(sb_wsconn *c, int code);
/* c's WebSocket is established: its protocol's open, keepalive, the
 * app's open hook.  -1 when the protocol refused it (it is closed with
 * 1008 and the reason). */
int sb_wsconn_opened(sb_wsconn *c);

#endif
