/* SSE streams, POST publish and /metrics on the server's vhost.
 *
 * Framing: lws 4.1.6 does not chunk an HTTP/1.1 response by itself; a
 * response without Content-Length makes lws_add_http_common_headers() switch
 * to "connection: close".  A stream must not have a length, and we want the
 * keep-alive semantics better-sse clients and proxies expect, so each write
 * is one HTTP/1.1 chunk that we frame ourselves ("<hex>\r\n<bytes>\r\n").
 * Messages are encoded (event + chunk) once per message into
 * m->enc[SB_PROTO_SSE] and shared by every stream of the channel.
 *
 * The vhost runs with timeout_secs; a stream cancels its pending timeout
 * once the headers are out.
 *
 * Peer close: while a response is in progress lws 4.1.6 keeps the wsi in
 * LRS_DOING_TRANSACTION, where it never reads, so a closed peer leaves the
 * socket readable and lws spinning on POLLIN.  A stream therefore keeps its
 * rx off (lws_rx_flow_control) except while it has something to write (lws
 * skips POLLOUT of a flow-controlled h1 wsi), and its wsi timer checks
 * about every second whether the peer has gone (recv with MSG_PEEK sees the
 * EOF), besides sending the keep-alive comment when it is due. */
#include "http_sse.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "json.h"
#include "proto_sse.h"
#include "resume.h"

#define SB_SSE_ID_MAX 64
#define SB_SSE_JSON_DEPTH 64
#define SB_SSE_EVENT_MAX 64

/* What a stream remembers between prepare and open. */
typedef struct sb_sse_state {
    char last_id[SB_SSE_ID_MAX + 1];
    size_t last_len;
    int has_last;
    lws_usec_t next_keepalive;   /* when the next ":" comment is due */
} sb_sse_state;

/* A POST being received (lws per-request user data, zeroed by lws). */
typedef struct sb_sse_post {
    int active;
    int too_big;
    size_t seen;
    sb_buf body;
    char channel[SB_CHANNEL_MAX + 1];
} sb_sse_post;

static size_t sb_sse_max_body(sb_server *s)
{
    size_t n = sb_server_config_of(s)->sse.max_body;

    return n ? n : 64 * 1024;
}

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

    if (m->enc[SB_PROTO_SSE])
        return m->enc[SB_PROTO_SSE];
    if (m->binary)
        return NULL;   /* SSE is text only */
    sb_buf_init(&id, 0);
    sb_buf_init(&ev, 0);
    if (m->epoch)
        sb_sse_format_id(&id, m->epoch, m->offset);
    rc = id.oom ? SB_CODEC_ENOMEM
                : sb_sse_event(&ev, sb_span_of(m->epoch ? (const char *)sb_buf_data(&id) : NULL,
                                          id.len),
                               sb_span_of(m->event, m->event_len),
                               sb_span_of(m->payload, m->payload_len));
    sb_buf_free(&id);
    m->enc[SB_PROTO_SSE] = sb_chunk_from(&ev, rc);
    return m->enc[SB_PROTO_SSE];
}

void sb_sse_deliver(sb_conn *hc, sb_msg *m, void *ud)
{
    sb_frame *f = sb_sse_frame(m);

    (void)hc;
    if (f)
        sb_wsconn_send(ud, f);
}

static void sb_sse_replay_one(sb_wsconn *c, sb_msg *m)
{
    sb_sse_deliver(&c->hc, m, c);
}

