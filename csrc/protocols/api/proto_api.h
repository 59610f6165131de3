/* The server API's request rules, decided from what lws has already split
 * out of a request (the decoded path, two headers), with no lws in sight:
 * every byte of these comes from the caller, so the decisions are pure
 * functions that fuzz/fuzz_api.c drives with anything.  The wire format
 * is docs/api.md. */
#ifndef SB_PROTO_API_H
#define SB_PROTO_API_H

#include <stddef.h>

#include "base/buf.h"
#include "codec/json.h"

/* A method name: 1..SB_API_METHOD_MAX bytes of [a-z0-9_]. */
#define SB_API_METHOD_MAX 32
/* An API key: 1..SB_API_KEY_MAX printable ASCII bytes, no space. */
#define SB_API_KEY_MAX 256

/* What a path is to an API mounted at prefix ("/api", no trailing
 * slash): SB_API_NOT_OURS, SB_API_METHOD with *method pointing into path
 * ("/api/publish" -> "publish"), or SB_API_NO_METHOD for a path below
 * the prefix that names no valid method ("/api", "/api/", "/api/a/b",
 * "/api/Publish"). */
enum { SB_API_NOT_OURS = 0, SB_API_METHOD = 1, SB_API_NO_METHOD = -1 };
int sb_api_route(sb_span path, sb_span prefix, sb_span *method);

/* The key a request carries: the X-API-Key header's value, else the
 * credentials of "Authorization: apikey <key>" (the scheme in any case,
 * as Centrifugo's clients send it).  A span's p == NULL means the header
 * is absent.  Returns SB_API_KEY_OK with *key pointing into a header,
 * SB_API_KEY_MISSING when neither header carries one (an Authorization
 * of another scheme included), or SB_API_KEY_BAD for a value that cannot
 * be a key (empty, too long, a space or control byte inside). */
enum { SB_API_KEY_OK = 0, SB_API_KEY_MISSING = 1, SB_API_KEY_BAD = 2 };
int sb_api_key(sb_span authorization, sb_span x_api_key, sb_span *key);

/* Appends {"error":{"code":<code>,"message":<message>}}, the body of
 * every refusal the API answers. */
void sb_api_error_body(sb_buf *b, const char *code, const char *message);

#endif
