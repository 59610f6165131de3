/* The LongPoll bodies and tokens (proto_longpoll.h). */
#include "proto_longpoll.h"

#include <string.h>
#include <strings.h>

static const char sb_lp_b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Three bytes to four characters, SB_LP_TOKEN_BYTES being a multiple of
 * three: no padding, and only URL-safe characters, so the client can put
 * it in a query string as it is. */
void sb_lp_token(const unsigned char rnd[SB_LP_TOKEN_BYTES],
                 char out[SB_LP_TOKEN_LEN + 1])
{
    size_t i, o = 0;

    for (i = 0; i + 2 < SB_LP_TOKEN_BYTES; i += 3) {
        unsigned long v = ((unsigned long)rnd[i] << 16) |
                          ((unsigned long)rnd[i + 1] << 8) | rnd[i + 2];
        out[o++] = sb_lp_b64url[(v >> 18) & 63];
        out[o++] = sb_lp_b64url[(v >> 12) & 63];
        out[o++] = sb_lp_b64url[(v >> 6) & 63];
        out[o++] = sb_lp_b64url[v & 63];
    }
    out[o] = '\0';
}

static void sb_lp_add_status(sb_buf *b, int status)
{
    sb_buf_adds(b, "{\"status\":");
    sb_buf_add_i64(b, status);
}

int sb_lp_status(sb_buf *b, int status, sb_span error)
{
    sb_lp_add_status(b, status);
    if (error.p) {
        sb_buf_adds(b, ",\"error\":");
        sb_buf_add_json_string(b, error.p, error.n);
    }
    sb_buf_addc(b, '}');
    return b->oom ? SB_CODEC_ENOMEM : SB_CODEC_OK;
}

void sb_lp_poll_begin(sb_buf *b, int status, sb_span token)
{
    sb_lp_add_status(b, status);
    sb_buf_adds(b, ",\"token\":");
    if (token.p)
        sb_buf_add_json_string(b, token.p, token.n);
    else
        sb_buf_adds(b, "null");
    sb_buf_adds(b, ",\"messages\":[");
}

/* The element before this one, if any, ended in a quote: a comma goes
 * between them. */
void sb_lp_poll_add(sb_buf *b, sb_span msg)
{
    if (b->len && sb_buf_data(b)[b->len - 1] != '[')
        sb_buf_addc(b, ',');
    sb_buf_add_json_string(b, msg.p, msg.n);
}

int sb_lp_poll_end(sb_buf *b, sb_span error)
{
    sb_buf_addc(b, ']');
    if (error.p) {
        sb_buf_adds(b, ",\"error\":");
        sb_buf_add_json_string(b, error.p, error.n);
    }
    sb_buf_addc(b, '}');
    return b->oom ? SB_CODEC_ENOMEM : SB_CODEC_OK;
}

int sb_lp_is_batch(const char *content_type)
{
    static const char batch[] = "application/x-ndjson";
    size_t n = sizeof batch - 1;
    char after;

    if (!content_type || strncasecmp(content_type, batch, n) != 0)
        return 0;
    after = content_type[n];
    return after == '\0' || after == ';' || after == ' ' || after == '\t';
}

int sb_lp_next_message(const char *body, size_t n, size_t *pos, sb_span *msg)
{
    while (*pos < n) {
        const char *start = body + *pos;
        const char *nl = memchr(start, '\n', n - *pos);
        size_t len = nl ? (size_t)(nl - start) : n - *pos;

        *pos += len + (nl ? 1 : 0);
        if (len && start[len - 1] == '\r')
            len--;
        if (len) {
            *msg = sb_span_of(start, len);
            return 1;
        }
    }
    return 0;
}

int sb_lp_is_text(sb_span msg)
{
    return msg.n > 0 && (msg.p[0] == '[' || msg.p[0] == '{');
}

static int sb_lp_b64_value(char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+' || ch == '-')
        return 62;
    if (ch == '/' || ch == '_')
        return 63;
    return -1;
}

int sb_lp_b64_decode(const char *s, size_t n, sb_buf *out, sb_codec_err *e)
{
    size_t i, data = n, old = out->len;
    unsigned acc = 0;
    int bits = 0;

    while (data > 0 && s[data - 1] == '=')
        data--;
    for (i = 0; i < data; i++) {
        int v = sb_lp_b64_value(s[i]);
        if (v < 0) {
            out->len = old;
            return sb_codec_fail(e, SB_CODEC_EFIELD, i, "not base64");
        }
        acc = ((acc << 6) | (unsigned)v) & 0xffffu;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            sb_buf_addc(out, (char)((acc >> bits) & 0xff));
        }
    }
    if (n - data > 2 || (n != data && n % 4 != 0)) {
        out->len = old;
        return sb_codec_fail(e, SB_CODEC_EFIELD, data, "bad base64 padding");
    }
    if (data % 4 == 1) {
        out->len = old;
        return sb_codec_fail(e, SB_CODEC_EFIELD, n, "base64 cut short");
    }
    if (out->oom) {
        out->len = old;
        return sb_codec_fail(e, SB_CODEC_ENOMEM, 0, "out of memory");
    }
    return SB_CODEC_OK;
}
