/* The listening sockets of a server: switchboard binds them itself and
 * lws adopts each accepted socket as if it had accepted it (TLS included);
 * the vhost itself does not listen (CONTEXT_PORT_NO_LISTEN_SERVER).
 *
 * Two reasons not to leave it to lws 4.1.6:
 *  - the address: given an IP as `iface`, lws 4.1 listened on every
 *    interface of both families (issue 18), so an operator asking for
 *    127.0.0.1 had the port open to the network.  Here the host is
 *    resolved and exactly what it resolves to is bound.
 *  - listen{ workers = N }: workers share one port through SO_REUSEPORT,
 *    which lws 4.1.6 sets only when it runs several service threads, and a
 *    foreign libuv loop rules that out (lib/roles/http/server/server.c). */
#ifndef SB_LISTENER_H
#define SB_LISTENER_H

#include <stddef.h>

#include <libwebsockets.h>
#include <uv.h>

typedef struct sb_listener sb_listener;

/* Most addresses one host may bind (a name with more is an error). */
#define SB_LISTENER_MAX 8
/* Connections taken per readiness of one socket at most: the kernel's
 * whole backlog (SOMAXCONN), so that a request queued behind a connect
 * storm (GET /metrics) waits one turn, not one per slice of the storm. */
#define SB_LISTENER_ACCEPTS 4096

/* Binds host:port and starts accepting into vh.  host: an IPv4 or IPv6
 * literal binds that address alone; a name binds every address it
 * resolves to (those the host does not have are skipped, as long as one
 * binds); NULL or "*": every interface, IPv4 and IPv6 ([::], dual-stack).
 * port 0 picks a free port, the same one for every address.  reuse_port
 * sets SO_REUSEPORT (workers).  Returns NULL with err filled, naming the
 * address and the errno (EADDRNOTAVAIL: not an address of this host). */
/* Where an accepted socket goes: to take (NULL: lws's vhost adopts it). */
typedef void (*sb_listener_take_fn)(void *arg, int fd);

sb_listener *sb_listener_new(uv_loop_t *loop, struct lws_vhost *vh, const char *host,
                             int port, int reuse_port, char *err, size_t errlen);
/* Accepted sockets go to take(arg, fd) instead of lws (tcp.h). */
void sb_listener_take(sb_listener *l, sb_listener_take_fn take, void *arg);
int sb_listener_port(const sb_listener *l);
/* The i-th bound address as a URL writes it ("127.0.0.1", "[::1]"), or
 * NULL past the last. */
const char *sb_listener_address(const sb_listener *l, int i);
/* Stops accepting and closes the sockets; the memory goes once libuv has
 * let go of the handles. */
void sb_listener_close(sb_listener *l);

#endif
