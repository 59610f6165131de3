/* Outgoing HTTP requests (http_client.h): a lookup through libuv, then
 * one lws client connection on a vhost of their own per loop, found by
 * name, so the loop keeps no field for it. */
#include "http_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/str.h"

#define SB_HTTP_VHOST "switchboard-http"

struct sb_http_call {
    sb_loop *loop;
    sb_http_done_fn done;
    void *ud;
    int finished;            /* done was called, or the owner left */
    int resolving;           /* the lookup is in libuv's hands */
    struct lws *wsi;         /* the connection, while lws holds it */
    uv_getaddrinfo_t gai;
    lws_sorted_usec_list_t deadline;
    int64_t timeout_us;
    int status;
    char *host, *path, *method;
    int port, tls, insecure;
    char **names, **values;
    size_t nheaders;
    sb_buf body;             /* LWS_PRE of headroom for lws_write */
    sb_buf answer;
    char addr[64];
    char error[160];
};

static void sb_http_free(sb_http_call *c)
{
    size_t i;

    for (i = 0; i < c->nheaders; i++) {
        free(c->names[i]);
        free(c->values[i]);
    }
    free(c->names);
    free(c->values);
    free(c->host);
    free(c->path);
    free(c->method);
    sb_buf_free(&c->body);
    sb_buf_free(&c->answer);
    free(c);
}

/* Frees c once neither libuv nor lws can reach it any more. */
static void sb_http_release(sb_http_call *c)
{
    if (c->finished && !c->resolving && !c->wsi)
        sb_http_free(c);
}

/* Calls done once, with the status or the error; the loop may end. */
static void sb_http_finish(sb_http_call *c, int status, const char *error)
{
    sb_http_result r;

    if (c->finished)
        return;
    c->finished = 1;
    c->loop->users--;
    lws_sul_cancel(&c->deadline);
    memset(&r, 0, sizeof r);
    r.status = status;
    r.error = error;
    r.body = c->answer.oom ? NULL : (const char *)sb_buf_data(&c->answer);
    r.body_len = c->answer.oom ? 0 : c->answer.len;
    if (c->done)
        c->done(c->ud, &r);
}

/* The deadline: whatever is under way is dropped. */
static void sb_http_expired(lws_sorted_usec_list_t *sul)
{
    sb_http_call *c = lws_container_of(sul, sb_http_call, deadline);

    snprintf(c->error, sizeof c->error, "no answer within %.3g s",
             (double)c->timeout_us / 1e6);
    sb_http_finish(c, 0, c->error);
    if (c->wsi)
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    sb_http_release(c);
}

/* The request's headers, then the length of its body. */
static int sb_http_headers(sb_http_call *c, struct lws *wsi, unsigned char **p,
                           unsigned char *end)
{
    char name[128];
    size_t i;

    for (i = 0; i < c->nheaders; i++) {
        snprintf(name, sizeof name, "%s:", c->names[i]);
        if (lws_add_http_header_by_name(wsi, (const unsigned char *)name,
                                        (const unsigned char *)c->values[i],
                                        (int)strlen(c->values[i]), p, end))
            return -1;
    }
    if (c->body.len) {
        if (lws_add_http_header_content_length(wsi, c->body.len, p, end))
            return -1;
        lws_client_http_body_pending(wsi, 1);
        lws_callback_on_writable(wsi);
    }
    return 0;
}

/* Drains what lws has of the response into RECEIVE_CLIENT_HTTP_READ. */
static int sb_http_drain(struct lws *wsi)
{
    char buf[LWS_PRE + 1024], *px = buf + LWS_PRE;
    int n = (int)sizeof buf - LWS_PRE;

    return lws_http_client_read(wsi, &px, &n) < 0 ? -1 : 0;
}

static void sb_http_keep(sb_http_call *c, const void *in, size_t len)
{
    size_t room = SB_HTTP_CLIENT_BODY_MAX - c->answer.len;

    sb_buf_add(&c->answer, in, len < room ? len : room);
}

