/* The server API's endpoint (http_api.h).  A request's route and key come
 * from its head (proto_api.c); the app says whether the key may call the
 * method before a byte of the body is read; then the body is collected
 * (a Content-Length, at most api_max_body bytes, all of it within the
 * handshake timeout, as POST /sse does), checked as JSON and handed to the
 * app, whose answer is the response.  Every refusal, the app's included,
 * is {"error":{"code":...,"message":...}} (docs/api.md#errors).  A
 * call whose answer needs the cluster is held (api_held.c). */
#include "api_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/defaults.h"
#include "base/str.h"
#include "net/http.h"
#include "net/server.h"

#define SB_API_JSON_DEPTH 64

static int sb_api_start_server(sb_server *s, void **state)
{
    const sb_options *o = sb_server_config_of(s)->options;
    const char *prefix = sb_options_string(o, "api_prefix");
    sb_api_server *t;

    *state = NULL;
    if (!prefix)
        return 0;   /* no API on this server */
    if (!(t = calloc(1, sizeof *t)) || !(t->prefix = sb_memdup(prefix, strlen(prefix)))) {
        free(t);
        return -1;
    }
    t->max_body = (size_t)sb_options_size(o, "api_max_body", SB_DEFAULT_api_max_body);
    t->timeout_ms = (int64_t)(1000 * sb_options_size(o, "api_timeout", SB_DEFAULT_api_timeout));
    if (t->timeout_ms < 1)
        t->timeout_ms = 1;
    *state = t;
    return 0;
}

static void sb_api_stop_server(sb_server *s, void *state)
{
    (void)s;
    if (state)
        sb_api_held_stop(state);
}

static void sb_api_free_server(void *state)
{
    sb_api_server *t = state;

    if (t) {
        sb_api_held_stop(t);
        free(t->prefix);
    }
    free(t);
}

static void sb_api_free_call(void **slot)
{
    sb_api_call *call = *slot;

    if (call) {
        sb_api_unhold(call);   /* held: its client went first */
        sb_buf_free(&call->body);
        sb_buf_free(&call->answer);
        free(call);
        *slot = NULL;
    }
}

/* A refusal; now = 1 writes it before the body is drained (the caller
 * then ends the transaction once it is). */
static int sb_api_refuse(sb_server *s, struct lws *wsi, unsigned status,
                         const char *code, const char *message, int now)
{
    sb_buf b;
    int rc;

    sb_buf_init(&b, 0);
    sb_api_error_body(&b, code, message);
    if (b.oom)
        rc = -1;
    else if (now)
        rc = sb_http_reply_now(s, wsi, status, "application/json",
                               (const char *)sb_buf_data(&b), b.len);
    else
        rc = sb_http_reply(s, wsi, status, "application/json",
                           (const char *)sb_buf_data(&b), b.len, NULL);
    sb_buf_free(&b);
    return rc;
}

/* An answer the app wrote into out (its status, JSON), or a 500 when it
 * wrote nothing or memory ran out. */
int sb_api_answer(sb_server *s, struct lws *wsi, int status, sb_buf *out)
{
    int rc;

    if (out->oom || !out->len || status < 200 || status > 599) {
        sb_buf_free(out);
        return sb_api_refuse(s, wsi, 500, "internal", "the API handler gave no answer", 0);
    }
    rc = sb_http_reply(s, wsi, (unsigned)status, "application/json",
                       (const char *)sb_buf_data(out), out->len, NULL);
    sb_buf_free(out);
    return rc;
}

/* The key of the request into call->key: SB_API_KEY_* (proto_api.h). */
static int sb_api_read_key(struct lws *wsi, sb_api_call *call)
{
    char auth[SB_API_KEY_MAX + 16], xkey[SB_API_KEY_MAX + 2];
    sb_span a = sb_span_of(NULL, 0), x = sb_span_of(NULL, 0), key;
    int n, rc;

    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION) > 0) {
        n = lws_hdr_copy(wsi, auth, sizeof auth, WSI_TOKEN_HTTP_AUTHORIZATION);
        /* too long for a key: present, and refused as bad */
        a = n > 0 ? sb_span_of(auth, (size_t)n) : sb_span_of("apikey  ", 8);
    }
    if (lws_hdr_custom_length(wsi, "x-api-key:", 10) >= 0) {
        n = lws_hdr_custom_copy(wsi, xkey, sizeof xkey, "x-api-key:", 10);
        x = sb_span_of(n > 0 ? xkey : "", n > 0 ? (size_t)n : 0);
    }
    rc = sb_api_key(a, x, &key);
    if (rc == SB_API_KEY_OK) {
        memcpy(call->key, key.p, key.n);
        call->key[key.n] = '\0';
    }
    return rc;
}

