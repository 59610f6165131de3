/* A WebSocket client connection on the loop (ws:// and wss://).  Raw
 * transport only: frames in, frames out, open/close/error hooks.  The
 * protocol conveniences (itty envelope routing, reconnection, Phoenix)
 * live in Lua on top of it. */
#ifndef SB_CLIENT_H
#define SB_CLIENT_H

#include "base/buf.h"
#include "loop.h"
#include "queue.h"

typedef struct sb_client sb_client;

/* How a connection ended, as the close hook hears it. */
typedef struct sb_client_end {
    /* the close the owner asked for (sb_client_close), else the server's
     * close frame, else 1006 (never opened, or dropped without one) */
    int code;
    const char *reason;
    int by_client;             /* code/reason are the owner's own close */
    int peer_code;             /* the server's close frame (its echo of
                                * ours, or its own), 0 when none came */
    const char *peer_reason;
    int status;                /* HTTP status of a refused upgrade, else 0 */
    const char *refusal;       /* the server's reason for that refusal:
                                * its x-switchboard-error header, else the
                                * status line's phrase; "" when none */
} sb_client_end;

typedef struct sb_client_hooks {
    void (*open)(void *ud, sb_client *cl);
    void (*message)(void *ud, sb_client *cl, const char *data, size_t n, int binary);
    /* error: the connection could not be made (message says why; status
     * and refusal as in sb_client_end when the upgrade was refused) */
    void (*error)(void *ud, sb_client *cl, const char *message, int status,
                  const char *refusal);
    /* close: the connection is over (see sb_client_end) */
    void (*close)(void *ud, sb_client *cl, const sb_client_end *end);
    void *ud;
} sb_client_hooks;

typedef struct sb_client_config {
    const char *host;
    int port;
    const char *path;          /* path and query */
    int tls;
    int insecure;              /* accept self-signed certificates */
    const char *origin;        /* NULL = none */
    const char *subprotocols;  /* comma separated; NULL = none */
    size_t max_message;        /* 0 = 16 MiB */
} sb_client_config;

sb_client *sb_client_connect(sb_loop *loop, const sb_client_config *cfg,
                             const sb_client_hooks *hooks, char *err, size_t errlen);
/* 0 queued, -1 not open or closing (nothing is queued then). */
int sb_client_send(sb_client *cl, const void *data, size_t n, int binary);
/* Queued frames go first, then the close frame; the close hook comes
 * when the server's echo arrives, or SB_CLIENT_CLOSE_WAIT seconds later. */
void sb_client_close(sb_client *cl, int code, const char *reason);
/* False from the moment sb_client_close is called. */
int sb_client_is_open(const sb_client *cl);
/* Detaches the owner: no more hooks; memory goes when lws is done. */
void sb_client_free(sb_client *cl);

#endif
