/* The listening sockets of a server: see listener.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE     /* accept4 */
#endif
#include "listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct sb_listen_sock {
    uv_poll_t poll;
    int fd;
    struct sb_listener *owner;
    char addr[INET6_ADDRSTRLEN + 2];   /* "[" + IPv6 + "]" */
} sb_listen_sock;

struct sb_listener {
    sb_listen_sock socks[SB_LISTENER_MAX];
    int n;          /* bound sockets */
    int handles;    /* poll handles libuv still holds */
    int port;
    struct lws_vhost *vh;
    sb_listener_take_fn take;   /* NULL: lws adopts */
    void *take_arg;
};

/* Accepts what is pending (bounded, so a connection storm cannot keep the
 * loop here) and hands each socket to lws.  256 a turn: a join storm
 * keeps up to a thousand connects waiting, and an HTTP request (GET
 * /metrics) waits behind them in the kernel's queue, turn after turn at
 * 64; beyond a few hundred, lws's handshake timers (one sorted list,
 * walked per insert) make the turn long instead.  A socket lws cannot adopt is
 * closed: lws_adopt_socket_vhost closes it itself on failure. */
static void sb_listener_ready(uv_poll_t *h, int status, int events)
{
    sb_listen_sock *ls = h->data;
    int i, one = 1;

    (void)events;
    if (status < 0)
        return;
    for (i = 0; i < SB_LISTENER_ACCEPTS; i++) {
        int fd = accept4(ls->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;   /* EAGAIN, or a transient error (EMFILE...): next turn */
        /* what lws's own accept did (small frames go out at once) */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (ls->owner->take)
            ls->owner->take(ls->owner->take_arg, fd);
        else
            lws_adopt_socket_vhost(ls->owner->vh, fd);
    }
}

void sb_listener_take(sb_listener *l, sb_listener_take_fn take, void *arg)
{
    l->take = take;
    l->take_arg = arg;
}

/* The errno of a failed bind as an operator reads it: its name, what it
 * means here and the system's own words (strerror), which are what a
 * search for the message finds. */
static void sb_listener_error(char *err, size_t errlen, const char *host, int port, int e)
{
    const char *name = e == EADDRNOTAVAIL ? "EADDRNOTAVAIL (not an address of this host"
                     : e == EADDRINUSE ? "EADDRINUSE (the port is taken"
                     : e == EACCES ? "EACCES (a port under 1024 needs privileges"
                     : e == EAFNOSUPPORT ? "EAFNOSUPPORT (this host has no such address family"
                     : NULL;

    if (name)
        snprintf(err, errlen, "cannot listen on %s:%d: %s; %s)", host, port, name, strerror(e));
    else
        snprintf(err, errlen, "cannot listen on %s:%d: %s", host, port, strerror(e));
}

/* The address a socket is bound to, as a URL writes it; sets *port. */
static void sb_listener_name(int fd, char *out, size_t outlen, int *port)
{
    struct sockaddr_storage ss;
    socklen_t n = sizeof ss;
    char ip[INET6_ADDRSTRLEN];

    out[0] = '\0';
    if (getsockname(fd, (struct sockaddr *)&ss, &n))
        return;
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, out, (socklen_t)outlen);
        *port = ntohs(a->sin_port);
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
        snprintf(out, outlen, "[%s]", ip);
        *port = ntohs(a->sin6_port);
    }
}

/* One listening socket on ai at port.  Returns the fd, or -1 with errno
 * set. v6only: the host binds IPv4 too, so an IPv6 wildcard must not
 * claim IPv4 as well (it would collide). */