/* After the response, or an error: the request is over for the owner. */
static int sb_http_over(sb_http_call *c, struct lws *wsi,
                        enum lws_callback_reasons reason, const void *in)
{
    (void)wsi;
    switch (reason) {
    case LWS_CALLBACK_COMPLETED_CLIENT_HTTP:
        sb_http_finish(c, c->status, NULL);
        return -1;   /* no second request on this connection */
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        snprintf(c->error, sizeof c->error, "%s", in ? (const char *)in : "connection failed");
        sb_http_finish(c, 0, c->error);
        return 0;
    default:   /* CLOSED_CLIENT_HTTP */
        sb_http_finish(c, 0, "the connection closed before the answer was complete");
        return 0;
    }
}

static int sb_http_cb(struct lws *wsi, enum lws_callback_reasons reason,
                      void *user, void *in, size_t len)
{
    sb_http_call *c = lws_get_opaque_user_data(wsi);

    if (!c)
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
        /* in: where the next header goes; len: the room left there */
        return sb_http_headers(c, wsi, (unsigned char **)in, *(unsigned char **)in + len);
    case LWS_CALLBACK_CLIENT_HTTP_WRITEABLE:
        /* lws finishes a partial write by itself */
        if (lws_write(wsi, sb_buf_data(&c->body), c->body.len, LWS_WRITE_HTTP_FINAL) < 0)
            return -1;
        lws_client_http_body_pending(wsi, 0);
        return 0;
    case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP:
        c->status = (int)lws_http_client_http_response(wsi);
        return 0;
    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP:
        return sb_http_drain(wsi);
    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ:
        sb_http_keep(c, in, len);
        return 0;
    case LWS_CALLBACK_COMPLETED_CLIENT_HTTP:
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
    case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
        return sb_http_over(c, wsi, reason, in);
    case LWS_CALLBACK_WSI_DESTROY:
        lws_set_opaque_user_data(wsi, NULL);
        c->wsi = NULL;
        sb_http_finish(c, 0, "the connection closed before the answer was complete");
        sb_http_release(c);
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

static const struct lws_protocols sb_http_protocols[] = {
    { SB_HTTP_VHOST, sb_http_cb, 0, 0, 0, NULL, 0 },
    { NULL, NULL, 0, 0, 0, NULL, 0 }
};

/* The loop's vhost for these requests, made on first use. */
static struct lws_vhost *sb_http_vhost(sb_loop *loop)
{
    struct lws_context_creation_info info;
    struct lws_context *ctx = sb_loop_lws(loop);
    struct lws_vhost *vh;

    if (!ctx)
        return NULL;
    if ((vh = lws_get_vhost_by_name(ctx, SB_HTTP_VHOST)) != NULL)
        return vh;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = sb_http_protocols;
    info.vhost_name = SB_HTTP_VHOST;
    info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    return lws_create_vhost(ctx, &info);
}

/* The address is known: hand the request to lws. */
static void sb_http_connect(sb_http_call *c)
{
    struct lws_client_connect_info ci;
    struct lws_vhost *vh = sb_http_vhost(c->loop);
    char host[300];

    if (!vh) {
        sb_http_finish(c, 0, "cannot start the libwebsockets client");
        return;
    }
    /* Host carries the port unless it is the scheme's own (lws drops it
     * again for SNI) */
    if (c->port == (c->tls ? 443 : 80))
        snprintf(host, sizeof host, "%s", c->host);
    else
        snprintf(host, sizeof host, "%s:%d", c->host, c->port);
    memset(&ci, 0, sizeof ci);
    ci.context = sb_loop_lws(c->loop);
    ci.vhost = vh;
    ci.address = c->addr;
    ci.port = c->port;
    ci.path = c->path;
    ci.host = host;
    ci.method = c->method;
    ci.alpn = "http/1.1";
    ci.local_protocol_name = SB_HTTP_VHOST;
    ci.ssl_connection = LCCSCF_HTTP_NO_FOLLOW_REDIRECT | (c->tls ? LCCSCF_USE_SSL : 0);
    if (c->tls && c->insecure)
        ci.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
                             LCCSCF_ALLOW_EXPIRED | LCCSCF_ALLOW_INSECURE;
    ci.opaque_user_data = c;
    ci.pwsi = &c->wsi;
    if (!lws_client_connect_via_info(&ci) && !c->finished) {
        snprintf(c->error, sizeof c->error, "cannot connect to %s:%d", c->host, c->port);
        sb_http_finish(c, 0, c->error);
    }
}

/* The lookup's answer.  c stays held (resolving) until the end: lws may
 * already destroy a connection it could not make inside the connect. */
static void sb_http_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    sb_http_call *c = req->data;

    if (!c->finished && status) {
        snprintf(c->error, sizeof c->error, "cannot resolve %s: %s", c->host, uv_strerror(status));
        sb_http_finish(c, 0, c->error);
    } else if (!c->finished && res) {
        if (res->ai_family == AF_INET6)
            uv_ip6_name((const struct sockaddr_in6 *)(const void *)res->ai_addr, c->addr, sizeof c->addr);
        else
            uv_ip4_name((const struct sockaddr_in *)(const void *)res->ai_addr, c->addr, sizeof c->addr);
        sb_http_connect(c);
    }
    if (res)
        uv_freeaddrinfo(res);
    c->resolving = 0;
    sb_http_release(c);
}

