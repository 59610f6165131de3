/* Limits of a server connection.  At the handshake: how long a client may
 * take to deliver its request head, how big the head and its URL may be.
 * After it: the receive path with its bounds on a message's size and
 * frame count, the message-rate token bucket, WebSocket pings with an idle
 * timeout, and a bound on unacknowledged data (half-open peers).  The
 * connection caps are checked in server.c, where the counts live.
 *
 * What lws 4.1.6 does by itself, and what is ours:
 * - Header phase: when a request's header table is attached (at accept),
 *   lws arms PENDING_TIMEOUT_HOLDING_AH for the vhost's
 *   timeout_secs_ah_idle, and does not re-arm it as bytes trickle in, so
 *   a slowloris client is dropped that many seconds after connecting.
 *   The context's timeout_secs covers the rest of setup (accept, TLS, the
 *   gaps between parts of a POST body); the vhost's timeout_secs is never
 *   read.  No per-connection lws_set_timeout is needed for the head.
 * - A request head over max_http_header_data (a context option) makes the
 *   lws parser fail and the connection is closed without any response:
 *   lws 4.1.6 has no hook to answer 431 there.  URLs that fit but are over
 *   max_url get our 414.
 * - Pings: the vhost's retry_and_idle_policy sends a PING every
 *   secs_since_valid_ping and hangs up when no PONG came for
 *   secs_since_valid_hangup (only PONGs count, not data frames); HTTP
 *   connections (SSE) are not covered by it, hence TCP_USER_TIMEOUT. */
#include "server.h"

#include "base/defaults.h"

#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

/* Per-connection token bucket (max_rate messages/s, max_burst deep).
 * Returns 1 when the message may pass, 0 to drop it, -1 when the flood
 * has gone on for a whole bucket of drops and the connection should close
 * (1008).  A native client hears about the first drop of each flood. */
int sb_wsconn_rate_ok(sb_wsconn *c)
{
    const sb_server_config *cfg = sb_server_config_of(c->srv);
    double rate = cfg->max_rate ? cfg->max_rate : SB_DEFAULT_max_rate;
    double burst = cfg->max_burst > 0 ? cfg->max_burst : SB_DEFAULT_max_burst * rate;
    int64_t now = sb_mono_ms();

    if (rate < 0)
        return 1;
    if (!c->tokens_at)
        c->tokens = burst;
    else
        c->tokens += (double)(now - c->tokens_at) * rate / 1000.0;
    if (c->tokens > burst)
        c->tokens = burst;
    c->tokens_at = now;
    if (c->tokens >= 1) {
        c->tokens -= 1;
        c->dropped = 0;
        return 1;
    }
    if (++c->dropped > burst)
        return -1;
    if (c->dropped == 1 && c->ops->notice)
        c->ops->notice(c, "rate limit: messages are being dropped, slow down");
    return 0;
}

/* Most frames one message may arrive in: max_message / 64, at least 64.
 * Real clients send a message as one frame (browsers, Node ws) or in a few
 * large ones; without a cap, empty continuation frames could go on forever
 * without the message ever growing or the rate limit seeing a message. */
static size_t sb_max_fragments(const sb_server_config *cfg)
{
    size_t n = cfg->max_message / 64;

    return n < 64 ? 64 : n;
}

/* Hangs up with 1009 and a reason (inside the receive callback, where lws
 * 4.1 still sends the close frame). */
static int sb_wsconn_too_big(sb_wsconn *c, const char *why)
{
    lws_close_reason(c->wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
                     (unsigned char *)why, strlen(why));
    return -1;
}

/* Collects the pieces of one message, bounded by max_message and a frame
 * count.  Returns 1 when a whole message is ready in msg and n, 0 while
 * more is to come, -1 when the connection must close (1009).  A message
 * that arrives in one piece (the common case) is used where lws put it,
 * without a copy. */
