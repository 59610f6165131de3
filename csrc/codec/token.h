/* Signed tokens: HS256 JSON Web Tokens (RFC 7519, RFC 7515 compact form).
 *
 * The C side does what must not be got wrong in Lua: base64url without
 * padding (strict: no '=', no other alphabet, no stray bits), HMAC-SHA256
 * from OpenSSL, a constant-time signature compare, and the refusal of any
 * header whose alg is not exactly "HS256" (so "none" and algorithm
 * confusion are out before the signature is even looked at).  Claims are
 * opaque JSON here; the Lua layer (switchboard.token) checks exp/nbf. */
#ifndef SB_TOKEN_H
#define SB_TOKEN_H

#include <stddef.h>

#include "base/buf.h"

enum {
    SB_TOKEN_OK = 0,
    SB_TOKEN_ENOMEM = -1,
    SB_TOKEN_EMALFORMED = -2,  /* not three base64url parts of JSON */
    SB_TOKEN_EALG = -3,        /* header alg missing or not HS256 */
    SB_TOKEN_ESIG = -4,        /* signature does not match */
    SB_TOKEN_ECRYPTO = -5      /* OpenSSL refused to compute the HMAC */
};

#define SB_HMAC_SHA256_LEN 32

/* Appends base64url of p[0..n) without padding. */
void sb_b64url_encode(sb_buf *out, const void *p, size_t n);
/* Appends the bytes of unpadded base64url text.  Returns 0, or -1 for a
 * character outside the alphabet, padding, a length of 4k+1, or unused
 * low bits that are not zero (so every token has one spelling); out then
 * keeps its old length. */
int sb_b64url_decode(const char *s, size_t n, sb_buf *out);

/* HMAC-SHA256 of msg under key.  Returns 0 or SB_TOKEN_ECRYPTO. */
int sb_hmac_sha256(const void *key, size_t keylen, const void *msg,
                   size_t n, unsigned char out[SB_HMAC_SHA256_LEN]);

/* Appends header.payload.signature for claims (a JSON object's text,
 * inserted unchanged) with the header {"alg":"HS256","typ":"JWT"}.
 * Returns 0, SB_TOKEN_ENOMEM or SB_TOKEN_ECRYPTO. */
int sb_jwt_sign(sb_buf *out, const char *claims, size_t claims_n,
                const void *secret, size_t secret_n);

/* Checks token's shape, its header (JSON object, alg "HS256") and its
 * signature, in that order, and appends the decoded claims JSON to
 * claims (an object, validated).  Returns 0 or SB_TOKEN_E*; *why (when
 * not NULL) gets a static message for logs and the Lua error. */
int sb_jwt_verify(const char *token, size_t n, const void *secret,
                  size_t secret_n, sb_buf *claims, const char **why);

#endif
