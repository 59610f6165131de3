/* Per-connection limits that apply after the handshake: the message-rate
 * token bucket.  (The connection caps are checked at the handshake, in
 * server.c, where the counts live.) */
#include "server.h"

/* Per-connection token bucket (max_rate messages/s, max_burst deep).
 * Returns 1 when the message may pass, 0 to drop it, -1 when the flood
 * has gone on for a whole bucket of drops and the connection should close
 * (1008).  A native client hears about the first drop of each flood. */
int sb_wsconn_rate_ok(sb_wsconn *c)
{
    const sb_server_config *cfg = sb_server_config_of(c->srv);
    double rate = cfg->max_rate ? cfg->max_rate : 5000;
    double burst = cfg->max_burst > 0 ? cfg->max_burst : 2 * rate;
    int64_t now = sb_now_ms();

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
    if (c->dropped == 1 && c->kind == SB_KIND_NATIVE) {
        static const char err[] = "{\"type\":\"error\",\"message\":"
                                  "\"rate limit: messages are being dropped, slow down\"}";
        sb_wsconn_send_text(c, err, sizeof err - 1);
    }
    return 0;
}
