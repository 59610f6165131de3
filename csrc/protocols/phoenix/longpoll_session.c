/* LongPoll sessions (http_longpoll.h): the token that names a session,
 * the poll held open on it, and its end.
 *
 * A session ends when nobody polls it for timeout_ms (a held poll counts
 * as polling), or soon after its connection was closed (server closing,
 * conn:close(), a send queue over max_queue); the app hears it as the
 * connection's close.  Its token then stays known for timeout_ms more, as
 * a tombstone: the client's next poll gets 410 (session gone, so it
 * reconnects and rejoins) without the server making a session nobody
 * would use.
 *
 * One timer per server serves all sessions, as for SSE streams (lws keeps
 * its timers in one sorted list that every insert walks, so one per
 * session would cost time growing with the square of their number). */
#include "http_longpoll.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ws_phoenix.h"

/* How long a closed session waits for a poll to collect what it had
 * queued before it ends anyway. */
#define SB_LP_CLOSE_GRACE_MS 2000

sb_lp_session *sb_lp_session_of(sb_wsconn *c)
{
    void **slot = sb_phx_transport(c);

    return slot ? *slot : NULL;
}

sb_lp_session *sb_lp_find(sb_lp_server *t, const char *token)
{
    if (!t || strlen(token) != SB_LP_TOKEN_LEN)
        return NULL;
    return sb_map_get(&t->sessions, token, SB_LP_TOKEN_LEN);
}

/* The token comes from lws's random source (the platform's), 144 bits:
 * it is the only thing a poll or a POST shows to name its session. */
int sb_lp_session_new(sb_wsconn *c, struct lws *wsi)
{
    unsigned char rnd[SB_LP_TOKEN_BYTES];
    void **slot = sb_phx_transport(c);
    sb_lp_session *ss;

    if (!slot || lws_get_random(lws_get_context(wsi), rnd, sizeof rnd) != sizeof rnd)
        return -1;
    if (!(ss = calloc(1, sizeof *ss)))
        return -1;
    sb_lp_token(rnd, ss->token);
    ss->c = c;
    *slot = ss;
    return 0;
}

void sb_lp_session_touch(sb_lp_server *t, sb_lp_session *ss)
{
    /* a closing session keeps the shorter time its close gave it */
    if (ss->c && !ss->c->close_code)
        ss->idle_until_ms = sb_mono_ms() + t->timeout_ms;
}

static void sb_lp_unlink(sb_lp_server *t, sb_lp_session *ss)
{
    if (!ss->linked)
        return;
    sb_map_del(&t->sessions, ss->token, SB_LP_TOKEN_LEN);
    if (ss->prev)
        ss->prev->next = ss->next;
    else
        t->list = ss->next;
    if (ss->next)
        ss->next->prev = ss->prev;
    ss->prev = ss->next = NULL;
    ss->linked = 0;
}

void sb_lp_forget(sb_lp_server *t, sb_lp_session *ss)
{
    sb_lp_unlink(t, ss);
    free(ss);
}

/* Between tick and tick: often enough for a window or a timeout of a
 * fraction of a second (specs), at most once a second. */
static lws_usec_t sb_lp_tick_us(const sb_lp_server *t)
{
    int64_t ms = 1000;

    if (t->window_ms / 4 < ms)
        ms = t->window_ms / 4;
    if (t->timeout_ms / 4 < ms)
        ms = t->timeout_ms / 4;
    return (lws_usec_t)(ms < 20 ? 20 : ms) * 1000;
}

/* 1 when the client hung up on its held poll (rx is off while the poll
 * waits, so lws itself does not notice). */
