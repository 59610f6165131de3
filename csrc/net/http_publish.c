/* POST /sse/<channel> (publish a JSON body) and GET /metrics on the
 * server's vhost, with the complete-response helpers (CORS, JSON errors)
 * that the SSE streams share. */
#include "http_publish.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/defaults.h"
#include "codec/json.h"
#include "protocols/sse/sse_request.h"

#define SB_SSE_JSON_DEPTH 64

/* A POST being received (lws per-request user data, zeroed by lws). */
typedef struct sb_sse_post {
    int active;
    int too_big;
    size_t seen;
    int64_t deadline;    /* ms: the whole body must be in by then */
    sb_buf body;
    char channel[SB_CHANNEL_MAX + 1];
} sb_sse_post;

static size_t sb_sse_max_body(sb_server *s)
{
    size_t n = sb_server_config_of(s)->sse.max_body;

    return n ? n : SB_DEFAULT_sse_max_body;
}

/* The Access-Control-Allow-Origin value for this request: "*", the
 * request's Origin when it is in the configured list, or none. */
sb_span sb_cors_origin(sb_server *s, struct lws *wsi, char *buf, int len)
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

int sb_add_hdr(struct lws *wsi, const char *name, const char *value,
               size_t n, unsigned char **p, unsigned char *end)
{
    return lws_add_http_header_by_name(wsi, (const unsigned char *)name,
                                       (const unsigned char *)value, (int)n, p, end);
}

/* A complete response with a known length (JSON errors, 202, metrics,
 * preflight); keeps the connection for the next request. */
int sb_http_reply(sb_server *s, struct lws *wsi, unsigned int status,
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
int sb_http_error(sb_server *s, struct lws *wsi, unsigned int status,
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

/* lws allocates the per-request state for every connection of the
 * protocol, WebSockets included, and keeps it as long as they live: so it
 * is only a pointer, and the POST state is allocated when a POST starts
 * (a WebSocket would otherwise carry ~300 unused bytes). */
size_t sb_sse_post_state_size(void)
{
    return sizeof(sb_sse_post *);
}

static sb_sse_post *sb_post_of(void *slot)
{
    return slot ? *(sb_sse_post **)slot : NULL;
}

void sb_sse_post_free(void *slot)
{
    sb_sse_post *ps = sb_post_of(slot);

    if (ps) {
        sb_buf_free(&ps->body);
        free(ps);
        *(sb_sse_post **)slot = NULL;
    }
}

/* POST /sse/<channel>: remember the channel, refuse early what cannot be
 * valid, and collect the body (sb_sse_post_body). */
int sb_sse_post_start(sb_server *s, struct lws *wsi, const char *chan)
{
    void *slot = lws_wsi_user(wsi);
    sb_sse_post *ps;
    char cl[32];
    unsigned long long len;

    if (!slot)
        return -1;
    sb_sse_post_free(slot);
    if (!(ps = calloc(1, sizeof *ps)))
        return -1;
    *(sb_sse_post **)slot = ps;
    if (lws_hdr_copy(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0)
        return sb_http_error(s, wsi, 411, "a JSON body with Content-Length is required");
    len = strtoull(cl, NULL, 10);
    if (len == 0)
        return sb_http_error(s, wsi, HTTP_STATUS_BAD_REQUEST, "empty body: send JSON");
    ps->active = 1;
    /* lws re-arms its body timeout at every part, so a client trickling
     * a byte at a time would hold the connection for ever: bound the
     * whole body by the handshake timeout too */
    ps->deadline = sb_mono_ms() + 1000 * (int64_t)sb_server_config_of(s)->handshake_timeout;
    ps->too_big = len > sb_sse_max_body(s);
    sb_buf_init(&ps->body, 0);
    snprintf(ps->channel, sizeof ps->channel, "%s", chan);
    return 0;
}

int sb_sse_post_body(sb_server *s, struct lws *wsi, void *state,
                     const void *in, size_t len)
{
    sb_sse_post *ps = sb_post_of(state);
    size_t max = sb_sse_max_body(s);

    (void)wsi;
    if (!ps || !ps->active)
        return 0;
    if (sb_mono_ms() > ps->deadline)
        return -1;
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

int sb_sse_post_done(sb_server *s, struct lws *wsi, void *state)
{
    sb_sse_post *ps = sb_post_of(state);
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
        if (!sb_sse_valid_event(ev, strlen(ev)))
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