static int sb_listener_socket(const struct addrinfo *ai, int port, int reuse_port, int v6only)
{
    int fd, one = 1, e;

    if (ai->ai_family == AF_INET)
        ((struct sockaddr_in *)ai->ai_addr)->sin_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in6 *)ai->ai_addr)->sin6_port = htons((uint16_t)port);
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        (reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one)) ||
        (ai->ai_family == AF_INET6 && v6only &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one)) ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, SOMAXCONN)) {
        e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* A resolved address seen before (/etc/hosts may list one twice). */
static int sb_listener_seen(const struct addrinfo *list, const struct addrinfo *ai)
{
    for (; list != ai; list = list->ai_next)
        if (list->ai_addrlen == ai->ai_addrlen &&
            memcmp(list->ai_addr, ai->ai_addr, ai->ai_addrlen) == 0)
            return 1;
    return 0;
}

/* Binds every address of the list (see listener.h for which may be
 * skipped).  0, or -1 with err filled and nothing left open. */
static int sb_listener_bind_all(sb_listener *l, const char *host, struct addrinfo *list,
                                int port, int reuse_port, int literal, char *err,
                                size_t errlen)
{
    const struct addrinfo *ai;
    int v4 = 0, e = 0, fd;

    for (ai = list; ai; ai = ai->ai_next)
        v4 |= ai->ai_family == AF_INET;
    for (ai = list; ai; ai = ai->ai_next) {
        if (sb_listener_seen(list, ai))
            continue;
        if (l->n == SB_LISTENER_MAX) {
            snprintf(err, errlen, "cannot listen on %s: more than %d addresses", host,
                     SB_LISTENER_MAX);
            return -1;
        }
        /* port 0: the first socket picks, the others take the same */
        fd = sb_listener_socket(ai, l->n ? l->port : port, reuse_port, v4);
        if (fd < 0) {
            e = errno;
            if (!literal && (e == EADDRNOTAVAIL || e == EAFNOSUPPORT))
                continue;
            sb_listener_error(err, errlen, host, port, e);
            return -1;
        }
        l->socks[l->n].fd = fd;
        sb_listener_name(fd, l->socks[l->n].addr, sizeof l->socks[l->n].addr, &l->port);
        l->n++;
    }
    if (!l->n)
        sb_listener_error(err, errlen, host, port, e ? e : EADDRNOTAVAIL);
    return l->n ? 0 : -1;
}

/* Resolves host (see listener.h) and binds it.  0, or -1 with err. */
static int sb_listener_bind(sb_listener *l, const char *host, int port, int reuse_port,
                            char *err, size_t errlen)
{
    struct addrinfo hints, *list = NULL;
    char name[256], svc[16], buf[sizeof(struct in6_addr)];
    size_t n = host ? strlen(host) : 0;
    int any = !host || !*host || strcmp(host, "*") == 0, literal, rc;

    /* the URL form "[::1]" names the same address as "::1" */
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof name) {
        memcpy(name, host + 1, n - 2);
        name[n - 2] = '\0';
    } else {
        snprintf(name, sizeof name, "%s", any ? "" : host);
    }
    literal = inet_pton(AF_INET, name, buf) == 1 || inet_pton(AF_INET6, name, buf) == 1;
    memset(&hints, 0, sizeof hints);
    /* every interface: [::] alone, which Linux makes dual-stack */
    hints.ai_family = any ? AF_INET6 : AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (any ? AI_PASSIVE : 0) | (literal ? AI_NUMERICHOST : 0);
    snprintf(svc, sizeof svc, "%d", port);
    if ((rc = getaddrinfo(any ? NULL : name, svc, &hints, &list)) != 0) {
        snprintf(err, errlen, "cannot listen on %s:%d: the host does not resolve (%s)",
                 any ? "*" : host, port, gai_strerror(rc));
        return -1;
    }
    rc = sb_listener_bind_all(l, any ? "*" : host, list, port, reuse_port, literal || any,
                              err, errlen);
    freeaddrinfo(list);
    return rc;
}

static void sb_listener_closed(uv_handle_t *h)
{
    sb_listen_sock *ls = h->data;
    sb_listener *l = ls->owner;

    close(ls->fd);
    if (--l->handles == 0)
        free(l);
}

sb_listener *sb_listener_new(uv_loop_t *loop, struct lws_vhost *vh, const char *host,
                             int port, int reuse_port, char *err, size_t errlen)
{
    sb_listener *l = calloc(1, sizeof *l);
    int i;

    if (!l) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    l->vh = vh;
    if (sb_listener_bind(l, host, port, reuse_port, err, errlen)) {
        for (i = 0; i < l->n; i++)
            close(l->socks[i].fd);
        free(l);
        return NULL;
    }
    for (i = 0; i < l->n; i++) {
        sb_listen_sock *ls = &l->socks[i];
        ls->owner = l;
        if (uv_poll_init(loop, &ls->poll, ls->fd)) {
            snprintf(err, errlen, "cannot watch the listening socket");
            for (; i < l->n; i++)
                close(l->socks[i].fd);
            sb_listener_close(l->handles ? l : NULL);
            if (!l->handles)
                free(l);
            return NULL;
        }
        ls->poll.data = ls;
        l->handles++;
        uv_poll_start(&ls->poll, UV_READABLE, sb_listener_ready);
    }
    return l;
}

int sb_listener_port(const sb_listener *l)
{
    return l->port;
}

const char *sb_listener_address(const sb_listener *l, int i)
{
    return l && i >= 0 && i < l->n ? l->socks[i].addr : NULL;
}

void sb_listener_close(sb_listener *l)
{
    int i;

    if (!l)
        return;
    /* only the handles libuv holds: a failed start closed the rest */
    for (i = 0; i < l->handles; i++) {
        uv_poll_stop(&l->socks[i].poll);
        uv_close((uv_handle_t *)&l->socks[i].poll, sb_listener_closed);
    }
}
