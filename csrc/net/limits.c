/* Limits of a server connection.  At the handshake: how long a client may
 * take to deliver its request head, how big the head and its URL may be.
 * After it: the message-rate token bucket, WebSocket pings with an idle
 * timeout, and a bound on unacknowledged data (half-open peers).  The
 * bounds on a message's size and frame count are on the receive path
 * (receive.c); the connection caps are checked in server.c, where the
 * counts live.
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
 * - Pings are ours (keepalive.c): a PING after ping_interval without a
 *   PONG, a hang-up at idle_timeout (only PONGs count, not data frames).
 *   lws's retry_and_idle_policy would do the same with a sorted timer per
 *   connection, an O(n) insert each; it is kept all off.  HTTP
 *   connections (SSE) have no pings, hence TCP_USER_TIMEOUT. */
#include "server.h"
#include "upgrade.h"

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
     * would ping after 300 s); keepalive.c pings instead */
    memset(retry, 0, sizeof *retry);
    info->retry_and_idle_policy = retry;
}

int sb_limits_url_ok(const sb_server_config *cfg, const sb_reqsrc *r)
{
    struct lws *wsi = r->wsi;
    char *uri;
    int ulen = 0, args;

    if (r->head)
        return sb_head_url_len(r->head) <= (size_t)cfg->max_url;
    args = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS);

    if (lws_http_get_uri_and_method(wsi, &uri, &ulen) < 0)
        ulen = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI);
    return ulen + (args > 0 ? args : 0) <= cfg->max_url;
}

/* Data we sent that the peer has not acknowledged for idle_timeout
 * (a peer that vanished without a FIN, or one whose window stays shut)
 * makes the kernel drop the socket; lws then sees the error and closes.
 * Streams send keep-alive comments, so a quiet SSE stream is covered. */
void sb_limits_socket(const sb_server_config *cfg, const sb_reqsrc *r)
{
    unsigned int ms;
    int fd = r->fd;

    if (cfg->idle_timeout <= 0 || fd < 0)
        return;
    ms = (unsigned int)cfg->idle_timeout * 1000u;
    /* best effort: a kernel without it keeps the old behaviour */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof ms);
}
