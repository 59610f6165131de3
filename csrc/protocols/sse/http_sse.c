/* SSE streams on the server's vhost (POST publish is in sse_post.c).
 *
 * Framing: lws 4.1.6 does not chunk an HTTP/1.1 response by itself; a
 * response without Content-Length makes lws_add_http_common_headers() switch
 * to "connection: close".  A stream must not have a length, and we want the
 * keep-alive semantics better-sse clients and proxies expect, so each write
 * is one HTTP/1.1 chunk that we frame ourselves ("<hex>\r\n<bytes>\r\n").
 * Messages are encoded (event + chunk) once per message into
 * m->enc[SB_ENC_SSE] and shared by every stream of the channel.
 *
 * The vhost runs with timeout_secs; a stream cancels its pending timeout
 * once the headers are out.
 *
 * Peer close: while a response is in progress lws 4.1.6 keeps the wsi in
 * LRS_DOING_TRANSACTION, where it never reads, so a closed peer leaves the
 * socket readable and lws spinning on POLLIN.  A stream therefore keeps its
 * rx off (lws_rx_flow_control) except while it has something to write (lws
 * skips POLLOUT of a flow-controlled h1 wsi), and the server's tick
 * (sb_sse_sweep, one timer for all streams) checks about every
 * second whether the peer has gone (recv with MSG_PEEK sees the EOF),
 * besides sending the keep-alive comment when it is due. */
#include "http_sse.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/defaults.h"
#include "codec/json.h"
#include "net/flush.h"
#include "net/http.h"
#include "net/resume.h"
#include "proto_sse.h"
#include "protocols/slots.h"
#include "sse_request.h"

/* The protocol's per-server state: its options, and one timer for all
 * the server's streams (peer-close checks and keep-alives, sb_sse_sweep). */
typedef struct sb_sse_server {
    lws_sorted_usec_list_t sul;   /* first: the callback finds the ticker */
    sb_server *srv;               /* while the tick runs, else NULL */
    struct lws_context *ctx;      /* NULL: not scheduled */
    double keepalive;             /* seconds between ":" comments */
    long retry_ms;                /* retry: sent on connect; < 0 none */
    size_t max_body;              /* POST body limit in bytes */
} sb_sse_server;

/* What a stream remembers between prepare and open. */
typedef struct sb_sse_state {
    char last_id[SB_MSGID_MAX + 1];
    size_t last_len;
    int has_last;
    lws_usec_t next_keepalive;   /* when the next ":" comment is due */
} sb_sse_state;

/* One HTTP/1.1 chunk holding bytes p[0..n) (see the top comment). */
static sb_frame *sb_chunk_frame(const unsigned char *p, size_t n)
{
    sb_buf b;
    sb_frame *f;
    char hex[24];
    int k = snprintf(hex, sizeof hex, "%lx\r\n", (unsigned long)n);

    sb_buf_init(&b, SB_FRAME_PRE);
    sb_buf_add(&b, hex, (size_t)k);
    sb_buf_add(&b, p, n);
    sb_buf_add(&b, "\r\n", 2);
    f = sb_frame_from_buf(&b, 0);
    sb_buf_free(&b);
    return f;
}

/* Turns an encoded event buffer into a chunk frame and frees the buffer. */
static sb_frame *sb_chunk_from(sb_buf *ev, int rc)
{
    sb_frame *f = NULL;

    if (rc == SB_CODEC_OK && !ev->oom && ev->len)
        f = sb_chunk_frame(sb_buf_data(ev), ev->len);
    sb_buf_free(ev);
    return f;
}

/* Queues a frame we made for this one stream (drops our reference). */
static int sb_sse_queue(sb_wsconn *c, sb_frame *f)
{
    int rc = f ? sb_wsconn_send(c, f) : -1;

    sb_frame_unref(f);
    return rc;
}

sb_frame *sb_sse_frame(sb_msg *m)
{
    sb_buf id, ev;
    int rc;

    if (m->enc[SB_ENC_SSE])
        return m->enc[SB_ENC_SSE];
    if (m->binary)
        return NULL;   /* SSE is text only */
    sb_buf_init(&id, 0);
    sb_buf_init(&ev, 0);
    if (m->epoch)
        sb_msgid_format(&id, m->epoch, m->offset);
    rc = id.oom ? SB_CODEC_ENOMEM
                : sb_sse_event(&ev, sb_span_of(m->epoch ? (const char *)sb_buf_data(&id) : NULL,
                                          id.len),
                               sb_span_of(m->event, m->event_len),
                               sb_span_of(m->payload, m->payload_len));
    sb_buf_free(&id);
    m->enc[SB_ENC_SSE] = sb_chunk_from(&ev, rc);
    return m->enc[SB_ENC_SSE];
}

