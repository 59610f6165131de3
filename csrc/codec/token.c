#include "token.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "json.h"

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void sb_b64url_encode(sb_buf *out, const void *p, size_t n)
{
    const unsigned char *u = p;
    size_t i;
    unsigned long v;

    for (i = 0; i + 3 <= n; i += 3) {
        v = (unsigned long)u[i] << 16 | (unsigned long)u[i + 1] << 8 | u[i + 2];
        sb_buf_addc(out, b64url[(v >> 18) & 63]);
        sb_buf_addc(out, b64url[(v >> 12) & 63]);
        sb_buf_addc(out, b64url[(v >> 6) & 63]);
        sb_buf_addc(out, b64url[v & 63]);
    }
    if (n - i == 1) {
        v = (unsigned long)u[i] << 16;
        sb_buf_addc(out, b64url[(v >> 18) & 63]);
        sb_buf_addc(out, b64url[(v >> 12) & 63]);
    } else if (n - i == 2) {
        v = (unsigned long)u[i] << 16 | (unsigned long)u[i + 1] << 8;
        sb_buf_addc(out, b64url[(v >> 18) & 63]);
        sb_buf_addc(out, b64url[(v >> 12) & 63]);
        sb_buf_addc(out, b64url[(v >> 6) & 63]);
    }
}

/* 0..63 for a base64url character, -1 for anything else. */
static int b64url_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

int sb_b64url_decode(const char *s, size_t n, sb_buf *out)
{
    size_t i, old = out->len, rest = n % 4;
    unsigned long v = 0;
    int d, bits = 0;

    if (rest == 1)
        return -1;   /* 6 bits cannot make a byte */
    for (i = 0; i < n; i++) {
        d = b64url_val((unsigned char)s[i]);
        if (d < 0) {
            out->len = old;
            return -1;
        }
        v = (v << 6 | (unsigned long)d) & 0xFFFFFF;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            sb_buf_addc(out, (char)((v >> bits) & 0xFF));
        }
    }
    /* the left-over bits of a short final group must be zero, or two
     * different texts would decode to the same bytes */
    if ((v & ((1UL << bits) - 1)) != 0 || out->oom) {
        out->len = old;
        return -1;
    }
    return 0;
}

int sb_hmac_sha256(const void *key, size_t keylen, const void *msg,
                   size_t n, unsigned char out[SB_HMAC_SHA256_LEN])
{
    unsigned int len = 0;
    /* HMAC() takes an int key length; a NULL key with length 0 is what
     * OpenSSL itself refuses, so point at a harmless byte instead */
    static const unsigned char none = 0;

    if (keylen > 0x7fffffff)
        return SB_TOKEN_ECRYPTO;
    if (!HMAC(EVP_sha256(), keylen ? key : &none, (int)keylen,
              msg, n, out, &len) || len != SB_HMAC_SHA256_LEN)
        return SB_TOKEN_ECRYPTO;
    return SB_TOKEN_OK;
}

/* base64url of the fixed header {"alg":"HS256","typ":"JWT"} */
#define SB_JWT_HEADER "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"

int sb_jwt_sign(sb_buf *out, const char *claims, size_t claims_n,
                const void *secret, size_t secret_n)
{
    unsigned char mac[SB_HMAC_SHA256_LEN];
    size_t start = out->len;
    int r;

    sb_buf_adds(out, SB_JWT_HEADER ".");
    sb_b64url_encode(out, claims, claims_n);
    if (out->oom) {
        out->len = start;
        return SB_TOKEN_ENOMEM;
    }
    r = sb_hmac_sha256(secret, secret_n, sb_buf_data(out) + start,
                       out->len - start, mac);
    if (r) {
        out->len = start;
        return r;
    }
    sb_buf_addc(out, '.');
    sb_b64url_encode(out, mac, sizeof mac);
    if (out->oom) {
        out->len = start;
        return SB_TOKEN_ENOMEM;
    }
    return SB_TOKEN_OK;
}

static int fail(const char **why, int code, const char *msg)
{
    if (why)
        *why = msg;
    return code;
}

