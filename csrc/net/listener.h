/* A listening socket of switchboard's own, for listen{ workers = N }.
 *
 * Workers share one port through SO_REUSEPORT, but lws 4.1.6 sets that
 * option only when it runs several service threads, which a foreign libuv
 * loop rules out (lib/roles/http/server/server.c).  So a sharing server's
 * vhost does not listen (CONTEXT_PORT_NO_LISTEN_SERVER); this socket
 * accepts, and lws adopts each accepted socket as if it had accepted it
 * (TLS included). */
#ifndef SB_LISTENER_H
#define SB_LISTENER_H

#include <stddef.h>

#include <libwebsockets.h>
#include <uv.h>

typedef struct sb_listener sb_listener;

/* Binds host:port (NULL host: every interface; port 0: a free one) with
 * SO_REUSEADDR and SO_REUSEPORT and starts accepting into vh.  Returns
 * NULL with err filled. */
sb_listener *sb_listener_new(uv_loop_t *loop, struct lws_vhost *vh, const char *host,
                             int port, char *err, size_t errlen);
int sb_listener_port(const sb_listener *l);
/* Stops accepting and closes the socket; the memory goes once libuv has
 * let go of the handle. */
void sb_listener_close(sb_listener *l);

#endif