/* Sends m to one stream. */
static void sb_sse_send_msg(sb_wsconn *c, sb_msg *m)
{
    sb_frame *f = sb_sse_frame(m);

    if (f)
        sb_wsconn_send(c, f);
}

void sb_sse_deliver(sb_conn *hc, sb_msg *m, void *ud)
{
    sb_wsconn *c = ud;

    (void)hc;
    if (c->resume && sb_resume_hold(c, m))
        return;
    sb_sse_send_msg(c, m);
}

int sb_sse_send_event(sb_wsconn *c, const char *event, const char *data, size_t n)
{
    sb_buf ev;
    int rc;

    if (event && strcmp(event, "message") == 0)
        event = NULL;
    sb_buf_init(&ev, 0);
    rc = sb_sse_event(&ev, sb_span_of(NULL, 0), sb_span_of(event, event ? strlen(event) : 0),
                      sb_span_of(data, n));
    return sb_sse_queue(c, sb_chunk_from(&ev, rc));
}

/* The stream's state, and its alias from ?alias= or ?as= as on the
 * native endpoint (docs/sse.md, "Who a stream is"): a bad one refuses the
 * request.  The resume position is filled in by sb_sse_stream from the
 * parsed request (sse_request.c). */
static int sb_sse_prepare(sb_wsconn *c, const sb_reqsrc *r)
{
    char v[SB_MEMBER_MAX + 1];

    if (!(c->proto = calloc(1, sizeof(sb_sse_state))))
        return -1;
    if (sb_request_get(r, "alias", v, sizeof v) || sb_request_get(r, "as", v, sizeof v)) {
        if (!sb_hub_valid_member(v, strlen(v)) || sb_wsconn_set_alias(c, v, strlen(v)))
            return -1;
    }
    return 0;
}

/* Tells the stream that its position cannot be served.  The id is the
 * channel's current position, so the client's next reconnect resumes from
 * here instead of failing again. */
static void sb_sse_send_failure(sb_wsconn *c, const sb_resume_fail *fail,
                                const char *last_id, size_t last_len)
{
    sb_buf id, data, ev;
    int rc;

    sb_buf_init(&id, 0);
    sb_buf_init(&data, 0);
    sb_buf_init(&ev, 0);
    if (fail->epoch)
        sb_msgid_format(&id, fail->epoch, fail->offset);
    sb_resume_fail_json(&data, fail, last_id, last_len);
    rc = (id.oom || data.oom) ? SB_CODEC_ENOMEM
         : sb_sse_event(&ev, sb_span_of(fail->epoch ? (const char *)sb_buf_data(&id) : NULL, id.len),
                        sb_span_of("recovery-failed", 15),
                        sb_span_of((const char *)sb_buf_data(&data), data.len));
    sb_buf_free(&id);
    sb_buf_free(&data);
    sb_sse_queue(c, sb_chunk_from(&ev, rc));
}

static const sb_resume_ops sb_sse_resume_ops = {
    sb_sse_send_msg, sb_sse_send_failure
};

/* Replays (or reports the failure) and joins: no gap, no duplicate
 * between history and live messages (resume.h). */
static int sb_sse_open(sb_wsconn *c)
{
    sb_sse_state *st = c->proto;
    int resumed = 0;

    if (st && st->has_last)
        resumed = sb_resume(c, st->last_id, st->last_len, &sb_sse_resume_ops);
    return sb_resume_join(c, resumed);
}

static void sb_sse_receive(sb_wsconn *c, const char *data, size_t n, int binary)
{
    /* streams are server-to-client only; lws never hands us frames */
    (void)c;
    (void)data;
    (void)n;
    (void)binary;
}

static void sb_sse_closed(sb_wsconn *c)
{
    sb_resume_drop(c);
    if (!c->open)
        return;
    c->open = 0;
    sb_hub_disconnect(sb_server_hub(c->srv), &c->hc);
}

void sb_sse_release(sb_wsconn *c)
{
    sb_resume_drop(c);
    free(c->proto);
    c->proto = NULL;
}


