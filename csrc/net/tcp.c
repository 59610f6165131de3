/* The own transport's open WebSocket: reads fed to the frame parser,
 * writes, the close handshake and the release.  See tcp.h. */
#include "tcp.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/utf8.h"
#include "deflate.h"
#include "keepalive.h"
#include "server.h"
#include "server_internal.h"

/* How long a closing socket may take to answer our close frame (or to
 * stop sending, after an error) before it is cut. */
#define SB_TCP_CLOSE_WAIT_MS 3000
/* Reads of SB_TCP_RX bytes per socket per turn: enough for a fast
 * publisher, bounded so that one cannot starve the rest. */
#define SB_TCP_READS 4
/* Writes per flush: one fast reader cannot starve the others. */
#define SB_TCP_FLUSH_WRITES 32

void sb_tcp_watch(sb_tcp *t, int events)
{
    if (t->state == SB_TCP_DEAD || events == t->events)
        return;
    t->events = events;
    if (events)
        uv_poll_start(&t->poll, events, sb_tcp_on_poll);
    else
        uv_poll_stop(&t->poll);
}

int sb_tcp_choked(const sb_tcp *t)
{
    return t->out.len > t->out_off;
}

/* What is kept of out is what the socket did not take: written from
 * out_off; emptied out gives its memory back (an idle connection holds
 * no buffer). */
static int sb_tcp_write_out(sb_tcp *t)
{
    while (t->out.len > t->out_off) {
        ssize_t w = send(t->fd, sb_buf_data(&t->out) + t->out_off,
                         t->out.len - t->out_off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            return -1;
        }
        t->out_off += (size_t)w;
    }
    if (t->out_off == t->out.len) {
        sb_buf_free(&t->out);
        t->out_off = 0;
        sb_tcp_watch(t, t->events & ~UV_WRITABLE);
    } else {
        sb_tcp_watch(t, t->events | UV_WRITABLE);
    }
    return 0;
}

int sb_tcp_send(sb_tcp *t, const void *p, size_t n)
{
    ssize_t w = 0;

    if (t->state == SB_TCP_DEAD)
        return -1;
    if (!sb_tcp_choked(t)) {
        do
            w = send(t->fd, p, n, MSG_NOSIGNAL);
        while (w < 0 && errno == EINTR);
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            sb_tcp_kill(t);
            return -1;
        }
        if (w < 0)
            w = 0;
        if ((size_t)w == n)
            return 0;
    }
    sb_buf_add(&t->out, (const unsigned char *)p + w, n - (size_t)w);
    if (t->out.oom) {
        sb_tcp_kill(t);
        return -1;
    }
    sb_tcp_watch(t, t->events | UV_WRITABLE);
    return 0;
}

void sb_tcp_expired(sb_expiry *d)
{
    sb_tcp_kill(sb_tcp_of_expiry(d));
}

/* A control frame (close, ping, pong) from us: unmasked, payload <= 125. */
static int sb_tcp_send_control(sb_tcp *t, int opcode, const void *p, size_t n)
{
    unsigned char f[2 + 125];

    if (n > 125)
        n = 125;
    f[0] = (unsigned char)(0x80 | opcode);
    f[1] = (unsigned char)n;
    memcpy(f + 2, p, n);
    return sb_tcp_send(t, f, n + 2);
}

/* The close frame: code (none for 1005, "no status") and a reason cut to
 * fit; then the socket waits for the peer's answer (close-wait). */
static void sb_tcp_send_close_n(sb_tcp *t, int code, const char *why, size_t n)
{
    unsigned char body[125];

    if (n > 123)
        n = 123;
    body[0] = (unsigned char)(code >> 8);
    body[1] = (unsigned char)(code & 0xff);
    if (n)
        memcpy(body + 2, why, n);
    sb_tcp_send_control(t, 0x8, body, code == 1005 ? 0 : n + 2);
    if (t->c)
        t->c->close_sent = 1;
    if (t->state == SB_TCP_OPEN)
        t->state = SB_TCP_CLOSING;
    sb_expiry_set(&t->srv->tcp_dl, &t->dl, SB_TCP_CLOSE_WAIT_MS, sb_tcp_expired);
}

