/* Phoenix LongPoll on `<mount>/longpoll` (http_longpoll.h): the requests
 * and their answers, as phoenix.js's LongPoll reads them.
 *
 * Every answer is a JSON object whose `status` the client acts on: 200
 * (messages), 204 (nothing came within the window), 410 (a new session,
 * with its token; or, to a client that had one, "session gone"), 403
 * (refused), 500 (try again).  These go out as HTTP 200, as Phoenix sends
 * them: the client reads only the body.  Errors in a request itself (a
 * body over the limit, a wrong method) carry their status in the HTTP
 * status line too, for people, proxies and logs. */
#include "http_longpoll.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/defaults.h"
#include "base/str.h"
#include "net/http.h"
#include "net/http_static.h"
#include "ws_phoenix.h"
#include "ws_phoenix_server.h"

sb_lp_server *sb_lp_server_of(sb_server *s)
{
    return sb_server_proto_state(s, &sb_longpoll_ops);
}

/* The headers of every answer: JSON that is never stored (with the token
 * in a header, every poll of every session has the same URL), open to
 * every origin as in Phoenix: who may start a session is the origins
 * check of the connect, and later requests need the session's token. */
static int sb_lp_head(struct lws *wsi, unsigned int code, const char *type, size_t n,
                      unsigned char **p, unsigned char *end)
{
    return sb_http_head(wsi, code, type, n, p, end) ||
           sb_add_hdr(wsi, "access-control-allow-origin:", "*", 1, p, end) ||
           sb_add_hdr(wsi, "cache-control:", "no-store", 8, p, end);
}

/* body was built with LWS_PRE bytes of headroom. */
int sb_lp_write(struct lws *wsi, unsigned int http_status, const sb_buf *body)
{
    unsigned char hdr[LWS_PRE + 512], *start = hdr + LWS_PRE, *p = start,
                  *end = hdr + sizeof hdr - 1;

    if (body->oom || !body->len ||
        sb_lp_head(wsi, http_status, "application/json; charset=utf-8", body->len, &p, end) ||
        lws_finalize_write_http_header(wsi, start, &p, end) ||
        lws_write(wsi, sb_buf_data(body), body->len, LWS_WRITE_HTTP_FINAL) < (int)body->len)
        return -1;
    return 0;
}