static int sb_lp_peer_gone(struct lws *wsi)
{
    char b;
    ssize_t n = recv(lws_get_socket_fd(wsi), &b, 1, MSG_PEEK | MSG_DONTWAIT);

    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* A held poll's share of the tick: dropped when its client has gone
 * (lws then frees the request, which lets go of the session), answered
 * when its window is over. */
static void sb_lp_tick_poll(sb_lp_req *r, int64_t now)
{
    if (r->due)
        return;
    if (sb_lp_peer_gone(r->wsi)) {
        r->due = 1;
        lws_set_timeout(r->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    } else if (now >= r->until_ms) {
        sb_lp_wake(r);
    }
}

/* Ends what is due.  Ending a session runs the app's hooks, which may
 * queue frames and wake polls but never free another session: that
 * happens only here, in a poll's answer and in a GET. */
static void sb_lp_sweep(lws_sorted_usec_list_t *sul)
{
    sb_lp_server *t = (sb_lp_server *)(void *)sul;   /* sul is first */
    sb_lp_session *ss, *next;
    int64_t now = sb_mono_ms();

    for (ss = t->list; ss; ss = next) {
        next = ss->next;
        if (ss->poll)
            sb_lp_tick_poll(ss->poll, now);
        else if (now < ss->idle_until_ms)
            continue;
        else if (!ss->c)
            sb_lp_forget(t, ss);   /* a tombstone's time is up */
        else
            /* nobody polled: the client went without a word */
            sb_wsconn_end(ss->c, ss->c->close_code ? ss->c->close_code : 1006);
    }
    if (t->list && t->ctx)
        lws_sul_schedule(t->ctx, 0, &t->sul, sb_lp_sweep, sb_lp_tick_us(t));
    else
        t->ctx = NULL;
}

/* A session is linked: make sure the tick runs.  The context is known
 * only while it does (see sb_sse_tick_start in sse/http_sse.c). */
static void sb_lp_tick_start(sb_lp_server *t, struct lws *wsi)
{
    if (t->ctx)
        return;
    t->ctx = lws_get_context(wsi);
    lws_sul_schedule(t->ctx, 0, &t->sul, sb_lp_sweep, sb_lp_tick_us(t));
}

void sb_lp_tick_stop(sb_lp_server *t)
{
    lws_sul_cancel(&t->sul);
    t->ctx = NULL;
}

int sb_lp_session_link(sb_lp_server *t, sb_wsconn *c, struct lws *wsi)
{
    sb_lp_session *ss = sb_lp_session_of(c);

    /* a repeated token (144 random bits) is as good as impossible, but
     * a session must never take over another's */
    if (!ss || sb_map_get(&t->sessions, ss->token, SB_LP_TOKEN_LEN) ||
        sb_map_put(&t->sessions, ss->token, SB_LP_TOKEN_LEN, ss) < 0)
        return -1;
    ss->linked = 1;
    ss->prev = NULL;
    ss->next = t->list;
    if (t->list)
        t->list->prev = ss;
    t->list = ss;
    sb_lp_session_touch(t, ss);
    sb_lp_tick_start(t, wsi);
    return 0;
}

void sb_lp_wake(sb_lp_req *r)
{
    if (r->due)
        return;
    r->due = 1;
    /* lws gives a flow-controlled h1 request no POLLOUT */
    lws_rx_flow_control(r->wsi, 1);
    lws_callback_on_writable(r->wsi);
}

void sb_lp_let_go(sb_lp_server *t, sb_lp_session *ss)
{
    sb_lp_req *old = ss->poll;

    if (!old)
        return;
    sb_lp_unhold(t, old);
    old->gone = 0;
    sb_lp_wake(old);
}

void sb_lp_hold(sb_lp_server *t, sb_lp_session *ss, sb_lp_req *r)
{
    int secs = (int)(t->window_ms / 1000) + 10;

    sb_lp_let_go(t, ss);
    ss->poll = r;
    r->session = ss;
    r->gone = 0;
    r->due = 0;
    r->until_ms = sb_mono_ms() + t->window_ms;
    memcpy(r->token, ss->token, sizeof r->token);
    /* see "Peer close" in sse/http_sse.c: a waiting request reads
     * nothing, or a hung-up peer would have lws spin on POLLIN */
    lws_rx_flow_control(r->wsi, 0);
    /* the tick answers it after the window; this only guards the tick */
    lws_set_timeout(r->wsi, PENDING_TIMEOUT_USER_OK, secs);
}

void sb_lp_unhold(sb_lp_server *t, sb_lp_req *r)
{
    sb_lp_session *ss = r->session;

    r->session = NULL;
    if (!ss || ss->poll != r)
        return;
    ss->poll = NULL;
    sb_lp_session_touch(t, ss);
}

/* Frames were queued, or the connection is closing: the held poll takes
 * them; a closing session without one waits a little for the next. */
void sb_lp_want_write(sb_wsconn *c)
{
    sb_lp_session *ss = sb_lp_session_of(c);
    int64_t end;

    if (!ss)
        return;
    if (ss->poll) {
        sb_lp_wake(ss->poll);
        return;
    }
    end = sb_mono_ms() + SB_LP_CLOSE_GRACE_MS;
    if (c->close_code && ss->idle_until_ms > end)
        ss->idle_until_ms = end;
}

/* The connection is being freed: its session becomes a tombstone (see
 * the top), and a poll still held on it is answered 410. */
void sb_lp_release(sb_wsconn *c)
{
    sb_lp_server *t = sb_lp_server_of(c->srv);
    sb_lp_session *ss = sb_lp_session_of(c);

    if (ss) {
        *sb_phx_transport(c) = NULL;
        if (ss->poll) {
            sb_lp_req *r = ss->poll;
            sb_lp_unhold(t, r);
            r->gone = 1;
            sb_lp_wake(r);
        }
        ss->c = NULL;
        if (ss->linked && t && !t->off) {
            ss->idle_until_ms = sb_mono_ms() + t->timeout_ms;
        } else {
            if (t)
                sb_lp_unlink(t, ss);
            free(ss);
        }
    }
    sb_phx_release(c);
}