static void sb_tcp_send_close(sb_tcp *t, int code, const char *why)
{
    sb_tcp_send_close_n(t, code, why, why ? strlen(why) : 0);
}

void sb_tcp_expire_in(sb_tcp *t, int secs)
{
    if (t->state == SB_TCP_DEAD)
        return;
    if (secs <= 0)
        sb_expiry_cancel(&t->srv->tcp_dl, &t->dl);
    else
        sb_expiry_set(&t->srv->tcp_dl, &t->dl, (int64_t)secs * 1000, sb_tcp_expired);
}

/* Packs what fits of q into batch, each frame compressed (once, cached on
 * it) when t negotiated permessage-deflate; see sb_fqueue_pack. */
static size_t sb_tcp_pack(sb_tcp *t, sb_fqueue *q, sb_batch *batch, size_t *used)
{
    if (!batch)
        return 0;
    if (t->pmd)
        return sb_fqueue_pack_z(q, batch, &t->srv->pmd, used);
    return sb_fqueue_pack(q, batch, 1, used);
}

/* Frames queued for the socket: see sb_tcp_flush.  A compressing
 * receiver writes each frame's compressed twin where it has one (its
 * own headroom takes the header, as the plain frame's does). */
static int sb_tcp_write_frames(sb_tcp *t, sb_fqueue *q, sb_batch *batch)
{
    int writes = 0;

    while (q->len && !sb_tcp_choked(t) && writes++ < SB_TCP_FLUSH_WRITES) {
        size_t used, i, n = sb_tcp_pack(t, q, batch, &used);
        if (n >= 2) {
            if (sb_tcp_send(t, batch->mem + LWS_PRE, used))
                return -1;
            for (i = 0; i < n; i++)
                sb_fqueue_pop(q);
            continue;
        }
        {
            sb_frame *f = sb_fqueue_peek(q);
            unsigned char hdr[14];
            size_t h;

            if (t->pmd)
                f = sb_pmd_wire(&t->srv->pmd, f);
            h = sb_frame_header(hdr, f);
            /* the header in front of the frame's own bytes: one send */
            if (h <= SB_FRAME_PRE) {
                memcpy(f->data - h, hdr, h);
                if (sb_tcp_send(t, f->data - h, f->len + h))
                    return -1;
            } else if (sb_tcp_send(t, hdr, h) || sb_tcp_send(t, f->data, f->len)) {
                return -1;
            }
            sb_fqueue_pop(q);
        }
    }
    return 0;
}

int sb_tcp_flush(sb_tcp *t)
{
    sb_wsconn *c = t->c;

    if (!c || t->state != SB_TCP_OPEN || c->close_sent)
        return 0;
    if (!c->close_code && c->ping_due) {
        c->ping_due = 0;
        if (sb_tcp_send_control(t, 0x9, "sb", 2))
            return -1;
    }
    if (sb_tcp_write_frames(t, &c->q, &c->shared->flush->batch))
        return -1;
    if (c->q.len || !c->close_code)
        return 0;
    sb_tcp_send_close(t, c->close_code, c->close_reason);
    return 0;
}

void sb_tcp_fail(sb_tcp *t, int code, const char *why)
{
    sb_wsconn *c = t->c;

    if (t->state != SB_TCP_OPEN)
        return;
    t->discard = 1;
    if (c) {
        sb_fqueue_clear(&c->q);
        if (!c->close_code)
            c->close_code = code;
    }
    sb_tcp_send_close(t, code, why);
}

/* The loop's close phase: the connection (which heard its close in the
 * reaper) is released, the socket closed. */