/* Copies of the request's strings; 0, or -1 when memory ran out. */
static int sb_http_copy(sb_http_call *c, const sb_http_request *req)
{
    c->host = sb_memdup(req->host, strlen(req->host));
    c->path = sb_memdup(req->path ? req->path : "/", strlen(req->path ? req->path : "/"));
    c->method = sb_memdup(req->method ? req->method : "POST",
                          strlen(req->method ? req->method : "POST"));
    c->names = calloc(req->nheaders + 1, sizeof *c->names);
    c->values = calloc(req->nheaders + 1, sizeof *c->values);
    if (!c->host || !c->path || !c->method || !c->names || !c->values)
        return -1;
    for (; c->nheaders < req->nheaders; c->nheaders++) {
        const sb_http_header *h = &req->headers[c->nheaders];
        c->names[c->nheaders] = sb_memdup(h->name, strlen(h->name));
        c->values[c->nheaders] = sb_memdup(h->value, strlen(h->value));
        if (!c->names[c->nheaders] || !c->values[c->nheaders]) {
            c->nheaders++;
            return -1;
        }
    }
    sb_buf_init(&c->body, LWS_PRE);
    sb_buf_init(&c->answer, 0);
    sb_buf_add(&c->body, req->body, req->body_len);
    return c->body.oom ? -1 : 0;
}

sb_http_call *sb_http_send(sb_loop *loop, const sb_http_request *req,
                           sb_http_done_fn done, void *ud, char *err,
                           size_t errlen)
{
    struct addrinfo hints;
    sb_http_call *c;
    struct lws_context *ctx = sb_loop_lws(loop);
    int rc;

    if (!ctx || !(c = calloc(1, sizeof *c))) {
        snprintf(err, errlen, ctx ? "out of memory" : "cannot start the libwebsockets client");
        return NULL;
    }
    if (sb_http_copy(c, req)) {
        sb_http_free(c);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->loop = loop;
    c->done = done;
    c->ud = ud;
    c->port = req->port;
    c->tls = req->tls;
    c->insecure = req->insecure;
    c->timeout_us = (int64_t)((req->timeout > 0 ? req->timeout : 10) * 1e6);
    c->gai.data = c;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    rc = uv_getaddrinfo(&loop->uv, &c->gai, sb_http_resolved, c->host, NULL, &hints);
    if (rc) {
        snprintf(err, errlen, "cannot resolve %s: %s", c->host, uv_strerror(rc));
        sb_http_free(c);
        return NULL;
    }
    c->resolving = 1;
    loop->users++;
    lws_sul_schedule(ctx, 0, &c->deadline, sb_http_expired, c->timeout_us);
    return c;
}

void sb_http_cancel(sb_http_call *c)
{
    if (!c)
        return;
    c->done = NULL;
    sb_http_finish(c, 0, NULL);
    /* a lookup in the thread pool cannot be stopped, only ignored */
    if (c->resolving)
        uv_cancel((uv_req_t *)&c->gai);
    if (c->wsi)
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    sb_http_release(c);
}