/* The app's verdict on (method, key) before the body: 0 go on, else the
 * refusal went out. */
static int sb_api_ask(sb_server *s, struct lws *wsi, sb_api_call *call, int *rc)
{
    const sb_server_hooks *hooks = sb_server_hooks_of(s);
    sb_buf out;
    int status;

    if (!hooks->api_auth || !hooks->api) {
        *rc = sb_api_refuse(s, wsi, 404, "unknown_method", "this server has no API", 0);
        return 1;
    }
    sb_buf_init(&out, 0);
    status = hooks->api_auth(hooks->ud, call->method, call->key, &out);
    if (!status) {
        sb_buf_free(&out);
        return 0;
    }
    *rc = sb_api_answer(s, wsi, status, &out);
    return 1;
}

/* Runs the call with its body (trimmed; none means {}).  The app
 * answers now, or holds it (SB_API_HELD) to answer by its ticket. */
static int sb_api_run(sb_server *s, struct lws *wsi, sb_api_call *call,
                      const char *data, size_t n)
{
    const sb_server_hooks *hooks = sb_server_hooks_of(s);
    sb_api_server *t = sb_server_proto_state(s, &sb_api_ops);
    char text[160];
    sb_json_err je;
    sb_buf out;
    int status;

    while (n && strchr(" \t\r\n", *data)) {
        data++;
        n--;
    }
    while (n && strchr(" \t\r\n", data[n - 1]))
        n--;
    if (!n) {
        data = "{}";
        n = 2;
    }
    if (sb_json_check(data, n, SB_API_JSON_DEPTH, &je)) {
        snprintf(text, sizeof text, "invalid JSON at byte %lu: %s",
                 (unsigned long)je.pos, je.msg ? je.msg : "?");
        return sb_api_refuse(s, wsi, 400, "bad_json", text, 0);
    }
    sb_buf_init(&out, 0);
    call->ticket = t ? ++t->last_ticket : 0;
    status = hooks->api(hooks->ud, call->method, call->key, data, n, call->ticket, &out);
    /* before the answer: completing the transaction may free call */
    sb_buf_free(&call->body);
    if (status == SB_API_HELD && t) {
        sb_buf_free(&out);
        return sb_api_hold(t, call, wsi);
    }
    return sb_api_answer(s, wsi, status, &out);
}

/* How much body comes: 0 none, 1 some (*len), or -1 when the refusal
 * went out (*rc). */
static int sb_api_length(sb_server *s, struct lws *wsi, unsigned long long *len, int *rc)
{
    char cl[32];

    *len = 0;
    if (lws_hdr_copy(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0) {
        *len = strtoull(cl, NULL, 10);
        return *len > 0;
    }
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0) {
        *rc = sb_api_refuse(s, wsi, 411, "length_required",
                            "send the body with a Content-Length", 0);
        return -1;
    }
    return 0;
}

static int sb_api_too_big(sb_server *s, struct lws *wsi, size_t max, int now)
{
    char text[64];

    snprintf(text, sizeof text, "body over %lu bytes", (unsigned long)max);
    return sb_api_refuse(s, wsi, 413, "body_too_large", text, now);
}

