/* The Pusher HTTP API's endpoint (http_pusher_api.h).  A request under
 * /apps/ is ours; another app id is a 404 at once; the query is kept
 * from the head, the body (a Content-Length, all of it within the
 * handshake timeout, as POST /sse and the server API read theirs) is
 * collected, and then the signature decides: a refusal is a line of
 * text with 400 or 401, as Pusher answers them (its libraries surface
 * the status and the text), and a signed request goes to the app. */
#include "http_pusher_api.h"
#include "proto_pusher_api.h"

#include <stdlib.h>
#include <string.h>

#include "base/str.h"
#include "net/http.h"
#include "net/server.h"

typedef struct sb_pusher_server {
    char *app_id, *key, *secret;
} sb_pusher_server;

/* One request being received (the request's slot points at it). */
typedef struct sb_pusher_call {
    int post;
    int active;          /* a body is being collected */
    int too_big;
    int answered;        /* the 413 went out before the body was read */
    size_t seen;
    int64_t deadline;    /* ms: the whole body must be in by then */
    sb_buf body;
    char path[1024];
    size_t nparams;
    sb_pusher_param params[SB_PUSHER_MAX_PARAMS + 1];
    char query[4608];    /* the parameters' bytes: lws keeps 4096 of a URI */
} sb_pusher_call;

static char *sb_opt_dup(const sb_options *o, const char *key)
{
    const char *v = sb_options_string(o, key);

    return v ? sb_memdup(v, strlen(v)) : NULL;
}

static void sb_pusher_free_server(void *state)
{
    sb_pusher_server *t = state;

    if (t) {
        free(t->app_id);
        free(t->key);
        free(t->secret);
    }
    free(t);
}

static int sb_pusher_start_server(sb_server *s, void **state)
{
    const sb_options *o = sb_server_config_of(s)->options;
    sb_pusher_server *t;

    *state = NULL;
    if (!sb_options_string(o, "pusher_app_id"))
        return 0;   /* no Pusher app on this server */
    if (!(t = calloc(1, sizeof *t)))
        return -1;
    t->app_id = sb_opt_dup(o, "pusher_app_id");
    t->key = sb_opt_dup(o, "pusher_key");
    t->secret = sb_opt_dup(o, "pusher_secret");
    if (!t->app_id || !t->key || !t->secret) {
        sb_pusher_free_server(t);
        return -1;
    }
    *state = t;
    return 0;
}

static void sb_pusher_free_call(void **slot)
{
    sb_pusher_call *call = *slot;

    if (call) {
        sb_buf_free(&call->body);
        free(call);
        *slot = NULL;
    }
}

/* A line of text with a status; now = 1 writes it before the body is
 * drained (the caller then ends the transaction once it is). */
static int sb_pusher_refuse(sb_server *s, struct lws *wsi, unsigned status,
                            const char *text, size_t n, int now)
{
    if (now)
        return sb_http_reply_now(s, wsi, status, "text/plain; charset=utf-8", text, n);
    return sb_http_reply(s, wsi, status, "text/plain; charset=utf-8", text, n, NULL);
}

static int sb_pusher_refuses(sb_server *s, struct lws *wsi, unsigned status, const char *text)
{
    return sb_pusher_refuse(s, wsi, status, text, strlen(text), 0);
}

/* The query's parameters into call, as sb_request_arg splits them. */
static void sb_pusher_read_query(struct lws *wsi, sb_pusher_call *call)
{
    size_t used = 0, room;
    const char *v;
    int i, n;

    for (i = 0; call->nparams <= SB_PUSHER_MAX_PARAMS; i++) {
        room = sizeof call->query - used;
        if (room < 2)
            break;
        n = sb_request_arg(SB_REQSRC_LWS(wsi), i, call->query + used, (int)room, &v);
        if (n < 0)
            break;
        if (!call->query[used])
            continue;   /* empty, or too long to keep: unsigned, so refused */
        call->params[call->nparams].key = sb_span_str(call->query + used);
        call->params[call->nparams].value = sb_span_str(v);
        call->nparams++;
        used += (size_t)n + 1;
    }
}

