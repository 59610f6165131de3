/* The Phoenix protocol's per-server part (ws_phoenix_server.c): its
 * options and the mount points it routes, shared by the connection code
 * in ws_phoenix.c. */
#ifndef SB_WS_PHOENIX_SERVER_H
#define SB_WS_PHOENIX_SERVER_H

#include "net/server.h"

/* The protocol's per-server state: its options and its mount points,
 * owned copies without a trailing slash so "/socket/" and "/socket" route
 * alike. */
typedef struct sb_phx_server {
    int max_channels;      /* joined topics per connection */
    int timeout;           /* seconds of silence before closing; < 0 never */
    char **mounts;
    int n;
} sb_phx_server;

/* 1 when path is `<mount>/<transport>` for one of the mounts
 * ("websocket", "longpoll": what the client appends to the mount). */
int sb_phx_mounted(const sb_phx_server *ps, const char *path, const char *transport);

/* sb_proto_ops.server_start / server_free / ws_route for Phoenix. */
int sb_phx_server_start(sb_server *s, void **state);
void sb_phx_server_free(void *state);
int sb_phx_route(sb_server *s, void *state, const char *path, const char **channel);

#endif