int sb_sse_send_text(sb_wsconn *c, const char *data, size_t n)
{
    return sb_sse_send_event(c, NULL, data, n);
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

/* Header lookup that does not depend on how lws stores the name's case. */
static int sb_hdr_last_event_id(struct lws *wsi, char *buf, int len)
{
    static const char *const names[] = { "last-event-id:", "Last-Event-ID:" };
    size_t i;

    for (i = 0; i < sizeof names / sizeof names[0]; i++) {
        int nlen = (int)strlen(names[i]);
        if (lws_hdr_custom_length(wsi, names[i], nlen) >= 0)
            return lws_hdr_custom_copy(wsi, buf, len, names[i], nlen) >= 0 ? 1 : -1;
    }
    return 0;
}

/* Reads the resume position: Last-Event-ID, else ?lastEventId= (for
 * clients that cannot set headers), else ?evs_last_event_id= (better-sse's
 * name).  An id too long to be ours is kept as invalid: the client then
 * learns with recovery-failed that it must resync. */
static int sb_sse_prepare(sb_wsconn *c, struct lws *wsi)
{
    sb_sse_state *st = calloc(1, sizeof *st);
    char *v;
    int h;

    if (!st)
        return -1;
    c->proto = st;
    v = st->last_id;
    h = sb_hdr_last_event_id(wsi, v, sizeof st->last_id);
    if (h == 0 && !sb_request_get(wsi, "lastEventId", v, sizeof st->last_id) &&
        !sb_request_get(wsi, "evs_last_event_id", v, sizeof st->last_id))
        return 0;
    if (h < 0)
        v[0] = '\0';
    st->has_last = h < 0 || v[0] != '\0';
    st->last_len = strlen(v);
    return 0;
}

/* Tells the stream that its position cannot be served.  The id is the
 * channel's current position, so the client's next reconnect resumes from
 * here instead of failing again. */
static void sb_sse_send_failure(sb_wsconn *c, const sb_sse_state *st,
                                const sb_resume_fail *fail)
{
    sb_buf id, data, ev;
    int rc;

    sb_buf_init(&id, 0);
    sb_buf_init(&data, 0);
    sb_buf_init(&ev, 0);
    if (fail->epoch)
        sb_sse_format_id(&id, fail->epoch, fail->offset);
    sb_resume_fail_json(&data, fail, st->last_id, st->last_len);
    rc = (id.oom || data.oom) ? SB_CODEC_ENOMEM
         : sb_sse_event(&ev, sb_span_of(fail->epoch ? (const char *)sb_buf_data(&id) : NULL, id.len),
                        sb_span_of("recovery-failed", 15),
                        sb_span_of((const char *)sb_buf_data(&data), data.len));
    sb_buf_free(&id);
    sb_buf_free(&data);
    sb_sse_queue(c, sb_chunk_from(&ev, rc));
}

/* Replays (or reports the failure) and joins in one turn: no gap, no
 * duplicate between history and live messages. */
static int sb_sse_open(sb_wsconn *c)
{
    sb_sse_state *st = c->proto;
    sb_resume_fail fail;
    int rc;

    if (st && st->has_last &&
        sb_resume(c, st->last_id, st->last_len, sb_sse_replay_one, &fail) < 0)
        sb_sse_send_failure(c, st, &fail);
    rc = sb_hub_join(sb_server_hub(c->srv), c->channel, strlen(c->channel),
                     c->member, strlen(c->member), &c->hc);
    if (rc < 0)
        return rc;
    c->open = 1;
    return 0;
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
    if (!c->open)
        return;
    c->open = 0;
    sb_hub_disconnect(sb_server_hub(c->srv), &c->hc);
}

void sb_sse_release(sb_wsconn *c)
{
    free(c->proto);
    c->proto = NULL;
}

const sb_proto_ops sb_sse_ops = {
    SB_KIND_SSE, "sse", sb_sse_prepare, sb_sse_open,
    sb_sse_receive, sb_sse_closed, sb_sse_deliver, sb_sse_release
};

/* The Access-Control-Allow-Origin value for this request: "*", the
 * request's Origin when it is in the configured list, or none. */
static sb_span sb_cors_origin(sb_server *s, struct lws *wsi, char *buf, int len)
{
    const char *cors = sb_server_config_of(s)->sse.cors, *p;
    size_t n;
    int k;

    if (!cors)
        return sb_span_of(NULL, 0);
    if (strcmp(cors, "*") == 0)
        return sb_span_of("*", 1);
    k = lws_hdr_copy(wsi, buf, len, WSI_TOKEN_ORIGIN);
    if (k <= 0)
        return sb_span_of(NULL, 0);
    n = (size_t)k;
    for (p = cors; *p; ) {
        size_t w;
        while (*p == ' ' || *p == ',')
            p++;
        w = strcspn(p, " ,");
        if (w == n && memcmp(p, buf, n) == 0)
            return sb_span_of(buf, n);
        p += w;
    }
    return sb_span_of(NULL, 0);
}

static int sb_add_hdr(struct lws *wsi, const char *name, const char *value,
                      size_t n, unsigned char **p, unsigned char *end)
{
    return lws_add_http_header_by_name(wsi, (const unsigned char *)name,
                                       (const unsigned char *)value, (int)n, p, end);
}

/* A complete response with a known length (JSON errors, 202, metrics,
 * preflight); keeps the connection for the next request. */
static int sb_http_reply(sb_server *s, struct lws *wsi, unsigned int status,
                         const char *type, const char *body, size_t n,
                         const char *extra)
{
    unsigned char hdr[LWS_PRE + 1024], *start = hdr + LWS_PRE, *p = start,
                  *end = hdr + sizeof hdr - 1;
    char origin[256];
    sb_span o = sb_cors_origin(s, wsi, origin, sizeof origin);
    sb_buf b;
    int rc;

    if (lws_add_http_common_headers(wsi, status, type, n, &p, end) ||
        (o.p && sb_add_hdr(wsi, "access-control-allow-origin:", o.p, o.n, &p, end)) ||
        (o.p && extra && sb_add_hdr(wsi, "access-control-allow-methods:",
                                    "GET, POST, OPTIONS", 18, &p, end)) ||
        (o.p && extra && sb_add_hdr(wsi, "access-control-allow-headers:", extra,
                                    strlen(extra), &p, end)) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    if (n) {
        /* lws_write wants LWS_PRE bytes of headroom before the data */
        sb_buf_init(&b, LWS_PRE);
        sb_buf_add(&b, body, n);
        rc = b.oom ? -1 : lws_write(wsi, sb_buf_data(&b), n, LWS_WRITE_HTTP_FINAL);
        sb_buf_free(&b);
        if (rc < (int)n)
            return -1;
    }
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* {"error":"<text>"} with an HTTP status. */
static int sb_http_error(sb_server *s, struct lws *wsi, unsigned int status,
                         const char *text)
{
    sb_buf b;
    int rc;

    if (status >= 400 && status < 500)
        sb_server_stats_of(s)->post_refused++;
    sb_buf_init(&b, 0);
    sb_buf_adds(&b, "{\"error\":");
    sb_buf_add_json_string(&b, text, strlen(text));
    sb_buf_addc(&b, '}');
    rc = b.oom ? -1 : sb_http_reply(s, wsi, status, "application/json",
                                    (const char *)sb_buf_data(&b), b.len, NULL);
    sb_buf_free(&b);
    return rc;
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
    double k = sb_server_config_of(s)->sse.keepalive;

    return (lws_usec_t)((k > 0 ? k : 15) * 1e6);
}

/* How often the stream's timer runs: the peer-close check needs about a
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

/* GET /sse/<channel>: accept (connect hook), headers, retry:, resume or
 * recovery-failed, join, then live. */
static int sb_sse_stream(sb_server *s, struct lws *wsi, const char *path,
                         const char *chan)
{
    char reason[256];
    int status;
    long retry = sb_server_config_of(s)->sse.retry_ms;
    sb_wsconn *c = sb_server_accept(s, wsi, &sb_sse_ops, path, chan, &status,
                                    reason, sizeof reason);
    sb_buf b;

    if (!c)
        return status ? sb_http_error(s, wsi, (unsigned)status, reason) : -1;
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
        sb_sse_queue(c, sb_chunk_from(&b, sb_sse_retry(&b, (uint64_t)(retry ? retry : 2000))));
    }
    if (c->ops->open(c) < 0)
        return -1;
    if (sb_server_hooks_of(s)->open)
        sb_server_hooks_of(s)->open(sb_server_hooks_of(s)->ud, c);
    ((sb_sse_state *)c->proto)->next_keepalive = lws_now_usecs() + sb_sse_keepalive_us(s);
    lws_set_timer_usecs(wsi, sb_sse_tick_us(s));
    sb_sse_want_write(c);
    return 0;
}

void sb_sse_want_write(sb_wsconn *c)
{
    lws_rx_flow_control(c->wsi, 1);
    lws_callback_on_writable(c->wsi);
}

/* One chunk per writeable callback, as lws wants for HTTP bodies. */
int sb_sse_writeable(sb_wsconn *c)
{
    static const char end_chunk[] = "0\r\n\r\n";
    unsigned char fin[LWS_PRE + sizeof end_chunk];
    sb_frame *f = sb_fqueue_peek(&c->q);

    if (f) {
        if (lws_write(c->wsi, f->data, f->len, LWS_WRITE_HTTP) < (int)f->len)
            return -1;
        sb_fqueue_pop(&c->q);
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

int sb_sse_timer(sb_wsconn *c)
{
    sb_sse_state *st = c->proto;
    lws_usec_t now = lws_now_usecs();
    sb_buf b;

    if (sb_sse_peer_gone(c->wsi))
        return -1;
    if (now >= st->next_keepalive) {
        sb_buf_init(&b, 0);
        sb_sse_queue(c, sb_chunk_from(&b, sb_sse_keepalive(&b)));
        st->next_keepalive = now + sb_sse_keepalive_us(c->srv);
    }
    lws_set_timer_usecs(c->wsi, sb_sse_tick_us(c->srv));
    return 0;
}

size_t sb_sse_post_state_size(void)
{
    return sizeof(sb_sse_post);
}

void sb_sse_post_free(void *state)
{
    sb_sse_post *ps = state;

    if (ps) {
        sb_buf_free(&ps->body);
        ps->active = 0;
    }
}

/* POST /sse/<channel>: remember the channel, refuse early what cannot be
 * valid, and collect the body (sb_sse_post_body). */
static int sb_sse_post_start(sb_server *s, struct lws *wsi, const char *chan)
{
    sb_sse_post *ps = lws_wsi_user(wsi);
    char cl[32];
    unsigned long long len;

    if (!ps)
        return -1;
    sb_sse_post_free(ps);
    memset(ps, 0, sizeof *ps);
    if (lws_hdr_copy(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0)
        return sb_http_error(s, wsi, 411, "a JSON body with Content-Length is required");
    len = strtoull(cl, NULL, 10);
    if (len == 0)
        return sb_http_error(s, wsi, HTTP_STATUS_BAD_REQUEST, "empty body: send JSON");
    ps->active = 1;
    ps->too_big = len > sb_sse_max_body(s);
    sb_buf_init(&ps->body, 0);
    snprintf(ps->channel, sizeof ps->channel, "%s", chan);
    return 0;
}

int sb_sse_post_body(sb_server *s, struct lws *wsi, void *state,
                     const void *in, size_t len)
{
    sb_sse_post *ps = state;
    size_t max = sb_sse_max_body(s);

    (void)wsi;
    if (!ps || !ps->active)
        return 0;
    ps->seen += len;
    if (ps->too_big || ps->body.len + len > max) {
        /* drain what the client sends so the 413 can be read, but stop
         * listening to an absurd amount */
        ps->too_big = 1;
        sb_buf_free(&ps->body);
        return ps->seen > 16 * max + (1 << 20) ? -1 : 0;
    }
    sb_buf_add(&ps->body, in, len);
    return 0;
}

static int sb_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Event names end up on an `event:` line and in native/Phoenix envelopes. */
static int sb_valid_event(const char *e)
{
    size_t n = strlen(e), i;

    if (n == 0 || n > SB_SSE_EVENT_MAX)
        return 0;
    for (i = 0; i < n; i++)
        if ((unsigned char)e[i] < 0x20 || e[i] == 0x7f)
            return 0;
    return 1;
}

int sb_sse_post_done(sb_server *s, struct lws *wsi, void *state)
{
    sb_sse_post *ps = state;
    const sb_server_hooks *hooks = sb_server_hooks_of(s);
    char ev[SB_SSE_EVENT_MAX + 2], reason[256], text[160], path[SB_CHANNEL_MAX + 8];
    const char *data, *event = "message";
    size_t n;
    sb_json_err je;
    sb_request req;
    sb_msg *m;
    int rc;

    if (!ps || !ps->active)
        return sb_http_error(s, wsi, HTTP_STATUS_BAD_REQUEST, "unexpected body");
    ps->active = 0;
    if (ps->too_big) {
        snprintf(text, sizeof text, "body over %lu bytes", (unsigned long)sb_sse_max_body(s));
        return sb_http_error(s, wsi, HTTP_STATUS_REQ_ENTITY_TOO_LARGE, text);
    }
    if (ps->body.oom)
        return sb_http_error(s, wsi, HTTP_STATUS_INTERNAL_SERVER_ERROR, "out of memory");
    data = (const char *)sb_buf_data(&ps->body);
    n = ps->body.len;
    while (n && sb_is_space(*data)) {
        data++;
        n--;
    }
    while (n && sb_is_space(data[n - 1]))
        n--;
    if (!n || sb_json_check(data, n, SB_SSE_JSON_DEPTH, &je)) {
        snprintf(text, sizeof text, "invalid JSON at byte %lu: %s",
                 (unsigned long)(n ? je.pos : 0), n && je.msg ? je.msg : "empty body");
        return sb_http_error(s, wsi, HTTP_STATUS_BAD_REQUEST, text);
    }
    if (sb_request_get(wsi, "event", ev, sizeof ev)) {
        if (!sb_valid_event(ev))
            return sb_http_error(s, wsi, HTTP_STATUS_BAD_REQUEST,
                                 "event must be 1..64 bytes without control characters");
        event = ev;
    }
    snprintf(path, sizeof path, "/sse/%s", ps->channel);
    memset(&req, 0, sizeof req);
    req.wsi = wsi;
    req.path = path;
    req.kind = SB_KIND_SSE;
    reason[0] = '\0';
    rc = hooks->publish ? hooks->publish(hooks->ud, &req, ps->channel, event, data, n,
                                         reason, sizeof reason) : 0;
    if (rc)
        return sb_http_error(s, wsi, (unsigned)rc, reason[0] ? reason : "refused");
    m = sb_msg_new(ps->channel, strlen(ps->channel), event, strlen(event), data, n,
                   NULL, 0, NULL, 0, 0);
    rc = m ? sb_hub_publish(sb_server_hub(s), m, NULL, NULL, 0) : SB_ENOMEM;
    sb_msg_unref(m);
    sb_buf_free(&ps->body);
    if (rc < 0)
        return sb_http_error(s, wsi, rc == SB_ENOMEM ? 500 : 400, sb_hub_strerror(rc));
    sb_server_stats_of(s)->published++;
    snprintf(text, sizeof text, "{\"receivers\":%d}", rc);
    return sb_http_reply(s, wsi, 202, "application/json", text,
                         strlen(text), NULL);
}

int sb_sse_http(sb_server *s, struct lws *wsi, const char *path)
{
    const char *chan = path + 5;
    char *uri;
    int ulen, meth = lws_http_get_uri_and_method(wsi, &uri, &ulen);

    if (!sb_hub_valid_channel(chan, strlen(chan)))
        return sb_http_error(s, wsi, HTTP_STATUS_BAD_REQUEST,
                             "bad channel name: want 1..255 bytes of [A-Za-z0-9_.:@/-]");
    switch (meth) {
    case LWSHUMETH_GET:
        return sb_sse_stream(s, wsi, path, chan);
    case LWSHUMETH_POST:
        return sb_sse_post_start(s, wsi, chan);
    case LWSHUMETH_OPTIONS:
        /* CORS preflight of fetch-based clients (PROTOCOLS.md 3.5) */
        return sb_http_reply(s, wsi, HTTP_STATUS_NO_CONTENT, NULL, NULL, 0,
                             "Last-Event-ID, Content-Type, Authorization");
    default:
        return sb_http_error(s, wsi, HTTP_STATUS_METHOD_NOT_ALLOWED,
                             "use GET (stream) or POST (publish)");
    }
}

/* Counts channels with connections, for /metrics. */
static void sb_count_channel(const char *ch, size_t chlen, size_t members,
                             size_t conns, void *ud)
{
    (void)ch;
    (void)chlen;
    (void)members;
    (void)conns;
    (*(size_t *)ud)++;
}

static void sb_metric(sb_buf *b, const char *name, const char *type,
                      const char *help, uint64_t v)
{
    sb_buf_adds(b, "# HELP ");
    sb_buf_adds(b, name);
    sb_buf_addc(b, ' ');
    sb_buf_adds(b, help);
    sb_buf_adds(b, "\n# TYPE ");
    sb_buf_adds(b, name);
    sb_buf_addc(b, ' ');
    sb_buf_adds(b, type);
    sb_buf_addc(b, '\n');
    sb_buf_adds(b, name);
    sb_buf_addc(b, ' ');
    sb_buf_add_u64(b, v);
    sb_buf_addc(b, '\n');
}

int sb_metrics_http(sb_server *s, struct lws *wsi)
{
    static const char *const kinds[] = { "native", "phoenix", "sse" };
    sb_server_stats *st = sb_server_stats_of(s);
    size_t channels = 0, i;
    sb_hub_stats hs;
    sb_buf b;
    int rc;

    sb_hub_each_channel(sb_server_hub(s), sb_count_channel, &channels);
    sb_buf_init(&b, 0);
    sb_buf_adds(&b, "# HELP switchboard_connections Open connections by protocol.\n"
                    "# TYPE switchboard_connections gauge\n");
    for (i = 0; i < 3; i++) {
        sb_buf_adds(&b, "switchboard_connections{protocol=\"");
        sb_buf_adds(&b, kinds[i]);
        sb_buf_adds(&b, "\"} ");
        sb_buf_add_u64(&b, st->open[SB_KIND_NATIVE + i]);
        sb_buf_addc(&b, '\n');
    }
    sb_metric(&b, "switchboard_channels", "gauge",
              "Channels with at least one connection.", channels);
    sb_hub_get_stats(sb_server_hub(s), &hs);
    sb_metric(&b, "switchboard_idle_channels", "gauge",
              "Channels kept only for their history.", hs.idle_channels);
    sb_metric(&b, "switchboard_history_messages", "gauge",
              "Messages kept in channel histories.", hs.kept_messages);
    sb_metric(&b, "switchboard_messages_published_total", "counter",
              "Messages published by clients and POST /sse.", st->published);
    sb_metric(&b, "switchboard_messages_delivered_total", "counter",
              "Frames queued to connections.", st->delivered);
    sb_metric(&b, "switchboard_recoveries_total", "counter",
              "Resumes served from history.", st->recovered);
    sb_metric(&b, "switchboard_recovery_failures_total", "counter",
              "Resumes that got recovery-failed.", st->recovery_failed);
    sb_metric(&b, "switchboard_http_errors_total", "counter",
              "HTTP requests answered 4xx by /sse.", st->post_refused);
    rc = b.oom ? -1 : sb_http_reply(s, wsi, HTTP_STATUS_OK,
                                    "text/plain; version=0.0.4; charset=utf-8",
                                    (const char *)sb_buf_data(&b), b.len, NULL);
    sb_buf_free(&b);
    return rc;
}
