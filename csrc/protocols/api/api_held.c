/* Held server API calls (api_internal.h).  Most methods answer at once,
 * but some need the cluster (history read from Redis, counts gathered
 * from the other nodes): the app's api hook then returns SB_API_HELD and
 * answers later with sb_server_api_reply, by the call's ticket.
 *
 * The pattern is the Phoenix LongPoll's held poll (phoenix/
 * longpoll_session.c): a held request reads nothing (rx flow control
 * off, or a hung-up peer would make lws spin on POLLIN), a tick per
 * server answers what waited api_timeout with 504 and drops the requests
 * whose client hung up, and the answer is written from the request's
 * writeable callback.  A ticket is looked up, never a pointer kept by
 * the app, so an answer that comes after the timeout, after the client
 * went or after the server closed finds nothing and is dropped. */
#include "api_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "base/str.h"
#include "net/http.h"
#include "net/server.h"

static void sb_api_tick(lws_sorted_usec_list_t *sul);

/* Between ticks: a fraction of the timeout, at most a second. */
static lws_usec_t sb_api_tick_us(const sb_api_server *t)
{
    int64_t ms = t->timeout_ms / 4 < 1000 ? t->timeout_ms / 4 : 1000;

    return (lws_usec_t)(ms < 20 ? 20 : ms) * 1000;
}

void sb_api_unhold(sb_api_call *call)
{
    sb_api_server *t = call->owner;

    if (!t)
        return;
    if (call->prev)
        call->prev->next = call->next;
    else
        t->held = call->next;
    if (call->next)
        call->next->prev = call->prev;
    call->prev = call->next = NULL;
    call->owner = NULL;
}

/* The answer is in call->answer: unlinked, and written when lws says the
 * request can take it. */
static void sb_api_wake(sb_api_call *call, int status)
{
    sb_api_unhold(call);
    call->status = status;
    call->due = 1;
    /* lws gives a flow-controlled h1 request no POLLOUT */
    lws_rx_flow_control(call->wsi, 1);
    lws_callback_on_writable(call->wsi);
}

int sb_api_hold(sb_api_server *t, sb_api_call *call, struct lws *wsi)
{
    call->wsi = wsi;
    call->owner = t;
    call->due = 0;
    call->until_ms = sb_mono_ms() + t->timeout_ms;
    call->prev = NULL;
    call->next = t->held;
    if (t->held)
        t->held->prev = call;
    t->held = call;
    lws_rx_flow_control(wsi, 0);
    /* the tick answers it at the timeout; this only guards the tick */
    lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, (int)(t->timeout_ms / 1000) + 10);
    if (!t->ctx) {
        t->ctx = lws_get_context(wsi);
        lws_sul_schedule(t->ctx, 0, &t->sul, sb_api_tick, sb_api_tick_us(t));
    }
    return 0;
}

/* 1 when the client hung up on its held call (rx is off, so lws itself
 * does not notice). */
static int sb_api_peer_gone(struct lws *wsi)
{
    char b;
    ssize_t n = recv(lws_get_socket_fd(wsi), &b, 1, MSG_PEEK | MSG_DONTWAIT);

    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* The 504 of a call nobody answered in time. */
static void sb_api_time_out(sb_api_server *t, sb_api_call *call)
{
    char text[96];

    snprintf(text, sizeof text, "the cluster did not answer within %.3g s",
             (double)t->timeout_ms / 1000);
    sb_buf_reset(&call->answer);
    sb_api_error_body(&call->answer, "timeout", text);
    sb_api_wake(call, 504);
}

static void sb_api_tick(lws_sorted_usec_list_t *sul)
{
    sb_api_server *t = lws_container_of(sul, sb_api_server, sul);
    sb_api_call *call, *next;
    int64_t now = sb_mono_ms();

    for (call = t->held; call; call = next) {
        next = call->next;
        if (sb_api_peer_gone(call->wsi)) {
            /* lws frees the request, the late answer finds no ticket */
            sb_api_unhold(call);
            lws_set_timeout(call->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        } else if (now >= call->until_ms) {
            sb_api_time_out(t, call);
        }
    }
    if (t->held && t->ctx)
        lws_sul_schedule(t->ctx, 0, &t->sul, sb_api_tick, sb_api_tick_us(t));
    else
        t->ctx = NULL;
}

int sb_server_api_reply(sb_server *s, uint64_t ticket, int status,
                        const char *body, size_t n)
{
    sb_api_server *t = sb_server_proto_state(s, &sb_api_ops);
    sb_api_call *call;

    for (call = t ? t->held : NULL; call; call = call->next)
        if (call->ticket == ticket)
            break;
    if (!call)
        return -1;
    sb_buf_reset(&call->answer);
    sb_buf_add(&call->answer, body, n);
    sb_api_wake(call, status);
    return 0;
}

int sb_api_held_writeable(sb_server *s, struct lws *wsi, void **slot)
{
    sb_api_call *call = *slot;
    sb_buf out;

    /* only the callbacks sb_api_wake asked for */
    if (!call || !call->due)
        return 0;
    call->due = 0;
    /* taken out of call: the transaction completes in there, which may
     * free call */
    out = call->answer;
    sb_buf_init(&call->answer, 0);
    return sb_api_answer(s, wsi, call->status, &out);
}

void sb_api_held_stop(sb_api_server *t)
{
    if (t->ctx)
        lws_sul_cancel(&t->sul);
    t->ctx = NULL;
    while (t->held)
        sb_api_unhold(t->held);
}
