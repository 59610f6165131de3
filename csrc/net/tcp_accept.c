/* The own transport's first phase: a freshly accepted socket's request
 * head is read and parsed (upgrade.h); a WebSocket upgrade is routed,
 * admitted (accept.c) and answered with 101 here, a refusal with a real
 * HTTP status, and anything else goes to lws with the bytes read so far.
 * Every socket reading its head waits in one deadline list (expiry.h),
 * so a storm of handshakes costs O(1) per socket in timers. */
#include "tcp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/lines.h"
#include "deflate.h"
#include "server.h"
#include "server_internal.h"
#include "http_static.h"
#include "upgrade.h"

/* Bytes read per recv while the head comes in. */
#define SB_TCP_HEAD_CHUNK 4096

struct sb_tcp_head {
    sb_buf in;             /* what was read so far */
    char peer[64];         /* the peer's address, as people write it */
};

/* Takes t off its server's admission queue (a walk: only a socket that
 * dies while it waits, rare, comes here). */
static void sb_tcp_unhold(sb_tcp *t)
{
    sb_server *s = t->srv;
    sb_tcp **p = &s->held, *prev = NULL;

    if (!t->held)
        return;
    while (*p && *p != t) {
        prev = *p;
        p = &(*p)->reap_next;
    }
    if (*p)
        *p = t->reap_next;
    if (s->held_tail == t)
        s->held_tail = prev;
    t->reap_next = NULL;
    t->held = 0;
}

void sb_tcp_head_free(sb_tcp *t)
{
    if (!t->head)
        return;
    sb_tcp_unhold(t);
    sb_expiry_cancel(&t->srv->hs_dl, &t->dl);
    sb_buf_free(&t->head->in);
    free(t->head);
    t->head = NULL;
}

/* "127.0.0.1" for an IPv4 peer of a dual-stack socket, not
 * "::ffff:127.0.0.1" (what sb_request_peer gives for lws's). */
static void sb_tcp_peer_name(int fd, char *out, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    const void *addr = NULL;
    int family = 0;

    out[0] = '\0';
    if (getpeername(fd, (struct sockaddr *)&ss, &sl))
        return;
    if (ss.ss_family == AF_INET) {
        family = AF_INET;
        addr = &((struct sockaddr_in *)&ss)->sin_addr;
    } else if (ss.ss_family == AF_INET6) {
        const struct in6_addr *a6 = &((struct sockaddr_in6 *)&ss)->sin6_addr;
        family = AF_INET6;
        addr = a6;
        if (IN6_IS_ADDR_V4MAPPED(a6)) {
            family = AF_INET;
            addr = (const unsigned char *)a6 + 12;
        }
    }
    if (!addr || !inet_ntop(family, addr, out, (socklen_t)len))
        out[0] = '\0';
}

void sb_tcp_accept(sb_server *s, int fd)
{
    /* on a line boundary: the flush reads two of its lines (tcp.h) */
    sb_tcp *t = sb_calloc_lines(sizeof *t);

    if (!t || !(t->head = calloc(1, sizeof *t->head)) ||
        uv_poll_init(&s->loop->uv, &t->poll, fd)) {
        if (t)
            free(t->head);
        free(t);
        close(fd);
        return;
    }
    t->fd = fd;
    t->srv = s;
    s->refs++;
    t->next = s->tcps;
    if (s->tcps)
        s->tcps->prev = t;
    s->tcps = t;
    t->poll.data = t;
    t->state = SB_TCP_HEAD;
    sb_buf_init(&t->head->in, 0);
    sb_buf_init(&t->out, 0);
    sb_tcp_peer_name(fd, t->head->peer, sizeof t->head->peer);
    sb_tcp_watch(t, UV_READABLE);
    /* < 0: the operator turned the handshake deadline off */
    if (s->cfg.handshake_timeout > 0)
        sb_expiry_set(&s->hs_dl, &t->dl, (int64_t)s->cfg.handshake_timeout * 1000,
                      sb_tcp_expired);
}

void sb_tcp_drop_heads(sb_server *s)
{
    sb_tcp *t;

    for (t = s->tcps; t; t = t->next)
        if (!t->c)
            sb_tcp_kill(t);
}

/* The answer to a refused upgrade, as the lws path gives it
 * (http_static.c's sb_http_refuse): the status, the reason in
 * x-switchboard-error and a JSON body.  Then a half-close, and what the
 * peer still sends is read and dropped until it hangs up (so that it reads
 * the answer rather than a reset), a few seconds at most. */