/* The header must be a JSON object whose alg is exactly "HS256". */
static int check_header(const char *s, size_t n, sb_buf *tmp,
                        const char **why)
{
    sb_span alg;
    int r;

    sb_buf_reset(tmp);
    if (sb_b64url_decode(s, n, tmp) || !tmp->len ||
        sb_json_check((const char *)sb_buf_data(tmp), tmp->len, 8, NULL) ||
        sb_json_type_of((const char *)sb_buf_data(tmp), tmp->len) !=
            SB_JSON_OBJECT)
        return tmp->oom ? fail(why, SB_TOKEN_ENOMEM, "out of memory")
                        : fail(why, SB_TOKEN_EMALFORMED, "malformed token");
    r = sb_json_object_get((const char *)sb_buf_data(tmp), tmp->len, 8,
                           "alg", 3, &alg, NULL);
    if (r != 1 || sb_json_type_of(alg.p, alg.n) != SB_JSON_STRING ||
        !sb_json_string_eq(alg.p, alg.n, "HS256", 5))
        return fail(why, SB_TOKEN_EALG, "unsupported alg (only HS256)");
    /* RFC 7515 4.1.11: extensions listed in crit must be understood, and
     * we understand none */
    if (sb_json_object_get((const char *)sb_buf_data(tmp), tmp->len, 8,
                           "crit", 4, &alg, NULL) != 0)
        return fail(why, SB_TOKEN_EALG, "unsupported crit header");
    return SB_TOKEN_OK;
}

int sb_jwt_verify(const char *token, size_t n, const void *secret,
                  size_t secret_n, sb_buf *claims, const char **why)
{
    const char *dot1, *dot2;
    unsigned char mac[SB_HMAC_SHA256_LEN];
    sb_buf tmp;
    size_t hn, pn, old = claims->len;
    int r;

    dot1 = n ? memchr(token, '.', n) : NULL;
    dot2 = dot1 ? memchr(dot1 + 1, '.', n - (size_t)(dot1 - token) - 1)
                : NULL;
    if (!dot2 || memchr(dot2 + 1, '.', n - (size_t)(dot2 - token) - 1))
        return fail(why, SB_TOKEN_EMALFORMED, "malformed token");
    hn = (size_t)(dot1 - token);
    pn = (size_t)(dot2 - dot1) - 1;
    sb_buf_init(&tmp, 0);
    r = check_header(token, hn, &tmp, why);
    if (r)
        goto out;
    /* the signature: exactly 32 bytes, compared in constant time */
    sb_buf_reset(&tmp);
    if (sb_b64url_decode(dot2 + 1, n - (size_t)(dot2 - token) - 1, &tmp) ||
        tmp.len != SB_HMAC_SHA256_LEN) {
        r = fail(why, tmp.oom ? SB_TOKEN_ENOMEM : SB_TOKEN_EMALFORMED,
                 tmp.oom ? "out of memory" : "malformed token");
        goto out;
    }
    r = sb_hmac_sha256(secret, secret_n, token, (size_t)(dot2 - token), mac);
    if (r) {
        fail(why, r, "cannot compute HMAC");
        goto out;
    }
    if (CRYPTO_memcmp(mac, sb_buf_data(&tmp), sizeof mac) != 0) {
        r = fail(why, SB_TOKEN_ESIG, "bad signature");
        goto out;
    }
    /* only a token we signed gets its claims parsed */
    if (sb_b64url_decode(dot1 + 1, pn, claims) || claims->len == old ||
        sb_json_check((const char *)sb_buf_data(claims) + old,
                      claims->len - old, 64, NULL) ||
        sb_json_type_of((const char *)sb_buf_data(claims) + old,
                        claims->len - old) != SB_JSON_OBJECT) {
        claims->len = old;
        r = fail(why, claims->oom ? SB_TOKEN_ENOMEM : SB_TOKEN_EMALFORMED,
                 claims->oom ? "out of memory" : "malformed token");
        goto out;
    }
    r = SB_TOKEN_OK;
out:
    sb_buf_free(&tmp);
    return r;
}