static int sb_wsconn_collect(sb_wsconn *c, const void *in, size_t len,
                             const char **msg, size_t *n)
{
    const sb_server_config *cfg = sb_server_config_of(c->srv);
    struct lws *wsi = c->wsi;
    size_t rest = lws_remaining_packet_payload(wsi);
    int whole = lws_is_final_fragment(wsi) && !rest;

    if (lws_is_first_fragment(wsi)) {
        c->rx_binary = lws_frame_is_binary(wsi);
        c->rx_frags = 0;
    }
    /* the frame header already says how long it is: a frame announcing
     * more than the limit is refused at its first bytes */
    if (c->rx.len + len > cfg->max_message || rest > cfg->max_message - c->rx.len - len)
        return sb_wsconn_too_big(c, "message too big");
    /* lws hands a frame over in pieces; a frame's first piece counts */
    if (lws_is_first_fragment(wsi) || c->rx_frame_done)
        c->rx_frags++;
    c->rx_frame_done = rest == 0;
    if (c->rx_frags > sb_max_fragments(cfg))
        return sb_wsconn_too_big(c, "too many fragments");
    if (whole && !c->rx.len) {
        *msg = in;
        *n = len;
        return 1;
    }
    sb_buf_add(&c->rx, in, len);
    if (c->rx.oom)
        return -1;
    *msg = (const char *)sb_buf_data(&c->rx);
    *n = c->rx.len;
    return whole;
}

int sb_wsconn_receive(sb_wsconn *c, const void *in, size_t len)
{
    const char *msg = NULL;
    size_t n = 0;
    int rc = sb_wsconn_collect(c, in, len, &msg, &n);

    if (rc <= 0)
        return rc;
    rc = sb_wsconn_rate_ok(c);
    if (rc < 0) {
        lws_close_reason(c->wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION,
                         (unsigned char *)"rate limit", 10);
        return -1;
    }
    if (rc > 0)
        c->ops->receive(c, msg ? msg : "", n, c->rx_binary);
    /* a joined message is rare: give its memory back rather than keep
     * up to max_message on an idle connection */
    sb_buf_free(&c->rx);
    return 0;
}

void sb_limits_defaults(sb_server_config *cfg)
{
    if (!cfg->handshake_timeout)
        cfg->handshake_timeout = SB_DEFAULT_handshake_timeout;
    if (!cfg->max_header_bytes)
        cfg->max_header_bytes = SB_DEFAULT_max_header_bytes;
    if (!cfg->max_url)
        cfg->max_url = SB_DEFAULT_max_url;
    if (!cfg->ping_interval)
        cfg->ping_interval = SB_DEFAULT_ping_interval;
    if (!cfg->idle_timeout)
        cfg->idle_timeout = SB_DEFAULT_idle_timeout;
}

void sb_limits_vhost(const sb_server_config *cfg,
                     struct lws_context_creation_info *info, lws_retry_bo_t *retry)
{
    info->timeout_secs_ah_idle = (unsigned)cfg->handshake_timeout;
    /* an all-zero policy turns lws's validity checks off (its default
     * would ping after 300 s); lws asserts hangup > ping, which the Lua
     * layer checks before we get here */
    memset(retry, 0, sizeof *retry);
    if (cfg->ping_interval > 0 && cfg->idle_timeout > cfg->ping_interval) {
        retry->secs_since_valid_ping = (uint16_t)cfg->ping_interval;
        retry->secs_since_valid_hangup = (uint16_t)cfg->idle_timeout;
    }
    info->retry_and_idle_policy = retry;
}

int sb_limits_url_ok(const sb_server_config *cfg, struct lws *wsi)
{
    char *uri;
    int ulen = 0, args = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS);

    if (lws_http_get_uri_and_method(wsi, &uri, &ulen) < 0)
        ulen = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI);
    return ulen + (args > 0 ? args : 0) <= cfg->max_url;
}

/* Data we sent that the peer has not acknowledged for idle_timeout
 * (a peer that vanished without a FIN, or one whose window stays shut)
 * makes the kernel drop the socket; lws then sees the error and closes.
 * Streams send keep-alive comments, so a quiet SSE stream is covered. */
void sb_limits_socket(const sb_server_config *cfg, struct lws *wsi)
{
    unsigned int ms;
    int fd = lws_get_socket_fd(wsi);

    if (cfg->idle_timeout <= 0 || fd < 0)
        return;
    ms = (unsigned int)cfg->idle_timeout * 1000u;
    /* best effort: a kernel without it keeps the old behaviour */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof ms);
}