static void sb_tcp_refuse(sb_tcp *t, int status, const char *reason)
{
    char out[1024], v[128], hv[160];
    sb_buf body;
    int len;

    sb_http_header_value(reason, v, sizeof v);
    snprintf(hv, sizeof hv, "x-switchboard-error: %s\r\n", v);
    sb_buf_init(&body, 0);
    sb_http_error_body(&body, reason);
    sb_buf_addc(&body, '\0');
    len = body.oom ? -1 : sb_http_response(out, sizeof out, status, "application/json",
                                           (const char *)sb_buf_data(&body), hv);
    sb_buf_free(&body);
    sb_tcp_head_free(t);
    t->state = SB_TCP_LINGER;
    t->discard = 1;
    sb_tcp_expire_in(t, 3);
    if (len < 0 || sb_tcp_send(t, out, (size_t)len))
        return;
    if (!sb_tcp_choked(t))
        shutdown(t->fd, SHUT_WR);
}

/* Not a WebSocket upgrade: lws serves it, starting from what was read.
 * Our poll handle goes first (uv_close drops the fd from epoll at once;
 * after lws registered its own it would drop that one). */
static void sb_tcp_hand_to_lws(sb_tcp *t)
{
    sb_server *s = t->srv;
    int fd = t->fd;
    sb_buf in = t->head->in;

    t->head->in.mem = NULL;   /* kept for lws below, freed after */
    sb_buf_init(&t->head->in, 0);
    t->fd = -1;
    /* not sb_tcp_kill: its uv_close would come after lws's poll of fd
     * is set up, and take fd out of epoll under lws */
    sb_tcp_watch(t, 0);
    t->state = SB_TCP_DEAD;
    sb_tcp_head_free(t);
    uv_close((uv_handle_t *)&t->poll, sb_tcp_closed);
    if (!s->vh || !(in.len ? lws_adopt_socket_vhost_readbuf(s->vh, fd,
                                                            (const char *)in.mem + in.pre, in.len)
                                     : lws_adopt_socket_vhost(s->vh, fd))) {
        /* lws closed fd itself (or there is no vhost any more) */
        if (!s->vh)
            close(fd);
    }
    sb_buf_free(&in);
}

/* The subprotocol names the server's protocols accept. */
static const char *sb_tcp_subprotocol(const sb_server *s, const sb_head *h)
{
    const char *ours[SB_MAX_PROTOCOLS + 1];
    int i, n = 0;

    for (i = 0; i < s->nprotos; i++)
        if (s->protos[i]->ws_subprotocol)
            ours[n++] = s->protos[i]->ws_subprotocol;
    ours[n] = NULL;
    return n ? sb_head_pick_subprotocol(h, ours) : NULL;
}

/* 1 when the client offered permessage-deflate as this server takes it
 * (and the server's compression option is not off). */
static int sb_tcp_deflate(const sb_server *s, const sb_head *h)
{
    return s->cfg.compression >= 0 &&
           sb_pmd_offer_ok(sb_head_header(h, "sec-websocket-extensions"));
}

/* The connection is admitted: 101, then it is open (its protocol's
 * open, the app's open hook), then whatever the client sent behind its
 * head (frames may follow the head at once). */
static void sb_tcp_upgrade(sb_tcp *t, sb_wsconn *c, const sb_head *h, size_t head_len)
{
    char resp[640], acc[29];
    const char *key = sb_head_header(h, "sec-websocket-key");
    sb_buf *in = &t->head->in;
    size_t rest = in->len - head_len;
    unsigned char *extra = NULL;
    int n, pmd = sb_tcp_deflate(t->srv, h);

    sb_ws_accept_key(key ? key : "", acc);
    n = sb_upgrade_response(resp, sizeof resp, acc, sb_tcp_subprotocol(t->srv, h),
                            pmd ? SB_PMD_RESPONSE : NULL);
    if (rest && !(extra = malloc(rest))) {
        n = -1;
    } else if (rest) {
        memcpy(extra, in->mem + in->pre + head_len, rest);
    }
    c->tcp = t;
    t->c = c;
    sb_tcp_head_free(t);
    sb_tcp_start_open(t);
    t->pmd = (unsigned char)pmd;
    t->rx.rsv1_ok = pmd;
    if (n < 0 || sb_tcp_send(t, resp, (size_t)n)) {
        free(extra);
        sb_tcp_kill(t);
        return;
    }
    if (sb_wsconn_opened(c) == 0 && extra)
        sb_tcp_feed(t, extra, rest);
    free(extra);
}

/* A whole head: which protocol, may it connect, and the answer. */
static void sb_tcp_head_answer(sb_tcp *t, const sb_head *h, size_t head_len)
{
    sb_server *s = t->srv;
    char reason[256];
    const char *chan = NULL, *path = sb_head_path(h);
    const sb_proto_ops *ops;
    sb_reqsrc r;
    sb_wsconn *c;
    int status, up = sb_head_is_upgrade(h);

    /* not an upgrade, or one lws answers as it always did (a bad
     * version or key) */
    if (up != 1) {
        sb_tcp_hand_to_lws(t);
        return;
    }
    if (!(ops = sb_server_route(s, path, &chan))) {
        sb_tcp_refuse(t, 404, "no such endpoint");
        return;
    }
    r.wsi = NULL;
    r.head = h;
    r.peer = t->head->peer;
    r.fd = t->fd;
    c = sb_server_accept(s, &r, ops, path, chan, &status, reason, sizeof reason);
    if (!c) {
        if (status)
            sb_tcp_refuse(t, status, reason);
        else
            sb_tcp_kill(t);
        return;
    }
    sb_tcp_upgrade(t, c, h, head_len);
}

