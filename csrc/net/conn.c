/* The per-connection send queue.  Frames are shared (refcounted) between
 * every receiver of a publish; the queue only holds references.  It is
 * bounded in bytes: a reader that falls that far behind is closed with
 * 1013 so it costs the other connections nothing. */
#include "server.h"
#include "flush.h"
#include "keepalive.h"
#include "tcp.h"

#include "base/str.h"

#include <stdlib.h>
#include <string.h>

/* Closes a connection that cannot keep up, without waiting for it to read
 * (it would not): the queue is dropped and lws closes it on its next turn.
 * Only a WebSocket has a close frame to carry the reason: lws asserts on
 * lws_close_reason for an HTTP connection (a stream). */
static void sb_wsconn_want_write(sb_wsconn *c);

/* The close frame's reason, kept only once a close names one (most
 * connections never do: no 64 bytes in each for it).  Cut at 63 bytes; a
 * copy that cannot be made leaves the reason empty. */
static void sb_wsconn_set_reason(sb_wsconn *c, const char *reason)
{
    size_t n = reason ? strlen(reason) : 0;
    char *copy;

    if (n > 63)
        n = 63;
    if (c->close_owned)
        free((char *)c->close_reason);
    c->close_owned = 0;
    c->close_reason = "";
    if (n == 0 || !(copy = malloc(n + 1)))
        return;
    memcpy(copy, reason, n);
    copy[n] = '\0';
    c->close_reason = copy;
    c->close_owned = 1;
}

static void sb_wsconn_kill_slow(sb_wsconn *c)
{
    sb_fqueue_clear(&c->q);
    c->close_code = 1013;
    sb_wsconn_set_reason(c, "send queue full");
    if (c->ops->detached) {
        /* no socket of its own: the protocol ends it (never from here,
         * inside the fan-out) */
        sb_wsconn_want_write(c);
        return;
    }
    if (c->tcp) {
        /* the close frame goes out, but a reader this far behind will
         * not read it: cut at once when it sits behind unread bytes */
        sb_tcp_fail(c->tcp, 1013, c->close_reason);
        if (sb_tcp_choked(c->tcp))
            sb_tcp_kill(c->tcp);
        return;
    }
    if (!c->wsi)
        return;
    if (!c->ops->stream)
        lws_close_reason(c->wsi, 1013, (unsigned char *)c->close_reason,
                         strlen(c->close_reason));
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
}

/* WebSockets are written at the end of the loop turn (flush.h); a
 * protocol with its own way (an SSE stream keeps rx off between writes)
 * says so in its ops. */
static void sb_wsconn_want_write(sb_wsconn *c)
{
    if (c->ops->want_write)
        c->ops->want_write(c);
    else
        sb_flush_mark(c->shared->flush, c);
}

int sb_wsconn_send(sb_wsconn *c, sb_frame *f)
{
    if (!f || c->closed || c->close_code || (!c->wsi && !c->tcp && !c->ops->detached))
        return -1;
    if (c->q.bytes + f->len > c->shared->max_queue) {
        sb_wsconn_kill_slow(c);
        return -1;
    }
    if (sb_fqueue_push(&c->q, f))
        return -1;
    c->shared->stats.delivered++;
    sb_wsconn_want_write(c);
    return 0;
}

int sb_wsconn_send_text(sb_wsconn *c, const char *data, size_t n)
{
    sb_frame *f;
    int rc;

    /* a protocol with its own framing (SSE events) frames it itself */
    if (c->ops->send_text)
        return c->ops->send_text(c, NULL, data, n);
    f = sb_frame_new(data, n, 0);
    rc = sb_wsconn_send(c, f);

    sb_frame_unref(f);
    return rc;
}

void sb_wsconn_close(sb_wsconn *c, int code, const char *reason)
{
    if (c->closed || c->close_code)
        return;
    c->close_code = code ? code : 1000;
    sb_wsconn_set_reason(c, reason);
    if (c->wsi || c->tcp || c->ops->detached)
        sb_wsconn_want_write(c);
}

int sb_wsconn_flush(sb_wsconn *c)
{
    int rc;

    if (c->close_sent)
        return 0;
    if (c->tcp)
        return sb_tcp_flush(c->tcp);
    /* a due ping first: it is small, and the peer's answer is what keeps
     * it connected */
    if (!c->close_code && sb_keepalive_write_ping(c))
        return -1;
    rc = sb_queue_flush(c->wsi, &c->q, &c->shared->flush->batch,
                        c->close_code, c->close_reason);
    if (rc > 0)
        c->close_sent = 1;
    return rc < 0 ? -1 : 0;
}

void sb_wsconn_expire_in(sb_wsconn *c, int secs)
{
    if (c->tcp)
        sb_tcp_expire_in(c->tcp, secs);
    else if (c->wsi)
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, secs);
}

static int sb_dup_into(char **dst, const char *s, size_t n)
{
    char *p = sb_memdup(s, n);

    if (!p)
        return -1;
    free(*dst);
    *dst = p;
    return 0;
}

int sb_wsconn_set_member(sb_wsconn *c, const char *member, size_t n)
{
    if (c->open)
        return -1;
    return sb_dup_into(&c->member, member, n);
}

/* The hub's tag points at the alias too: it follows a change. */
int sb_wsconn_set_alias(sb_wsconn *c, const char *alias, size_t n)
{
    int had = c->hc.tag.alias != NULL;
    int rc = sb_dup_into(&c->alias, alias, n);

    if (had)
        c->hc.tag.alias = c->alias;
    return rc;
}