void sb_tcp_closed(uv_handle_t *h)
{
    sb_tcp *t = h->data;
    sb_server *s = t->srv;
    sb_wsconn *c = t->c;

    if (c)
        sb_wsconn_free(c);
    if (t->fd >= 0)
        close(t->fd);
    sb_tcp_head_free(t);
    sb_wsparse_free(&t->rx);
    sb_buf_free(&t->out);
    if (t->prev)
        t->prev->next = t->next;
    else
        s->tcps = t->next;
    if (t->next)
        t->next->prev = t->prev;
    free(t);
    sb_server_unref(s);
}

void sb_tcp_kill(sb_tcp *t)
{
    sb_server *s = t->srv;

    if (t->state == SB_TCP_DEAD)
        return;
    sb_tcp_watch(t, 0);
    t->state = SB_TCP_DEAD;
    if (t->c && !t->c->close_code)
        t->c->close_code = 1006;
    sb_expiry_cancel(t->head ? &s->hs_dl : &s->tcp_dl, &t->dl);
    if (t->held)
        sb_tcp_head_free(t);   /* off the admission queue (reap_next) */
    t->reap_next = NULL;
    if (s->reap_tail)
        s->reap_tail->reap_next = t;
    else
        s->reap_head = t;
    s->reap_tail = t;
    s->reaper.fn = sb_tcp_reap;
    sb_loop_at_turn_end(s->loop, &s->reaper);
}

/* The killed sockets, oldest first, until the turn's budget
 * (SB_TCP_REAP_TURN_US; until = 0: all of them): the app hears each
 * close (and the channel its leave), then libuv closes the handle.
 * Closes that these hooks cause join the end of the list.  (libuv runs
 * close callbacks newest first, so the order is kept here, not there.)
 * The budget keeps 20,000 dropped sockets from making one 300 ms turn. */
static void sb_tcp_reap_until(sb_server *s, int64_t until)
{
    sb_tcp *t;
    int n = 0;

    s->refs++;   /* the last close must not free s under this walk */
    while ((t = s->reap_head)) {
        sb_wsconn *c = t->c;
        if (until && ++n % 32 == 0 && sb_mono_us() >= until) {
            sb_loop_at_turn_end(s->loop, &s->reaper);
            break;
        }
        s->reap_head = t->reap_next;
        if (!s->reap_head)
            s->reap_tail = NULL;
        if (c) {
            c->tcp = NULL;
            sb_wsconn_transport_gone(c, c->close_code ? c->close_code : 1006);
        }
        uv_close((uv_handle_t *)&t->poll, sb_tcp_closed);
    }
    sb_server_unref(s);
}

void sb_tcp_reap(sb_turn_hook *h)
{
    sb_server *s = (sb_server *)(void *)((char *)h - offsetof(sb_server, reaper));

    sb_tcp_reap_until(s, sb_mono_us() + SB_TCP_REAP_TURN_US);
}

void sb_tcp_teardown(sb_turn_hook *h)
{
    sb_server *s = (sb_server *)(void *)((char *)h - offsetof(sb_server, teardown));
    sb_tcp *t;

    /* no more accepts either: nothing may be left open */
    sb_listener_close(s->lsn);
    s->lsn = NULL;
    for (t = s->held; t; t = t->reap_next)
        t->held = 0;   /* the whole queue goes: no walks to unlink */
    s->held = s->held_tail = NULL;
    for (t = s->tcps; t; t = t->next)
        sb_tcp_kill(t);
    sb_loop_turn_hook_cancel(s->loop, &s->reaper);
    sb_tcp_reap_until(s, 0);
}

/* A whole (inflated) message to the connection's protocol. */
static int sb_tcp_deliver(sb_tcp *t, const char *data, size_t n, int binary)
{
    int rc = sb_wsconn_deliver(t->c, data, n, binary);

    if (rc) {
        sb_tcp_fail(t, rc, rc == 1008 ? "rate limit" : "error");
        return 1;
    }
    return t->state != SB_TCP_OPEN;
}