/* {"key":"value",...} of the parameters that are not auth_*. */
static void sb_pusher_params_json(const sb_pusher_call *call, sb_buf *b)
{
    size_t i, k;
    int first = 1;

    sb_buf_addc(b, '{');
    for (i = 0; i < call->nparams; i++) {
        const sb_pusher_param *p = &call->params[i];
        char key[64];
        if (p->key.n >= sizeof key || (p->key.n >= 5 && !strncmp(p->key.p, "auth_", 5)) ||
            (p->key.n == 8 && !strncmp(p->key.p, "body_md5", 8)))
            continue;
        for (k = 0; k < p->key.n; k++)
            key[k] = (p->key.p[k] >= 'A' && p->key.p[k] <= 'Z') ? (char)(p->key.p[k] + 32) : p->key.p[k];
        if (!first)
            sb_buf_addc(b, ',');
        first = 0;
        sb_buf_add_json_string(b, key, p->key.n);
        sb_buf_addc(b, ':');
        sb_buf_add_json_string(b, p->value.p, p->value.n);
    }
    sb_buf_addc(b, '}');
}

/* The app's answer: JSON for a 2xx, else text; a 500 when it gave none. */
static int sb_pusher_answer(sb_server *s, struct lws *wsi, int status, sb_buf *out)
{
    int rc;

    if (out->oom || !out->len || status < 200 || status > 599) {
        sb_buf_free(out);
        return sb_pusher_refuses(s, wsi, 500, "Internal error: the API handler gave no answer");
    }
    rc = sb_http_reply(s, wsi, (unsigned)status,
                       status < 300 ? "application/json" : "text/plain; charset=utf-8",
                       (const char *)sb_buf_data(out), out->len, NULL);
    sb_buf_free(out);
    return rc;
}

/* The signature, then the app, with the whole request in call. */
static int sb_pusher_run(sb_server *s, struct lws *wsi, const sb_pusher_server *t,
                         sb_pusher_call *call)
{
    const sb_server_hooks *hooks = sb_server_hooks_of(s);
    const char *method = call->post ? "POST" : "GET";
    sb_pusher_request r;
    sb_span app, rest;
    sb_buf why, params, out;
    int v, status;

    r.method = sb_span_str(method);
    r.path = sb_span_str(call->path);
    r.params = call->params;
    r.nparams = call->nparams;
    r.body = sb_span_of((const char *)sb_buf_data(&call->body), call->body.len);
    sb_buf_init(&why, 0);
    v = sb_pusher_verify(&r, sb_span_str(t->key), sb_span_str(t->secret),
                         (double)sb_now_ms() / 1000, &why);
    if (v != SB_PUSHER_OK || why.oom) {
        int rc = sb_pusher_refuse(s, wsi, why.oom ? 500 : (unsigned)v,
                                  why.oom ? "out of memory" : (const char *)sb_buf_data(&why),
                                  why.oom ? 13 : why.len, 0);
        sb_buf_free(&why);
        return rc;
    }
    sb_buf_free(&why);
    if (!hooks->pusher_api)
        return sb_pusher_refuses(s, wsi, 404, "Not found: this server has no Pusher API");
    sb_pusher_api_route(r.path, &app, &rest);
    sb_buf_init(&params, 0);
    sb_pusher_params_json(call, &params);
    sb_buf_init(&out, 0);
    status = params.oom ? 500
        : hooks->pusher_api(hooks->ud, method, rest.p, (const char *)sb_buf_data(&params),
                            params.len, r.body.p, r.body.n, &out);
    sb_buf_free(&params);
    /* before the answer: completing the transaction may free call */
    sb_buf_free(&call->body);
    return sb_pusher_answer(s, wsi, status, &out);
}

/* How much body comes: 0 none, 1 some (*len), or -1 when the refusal
 * went out (*rc). */
static int sb_pusher_length(sb_server *s, struct lws *wsi, unsigned long long *len, int *rc)
{
    char cl[32];

    *len = 0;
    if (lws_hdr_copy(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0) {
        *len = strtoull(cl, NULL, 10);
        return *len > 0;
    }
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0) {
        *rc = sb_pusher_refuses(s, wsi, 411, "Length required: send the body with a Content-Length");
        return -1;
    }
    return 0;
}

