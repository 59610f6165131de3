/* End-of-turn writes for server connections: see flush.h. */
#include "flush.h"

#include <stddef.h>

#include "base/prefetch.h"

#include "keepalive.h"
#include "server.h"
#include "tcp.h"

/* Writes c's queued frames now, outside any lws callback.  That is only
 * safe on an established WebSocket with nothing half-sent: lws appends a
 * new write behind a buffered partial, but a direct write must not jump
 * ahead of a close or of a handshake still in progress.  Anything else
 * takes the ordinary writeable-callback path. */
static void sb_flush_one(sb_flusher *fl, sb_wsconn *c)
{
    int rc;

    if (c->tcp) {
        /* the own transport writes at once unless bytes wait (then its
         * writable event goes on with the queue) */
        if (!sb_tcp_choked(c->tcp) && sb_tcp_flush(c->tcp))
            sb_tcp_kill(c->tcp);
        return;
    }
    if (c->closed || !c->wsi)
        return;
    if (!c->open || c->close_code || c->ops->stream ||
        lws_partial_buffered(c->wsi)) {
        lws_callback_on_writable(c->wsi);
        return;
    }
    rc = sb_keepalive_write_ping(c);
    if (rc == 0)
        rc = sb_queue_flush(c->wsi, &c->q, &fl->batch, 0, NULL);
    if (rc < 0) {
        /* the socket is dead (lws marked it unusable): let lws reap it on
         * its next turn, as a writeable callback returning -1 would */
        sb_fqueue_clear(&c->q);
        c->close_code = 1006;
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    }
}

/* While c is written, what the next writes touch starts loading
 * (base/prefetch.h): the next connection's socket and queue, asked for
 * one connection earlier, and the connection after it.  A write costs
 * a few microseconds, time enough for the loads to arrive. */
static void sb_flush_prefetch(const sb_wsconn *n)
{
    if (!n)
        return;
    SB_PREFETCH(n->dirty_next);
    SB_PREFETCH(&n->q);
    SB_PREFETCH(&n->close_code);
    if (n->tcp) {
        SB_PREFETCH(&n->tcp->out);
        SB_PREFETCH(&n->tcp->state);
    }
}

/* The turn is over: the oldest dirty connections get one (packed) write
 * each, within the turn's budget; the rest wait for the next turn, which
 * the re-armed hook keeps from blocking in the poll. */
static void sb_flush_turn(sb_turn_hook *h)
{
    sb_flusher *fl = (sb_flusher *)h;
    sb_wsconn *c;
    int budget = SB_FLUSH_PER_TURN, n = 0;
    int64_t until = sb_mono_us() + SB_FLUSH_TURN_US;

    while (budget-- > 0 && (c = fl->dirty)) {
        sb_flush_unmark(fl, c);
        sb_flush_prefetch(fl->dirty);
        sb_flush_one(fl, c);
        if (++n % 64 == 0 && sb_mono_us() >= until)
            break;
    }
    if (fl->dirty)
        sb_loop_at_turn_end(fl->loop, &fl->hook);
}

void sb_flusher_init(sb_flusher *fl, sb_loop *loop)
{
    fl->hook.fn = sb_flush_turn;
    fl->hook.next = NULL;
    fl->hook.armed = 0;
    fl->loop = loop;
    fl->dirty = fl->dirty_tail = NULL;
    fl->batch.mem = NULL;
    fl->batch.cap = 0;
}

void sb_flusher_free(sb_flusher *fl)
{
    sb_loop_turn_hook_cancel(fl->loop, &fl->hook);
    sb_batch_free(&fl->batch);
}

void sb_flush_mark(sb_flusher *fl, sb_wsconn *c)
{
    if (c->dirty)
        return;
    c->dirty = 1;
    c->dirty_next = NULL;
    c->dirty_prev = fl->dirty_tail;
    if (fl->dirty_tail)
        fl->dirty_tail->dirty_next = c;
    else
        fl->dirty = c;
    fl->dirty_tail = c;
    sb_loop_at_turn_end(fl->loop, &fl->hook);
}

void sb_flush_unmark(sb_flusher *fl, sb_wsconn *c)
{
    if (!c->dirty)
        return;
    if (c->dirty_prev)
        c->dirty_prev->dirty_next = c->dirty_next;
    else
        fl->dirty = c->dirty_next;
    if (c->dirty_next)
        c->dirty_next->dirty_prev = c->dirty_prev;
    else
        fl->dirty_tail = c->dirty_prev;
    c->dirty_next = c->dirty_prev = NULL;
    c->dirty = 0;
}
