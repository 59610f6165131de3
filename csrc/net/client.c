#include "client.h"

#include <stdlib.h>
#include <string.h>

/* Seconds a client that sent its close frame waits for the server's echo
 * before it hangs up (RFC 6455 7.1.1: the server closes the TCP side). */
#define SB_CLIENT_CLOSE_WAIT 2

struct sb_client {
    sb_loop *loop;
    struct lws *wsi;
    sb_client_hooks hooks;
    sb_fqueue q;
    sb_buf rx;
    int rx_binary;
    size_t max_message;
    int open;
    int done;           /* close hook delivered */
    int owned;          /* the owner has not called sb_client_free yet */
    int close_code;     /* requested close, sent after the queue */
    int close_sent;
    int peer_code;      /* close code the server sent */
    char close_reason[124];
    char peer_reason[124];
    int status;         /* HTTP status of a refused upgrade */
    char refusal[128];  /* the server's reason for it */
};

static void sb_client_release(sb_client *cl)
{
    sb_fqueue_free(&cl->q);
    sb_buf_free(&cl->rx);
    free(cl);
}

/* Delivers the close hook exactly once and drops the loop's count.  The
 * owner's own close wins over whatever lws saw: a client that said
 * close(1000, "done") hears 1000 "done" back, as a browser's WebSocket
 * does, with the server's echo beside it when one came. */
static void sb_client_finish(sb_client *cl)
{
    sb_client_end e;

    if (cl->done)
        return;
    cl->done = 1;
    cl->open = 0;
    cl->loop->users--;
    memset(&e, 0, sizeof e);
    e.by_client = cl->close_code != 0;
    e.code = cl->close_code ? cl->close_code : cl->peer_code ? cl->peer_code : 1006;
    e.reason = cl->close_code ? cl->close_reason : cl->peer_reason;
    e.peer_code = cl->peer_code;
    e.peer_reason = cl->peer_reason;
    e.status = cl->status;
    e.refusal = cl->refusal;
    if (cl->status && !cl->close_code)
        e.reason = cl->refusal;
    if (cl->hooks.close)
        cl->hooks.close(cl->hooks.ud, cl, &e);
}

/* A refused upgrade: lws 4.1 reports only "HS: ws upgrade response not
 * 101", but the response head is still attached during
 * CLIENT_CONNECTION_ERROR, so read the status and the server's reason
 * from it (the body is never read by lws's ws client).  A switchboard
 * server names its reason in x-switchboard-error; any other server's
 * reason is its status line's phrase ("403 Forbidden"). */
static void sb_client_note_refusal(sb_client *cl, struct lws *wsi)
{
    char line[128];
    const char *sp;
    int n;

    cl->status = (int)lws_http_client_http_response(wsi);
    if (!cl->status)
        return;
    n = lws_hdr_custom_copy(wsi, cl->refusal, sizeof cl->refusal,
                            "x-switchboard-error:", 20);
    if (n > 0)
        return;
    cl->refusal[0] = '\0';
    n = lws_hdr_copy(wsi, line, sizeof line, WSI_TOKEN_HTTP);
    if (n <= 0)
        n = lws_hdr_copy(wsi, line, sizeof line, WSI_TOKEN_HTTP1_0);
    sp = n > 0 ? strchr(line, ' ') : NULL;
    if (sp) {
        snprintf(cl->refusal, sizeof cl->refusal, "%s", sp + 1);
    }
}

static int sb_client_receive(sb_client *cl, const void *in, size_t len)
{
    struct lws *wsi = cl->wsi;

    if (cl->rx.len + len > cl->max_message)
        return -1;
    if (lws_is_first_fragment(wsi))
        cl->rx_binary = lws_frame_is_binary(wsi);
    sb_buf_add(&cl->rx, in, len);
    if (cl->rx.oom)
        return -1;
    if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
        return 0;
    if (cl->hooks.message)
        cl->hooks.message(cl->hooks.ud, cl, (const char *)sb_buf_data(&cl->rx),
                          cl->rx.len, cl->rx_binary);
    sb_buf_reset(&cl->rx);
    return 0;
}

