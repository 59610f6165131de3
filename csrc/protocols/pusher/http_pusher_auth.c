/* The Pusher auth endpoint (docs/pusher.md#the-auth-flow): pusher-js
 * POSTs socket_id and channel_name form-encoded to `auth_path` before it
 * subscribes to a private- or presence- channel.  The body is collected
 * here (a Content-Length, at most pusher_auth_max_body bytes, within the
 * handshake timeout, as the server API does) and handed to the app's
 * endpoint hook, whose Lua side (switchboard.pusher) asks the app's
 * authorize function and signs; its answer is the response. */
#include "ws_pusher.h"

#include <stdlib.h>
#include <string.h>

#include "net/http.h"

/* One request being received (the request's slot points at it). */
typedef struct sb_pusher_call {
    int active;          /* a body is being collected */
    int too_big;         /* the 413 went out; the body is drained */
    size_t seen;
    int64_t deadline;    /* ms: the whole body must be in by then */
    sb_buf body;
    char path[256];
} sb_pusher_call;

void sb_pusher_http_free(void **slot)
{
    sb_pusher_call *call = *slot;

    if (call) {
        sb_buf_free(&call->body);
        free(call);
        *slot = NULL;
    }
}

/* The app's answer with the body (form text, maybe empty). */
static int sb_pusher_http_run(sb_server *s, struct lws *wsi, sb_pusher_call *call)
{
    const sb_server_hooks *hooks = sb_server_hooks_of(s);
    sb_request req;
    sb_buf out;
    int status = 500, rc;

    memset(&req, 0, sizeof req);
    req.src = SB_REQSRC_LWS(wsi);
    req.path = call->path;
    req.protocol = sb_pusher_ops.name;
    sb_buf_init(&out, 0);
    if (hooks->endpoint)
        status = hooks->endpoint(hooks->ud, &req, (const char *)sb_buf_data(&call->body),
                                 call->body.len, &out);
    sb_buf_free(&call->body);
    if (out.oom || !out.len || status < 200 || status > 599) {
        sb_buf_free(&out);
        return sb_http_error(s, wsi, 500, "the auth endpoint gave no answer");
    }
    rc = sb_http_reply(s, wsi, (unsigned)status, "application/json",
                       (const char *)sb_buf_data(&out), out.len, NULL);
    sb_buf_free(&out);
    return rc;
}

/* POST: how much body comes, then collect it (or answer now if none). */
static int sb_pusher_http_start(sb_server *s, struct lws *wsi, const sb_pusher_server *ps,
                                const char *path, void **slot)
{
    char cl[32];
    unsigned long long len = 0;
    sb_pusher_call *call;

    sb_pusher_http_free(slot);
    if (!(call = calloc(1, sizeof *call)))
        return -1;
    *slot = call;
    sb_buf_init(&call->body, 0);
    strncpy(call->path, path, sizeof call->path - 1);
    if (lws_hdr_copy(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0)
        len = strtoull(cl, NULL, 10);
    else if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0)
        return sb_http_error(s, wsi, 411, "send the body with a Content-Length");
    if (!len)
        return sb_pusher_http_run(s, wsi, call);
    call->active = 1;
    call->deadline = sb_mono_ms() + 1000 * (int64_t)sb_server_config_of(s)->handshake_timeout;
    if (len > ps->auth_max_body) {
        /* say so while the caller still sends, and drain the rest */
        call->too_big = 1;
        return sb_http_error_now(s, wsi, 413, "auth request body too large");
    }
    return 0;
}

int sb_pusher_http(sb_server *s, void *state, struct lws *wsi, const char *path,
                   void **slot)
{
    const sb_pusher_server *ps = state;
    char *uri;
    int ulen;

    if (!ps || !ps->auth_path || strcmp(path, ps->auth_path) != 0)
        return SB_HTTP_PASS;
    switch (lws_http_get_uri_and_method(wsi, &uri, &ulen)) {
    case LWSHUMETH_POST:
        return sb_pusher_http_start(s, wsi, ps, path, slot);
    case LWSHUMETH_OPTIONS:
        /* a browser's preflight when the app adds headers to the request */
        return sb_http_reply(s, wsi, 204, "text/plain", "", 0, "content-type, authorization");
    default:
        return sb_http_error(s, wsi, 405, "the auth endpoint takes POST");
    }
}

int sb_pusher_http_body(sb_server *s, struct lws *wsi, void **slot, const void *in,
                        size_t len)
{
    const sb_pusher_server *ps = sb_server_proto_state(s, &sb_pusher_ops);
    sb_pusher_call *call = *slot;

    (void)wsi;
    if (!call || !call->active || !ps)
        return 0;
    if (sb_mono_ms() > call->deadline)
        return -1;
    call->seen += len;
    if (call->too_big)   /* drained so that the 413 can be read; not for ever */
        return call->seen > 16 * ps->auth_max_body + (1 << 20) ? -1 : 0;
    if (call->body.len + len > ps->auth_max_body)
        return -1;   /* more than its Content-Length said: hang up */
    sb_buf_add(&call->body, in, len);
    return 0;
}

int sb_pusher_http_body_done(sb_server *s, struct lws *wsi, void **slot)
{
    sb_pusher_call *call = *slot;

    if (!call || !call->active)
        return sb_http_error(s, wsi, 400, "unexpected body");
    call->active = 0;
    if (call->too_big)
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    if (call->body.oom)
        return sb_http_error(s, wsi, 500, "out of memory");
    return sb_pusher_http_run(s, wsi, call);
}