static int sb_pusher_start(sb_server *s, struct lws *wsi, const sb_pusher_server *t,
                           const char *path, int post, void **slot)
{
    unsigned long long len;
    sb_pusher_call *call;
    size_t plen = strlen(path);
    int rc = 0, more;

    sb_pusher_free_call(slot);
    if (plen >= sizeof call->path)
        return sb_pusher_refuses(s, wsi, 414, "URI too long");
    if (!(call = calloc(1, sizeof *call)))
        return -1;
    *slot = call;
    sb_buf_init(&call->body, 0);
    memcpy(call->path, path, plen + 1);
    call->post = post;
    sb_pusher_read_query(wsi, call);
    if ((more = sb_pusher_length(s, wsi, &len, &rc)) <= 0)
        return more < 0 ? rc : sb_pusher_run(s, wsi, t, call);
    call->active = 1;
    call->deadline = sb_mono_ms() + 1000 * (int64_t)sb_server_config_of(s)->handshake_timeout;
    if (len > SB_PUSHER_MAX_BODY) {
        call->too_big = call->answered = 1;
        return sb_pusher_refuse(s, wsi, 413, "Request Entity Too Large", 24, 1);
    }
    return 0;
}

static int sb_pusher_http(sb_server *s, void *state, struct lws *wsi, const char *path,
                          void **slot)
{
    const sb_pusher_server *t = state;
    sb_span app, rest;
    char *uri;
    int ulen, m;

    if (!t || sb_pusher_api_route(sb_span_str(path), &app, &rest) != SB_PUSHER_APP)
        return SB_HTTP_PASS;
    if (app.n != strlen(t->app_id) || memcmp(app.p, t->app_id, app.n) != 0)
        return sb_pusher_refuses(s, wsi, 404, "Unknown app: no app has this id here");
    m = lws_http_get_uri_and_method(wsi, &uri, &ulen);
    if (m != LWSHUMETH_GET && m != LWSHUMETH_POST)
        return sb_pusher_refuses(s, wsi, 405, "Method not allowed: GET or POST");
    return sb_pusher_start(s, wsi, t, path, m == LWSHUMETH_POST, slot);
}

static int sb_pusher_body(sb_server *s, struct lws *wsi, void **slot,
                          const void *in, size_t len)
{
    sb_pusher_call *call = *slot;

    (void)s;
    (void)wsi;
    if (!call || !call->active)
        return 0;
    if (sb_mono_ms() > call->deadline)
        return -1;
    call->seen += len;
    if (call->too_big || call->body.len + len > SB_PUSHER_MAX_BODY) {
        /* drained so that the 413 can be read; not for ever */
        call->too_big = 1;
        sb_buf_free(&call->body);
        return call->seen > 4 * SB_PUSHER_MAX_BODY ? -1 : 0;
    }
    sb_buf_add(&call->body, in, len);
    return 0;
}

static int sb_pusher_body_done(sb_server *s, struct lws *wsi, void **slot)
{
    const sb_pusher_server *t = sb_server_proto_state(s, &sb_pusher_api_ops);
    sb_pusher_call *call = *slot;

    if (!call || !call->active || !t)
        return sb_pusher_refuses(s, wsi, 400, "Bad request: unexpected body");
    call->active = 0;
    if (call->answered)
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    if (call->too_big)
        return sb_pusher_refuses(s, wsi, 413, "Request Entity Too Large");
    if (call->body.oom)
        return sb_pusher_refuses(s, wsi, 500, "Internal error: out of memory");
    return sb_pusher_run(s, wsi, t, call);
}

/* Only HTTP requests, like the server API (protocols/api). */
const sb_proto_ops sb_pusher_api_ops = {
    .name = "pusher_api",
    .server_start = sb_pusher_start_server,
    .server_free = sb_pusher_free_server,
    .http = sb_pusher_http,
    .http_body = sb_pusher_body,
    .http_body_done = sb_pusher_body_done,
    .http_free = sb_pusher_free_call,
};