/* The head is whole.  An upgrade (route, admission, the app's hooks,
 * the 101, the join) is answered within the turn's time budget for the
 * sockets' events (tcp.h); past it, it waits in order for a later turn,
 * unread further, under its handshake deadline.  A connect storm makes
 * many short turns instead of a few long ones, and what else the loop
 * serves -- a GET /metrics, which goes to lws at once, and the frames of
 * open connections -- waits one short turn. */
static void sb_tcp_head_done(sb_tcp *t, const sb_head *h, size_t head_len)
{
    sb_server *s = t->srv;

    if (sb_head_is_upgrade(h) == 1 && (s->held || s->io_us >= SB_TCP_IO_TURN_US)) {
        sb_tcp_watch(t, 0);
        t->held = 1;
        t->reap_next = NULL;
        if (s->held_tail)
            s->held_tail->reap_next = t;
        else
            s->held = t;
        s->held_tail = t;
        sb_tcp_turn_spent(s, 0);   /* the hook admits it */
        return;
    }
    sb_tcp_head_answer(t, h, head_len);
}

/* Parses what was read of t's head under the server's limits (see
 * sb_head_parse for what the result means). */
static int sb_tcp_parse_head(sb_tcp *t, sb_head *h)
{
    const sb_server_config *cfg = &t->srv->cfg;
    const sb_buf *in = &t->head->in;
    sb_head_limits lim;

    lim.max_head = cfg->max_header_bytes > 0 ? (size_t)cfg->max_header_bytes : 65536;
    lim.max_url = (size_t)cfg->max_url;
    memset(h, 0, sizeof *h);
    return sb_head_parse((const char *)in->mem + in->pre, in->len, &lim, h);
}

/* A held socket's turn: its head is parsed again (it was whole, so this
 * cannot fail short of memory) and answered. */
static void sb_tcp_admit(sb_tcp *t)
{
    sb_head h;
    int rc;

    sb_tcp_unhold(t);
    rc = sb_tcp_parse_head(t, &h);
    sb_tcp_watch(t, UV_READABLE);   /* as it was before it waited */
    if (rc > 0)
        sb_tcp_head_answer(t, &h, (size_t)rc);
    else
        sb_tcp_kill(t);
    sb_head_free(&h);
}

void sb_tcp_admit_held(sb_server *s, int64_t until)
{
    while (s->held && sb_mono_us() < until)
        sb_tcp_admit(s->held);
}

/* Whether the request starts "GET " (a WebSocket upgrade can be nothing
 * else), looked at without taking the bytes.  Anything else goes to lws
 * untouched: lws 4.1.6 loses a request body that follows a head it was
 * handed (lws_adopt_socket_vhost_readbuf), so a POST is never read here.
 * A shorter start that still matches counts as a GET (and is then read,
 * so a slow sender does not make the socket spin readable). */
static int sb_tcp_head_is_get(int fd)
{
    char b[4];
    ssize_t n;

    do
        n = recv(fd, b, sizeof b, MSG_PEEK);
    while (n < 0 && errno == EINTR);
    if (n <= 0)
        return 1;   /* nothing yet, or EOF: the read below sees which */
    return memcmp(b, "GET ", (size_t)n) == 0;
}

/* More of the head: parsed each time something arrives (a head is a few
 * hundred bytes; a slow sender's is bounded by max_header_bytes). */
void sb_tcp_head_ready(sb_tcp *t)
{
    sb_buf *in = &t->head->in;
    sb_head h;
    ssize_t n;
    int rc;

    if (!in->len && !sb_tcp_head_is_get(t->fd)) {
        sb_tcp_hand_to_lws(t);
        return;
    }
    if (sb_buf_reserve(in, SB_TCP_HEAD_CHUNK)) {
        sb_tcp_kill(t);
        return;
    }
    do
        n = recv(t->fd, in->mem + in->pre + in->len, SB_TCP_HEAD_CHUNK, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (n <= 0) {
        sb_tcp_kill(t);
        return;
    }
    in->len += (size_t)n;
    rc = sb_tcp_parse_head(t, &h);
    if (rc == SB_HEAD_ENOMEM) {
        sb_tcp_kill(t);
    } else if (rc < 0) {
        /* malformed or over a limit: lws answers (or hangs up on) it
         * exactly as it did before this transport */
        sb_tcp_hand_to_lws(t);
    } else if (rc > 0) {
        sb_tcp_head_done(t, &h, (size_t)rc);
        sb_head_free(&h);
    }
}
