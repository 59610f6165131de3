/* A LongPoll POST: the client's messages for its session
 * (docs/protocols.md#longpoll-post).  phoenix.js batches what it sends in
 * one turn into one body, messages separated by "\n"; each goes through
 * the same receive as a WebSocket frame (ws_phoenix.h), so a malformed
 * message gets the same error reply, which the next poll carries.
 *
 * The body as a whole is checked first, and refused before any message of
 * it runs when it cannot be read: over max_body (413), a message over
 * max_message (413), text that is not UTF-8 or a binary message that is
 * not base64 (400).  So a refused POST has done nothing, and the client
 * may send it again. */
#include "http_longpoll.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "ws_phoenix.h"

/* The 413 for a body over max_body: written at once (the transaction
 * stays open while the body drains), or as the complete answer. */
static int sb_lp_post_too_big(sb_lp_server *t, struct lws *wsi, int now)
{
    char text[64];
    sb_buf b;
    int rc;

    snprintf(text, sizeof text, "body over %lu bytes", (unsigned long)t->max_body);
    if (!now)
        return sb_lp_reply_status(wsi, 413, text);
    sb_buf_init(&b, LWS_PRE);
    sb_lp_status(&b, 413, sb_span_str(text));
    rc = sb_lp_write(wsi, 413, &b);
    sb_buf_free(&b);
    return rc;
}