static int sb_client_cb(struct lws *wsi, enum lws_callback_reasons reason,
                        void *user, void *in, size_t len)
{
    sb_client *cl = lws_get_opaque_user_data(wsi);
    int n;

    switch (reason) {
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        if (!cl)
            return -1;
        cl->open = 1;
        if (cl->hooks.open)
            cl->hooks.open(cl->hooks.ud, cl);
        if (cl->q.len || cl->close_code)
            lws_callback_on_writable(wsi);
        return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        return cl ? sb_client_receive(cl, in, len) : -1;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        if (!cl || cl->close_sent)
            return cl ? 0 : -1;
        n = sb_queue_flush(wsi, &cl->q, NULL, cl->close_code, cl->close_reason);
        cl->close_sent = n > 0;
        /* our close frame is out: wait for the server's echo, whose
         * arrival ends the connection (PEER_INITIATED_CLOSE below) */
        if (n > 0)
            lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_ACK, SB_CLIENT_CLOSE_WAIT);
        return n < 0 ? -1 : 0;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (cl && len >= 2) {
            const unsigned char *p = in;
            size_t n = len - 2 < sizeof cl->peer_reason - 1 ? len - 2 : sizeof cl->peer_reason - 1;
            cl->peer_code = (p[0] << 8) | p[1];
            /* lws is closing now: no more sends or writeable requests */
            cl->open = 0;
            memcpy(cl->peer_reason, p + 2, n);
            cl->peer_reason[n] = '\0';
        }
        /* the echo of a close we sent: done (lws would otherwise answer
         * it with a second close frame) */
        return cl && cl->close_sent ? -1 : 0;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (cl && !cl->done) {
            sb_client_note_refusal(cl, wsi);
            if (cl->hooks.error)
                cl->hooks.error(cl->hooks.ud, cl, in ? (const char *)in : "connection failed",
                                cl->status, cl->refusal);
            if (!cl->peer_reason[0] && !cl->status)
                snprintf(cl->peer_reason, sizeof cl->peer_reason, "connection failed");
            sb_client_finish(cl);
        }
        return 0;
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (cl)
            sb_client_finish(cl);
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        if (cl) {
            lws_set_opaque_user_data(wsi, NULL);
            cl->wsi = NULL;
            /* lws does not always say CLIENT_CLOSED first; the close
             * frame's code, if one came, is still the truth */
            sb_client_finish(cl);
            if (!cl->owned)
                sb_client_release(cl);
        }
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols sb_client_protocols[] = {
    { "switchboard-client", sb_client_cb, 0, 0, 0, NULL, 0 },
    { NULL, NULL, 0, 0, 0, NULL, 0 }
};

/* Clients share one non-listening vhost per loop, made on first use. */
static struct lws_vhost *sb_client_vhost(sb_loop *loop)
{
    struct lws_context_creation_info info;
    struct lws_context *ctx = sb_loop_lws(loop);

    if (loop->client_vh || !ctx)
        return loop->client_vh;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = sb_client_protocols;
    info.vhost_name = "switchboard-client";
    info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    loop->client_vh = lws_create_vhost(ctx, &info);
    return loop->client_vh;
}

sb_client *sb_client_connect(sb_loop *loop, const sb_client_config *cfg,
                             const sb_client_hooks *hooks, char *err, size_t errlen)
{
    struct lws_client_connect_info ci;
    struct lws_vhost *vh = sb_client_vhost(loop);
    sb_client *cl;

    if (!vh) {
        snprintf(err, errlen, "cannot start libwebsockets client");
        return NULL;
    }
    cl = calloc(1, sizeof *cl);
    if (!cl) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    cl->loop = loop;
    cl->hooks = *hooks;
    cl->owned = 1;
    cl->max_message = cfg->max_message ? cfg->max_message : 16 * 1024 * 1024;
    sb_buf_init(&cl->rx, 0);
    memset(&ci, 0, sizeof ci);
    ci.context = sb_loop_lws(loop);
    ci.vhost = vh;
    ci.address = cfg->host;
    ci.port = cfg->port;
    ci.path = cfg->path && cfg->path[0] ? cfg->path : "/";
    ci.host = cfg->host;
    ci.origin = cfg->origin;
    ci.protocol = cfg->subprotocols;
    ci.local_protocol_name = "switchboard-client";
    ci.ssl_connection = cfg->tls ? LCCSCF_USE_SSL : 0;
    if (cfg->tls && cfg->insecure)
        ci.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
                             LCCSCF_ALLOW_EXPIRED | LCCSCF_ALLOW_INSECURE;
    ci.opaque_user_data = cl;
    ci.pwsi = &cl->wsi;
    loop->users++;
    if (!lws_client_connect_via_info(&ci)) {
        /* lws may already have called CONNECTION_ERROR and WSI_DESTROY */
        if (!cl->done)
            loop->users--;
        snprintf(err, errlen, "cannot connect to %s:%d", cfg->host, cfg->port);
        sb_client_release(cl);
        return NULL;
    }
    return cl;
}

int sb_client_send(sb_client *cl, const void *data, size_t n, int binary)
{
    sb_frame *f;
    int rc;

    if (!cl->open || cl->close_code || !cl->wsi)
        return -1;
    f = sb_frame_new(data, n, binary);
    if (!f)
        return -1;
    rc = sb_fqueue_push(&cl->q, f);
    sb_frame_unref(f);
    if (rc == 0)
        lws_callback_on_writable(cl->wsi);
    return rc;
}

void sb_client_close(sb_client *cl, int code, const char *reason)
{
    size_t n = reason ? strlen(reason) : 0;

    if (cl->done || cl->close_code)
        return;
    cl->close_code = code ? code : 1000;
    if (n >= sizeof cl->close_reason)
        n = sizeof cl->close_reason - 1;
    memcpy(cl->close_reason, reason ? reason : "", n);
    cl->close_reason[n] = '\0';
    if (!cl->wsi)
        return;
    if (cl->open)
        lws_callback_on_writable(cl->wsi);
    else
        lws_set_timeout(cl->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
}

int sb_client_is_open(const sb_client *cl)
{
    return cl->open && !cl->close_code;
}

void sb_client_free(sb_client *cl)
{
    if (!cl)
        return;
    memset(&cl->hooks, 0, sizeof cl->hooks);
    cl->owned = 0;
    if (!cl->wsi) {
        sb_client_release(cl);
        return;
    }
    if (!cl->done)
        lws_set_timeout(cl->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
}
