/* Complete HTTP responses on the server's vhost (JSON errors, CORS) and
 * GET /metrics.  Streams and protocol endpoints build on these. */
#include "http.h"
#include "http_static.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The Access-Control-Allow-Origin value for this request: "*", the
 * request's Origin when it is in the configured list, or none. */
sb_span sb_cors_origin(sb_server *s, struct lws *wsi, char *buf, int len)
{
    const char *cors = sb_server_config_of(s)->cors, *p;
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

/* Writes a whole response with a known length; the transaction stays
 * open (sb_http_reply ends it).  0, or -1 to close. */
static int sb_http_write(sb_server *s, struct lws *wsi, unsigned int status,
                         const char *type, const char *body, size_t n,
                         const char *extra)
{
    unsigned char hdr[LWS_PRE + 1024], *start = hdr + LWS_PRE, *p = start,
                  *end = hdr + sizeof hdr - 1;
    char origin[256];
    sb_span o = sb_cors_origin(s, wsi, origin, sizeof origin);
    sb_buf b;
    int rc;

    if (sb_http_head(wsi, status, type, n, &p, end) ||
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
    return 0;
}

/* A complete response with a known length (JSON errors, 202, metrics,
 * preflight); keeps the connection for the next request. */
int sb_http_reply(sb_server *s, struct lws *wsi, unsigned int status,
                  const char *type, const char *body, size_t n,
                  const char *extra)
{
    if (sb_http_write(s, wsi, status, type, body, n, extra))
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

int sb_http_reply_now(sb_server *s, struct lws *wsi, unsigned int status,
                      const char *type, const char *body, size_t n)
{
    return sb_http_write(s, wsi, status, type, body, n, NULL);
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
    sb_http_error_body(&b, text);
    rc = b.oom ? -1 : sb_http_reply(s, wsi, status, "application/json",
                                    (const char *)sb_buf_data(&b), b.len, NULL);
    sb_buf_free(&b);
    return rc;
}

/* {"error":"<text>"} at once, before the request body has been read: a
 * client that announced too big a body hears the refusal while it sends,
 * and the caller ends the transaction once the body is drained. */
int sb_http_error_now(sb_server *s, struct lws *wsi, unsigned int status,
                      const char *text)
{
    sb_buf b;
    int rc;

    sb_server_stats_of(s)->post_refused++;
    sb_buf_init(&b, 0);
    sb_http_error_body(&b, text);
    rc = b.oom ? -1 : sb_http_write(s, wsi, status, "application/json",
                                    (const char *)sb_buf_data(&b), b.len, NULL);
    sb_buf_free(&b);
    return rc;
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
    const sb_proto_ops *ops;
    sb_server_stats *st = sb_server_stats_of(s);
    size_t channels = 0;
    int i;
    sb_hub_stats hs;
    sb_buf b;
    int rc;

    sb_hub_each_channel(sb_server_hub(s), sb_count_channel, &channels);
    sb_buf_init(&b, 0);
    sb_buf_adds(&b, "# HELP switchboard_connections Open connections by protocol.\n"
                    "# TYPE switchboard_connections gauge\n");
    for (i = 0; (ops = sb_server_protocol(s, i)) != NULL; i++) {
        if (!ops->open)
            continue;   /* HTTP endpoints only (the server API): no connections */
        sb_buf_adds(&b, "switchboard_connections{protocol=\"");
        sb_buf_adds(&b, ops->name);
        if (ops->transport) {
            /* Phoenix over LongPoll: a series of its own */
            sb_buf_adds(&b, "\",transport=\"");
            sb_buf_adds(&b, ops->transport);
        }
        sb_buf_adds(&b, "\"} ");
        sb_buf_add_u64(&b, st->open[i]);
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
    if (sb_server_hooks_of(s)->metrics)
        sb_server_hooks_of(s)->metrics(sb_server_hooks_of(s)->ud, &b);
    rc = b.oom ? -1 : sb_http_reply(s, wsi, HTTP_STATUS_OK,
                                    "text/plain; version=0.0.4; charset=utf-8",
                                    (const char *)sb_buf_data(&b), b.len, NULL);
    sb_buf_free(&b);
    return rc;
}