int sb_lp_post_start(sb_server *s, sb_lp_server *t, struct lws *wsi, sb_lp_req *r)
{
    char cl[32], type[128];
    unsigned long long len;

    sb_buf_init(&r->body, 0);
    sb_lp_request_token(wsi, r->token);
    if (lws_hdr_copy(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0)
        return sb_lp_reply_status(wsi, 411, "a body with Content-Length is required");
    len = strtoull(cl, NULL, 10);
    if (len == 0)
        return sb_lp_reply_status(wsi, 400, "empty body: send messages");
    if (lws_hdr_copy(wsi, type, sizeof type, WSI_TOKEN_HTTP_CONTENT_TYPE) > 0)
        r->batch = sb_lp_is_batch(type);
    /* lws re-arms its body timeout at every part: bound the whole body
     * by the handshake timeout, as for POST /sse/ (sse_post.c) */
    r->deadline_ms = sb_mono_ms() + 1000 * (int64_t)sb_server_config_of(s)->handshake_timeout;
    r->too_big = len > t->max_body;
    if (r->too_big) {
        /* say so while the client is still sending, then drain */
        r->answered = 1;
        return sb_lp_post_too_big(t, wsi, 1);
    }
    return 0;
}

int sb_lp_post_body(sb_server *s, struct lws *wsi, void **req_state,
                    const void *in, size_t len)
{
    sb_lp_req *r = *req_state;
    sb_lp_server *t = sb_lp_server_of(s);

    (void)wsi;
    if (!r || !r->post || !t)
        return 0;
    if (sb_mono_ms() > r->deadline_ms)
        return -1;
    r->seen += len;
    if (r->too_big || r->body.len + len > t->max_body) {
        /* past the limit (a length that lied): keep only the count, and
         * stop listening to an absurd amount */
        r->too_big = 1;
        sb_buf_free(&r->body);
        return r->seen > 16 * t->max_body + (1 << 20) ? -1 : 0;
    }
    sb_buf_add(&r->body, in, len);
    return 0;
}

/* What one message of the body is, checked (the decoded bytes of a
 * binary one are appended to bin).  0, or the error status with why
 * filled. */
static int sb_lp_check_message(sb_server *s, sb_span msg, int index, sb_buf *bin,
                               char *why, size_t whylen)
{
    size_t max = sb_server_config_of(s)->max_message;
    sb_codec_err e;

    if (msg.n > max * 4 / 3 + 4 || (sb_lp_is_text(msg) && msg.n > max)) {
        snprintf(why, whylen, "message %d is over %lu bytes", index, (unsigned long)max);
        return 413;
    }
    if (sb_lp_is_text(msg)) {
        if (sb_utf8_valid(msg.p, msg.n))
            return 0;
        snprintf(why, whylen, "message %d is not UTF-8", index);
        return 400;
    }
    if (sb_lp_b64_decode(msg.p, msg.n, bin, &e) == 0) {
        if (bin->len <= max)
            return 0;
        snprintf(why, whylen, "message %d is over %lu bytes", index, (unsigned long)max);
        return 413;
    }
    if (e.code == SB_CODEC_ENOMEM)
        return 500;
    snprintf(why, whylen, "message %d is neither a JSON message nor base64: %s at byte %lu",
             index, e.msg, (unsigned long)e.pos);
    return 400;
}

/* The next message of the body: each line of a batch, or else the whole
 * body, its line ends trimmed (what clients before batches sent). */
static int sb_lp_next(const sb_lp_req *r, size_t *pos, sb_span *msg)
{
    const char *data = (const char *)sb_buf_data(&r->body);
    size_t n = r->body.len;

    if (r->batch)
        return sb_lp_next_message(data, n, pos, msg);
    if (*pos)
        return 0;
    *pos = n;
    while (n && (data[n - 1] == '\n' || data[n - 1] == '\r'))
        n--;
    if (!n)
        return 0;
    *msg = sb_span_of(data, n);
    return 1;
}

/* Checks every message of the body before any runs.  0, or the error
 * status (why filled). */
static int sb_lp_check_body(sb_server *s, const sb_lp_req *r, char *why, size_t whylen)
{
    size_t pos = 0;
    sb_span msg;
    sb_buf bin;
    int index = 0, rc = 0;

    sb_buf_init(&bin, 0);
    while (!rc && sb_lp_next(r, &pos, &msg)) {
        sb_buf_reset(&bin);
        rc = sb_lp_check_message(s, msg, ++index, &bin, why, whylen);
    }
    sb_buf_free(&bin);
    if (!rc && !index) {
        snprintf(why, whylen, "no message in the body");
        rc = 400;
    }
    return rc;
}

/* Hands every message to the session's connection, through the rate
 * limit as on a WebSocket.  0, or 429 when the limit closed the session. */
static int sb_lp_run_body(sb_wsconn *c, const sb_lp_req *r)
{
    size_t pos = 0;
    sb_span msg;
    sb_buf bin;
    int rate;

    sb_buf_init(&bin, 0);
    while (!c->close_code && !c->closed && sb_lp_next(r, &pos, &msg)) {
        rate = sb_wsconn_rate_ok(c);
        if (rate < 0) {
            sb_wsconn_close(c, 1008, "rate limit");
            break;
        }
        if (rate == 0)
            continue;
        if (sb_lp_is_text(msg)) {
            sb_phx_receive(c, msg.p, msg.n, 0);
            continue;
        }
        sb_buf_reset(&bin);
        if (sb_lp_b64_decode(msg.p, msg.n, &bin, NULL) == 0)
            sb_phx_receive(c, bin.len ? (const char *)sb_buf_data(&bin) : "", bin.len, 1);
    }
    sb_buf_free(&bin);
    return c->close_code == 1008 ? 429 : 0;
}

/* The whole body is in: the session, the checks, the messages. */
int sb_lp_post_done(sb_server *s, struct lws *wsi, void **req_state)
{
    sb_lp_req *r = *req_state;
    sb_lp_server *t = sb_lp_server_of(s);
    sb_lp_session *ss;
    char why[160];
    int rc;

    if (!r || !r->post || !t)
        return sb_lp_reply_status(wsi, 400, "unexpected body");
    r->post = 0;
    if (r->answered)
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    if (r->too_big)
        return sb_lp_post_too_big(t, wsi, 0);
    if (r->body.oom)
        return sb_lp_reply_status(wsi, 500, "out of memory");
    ss = sb_lp_find(t, r->token);
    if (!ss || !ss->c || ss->c->close_code)
        return sb_lp_reply_status(wsi, 410, "no such session");
    sb_lp_session_touch(t, ss);
    rc = sb_lp_check_body(s, r, why, sizeof why);
    if (rc)
        return sb_lp_reply_status(wsi, rc, rc == 500 ? "out of memory" : why);
    rc = sb_lp_run_body(ss->c, r);
    sb_buf_free(&r->body);
    return rc ? sb_lp_reply_status(wsi, rc, "rate limit: the session is closed")
              : sb_lp_reply_status(wsi, 200, NULL);
}