static int sb_sse_write_headers(sb_server *s, struct lws *wsi)
{
    unsigned char hdr[LWS_PRE + 1024], *start = hdr + LWS_PRE, *p = start,
                  *end = hdr + sizeof hdr - 1;
    sb_sse_header h[SB_SSE_MAX_HEADERS];
    char origin[256];
    sb_span o = sb_cors_origin(s, wsi, origin, sizeof origin);
    int n = sb_sse_headers(h, SB_SSE_MAX_HEADERS, o, 0, 0), i;

    if (n < 0)
        return -1;
    if (lws_add_http_header_status(wsi, HTTP_STATUS_OK, &p, end))
        return -1;
    for (i = 0; i < n; i++)
        if (sb_add_hdr(wsi, h[i].name, h[i].value, h[i].value_len, &p, end))
            return -1;
    /* an origin echoed from an allow-list varies with the request */
    if (o.p && strcmp(o.p, "*") != 0 && sb_add_hdr(wsi, "vary:", "Origin", 6, &p, end))
        return -1;
    if (sb_add_hdr(wsi, "transfer-encoding:", "chunked", 7, &p, end) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    return 0;
}

static lws_usec_t sb_sse_keepalive_us(sb_server *s)
{
    const sb_sse_server *t = sb_server_proto_state(s, &sb_sse_ops);

    return (lws_usec_t)((t ? t->keepalive : SB_DEFAULT_sse_keepalive) * 1e6);
}

/* How often the streams' tick runs: the peer-close check needs about a
 * second at most, the keep-alive may want less. */
static lws_usec_t sb_sse_tick_us(sb_server *s)
{
    lws_usec_t k = sb_sse_keepalive_us(s);

    return k < LWS_US_PER_SEC ? k : LWS_US_PER_SEC;
}

/* 1 when the peer has closed (or reset) its side of the stream. */
static int sb_sse_peer_gone(struct lws *wsi)
{
    char b;
    ssize_t n = recv(lws_get_socket_fd(wsi), &b, 1, MSG_PEEK | MSG_DONTWAIT);

    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* A stream's share of the tick: -1 when its peer has gone (the caller
 * closes it), else 0, after queueing a keep-alive if one is due. */
static int sb_sse_tick(sb_wsconn *c)
{
    sb_sse_state *st = c->proto;
    lws_usec_t now = lws_now_usecs();
    sb_buf b;

    if (!st || sb_sse_peer_gone(c->wsi))
        return -1;
    if (now >= st->next_keepalive) {
        sb_buf_init(&b, 0);
        sb_sse_queue(c, sb_chunk_from(&b, sb_sse_keepalive(&b)));
        st->next_keepalive = now + sb_sse_keepalive_us(c->srv);
    }
    return 0;
}

/* One timer per server for all its SSE streams, instead of an lws timer
 * per stream: lws keeps every timer in one sorted list that an insert
 * walks from the head, so a per-stream timer re-armed each second cost
 * time that grew with the square of the number of streams (4,000 idle
 * streams: 0.75 s of CPU per second, against 0.013 s now).  Each tick
 * walks the server's connections; it stops when no stream is left, and
 * the next stream starts it again. */
static void sb_sse_sweep(lws_sorted_usec_list_t *sul)
{
    sb_sse_server *t = (sb_sse_server *)(void *)sul;   /* sul is first */
    sb_wsconn *c;
    int streams = 0;

    for (c = sb_server_conns(t->srv); c; c = c->next) {
        if (c->ops != &sb_sse_ops || !c->wsi || c->closed)
            continue;
        streams++;
        if (sb_sse_tick(c) < 0)
            lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    }
    if (streams && t->ctx) {
        lws_sul_schedule(t->ctx, 0, &t->sul, sb_sse_sweep, sb_sse_tick_us(t->srv));
    } else {
        t->ctx = NULL;
        t->srv = NULL;
    }
}

/* A stream opened: make sure its server's tick runs. */
static void sb_sse_tick_start(sb_server *s, struct lws *wsi)
{
    sb_sse_server *t = sb_server_proto_state(s, &sb_sse_ops);

    if (!t || t->ctx)
        return;
    /* the server is known only while the tick runs: a state pointing back
     * at its server for good would make a cycle that outlives the lws
     * context lws 4.1 never frees (see net/server.c) */
    t->srv = s;
    t->ctx = lws_get_context(wsi);
    lws_sul_schedule(t->ctx, 0, &t->sul, sb_sse_sweep, sb_sse_tick_us(s));
}

/* Reads sse_keepalive, sse_retry (false: none; 0: the default) and
 * sse_max_body (server.lua flattens sse = { ... } into these). */
static int sb_sse_server_start(sb_server *s, void **state)
{
    const sb_options *o = sb_server_config_of(s)->options;
    sb_sse_server *t = calloc(1, sizeof *t);

    if (!t)
        return -1;
    t->keepalive = sb_options_size(o, "sse_keepalive", SB_DEFAULT_sse_keepalive);
    t->retry_ms = sb_options_false(o, "sse_retry") ? -1
                  : (long)sb_options_size(o, "sse_retry", SB_DEFAULT_sse_retry);
    t->max_body = (size_t)sb_options_size(o, "sse_max_body", SB_DEFAULT_sse_max_body);
    *state = t;
    return 0;
}

size_t sb_sse_max_body(sb_server *s)
{
    const sb_sse_server *t = sb_server_proto_state(s, &sb_sse_ops);

    return t ? t->max_body : SB_DEFAULT_sse_max_body;
}

/* The server's context is going: cancel the timer. */
static void sb_sse_server_stop(sb_server *s, void *state)
{
    sb_sse_server *t = state;

    (void)s;
    lws_sul_cancel(&t->sul);
    t->ctx = NULL;
    t->srv = NULL;
}

/* GET /sse/<channel>: accept (connect hook), headers, retry:, resume or
 * recovery-failed, join, then live. */
static int sb_sse_stream(sb_server *s, struct lws *wsi, const char *path,
                         const char *chan, const sb_sse_request *req)
{
    char reason[256];
    int status;
    const sb_sse_server *t = sb_server_proto_state(s, &sb_sse_ops);
    long retry = t ? t->retry_ms : SB_DEFAULT_sse_retry;
    sb_wsconn *c = sb_server_accept(s, SB_REQSRC_LWS(wsi), &sb_sse_ops, path, chan, &status,
                                    reason, sizeof reason);
    sb_sse_state *st;
    sb_buf b;

    if (!c)
        return status ? sb_http_error(s, wsi, (unsigned)status, reason) : -1;
    st = c->proto;
    st->has_last = req->has_last;
    memcpy(st->last_id, req->last_id, req->last_len + 1);
    st->last_len = req->last_len;
    /* bound first: from here lws's close path releases it (and tells the
     * app through the close hook) */
    c->wsi = wsi;
    lws_set_opaque_user_data(wsi, c);
    if (sb_sse_write_headers(s, wsi))
        return -1;
    lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
    lws_rx_flow_control(wsi, 0);   /* see "Peer close" above */
    if (retry >= 0) {
        sb_buf_init(&b, 0);
        sb_sse_queue(c, sb_chunk_from(&b, sb_sse_retry(&b, (uint64_t)retry)));
    }
    if (c->ops->open(c) < 0)
        return -1;
    if (sb_server_hooks_of(s)->open)
        sb_server_hooks_of(s)->open(sb_server_hooks_of(s)->ud, c);
    ((sb_sse_state *)c->proto)->next_keepalive = lws_now_usecs() + sb_sse_keepalive_us(s);
    sb_sse_tick_start(s, wsi);
    sb_sse_want_write(c);
    return 0;
}

void sb_sse_want_write(sb_wsconn *c)
{
    lws_rx_flow_control(c->wsi, 1);
    lws_callback_on_writable(c->wsi);
}

/* One write per writeable callback, as lws wants for HTTP bodies, holding
 * every queued chunk that fits in the server's batch buffer (they are
 * complete HTTP chunks, so their bytes go out back to back): a burst
 * costs one syscall and one loop turn, not one per message.  Returns 0,
 * or -1 when the write failed. */
static int sb_sse_write_queued(sb_wsconn *c)
{
    sb_batch *b = &sb_server_flusher(c->srv)->batch;
    sb_frame *f = sb_fqueue_peek(&c->q);
    size_t used = 0, n = c->q.len > 1 ? sb_fqueue_pack(&c->q, b, 0, &used) : 0;
    unsigned char *p = n > 1 ? b->mem + LWS_PRE : NULL;

    if (!f)
        return 0;
    if (!p) {
        n = 1;
        p = f->data;
        used = f->len;
    }
    if (lws_write(c->wsi, p, used, LWS_WRITE_HTTP) < (int)used)
        return -1;
    while (n--)
        sb_fqueue_pop(&c->q);
    return 0;
}

int sb_sse_writeable(sb_wsconn *c)
{
    static const char end_chunk[] = "0\r\n\r\n";
    unsigned char fin[LWS_PRE + sizeof end_chunk];

    if (c->q.len) {
        if (sb_sse_write_queued(c) < 0)
            return -1;
        if (c->q.len) {
            lws_callback_on_writable(c->wsi);
            return 0;
        }
    }
    if (!c->close_code) {
        lws_rx_flow_control(c->wsi, 0);   /* idle again: no POLLIN spin */
        return 0;
    }
    /* the app closed the stream: end the chunked body properly */
    memcpy(fin + LWS_PRE, end_chunk, sizeof end_chunk - 1);
    lws_write(c->wsi, fin + LWS_PRE, sizeof end_chunk - 1, LWS_WRITE_HTTP_FINAL);
    return -1;
}

/* A request value as a span for the parser: NULL when absent; one longer
 * than SB_MSGID_MAX comes back as SB_MSGID_MAX + 1 bytes, which the
 * parser refuses as too long without reading them as an id. */
typedef char sb_sse_idbuf[SB_MSGID_MAX + 2];

static sb_span sb_sse_header_id(struct lws *wsi, sb_sse_idbuf buf)
{
    /* lws 4.1 matches custom header names as sent: try both spellings */
    static const char *const names[] = { "last-event-id:", "Last-Event-ID:" };
    size_t i;

    for (i = 0; i < sizeof names / sizeof names[0]; i++) {
        int nlen = (int)strlen(names[i]), n = lws_hdr_custom_length(wsi, names[i], nlen);
        if (n < 0)
            continue;
        if (n <= SB_MSGID_MAX &&
            lws_hdr_custom_copy(wsi, buf, sizeof(sb_sse_idbuf), names[i], nlen) >= 0)
            return sb_span_of(buf, (size_t)n);
        memset(buf, 'x', SB_MSGID_MAX + 1);
        return sb_span_of(buf, SB_MSGID_MAX + 1);
    }
    return sb_span_of(NULL, 0);
}

static sb_span sb_sse_query_id(struct lws *wsi, const char *key, sb_sse_idbuf buf)
{
    char arg[4096];   /* lws keeps at most 4096 bytes of URI and headers */
    const char *v;
    sb_span found = { NULL, 0 };
    int i;

    for (i = 0; sb_request_arg(SB_REQSRC_LWS(wsi), i, arg, sizeof arg, &v) >= 0; i++) {
        size_t n = strlen(v);
        if (strcmp(arg, key) != 0)
            continue;
        if (n > SB_MSGID_MAX + 1)
            n = SB_MSGID_MAX + 1;   /* too long either way */
        memcpy(buf, v, n);
        found = sb_span_of(buf, n);
    }
    return found;
}

static sb_sse_method sb_sse_method_of(struct lws *wsi)
{
    char *uri;
    int ulen;

    switch (lws_http_get_uri_and_method(wsi, &uri, &ulen)) {
    case LWSHUMETH_GET: return SB_SSE_GET;
    case LWSHUMETH_POST: return SB_SSE_POST;
    case LWSHUMETH_OPTIONS: return SB_SSE_OPTIONS;
    default: return SB_SSE_OTHER;
    }
}

/* Every HTTP request below /sse/: a stream, a POST, or a preflight. */
static int sb_sse_http(sb_server *s, void *state, struct lws *wsi, const char *path,
                       void **req_state)
{
    sb_sse_idbuf hid, qid, qevs;
    sb_sse_request_in in;
    sb_sse_request req;
    const char *why;
    int status;

    (void)state;
    if (strncmp(path, "/sse/", 5) != 0)
        return SB_HTTP_PASS;
    in.path = sb_span_str(path);
    in.method = sb_sse_method_of(wsi);
    in.header_id = sb_sse_header_id(wsi, hid);
    in.query_id = sb_sse_query_id(wsi, "lastEventId", qid);
    in.query_evs_id = sb_sse_query_id(wsi, "evs_last_event_id", qevs);
    status = sb_sse_request_parse(&in, &req, &why);
    if (status)
        return sb_http_error(s, wsi, (unsigned)status, why);
    switch (in.method) {
    case SB_SSE_GET:
        return sb_sse_stream(s, wsi, path, path + 5, &req);
    case SB_SSE_POST:
        return sb_sse_post_start(s, wsi, path + 5, req_state);
    default:
        /* OPTIONS: the CORS preflight of fetch-based clients
         * (docs/protocols.md#cors) */
        return sb_http_reply(s, wsi, HTTP_STATUS_NO_CONTENT, NULL, NULL, 0,
                             "Last-Event-ID, Content-Type, Authorization");
    }
}

const sb_proto_ops sb_sse_ops = {
    .name = "sse",
    .stream = 1,
    .server_start = sb_sse_server_start,
    .server_stop = sb_sse_server_stop,
    .server_free = free,
    .http = sb_sse_http,
    .http_body = sb_sse_post_body,
    .http_body_done = sb_sse_post_done,
    .http_free = sb_sse_post_free,
    .http_writeable = sb_sse_writeable,
    .prepare = sb_sse_prepare,
    .open = sb_sse_open,
    .receive = sb_sse_receive,
    .closed = sb_sse_closed,
    .deliver = sb_sse_deliver,
    .release = sb_sse_release,
    .want_write = sb_sse_want_write,
    .send_text = sb_sse_send_event,
};
