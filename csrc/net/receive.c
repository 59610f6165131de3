/* The receive path of a WebSocket connection: lws hands a message over in
 * pieces (frames, and frames in parts of at most the rx buffer); this
 * joins them, bounded by max_message and a frame count (1009 beyond),
 * passes each whole message through the rate limit (limits.c) and hands
 * it to the connection's protocol. */
#include "server.h"

#include <string.h>

#include "base/utf8.h"

/* Most frames one message may arrive in: max_message / 64, at least 64.
 * Real clients send a message as one frame (browsers, Node ws) or in a few
 * large ones; without a cap, empty continuation frames could go on forever
 * without the message ever growing or the rate limit seeing a message. */
size_t sb_wsconn_max_fragments(const sb_server_config *cfg)
{
    size_t n = cfg->max_message / 64;

    return n < 64 ? 64 : n;
}

/* Bytes of an oversize frame read and dropped before the close, so that
 * the close frame reaches a client still sending it: lws 4.1.6 resets a
 * connection closed with unread data (the client then sees 1006, not
 * 1009).  A frame announced bigger than this is cut at once. */
static size_t sb_drain_max(const sb_server_config *cfg)
{
    return cfg->max_message * 64;
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
/* An oversize message: drops the rest of the frame being read (what the
 * client is sending right now), then closes with 1009 (see sb_drain_max);
 * at once when that is too far. */
static int sb_wsconn_drain(sb_wsconn *c, size_t len, size_t rest)
{
    const sb_server_config *cfg = sb_server_config_of(c->srv);

    c->rx_drained += len;
    if (!rest || c->rx_drained + rest > sb_drain_max(cfg))
        return sb_wsconn_too_big(c, "message too big");
    return 0;
}

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
    if (c->rx_drained)
        return sb_wsconn_drain(c, len, rest);
    /* the frame header already says how long it is: a frame announcing
     * more than the limit is refused at its first bytes (read to its end
     * first when that is not far, so the client hears why) */
    if (c->rx.len + len > cfg->max_message || rest > cfg->max_message - c->rx.len - len) {
        c->rx_drained = c->rx.len;
        sb_buf_free(&c->rx);
        return sb_wsconn_drain(c, len ? len : 1, rest);
    }
    /* lws hands a frame over in pieces; a frame's first piece counts */
    if (lws_is_first_fragment(wsi) || c->rx_frame_done)
        c->rx_frags++;
    c->rx_frame_done = rest == 0;
    if (c->rx_frags > sb_wsconn_max_fragments(cfg))
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

/* A text message that is not UTF-8 (RFC 6455 8.1): 1007.  Checked on the
 * whole message, so a character split across two fragments is fine. */
static int sb_wsconn_bad_utf8(sb_wsconn *c)
{
    static const char why[] = "bad utf8";

    sb_buf_free(&c->rx);
    lws_close_reason(c->wsi, LWS_CLOSE_STATUS_INVALID_PAYLOAD,
                     (unsigned char *)why, sizeof why - 1);
    return -1;
}

int sb_wsconn_receive(sb_wsconn *c, const void *in, size_t len)
{
    const char *msg = NULL;
    size_t n = 0;
    int rc = sb_wsconn_collect(c, in, len, &msg, &n);

    if (rc <= 0)
        return rc;
    if (!c->rx_binary && !sb_utf8_valid(msg, n))
        return sb_wsconn_bad_utf8(c);
    rc = sb_wsconn_deliver(c, msg, n, c->rx_binary);
    /* a joined message is rare: give its memory back rather than keep
     * up to max_message on an idle connection */
    sb_buf_free(&c->rx);
    if (rc) {
        lws_close_reason(c->wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION,
                         (unsigned char *)"rate limit", 10);
        return -1;
    }
    return 0;
}

int sb_wsconn_deliver(sb_wsconn *c, const char *msg, size_t n, int binary)
{
    int rc = sb_wsconn_rate_ok(c);

    if (rc < 0)
        return 1008;
    if (rc > 0)
        c->ops->receive(c, msg ? msg : "", n, binary);
    return 0;
}