/* A compressed message (RSV1, permessage-deflate negotiated): inflated
 * within max_message (a zip bomb stops at the limit, 1009), a text then
 * checked as UTF-8 (1007, as for plain text), data that does not inflate
 * closed with 1007 too (the payload is not what the extension says). */
static int sb_tcp_inflate(sb_tcp *t, const char *data, size_t n, int binary,
                          sb_buf *out)
{
    const char *why = NULL;
    int rc = sb_pmd_inflate(&t->srv->pmd, (const unsigned char *)data, n,
                            t->srv->cfg.max_message, out, &why);

    if (!rc && !binary &&
        !sb_utf8_valid((const char *)sb_buf_data(out), out->len)) {
        rc = 1007;
        why = "bad utf8";
    }
    if (rc)
        sb_tcp_fail(t, rc, why);
    return rc;
}

/* The frame parser's callbacks. */
static int sb_tcp_on_message(void *ud, const char *data, size_t n, int binary)
{
    sb_tcp *t = ud;
    sb_buf out;
    int rc;

    if (t->state != SB_TCP_OPEN || !t->c || t->c->close_code)
        return 0;
    if (!t->rx.msg_rsv1)
        return sb_tcp_deliver(t, data, n, binary);
    sb_buf_init(&out, 0);
    rc = sb_tcp_inflate(t, data, n, binary, &out) ? 1
         : sb_tcp_deliver(t, (const char *)sb_buf_data(&out), out.len, binary);
    sb_buf_free(&out);
    return rc;
}

static int sb_tcp_on_ping(void *ud, const unsigned char *data, size_t n)
{
    sb_tcp *t = ud;

    if (t->state == SB_TCP_OPEN && !(t->c && t->c->close_sent))
        sb_tcp_send_control(t, 0xA, data, n);
    return t->state == SB_TCP_DEAD;
}

static int sb_tcp_on_pong(void *ud, const unsigned char *data, size_t n)
{
    sb_tcp *t = ud;

    (void)data;
    (void)n;
    if (t->c && t->state == SB_TCP_OPEN)
        sb_keepalive_pong(&t->srv->ka, t->c);
    return 0;
}

/* The peer's close: the answer to ours ends it; else we answer with its
 * code (RFC 6455 5.5.1) and hang up once that is written (the server
 * closes the TCP connection first, 7.1.1). */
static int sb_tcp_on_close(void *ud, int code, const char *reason, size_t n)
{
    sb_tcp *t = ud;
    sb_wsconn *c = t->c;

    if (c && !c->close_code)
        c->close_code = code;
    if (t->state == SB_TCP_CLOSING || (c && c->close_sent)) {
        sb_tcp_kill(t);
        return 1;
    }
    if (c)
        sb_fqueue_clear(&c->q);
    /* echoed as it came, reason included (the parser checked both) */
    sb_tcp_send_close_n(t, code, reason, n);
    t->discard = 1;
    t->end_drained = 1;
    if (!sb_tcp_choked(t))
        sb_tcp_kill(t);
    return 1;
}

static const sb_wsparse_cb sb_tcp_parse_cb = {
    NULL, sb_tcp_on_message, sb_tcp_on_ping, sb_tcp_on_pong, sb_tcp_on_close
};

void sb_tcp_feed(sb_tcp *t, unsigned char *data, size_t n)
{
    sb_wsparse_cb cb = sb_tcp_parse_cb;
    const char *why = NULL;
    int rc;

    if (t->discard || t->state == SB_TCP_DEAD || !n)
        return;
    cb.ud = t;
    rc = sb_wsparse_feed(&t->rx, data, n, &cb, &why);
    if (rc >= 1000) {
        if (t->state == SB_TCP_OPEN)
            sb_tcp_fail(t, rc, why ? why : "protocol error");
        else
            t->discard = 1;
    }
}

