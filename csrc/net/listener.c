/* A listening socket of switchboard's own: see listener.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE     /* accept4 */
#endif
#include "listener.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct sb_listener {
    uv_poll_t poll;
    int fd;
    int port;
    struct lws_vhost *vh;
};

/* Accepts what is pending (bounded, so a connection storm cannot keep the
 * loop here) and hands each socket to lws.  A socket lws cannot adopt is
 * closed: lws_adopt_socket_vhost closes it itself on failure. */
static void sb_listener_ready(uv_poll_t *h, int status, int events)
{
    sb_listener *l = h->data;
    int i;

    (void)events;
    if (status < 0)
        return;
    for (i = 0; i < 64; i++) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;   /* EAGAIN, or a transient error (EMFILE...): next turn */
        lws_adopt_socket_vhost(l->vh, fd);
    }
}

/* socket + SO_REUSEADDR/SO_REUSEPORT + bind + listen on the first address
 * host resolves to.  Returns the fd or -1 with err filled. */
static int sb_listener_bind(const char *host, int port, char *err, size_t errlen)
{
    struct addrinfo hints, *ai = NULL;
    char svc[16];
    int fd = -1, one = 1, rc;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = host ? AF_UNSPEC : AF_INET6;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(svc, sizeof svc, "%d", port);
    if ((rc = getaddrinfo(host, svc, &hints, &ai)) != 0) {
        snprintf(err, errlen, "cannot resolve %s: %s", host ? host : "*", gai_strerror(rc));
        return -1;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, SOMAXCONN)) {
        snprintf(err, errlen, "cannot listen on %s:%d: %s", host ? host : "*", port,
                 strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

static int sb_listener_bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t n = sizeof ss;

    if (getsockname(fd, (struct sockaddr *)&ss, &n))
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

sb_listener *sb_listener_new(uv_loop_t *loop, struct lws_vhost *vh, const char *host,
                             int port, char *err, size_t errlen)
{
    sb_listener *l = calloc(1, sizeof *l);

    if (!l) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    l->vh = vh;
    l->fd = sb_listener_bind(host, port, err, errlen);
    if (l->fd < 0) {
        free(l);
        return NULL;
    }
    l->port = sb_listener_bound_port(l->fd);
    if (uv_poll_init(loop, &l->poll, l->fd)) {
        snprintf(err, errlen, "cannot watch the listening socket");
        close(l->fd);
        free(l);
        return NULL;
    }
    l->poll.data = l;
    uv_poll_start(&l->poll, UV_READABLE, sb_listener_ready);
    return l;
}

int sb_listener_port(const sb_listener *l)
{
    return l->port;
}

static void sb_listener_closed(uv_handle_t *h)
{
    sb_listener *l = h->data;

    close(l->fd);
    free(l);
}

void sb_listener_close(sb_listener *l)
{
    if (!l)
        return;
    uv_poll_stop(&l->poll);
    uv_close((uv_handle_t *)&l->poll, sb_listener_closed);
}
