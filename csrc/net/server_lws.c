/* The lws side of a server: the one protocol callback lws calls for every
 * request and connection it serves (plain HTTP, SSE, long-poll, the APIs,
 * WebSockets on TLS listeners or with SB_LWS_WEBSOCKETS=1).  The route is
 * decided when the upgrade is confirmed, so refusals are real HTTP
 * responses (403/404) that let clients back off, never an accept followed
 * by a close.  server.c holds the server's life; tcp*.c the own transport. */
#include "server.h"
#include "server_internal.h"

#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "http.h"
#include "http_static.h"

static int sb_copy_hdr(struct lws *wsi, enum lws_token_indexes h, char *buf, int len)
{
    int n = lws_hdr_copy(wsi, buf, len, h);

    if (n < 0) {
        buf[0] = '\0';
        return -1;
    }
    return n;
}

static void sb_http_slot_free(sb_http_slot *slot)
{
    if (slot && slot->owner && slot->owner->http_free)
        slot->owner->http_free(&slot->state);
    if (slot)
        slot->owner = NULL;
}

/* A plain HTTP request: the first protocol that takes it, /metrics, or a
 * static file. */
static int sb_server_http(sb_server *s, struct lws *wsi, const char *path,
                          sb_http_slot *slot)
{
    int i, rc;

    if (!sb_limits_url_ok(&s->cfg, SB_REQSRC_LWS(wsi)))
        return sb_http_status(wsi, HTTP_STATUS_REQ_URI_TOO_LONG, "URL too long");
    for (i = 0; i < s->nprotos; i++) {
        const sb_proto_ops *ops = s->protos[i];
        if (!ops->http)
            continue;
        sb_http_slot_free(slot);
        slot->owner = ops;
        rc = ops->http(s, s->pstate[i], wsi, path, &slot->state);
        if (rc != SB_HTTP_PASS)
            return rc;
        slot->owner = NULL;
    }
    if (strcmp(path, "/metrics") == 0)
        return sb_metrics_http(s, wsi);
    return sb_http_static(s->static_dir, s->cfg.static_follow_links, wsi, path);
}

/* Decides what an upgrade request is, builds its connection and asks the
 * app.  Returns 0 to proceed, -1 to hang up, 1 when a refusal was sent. */
static int sb_server_confirm_upgrade(sb_server *s, struct lws *wsi)
{
    char path[1024], reason[256];
    sb_wsconn *c;
    const sb_proto_ops *ops;
    const char *chan = NULL;
    int status;

    /* lws hands over the path already percent-decoded */
    if (!sb_limits_url_ok(&s->cfg, SB_REQSRC_LWS(wsi))) {
        sb_http_refuse(wsi, HTTP_STATUS_REQ_URI_TOO_LONG, "URL too long");
        return 1;
    }
    if (sb_copy_hdr(wsi, WSI_TOKEN_GET_URI, path, sizeof path) < 1 || s->closing)
        return -1;
    ops = sb_server_route(s, path, &chan);
    if (!ops) {
        sb_http_refuse(wsi, HTTP_STATUS_NOT_FOUND, "no such endpoint");
        return 1;
    }
    c = sb_server_accept(s, SB_REQSRC_LWS(wsi), ops, path, chan, &status, reason, sizeof reason);
    if (!c) {
        if (!status)
            return -1;
        sb_http_refuse(wsi, (unsigned)status, reason);
        return 1;
    }
    c->wsi = wsi;
    lws_set_opaque_user_data(wsi, c);
    return 0;
}

/* lws echoes the peer's close payload as its answer, after rewriting the
 * codes it knows to be reserved (and it drops a close whose reason is not
 * UTF-8); a code past 4999 is a protocol error as well (RFC 6455 7.4.2):
 * answer 1002 for it too, in the same buffer. */
static void sb_peer_close_check(void *in, size_t len)
{
    unsigned char *p = in;
    int code;

    if (len < 2)
        return;
    code = (p[0] << 8) | p[1];
    if (code >= 5000) {
        p[0] = 1002 >> 8;
        p[1] = 1002 & 0xff;
    }
}

/* A close frame whose body is one byte (RFC 6455 5.5.1: a body starts
 * with a two-byte code) or whose reason is not UTF-8 (5.5.1, 8.1) is a
 * protocol error, but lws would echo it back.  Returns -1 with 1002 as the
 * close reason, so that lws sends that instead of its echo; 0 otherwise. */
