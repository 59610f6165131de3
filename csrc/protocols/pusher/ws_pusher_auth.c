/* The signature of a private- or presence- subscription
 * (docs/pusher.md#the-auth-flow): auth = "<key>:<hex>", hex the lowercase
 * HMAC-SHA256 under the app's secret of "<socket_id>:<channel>", with
 * ":<channel_data>" appended for presence channels.  The app's auth
 * endpoint made it knowing the secret; the socket only checks it. */
#include "ws_pusher.h"

#include <string.h>

#include "base/buf.h"
#include "codec/token.h"

/* Equal bytes, in a time that does not depend on where they differ. */
static int sb_pusher_same(const unsigned char *a, const unsigned char *b, size_t n)
{
    unsigned char d = 0;
    size_t i;

    for (i = 0; i < n; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

/* "<key>:<hex>" for the string to sign, into out. */
static int sb_pusher_expected(const sb_pusher_server *ps, const sb_buf *msg, sb_buf *out)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char mac[SB_HMAC_SHA256_LEN];
    size_t i;

    if (sb_hmac_sha256(ps->secret, strlen(ps->secret), sb_buf_data(msg), msg->len, mac))
        return -1;
    sb_buf_adds(out, ps->key);
    sb_buf_addc(out, ':');
    for (i = 0; i < sizeof mac; i++) {
        sb_buf_addc(out, hex[mac[i] >> 4]);
        sb_buf_addc(out, hex[mac[i] & 15]);
    }
    return out->oom ? -1 : 0;
}

int sb_pusher_auth_ok(const sb_pusher_server *ps, const char *socket_id,
                      const char *channel, size_t chlen, const char *auth,
                      size_t alen, const char *cd, size_t cdlen)
{
    sb_buf msg, want;
    int ok = 0;

    if (!auth)
        return 0;
    sb_buf_init(&msg, 0);
    sb_buf_init(&want, 0);
    sb_buf_adds(&msg, socket_id);
    sb_buf_addc(&msg, ':');
    sb_buf_add(&msg, channel, chlen);
    if (cd) {
        sb_buf_addc(&msg, ':');
        sb_buf_add(&msg, cd, cdlen);
    }
    if (!msg.oom && sb_pusher_expected(ps, &msg, &want) == 0)
        ok = want.len == alen &&
             sb_pusher_same(sb_buf_data(&want), (const unsigned char *)auth, alen);
    sb_buf_free(&msg);
    sb_buf_free(&want);
    return ok;
}
