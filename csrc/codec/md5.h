/* MD5 (RFC 1321) in lowercase hex, from OpenSSL (the library HMAC-SHA256
 * already comes from, codec/token.h).  MD5 is no signature: the Pusher
 * HTTP API uses it only to bind a request's body to its signed query
 * (body_md5, docs/pusher-http.md#signing), where the HMAC does the
 * authenticating. */
#ifndef SB_MD5_H
#define SB_MD5_H

#include <stddef.h>

#define SB_MD5_HEX_LEN 32

/* Writes the 32 hex digits of MD5(p[0..n)) and a NUL into out.  Returns
 * 0, or -1 when OpenSSL refuses (out then holds an empty string). */
int sb_md5_hex(const void *p, size_t n, char out[SB_MD5_HEX_LEN + 1]);

#endif
