/* POST /sse/<channel>: publish a JSON body to a channel (any backend
 * with curl can reach every protocol's clients this way). */
#include "http_sse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/defaults.h"
#include "codec/json.h"
#include "net/http.h"
#include "sse_request.h"

#define SB_SSE_JSON_DEPTH 64

/* A POST being received (the request's slot in the server's lws
 * per-request data points at it). */
typedef struct sb_sse_post {
    int active;
    int too_big;
    int answered;        /* the 413 went out before the body was read */
    size_t seen;
    int64_t deadline;    /* ms: the whole body must be in by then */
    sb_buf body;
    char channel[SB_CHANNEL_MAX + 1];
} sb_sse_post;

void sb_sse_post_free(void **slot)
{
    sb_sse_post *ps = *slot;

    if (ps) {
        sb_buf_free(&ps->body);
        free(ps);
        *slot = NULL;
    }
}

/* POST /sse/<channel>: remember the channel, refuse early what cannot be
 * valid, and collect the body (sb_sse_post_body). */
/* The 413 for a body over sse.max_body: written at once (the transaction
 * stays open while the body drains), or as the complete answer. */
static int sb_sse_post_too_big(sb_server *s, struct lws *wsi, int now)
{
    char text[64];

    snprintf(text, sizeof text, "body over %lu bytes", (unsigned long)sb_sse_max_body(s));
    return now ? sb_http_error_now(s, wsi, HTTP_STATUS_REQ_ENTITY_TOO_LARGE, text)
               : sb_http_error(s, wsi, HTTP_STATUS_REQ_ENTITY_TOO_LARGE, text);
}

int sb_sse_post_start(sb_server *s, struct lws *wsi, const char *chan, void **slot)
{
    sb_sse_post *ps;
    char cl[32], key[64];
    unsigned long long len;

    sb_sse_post_free(slot);
    if (!(ps = calloc(1, sizeof *ps)))
        return -1;
    *slot = ps;
    /* the same rule as the handshakes (net/accept.c): ?event=a&event=b */
    if (sb_request_repeated(SB_REQSRC_LWS(wsi), key, sizeof key)) {
        char text[96];

        snprintf(text, sizeof text, "query parameter '%s' given twice", key);
        return sb_http_error(s, wsi, HTTP_STATUS_BAD_REQUEST, text);
    }
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
    if (ps->too_big) {
        /* announced too big: say so now, while the client is still
         * sending (a 50 MB body would otherwise be read for seconds, and
         * then cut), and drain what it sends meanwhile */
        ps->answered = 1;
        return sb_sse_post_too_big(s, wsi, 1);
    }
    return 0;
}

int sb_sse_post_body(sb_server *s, struct lws *wsi, void **slot,
                     const void *in, size_t len)
{
    sb_sse_post *ps = *slot;
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

/* The app's publish hook, then the hub: answers 202 {"receivers":N}, or
 * the app's refusal, or the hub's error. */
static int sb_sse_post_publish(sb_server *s, struct lws *wsi, sb_sse_post *ps,
                               const char *event, const char *data, size_t n)
{
    const sb_server_hooks *hooks = sb_server_hooks_of(s);
    char reason[256], text[64], path[SB_CHANNEL_MAX + 8];
    sb_request req;
    sb_msg *m;
    int rc;

    snprintf(path, sizeof path, "/sse/%s", ps->channel);
    memset(&req, 0, sizeof req);
    req.src = SB_REQSRC_LWS(wsi);
    req.path = path;
    req.protocol = sb_sse_ops.name;
    reason[0] = '\0';
    rc = hooks->publish ? hooks->publish(hooks->ud, &req, ps->channel, event, data, n,
                                         reason, sizeof reason) : 0;
    if (rc)
        return sb_http_error(s, wsi, (unsigned)rc, reason[0] ? reason : "refused");
    m = sb_msg_new(ps->channel, strlen(ps->channel), event, strlen(event), data, n,
                   NULL, 0, NULL, 0, 0);
    rc = m ? sb_hub_publish(sb_server_hub(s), m, NULL, NULL, 0) : SB_ENOMEM;
    sb_msg_unref(m);
    /* before the answer: completing the transaction may free ps */
    sb_buf_free(&ps->body);
    if (rc < 0)
        return sb_http_error(s, wsi, rc == SB_ENOMEM ? 500 : 400, sb_hub_strerror(rc));
    sb_server_stats_of(s)->published++;
    snprintf(text, sizeof text, "{\"receivers\":%d}", rc);
    return sb_http_reply(s, wsi, 202, "application/json", text,
                         strlen(text), NULL);
}

/* The whole body is in: size, JSON and ?event= checks, then publish. */
int sb_sse_post_done(sb_server *s, struct lws *wsi, void **slot)
{
    sb_sse_post *ps = *slot;
    char ev[SB_SSE_EVENT_MAX + 2], text[160];
    const char *data, *event = "message";
    size_t n;
    sb_json_err je;

    if (!ps || !ps->active)
        return sb_http_error(s, wsi, HTTP_STATUS_BAD_REQUEST, "unexpected body");
    ps->active = 0;
    if (ps->answered)
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    if (ps->too_big)
        return sb_sse_post_too_big(s, wsi, 0);
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
    if (sb_request_get(SB_REQSRC_LWS(wsi), "event", ev, sizeof ev)) {
        if (!sb_sse_valid_event(ev, strlen(ev)))
            return sb_http_error(s, wsi, HTTP_STATUS_BAD_REQUEST,
                                 "event must be 1..64 bytes without control characters");
        event = ev;
    }
    return sb_sse_post_publish(s, wsi, ps, event, data, n);
}