static int sb_peer_close_bad_body(struct lws *wsi, const void *in, size_t len)
{
    static const char why[] = "bad close frame";

    if (len != 1 && (len < 3 || sb_utf8_valid((const char *)in + 2, len - 2)))
        return 0;
    lws_close_reason(wsi, LWS_CLOSE_STATUS_PROTOCOL_ERR, (unsigned char *)why,
                     sizeof why - 1);
    return -1;
}

static int sb_peer_close_code(const void *in, size_t len)
{
    const unsigned char *p = in;

    return len >= 2 ? (p[0] << 8) | p[1] : 1005;
}

/* The plain-HTTP reasons of sb_server_lws_cb: requests, POST bodies, stream
 * writes and the end of a request.  Returns what the callback returns, or
 * 1 when lws's default handling should run. */
static int sb_server_http_cb(sb_server *s, struct lws *wsi,
                             enum lws_callback_reasons reason, sb_http_slot *slot,
                             sb_wsconn *c, void *in, size_t len)
{
    switch (reason) {
    case LWS_CALLBACK_HTTP:
        return s && slot ? sb_server_http(s, wsi, in, slot) : -1;
    case LWS_CALLBACK_HTTP_BODY:
        if (!s || !slot)
            return -1;
        return slot->owner && slot->owner->http_body
               ? slot->owner->http_body(s, wsi, &slot->state, in, len) : 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (!s || !slot)
            return -1;
        if (slot->owner && slot->owner->http_body_done)
            return slot->owner->http_body_done(s, wsi, &slot->state);
        return sb_http_status(wsi, HTTP_STATUS_BAD_REQUEST, "unexpected body");
    case LWS_CALLBACK_HTTP_WRITEABLE:
        /* streams and held requests write from here; static files are
         * lws's */
        if (c && c->ops->http_writeable)
            return c->closed ? -1 : c->ops->http_writeable(c);
        if (s && slot && slot->owner && slot->owner->http_held_writeable)
            return slot->owner->http_held_writeable(s, wsi, &slot->state);
        return 1;
    default:   /* CLOSED_HTTP, HTTP_DROP_PROTOCOL */
        sb_http_slot_free(slot);
        /* a stream has no close frame: the close hook hears why we ended
         * it (1013 slow reader, 1001 shutdown), else 1001 */
        if (c && c->ops->stream)
            sb_wsconn_transport_gone(c, c->close_code ? c->close_code : 1001);
        return 1;
    }
}

int sb_server_lws_cb(struct lws *wsi, enum lws_callback_reasons reason,
                        void *user, void *in, size_t len)
{
    struct lws_vhost *vh = lws_get_vhost(wsi);
    sb_server *s = vh ? lws_vhost_user(vh) : NULL;
    sb_wsconn *c = lws_get_opaque_user_data(wsi);
    int rc;

    switch (reason) {
    case LWS_CALLBACK_HTTP:
    case LWS_CALLBACK_HTTP_BODY:
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
    case LWS_CALLBACK_HTTP_WRITEABLE:
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        rc = sb_server_http_cb(s, wsi, reason, user, c, in, len);
        if (rc != 1)
            return rc;
        break;
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        return s ? sb_server_confirm_upgrade(s, wsi) : -1;
    case LWS_CALLBACK_ESTABLISHED:
        return c ? sb_wsconn_opened(c) : -1;
    case LWS_CALLBACK_RECEIVE:
        return c && !c->closed ? sb_wsconn_receive(c, in, len) : -1;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return c && !c->closed ? sb_wsconn_flush(c) : 0;
    case LWS_CALLBACK_RECEIVE_PONG:
        if (c && !c->closed)
            sb_keepalive_pong(&c->srv->ka, c);
        return 0;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (c)
            c->close_code = sb_peer_close_code(in, len);
        sb_peer_close_check(in, len);
        return sb_peer_close_bad_body(wsi, in, len);
    case LWS_CALLBACK_CLOSED:
        if (c)
            sb_wsconn_transport_gone(c, c->close_code ? c->close_code : 1006);
        return 0;
    case LWS_CALLBACK_PROTOCOL_DESTROY:
        /* the vhost is finally gone: drop its reference (once, for the
         * first protocol of the table) */
        if (s && lws_get_protocol(wsi) == &s->protocols[0])
            sb_server_vhost_gone(s);
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        if (c) {
            sb_wsconn_transport_gone(c, 1006);
            lws_set_opaque_user_data(wsi, NULL);
            sb_wsconn_free(c);
        }
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}
