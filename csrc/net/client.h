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

typedef struct sb_client_hooks {
    void (*open)(void *ud, sb_client *cl);
    void (*message)(void *ud, sb_client *cl, const char *data, size_t n, int binary);
    /* error: the connection could not be made (message says why) */
    void (*error)(void *ud, sb_client *cl, const char *message);
    /* close: the connection is over; code 1006 when it never opened or
     * dropped without a close frame */
    void (*close)(void *ud, sb_client *cl, int code, const char *reason);
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
/* 0 queued, -1 not open or closing. */
int sb_client_send(sb_client *cl, const void *data, size_t n, int binary);
void sb_client_close(sb_client *cl, int code, const char *reason);
int sb_client_is_open(const sb_client *cl);
/* Detaches the owner: no more hooks; memory goes when lws is done. */
void sb_client_free(sb_client *cl);

#endif