int sb_lp_reply(struct lws *wsi, unsigned int http_status, const sb_buf *body)
{
    if (sb_lp_write(wsi, http_status, body))
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* The statuses of the LongPoll protocol itself travel in HTTP 200. */
static unsigned int sb_lp_http_status(int status)
{
    switch (status) {
    case 200: case 204: case 403: case 410: case 500:
        return 200;
    default:
        return (unsigned int)status;
    }
}

int sb_lp_reply_status(struct lws *wsi, int status, const char *error)
{
    sb_buf b;
    int rc;

    sb_buf_init(&b, LWS_PRE);
    sb_lp_status(&b, status, sb_span_str(error));
    rc = sb_lp_reply(wsi, sb_lp_http_status(status), &b);
    sb_buf_free(&b);
    return rc;
}

/* A poll's answer without messages: 204 with the token, or 410. */
static int sb_lp_reply_empty(struct lws *wsi, int status, const char *token)
{
    sb_buf b;
    int rc;

    sb_buf_init(&b, LWS_PRE);
    sb_lp_poll_begin(&b, status, sb_span_str(token && token[0] ? token : NULL));
    sb_lp_poll_end(&b, sb_span_of(NULL, 0));
    rc = sb_lp_reply(wsi, 200, &b);
    sb_buf_free(&b);
    return rc;
}

/* Everything queued goes in one answer, oldest first, each frame as the
 * text a WebSocket would have carried; a closing session answers its
 * last poll (with what it still had) and then ends. */
int sb_lp_answer_poll(sb_lp_server *t, sb_lp_session *ss, struct lws *wsi)
{
    sb_wsconn *c = ss->c;
    int closing = c->close_code != 0, rc;
    sb_frame *f;
    sb_buf b;

    sb_buf_init(&b, LWS_PRE);
    sb_lp_poll_begin(&b, c->q.len ? 200 : closing ? 410 : 204, sb_span_str(ss->token));
    while ((f = sb_fqueue_peek(&c->q)) != NULL) {
        /* text_only (ws_phoenix.h) keeps binary frames out of the queue */
        if (!f->binary)
            sb_lp_poll_add(&b, sb_span_of((const char *)f->data, f->len));
        sb_fqueue_pop(&c->q);
    }
    sb_lp_poll_end(&b, sb_span_of(NULL, 0));
    rc = sb_lp_reply(wsi, 200, &b);
    sb_buf_free(&b);
    sb_lp_session_touch(t, ss);
    if (closing)
        sb_wsconn_end(c, c->close_code);
    return rc;
}

/* A refused connect: the client knows 403 (it closes, then reconnects
 * with backoff) and 500 (it retries), so the app's own status is
 * not passed on; the reason is. */
static int sb_lp_refused(struct lws *wsi, int status, const char *reason)
{
    if (!status)
        return sb_lp_reply_status(wsi, 500, "out of memory");
    return sb_lp_reply_status(wsi, status >= 500 ? 500 : 403, reason);
}

/* A GET that names no session: the connect (hooks, caps, origins) as
 * for a WebSocket, then 410 with the new session's token, which the
 * client takes as "open". */
static int sb_lp_open(sb_server *s, sb_lp_server *t, struct lws *wsi, const char *path)
{
    const sb_server_hooks *hooks = sb_server_hooks_of(s);
    char reason[256];
    int status;
    sb_wsconn *c = sb_server_accept(s, SB_REQSRC_LWS(wsi), &sb_longpoll_ops, path, NULL, &status,
                                    reason, sizeof reason);

    if (!c)
        return sb_lp_refused(wsi, status, reason);
    if (sb_lp_session_link(t, c, wsi)) {
        sb_wsconn_end(c, 1011);
        return sb_lp_reply_status(wsi, 500, "out of memory");
    }
    c->ops->open(c);
    if (hooks->open)
        hooks->open(hooks->ud, c);
    return sb_lp_reply_empty(wsi, 410, sb_lp_session_of(c) ? sb_lp_session_of(c)->token : NULL);
}

/* GET: a poll of a session, or the start of one. */
static int sb_lp_get(sb_server *s, sb_lp_server *t, struct lws *wsi, const char *path,
                     void **req_state)
{
    char token[SB_LP_TOKEN_LEN + 1];
    int named = sb_lp_request_token(wsi, token);
    sb_lp_session *ss = named ? sb_lp_find(t, token) : NULL;
    sb_lp_req *r;

    if (!ss)
        /* a token that cannot be the app's own param: the session it
         * named is gone, and a new one would go unused */
        return named == 2 ? sb_lp_reply_empty(wsi, 410, NULL) : sb_lp_open(s, t, wsi, path);
    if (!ss->c) {
        sb_lp_forget(t, ss);
        return sb_lp_reply_empty(wsi, 410, token);
    }
    if (ss->c->q.len || ss->c->close_code) {
        sb_lp_let_go(t, ss);
        return sb_lp_answer_poll(t, ss, wsi);
    }
    if (!(r = calloc(1, sizeof *r)))
        return -1;   /* lws hangs up: to the client, a failed poll it retries */
    r->wsi = wsi;
    *req_state = r;
    sb_lp_hold(t, ss, r);
    return 0;
}

/* The CORS preflight of a page on another origin (fetch with
 * Content-Type: application/x-ndjson or the token headers). */
static int sb_lp_preflight(struct lws *wsi)
{
    static const char methods[] = "GET, POST, OPTIONS";
    static const char headers[] =
        "Accept, Content-Type, X-Phoenix-AuthToken, X-Phoenix-Longpoll-Token";
    unsigned char hdr[LWS_PRE + 512], *start = hdr + LWS_PRE, *p = start,
                  *end = hdr + sizeof hdr - 1;

    if (sb_lp_head(wsi, HTTP_STATUS_OK, NULL, 0, &p, end) ||
        sb_add_hdr(wsi, "access-control-allow-methods:", methods, sizeof methods - 1, &p, end) ||
        sb_add_hdr(wsi, "access-control-allow-headers:", headers, sizeof headers - 1, &p, end) ||
        sb_add_hdr(wsi, "access-control-max-age:", "3600", 4, &p, end) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* Every request to `<mount>/longpoll`. */
static int sb_lp_http(sb_server *s, void *state, struct lws *wsi, const char *path,
                      void **req_state)
{
    sb_lp_server *t = state;
    sb_lp_req *r;
    char *uri;
    int ulen;

    if (!t || t->off ||
        !sb_phx_mounted(sb_server_proto_state(s, &sb_phoenix_ops), path, "longpoll"))
        return SB_HTTP_PASS;
    switch (lws_http_get_uri_and_method(wsi, &uri, &ulen)) {
    case LWSHUMETH_GET:
        return sb_lp_get(s, t, wsi, path, req_state);
    case LWSHUMETH_POST:
        if (!(r = calloc(1, sizeof *r)))
            return -1;
        r->wsi = wsi;
        r->post = 1;
        *req_state = r;
        return sb_lp_post_start(s, t, wsi, r);
    case LWSHUMETH_OPTIONS:
        return sb_lp_preflight(wsi);
    default:
        return sb_lp_reply_status(wsi, 405, "use GET (poll) or POST (send messages)");
    }
}

/* A held poll's writeable callback: what woke it decides the answer. */
static int sb_lp_writeable(sb_server *s, struct lws *wsi, void **req_state)
{
    sb_lp_server *t = sb_lp_server_of(s);
    sb_lp_req *r = *req_state;
    sb_lp_session *ss;

    /* only the callbacks sb_lp_wake asked for */
    if (!r || !r->due || !t)
        return 0;
    r->due = 0;
    ss = r->session;
    if (!ss)
        /* a newer poll took its place (204), or the session ended (410) */
        return sb_lp_reply_empty(wsi, r->gone ? 410 : 204, r->token);
    if (ss->c->q.len || ss->c->close_code || sb_mono_ms() >= r->until_ms) {
        sb_lp_unhold(t, r);
        return sb_lp_answer_poll(t, ss, wsi);
    }
    lws_rx_flow_control(wsi, 0);   /* nothing after all: keep waiting */
    return 0;
}

static void sb_lp_req_free(void **req_state)
{
    sb_lp_req *r = *req_state;
    sb_lp_server *t;

    if (!r)
        return;
    if (r->session) {
        /* lws ended a held poll (its client went, or a timeout) */
        t = sb_lp_server_of(r->session->c->srv);
        if (t)
            sb_lp_unhold(t, r);
    }
    sb_buf_free(&r->body);
    free(r);
    *req_state = NULL;
}

int sb_lp_request_token(struct lws *wsi, char out[SB_LP_TOKEN_LEN + 1])
{
    /* lws 4.1 matches custom header names as sent */
    static const char *const names[] = {
        "x-phoenix-longpoll-token:", "X-Phoenix-Longpoll-Token:", "X-Phoenix-LongPoll-Token:"
    };
    char arg[4096];   /* lws keeps at most 4096 bytes of URI and headers */
    const char *v;
    size_t k;
    int i, n = 0;

    out[0] = '\0';
    for (k = 0; k < sizeof names / sizeof names[0]; k++) {
        int nlen = (int)strlen(names[k]), len = lws_hdr_custom_length(wsi, names[k], nlen);
        if (len < 0)
            continue;
        if (len != SB_LP_TOKEN_LEN ||
            lws_hdr_custom_copy(wsi, out, SB_LP_TOKEN_LEN + 1, names[k], nlen) < 0)
            out[0] = '\0';
        return 2;
    }
    for (i = 0; sb_request_arg(SB_REQSRC_LWS(wsi), i, arg, sizeof arg, &v) >= 0; i++) {
        if (strcmp(arg, "token") != 0)
            continue;
        n++;
        if (strlen(v) == SB_LP_TOKEN_LEN)
            memcpy(out, v, SB_LP_TOKEN_LEN + 1);
        else
            out[0] = '\0';
    }
    return n > 1 ? 2 : n;
}

/* The authToken travels in X-Phoenix-AuthToken, as it is (browsers let
 * a request set headers, unlike a WebSocket).  0, or -1 when memory ran
 * out. */
static int sb_lp_auth_token(sb_wsconn *c, struct lws *wsi)
{
    static const char *const names[] = {
        "x-phoenix-authtoken:", "X-Phoenix-AuthToken:", "X-Phoenix-Authtoken:"
    };
    size_t k;

    for (k = 0; k < sizeof names / sizeof names[0]; k++) {
        int nlen = (int)strlen(names[k]), len = lws_hdr_custom_length(wsi, names[k], nlen);
        char *tok;
        if (len < 0)
            continue;
        if (!(tok = malloc((size_t)len + 1)))
            return -1;
        if (lws_hdr_custom_copy(wsi, tok, len + 1, names[k], nlen) < 0)
            tok[0] = '\0';
        sb_phx_set_token(c, tok, strlen(tok));
        return 0;
    }
    return 0;
}

/* The Phoenix state (text only: LongPoll has no binary frames to the
 * client), the authToken, and the session with its token. */
static int sb_lp_prepare(sb_wsconn *c, const sb_reqsrc *r)
{
    int rc = sb_phx_prepare_state(c, r, 1);

    if (rc)
        return rc;
    if (sb_lp_auth_token(c, r->wsi) || sb_lp_session_new(c, r->wsi))
        return HTTP_STATUS_INTERNAL_SERVER_ERROR;
    return 0;
}

/* Reads longpoll (false: no LongPoll), longpoll_window, longpoll_timeout
 * and longpoll_max_body (server.lua flattens longpoll = { ... } into
 * these). */
static int sb_lp_server_start(sb_server *s, void **state)
{
    const sb_options *o = sb_server_config_of(s)->options;
    sb_lp_server *t = calloc(1, sizeof *t);

    if (!t)
        return -1;
    t->off = sb_options_false(o, "longpoll");
    t->window_ms = (int64_t)(1000 * sb_options_size(o, "longpoll_window",
                                                    SB_DEFAULT_longpoll_window));
    t->timeout_ms = (int64_t)(1000 * sb_options_size(o, "longpoll_timeout",
                                                     SB_DEFAULT_longpoll_timeout));
    t->max_body = (size_t)sb_options_size(o, "longpoll_max_body",
                                          SB_DEFAULT_longpoll_max_body);
    sb_map_init(&t->sessions, (uint64_t)sb_now_ms() ^ (uint64_t)(uintptr_t)t);
    *state = t;
    return 0;
}

static void sb_lp_server_stop(sb_server *s, void *state)
{
    (void)s;
    sb_lp_tick_stop(state);
}

/* What is left when the last reference goes: tombstones (every session
 * with a connection holds a reference of the server). */
static void sb_lp_server_free(void *state)
{
    sb_lp_server *t = state;

    if (!t)
        return;
    while (t->list)
        sb_lp_forget(t, t->list);
    sb_map_clear(&t->sessions);
    free(t);
}

const sb_proto_ops sb_longpoll_ops = {
    /* the same protocol as the WebSocket, for the app (conn.protocol)
     * and every hook; only the transport differs */
    .name = "phoenix",
    .transport = "longpoll",
    .detached = 1,
    .server_start = sb_lp_server_start,
    .server_stop = sb_lp_server_stop,
    .server_free = sb_lp_server_free,
    .http = sb_lp_http,
    .http_body = sb_lp_post_body,
    .http_body_done = sb_lp_post_done,
    .http_free = sb_lp_req_free,
    .http_held_writeable = sb_lp_writeable,
    .prepare = sb_lp_prepare,
    .open = sb_phx_open,
    .receive = sb_phx_receive,
    .closed = sb_phx_closed,
    .deliver = sb_phx_deliver,
    .release = sb_lp_release,
    .token = sb_phx_token,
    .want_write = sb_lp_want_write,
    .push = sb_phx_push,
    .end_topic = sb_phx_end,
    .each_topic = sb_phx_each_topic,
};