/* POST <prefix>/<method>: key, the app's verdict, then the body. */
static int sb_api_start(sb_server *s, struct lws *wsi, const sb_api_server *t,
                        sb_span method, void **slot)
{
    unsigned long long len;
    sb_api_call *call;
    int rc = 0, more;

    sb_api_free_call(slot);
    if (!(call = calloc(1, sizeof *call)))
        return -1;
    *slot = call;
    sb_buf_init(&call->body, 0);
    sb_buf_init(&call->answer, 0);
    memcpy(call->method, method.p, method.n);
    switch (sb_api_read_key(wsi, call)) {
    case SB_API_KEY_MISSING:
        return sb_api_refuse(s, wsi, 401, "unauthorized",
                             "an API key is required: X-API-Key: <key> or "
                             "Authorization: apikey <key>", 0);
    case SB_API_KEY_BAD:
        return sb_api_refuse(s, wsi, 401, "unauthorized", "invalid API key", 0);
    default:
        break;
    }
    if (sb_api_ask(s, wsi, call, &rc))
        return rc;
    if ((more = sb_api_length(s, wsi, &len, &rc)) <= 0)
        return more < 0 ? rc : sb_api_run(s, wsi, call, "", 0);
    call->active = 1;
    /* the same bound as POST /sse: lws re-arms its body timeout at every
     * part, so a caller trickling a byte at a time would hold on */
    call->deadline = sb_mono_ms() + 1000 * (int64_t)sb_server_config_of(s)->handshake_timeout;
    if (len > t->max_body) {
        /* say so while the caller is still sending, and drain the rest */
        call->too_big = call->answered = 1;
        return sb_api_too_big(s, wsi, t->max_body, 1);
    }
    return 0;
}

static int sb_api_http(sb_server *s, void *state, struct lws *wsi, const char *path,
                       void **slot)
{
    const sb_api_server *t = state;
    sb_span method;
    char *uri;
    int ulen;

    if (!t)
        return SB_HTTP_PASS;
    switch (sb_api_route(sb_span_str(path), sb_span_str(t->prefix), &method)) {
    case SB_API_NOT_OURS:
        return SB_HTTP_PASS;
    case SB_API_NO_METHOD:
        return sb_api_refuse(s, wsi, 404, "unknown_method",
                             "no such method (POST <prefix>/<method>, docs/api.md)", 0);
    default:
        break;
    }
    if (lws_http_get_uri_and_method(wsi, &uri, &ulen) != LWSHUMETH_POST)
        return sb_api_refuse(s, wsi, 405, "method_not_allowed",
                             "API methods are called with POST", 0);
    return sb_api_start(s, wsi, t, method, slot);
}

static int sb_api_body(sb_server *s, struct lws *wsi, void **slot,
                       const void *in, size_t len)
{
    const sb_api_server *t = sb_server_proto_state(s, &sb_api_ops);
    sb_api_call *call = *slot;

    (void)wsi;
    if (!call || !call->active || !t)
        return 0;
    if (sb_mono_ms() > call->deadline)
        return -1;
    call->seen += len;
    if (call->too_big || call->body.len + len > t->max_body) {
        /* drained so that the 413 can be read; not for ever */
        call->too_big = 1;
        sb_buf_free(&call->body);
        return call->seen > 16 * t->max_body + (1 << 20) ? -1 : 0;
    }
    sb_buf_add(&call->body, in, len);
    return 0;
}

static int sb_api_body_done(sb_server *s, struct lws *wsi, void **slot)
{
    const sb_api_server *t = sb_server_proto_state(s, &sb_api_ops);
    sb_api_call *call = *slot;

    if (!call || !call->active || !t)
        return sb_api_refuse(s, wsi, 400, "bad_request", "unexpected body", 0);
    call->active = 0;
    if (call->answered)
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    if (call->too_big)
        return sb_api_too_big(s, wsi, t->max_body, 0);
    if (call->body.oom)
        return sb_api_refuse(s, wsi, 500, "internal", "out of memory", 0);
    return sb_api_run(s, wsi, call, (const char *)sb_buf_data(&call->body), call->body.len);
}

/* Only HTTP requests: nothing routes a WebSocket here, so the
 * connection callbacks are never reached and stay out of the table. */
const sb_proto_ops sb_api_ops = {
    .name = "api",
    .server_start = sb_api_start_server,
    .server_stop = sb_api_stop_server,
    .server_free = sb_api_free_server,
    .http = sb_api_http,
    .http_body = sb_api_body,
    .http_body_done = sb_api_body_done,
    .http_free = sb_api_free_call,
    .http_held_writeable = sb_api_held_writeable,
};