/* Reads what the socket has, a bounded number of times. */
static void sb_tcp_read(sb_tcp *t)
{
    unsigned char *buf = t->srv->tcp_rx;
    int i;

    for (i = 0; i < SB_TCP_READS && t->state != SB_TCP_DEAD; i++) {
        ssize_t n = recv(t->fd, buf, SB_TCP_RX, 0);
        if (n > 0) {
            sb_tcp_feed(t, buf, (size_t)n);
            if ((size_t)n < SB_TCP_RX)
                return;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        sb_tcp_kill(t);   /* the peer hung up (or the socket failed) */
        return;
    }
}

/* Writable again: the rest of out, then the queue; a socket that only
 * waited to get its last bytes out hangs up (or half-closes, LINGER). */
static void sb_tcp_writable(sb_tcp *t)
{
    if (sb_tcp_write_out(t)) {
        sb_tcp_kill(t);
        return;
    }
    if (sb_tcp_choked(t))
        return;
    if (t->end_drained) {
        sb_tcp_kill(t);
        return;
    }
    if (t->state == SB_TCP_LINGER) {
        shutdown(t->fd, SHUT_WR);
        return;
    }
    if (t->c && t->state == SB_TCP_OPEN && (t->c->q.len || t->c->close_code ||
                                            t->c->ping_due) &&
        sb_tcp_flush(t))
        sb_tcp_kill(t);
}

/* The end of a turn in which the sockets' events took time: a fresh
 * budget, spent first on the upgrades waiting for it, oldest first (what
 * they take is the next turn's).  Re-armed while any wait, or to reset
 * the budget once more. */
static void sb_tcp_turn_end(sb_turn_hook *h)
{
    sb_server *s = (sb_server *)(void *)((char *)h - offsetof(sb_server, io_reset));
    int64_t t0 = sb_mono_us();

    s->io_us = 0;
    if (!s->held)
        return;
    s->refs++;   /* the last close must not free s under this walk */
    sb_tcp_admit_held(s, t0 + SB_TCP_IO_TURN_US);
    sb_tcp_turn_spent(s, sb_mono_us() - t0);
    sb_server_unref(s);
}

void sb_tcp_turn_spent(sb_server *s, int64_t us)
{
    s->io_us += us;
    s->io_reset.fn = sb_tcp_turn_end;
    sb_loop_at_turn_end(s->loop, &s->io_reset);
}

/* One socket's events, within the turn's budget (SB_TCP_IO_TURN_US).
 * libuv hands a turn every ready socket, up to ~49,000 of them: without
 * a budget 20,000 sockets hanging up at once make one turn of a quarter
 * second, and a GET /metrics waits all of it.  Over budget, an open
 * socket's event is left for a later turn: the poll is level-triggered
 * and reports it again, and epoll hands out ready sockets in turn.  A
 * head is always read (cheap, and it may be an HTTP request); an upgrade
 * over budget waits in the admission queue (tcp_accept.c). */
void sb_tcp_on_poll(uv_poll_t *h, int status, int events)
{
    sb_tcp *t = h->data;
    sb_server *s = t->srv;
    int64_t t0;

    if (status < 0) {
        sb_tcp_kill(t);
        return;
    }
    if (t->state != SB_TCP_HEAD && s->io_us >= SB_TCP_IO_TURN_US)
        return;
    t0 = sb_mono_us();
    if (t->state == SB_TCP_HEAD) {
        sb_tcp_head_ready(t);
    } else {
        if (events & UV_WRITABLE)
            sb_tcp_writable(t);
        if ((events & (UV_READABLE | UV_DISCONNECT)) && t->state != SB_TCP_DEAD)
            sb_tcp_read(t);
    }
    /* s is alive: t holds a reference until its close callback */
    sb_tcp_turn_spent(s, sb_mono_us() - t0);
}

void sb_tcp_start_open(sb_tcp *t)
{
    t->state = SB_TCP_OPEN;
    sb_wsparse_init(&t->rx, t->srv->cfg.max_message, sb_wsconn_max_fragments(&t->srv->cfg));
}
