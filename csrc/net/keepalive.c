/* WebSocket pings and the idle hang-up for a server: see keepalive.h. */
#include "keepalive.h"

#include <string.h>

#include "flush.h"
#include "server.h"
#include "tcp.h"

/* A fire handles everything due up to this much later too, so that
 * connections that joined within the same tenth of a second share one
 * fire (lws's own timing was whole seconds). */
#define SB_KA_SLACK_MS 100
/* Pings and hang-ups per fire; the rest waits for the next loop turn, so
 * that 20,000 connections due at once do not make one long turn. */
#define SB_KA_BUDGET 2048

enum { SB_KA_NONE = 0, SB_KA_QUIET = 1, SB_KA_PINGED = 2 };

static sb_ka_list *sb_ka_list_of(sb_keepalive *ka, const sb_wsconn *c)
{
    return c->ka_list == SB_KA_QUIET ? &ka->quiet : &ka->pinged;
}

static void sb_ka_unlink(sb_keepalive *ka, sb_wsconn *c)
{
    sb_ka_list *l;

    if (c->ka_list == SB_KA_NONE)
        return;
    l = sb_ka_list_of(ka, c);
    if (c->ka_prev)
        c->ka_prev->ka_next = c->ka_next;
    else
        l->head = c->ka_next;
    if (c->ka_next)
        c->ka_next->ka_prev = c->ka_prev;
    else
        l->tail = c->ka_prev;
    c->ka_prev = c->ka_next = NULL;
    c->ka_list = SB_KA_NONE;
}

/* Appending at `now` keeps a list in deadline order: every entry of a
 * list waits the same time, and the clock only goes forward. */
static void sb_ka_append(sb_keepalive *ka, sb_wsconn *c, int which, int64_t now)
{
    sb_ka_list *l;

    c->ka_list = which;
    c->ka_at = now;
    l = sb_ka_list_of(ka, c);
    c->ka_next = NULL;
    c->ka_prev = l->tail;
    if (l->tail)
        l->tail->ka_next = c;
    else
        l->head = c;
    l->tail = c;
}

static void sb_keepalive_fire(void *arg);

/* Arms the timer for the earliest deadline of both lists, unless it is
 * already armed for that time or sooner. */
static void sb_keepalive_arm(sb_keepalive *ka, int64_t now)
{
    int64_t next = 0;

    if (ka->pinged.head)
        next = ka->pinged.head->ka_at + ka->hup_ms;
    if (ka->quiet.head && (!next || ka->quiet.head->ka_at + ka->ping_ms < next))
        next = ka->quiet.head->ka_at + ka->ping_ms;
    if (!next || !ka->timer)
        return;
    next += SB_KA_SLACK_MS;
    if (ka->due && ka->due <= next)
        return;
    ka->due = next;
    sb_timer_start(ka->timer, next > now ? (uint64_t)(next - now) : 0);
}

/* No pong in time: the peer is gone or does not read.  The socket is cut
 * on lws's next turn, with no close frame (a dead peer would not read
 * it); the app's close hook hears 1006. */
static void sb_keepalive_hangup(sb_wsconn *c)
{
    if ((!c->wsi && !c->tcp) || c->closed)
        return;
    sb_fqueue_clear(&c->q);
    c->close_code = 1006;
    c->close_sent = 1;     /* 1006 is never sent on the wire */
    c->ping_due = 0;
    if (c->tcp) {
        sb_tcp_kill(c->tcp);
        return;
    }
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

/* The ping itself goes out with the connection's next write (flush.c or
 * its writeable callback): never in the middle of another write. */
static void sb_keepalive_ping(sb_keepalive *ka, sb_wsconn *c, int64_t now)
{
    sb_ka_append(ka, c, SB_KA_PINGED, now);
    c->ping_due = 1;
    sb_flush_mark(c->shared->flush, c);
}

static void sb_keepalive_fire(void *arg)
{
    sb_keepalive *ka = arg;
    int64_t now = sb_mono_ms();
    int budget = SB_KA_BUDGET;
    sb_wsconn *c;

    ka->due = 0;
    while (budget > 0 && (c = ka->pinged.head) && c->ka_at + ka->hup_ms <= now) {
        sb_ka_unlink(ka, c);
        sb_keepalive_hangup(c);
        budget--;
    }
    while (budget > 0 && (c = ka->quiet.head) && c->ka_at + ka->ping_ms <= now) {
        sb_ka_unlink(ka, c);
        sb_keepalive_ping(ka, c, now);
        budget--;
    }
    if (!budget && ka->timer) {
        /* more are due: on the next turn, after the poll */
        ka->due = now;
        sb_timer_start(ka->timer, 0);
        return;
    }
    sb_keepalive_arm(ka, now);
}

void sb_keepalive_start(sb_keepalive *ka, uv_loop_t *loop,
                        int ping_interval, int idle_timeout)
{
    memset(ka, 0, sizeof *ka);
    if (ping_interval <= 0 || idle_timeout <= ping_interval)
        return;
    /* out of memory: no keepalive, as when it is off */
    if (!(ka->timer = sb_timer_new(loop, sb_keepalive_fire, ka)))
        return;
    ka->ping_ms = (int64_t)ping_interval * 1000;
    ka->hup_ms = (int64_t)(idle_timeout - ping_interval) * 1000;
}

void sb_keepalive_stop(sb_keepalive *ka)
{
    sb_timer_free(ka->timer);
    ka->timer = NULL;
    ka->due = 0;
}

void sb_keepalive_add(sb_keepalive *ka, sb_wsconn *c)
{
    int64_t now;

    if (!ka->timer)
        return;
    now = sb_mono_ms();
    sb_ka_unlink(ka, c);
    sb_ka_append(ka, c, SB_KA_QUIET, now);
    sb_keepalive_arm(ka, now);
}

void sb_keepalive_pong(sb_keepalive *ka, sb_wsconn *c)
{
    if (c->ka_list != SB_KA_NONE)
        sb_keepalive_add(ka, c);
}

void sb_keepalive_remove(sb_keepalive *ka, sb_wsconn *c)
{
    sb_ka_unlink(ka, c);
    c->ping_due = 0;
}

/* The payload is not empty: lws 4.1 does not report an empty PONG to the
 * protocol callback, so an answer to an empty PING would never count. */
int sb_keepalive_write_ping(sb_wsconn *c)
{
    unsigned char buf[LWS_PRE + 2];

    if (!c->ping_due)
        return 0;
    c->ping_due = 0;
    memcpy(buf + LWS_PRE, "sb", 2);
    return lws_write(c->wsi, buf + LWS_PRE, 2, LWS_WRITE_PING) < 0 ? -1 : 0;
}
