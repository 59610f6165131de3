/* The Pusher HTTP API's request rules (docs/pusher-http.md), decided from
 * what lws has already split out of a request (the decoded path, the
 * decoded query parameters, the body) with no lws in sight, so that
 * spec/c/test_proto_pusher_api.c and fuzz/fuzz_pusher_api.c can drive
 * them with anything: which app a path names, and whether a request is
 * signed by the app's key and secret. */
#ifndef SB_PROTO_PUSHER_API_H
#define SB_PROTO_PUSHER_API_H

#include <stddef.h>

#include "base/buf.h"
#include "codec/json.h"

/* Query parameters one request may carry (Pusher's own take a handful). */
#define SB_PUSHER_MAX_PARAMS 32
/* A request body: ten events of Pusher's 10 KB data limit, escaped, fit. */
#define SB_PUSHER_MAX_BODY (256 * 1024)
/* How far auth_timestamp may be from the server's clock, in seconds. */
#define SB_PUSHER_MAX_SKEW 600

/* What a path is: SB_PUSHER_NOT_OURS (not below "/apps/"), or
 * SB_PUSHER_APP with *app the id ("/apps/42/events" -> "42", never
 * empty) and *rest what follows it ("/events", or "" for "/apps/42"),
 * both pointing into path. */
enum { SB_PUSHER_NOT_OURS = 0, SB_PUSHER_APP = 1 };
int sb_pusher_api_route(sb_span path, sb_span *app, sb_span *rest);

/* One query parameter as lws decoded it (key=value; no '=': value ""). */
typedef struct sb_pusher_param {
    sb_span key, value;
} sb_pusher_param;

/* A request as the signature sees it. */
typedef struct sb_pusher_request {
    sb_span method;                 /* "GET", "POST" */
    sb_span path;                   /* the whole path, "/apps/42/events" */
    const sb_pusher_param *params;  /* every parameter, auth_* included */
    size_t nparams;
    sb_span body;                   /* p == NULL or n == 0: no body */
} sb_pusher_request;

/* Appends the text Pusher's signature covers: METHOD "\n" PATH "\n" then
 * every parameter but auth_signature as key=value, keys lowercased and
 * sorted, joined by '&'.  Returns -1 (nothing appended) for more than
 * SB_PUSHER_MAX_PARAMS parameters or a key given twice (after
 * lowercasing), else 0. */
int sb_pusher_string_to_sign(sb_buf *b, const sb_pusher_request *r);

/* The verdicts of sb_pusher_verify. */
enum {
    SB_PUSHER_OK = 0,
    SB_PUSHER_EBAD = 400,    /* the query cannot be read (too many, repeated) */
    SB_PUSHER_EAUTH = 401    /* not signed by this app, stale, or body altered */
};

/* Checks r against the app's key and secret at now (Unix seconds):
 * auth_key is the key, auth_version "1.0", auth_timestamp whole and
 * within SB_PUSHER_MAX_SKEW of now, body_md5 the hex MD5 of a body there
 * is (and of none, when given without one), and auth_signature the hex
 * HMAC-SHA256 of the string to sign under the secret, compared in
 * constant time.  Returns SB_PUSHER_OK, or a verdict with the text Pusher
 * would answer appended to why (it names what to fix; for a bad
 * signature, the string that should have been signed, never the
 * secret). */
int sb_pusher_verify(const sb_pusher_request *r, sb_span key, sb_span secret,
                     double now, sb_buf *why);

/* The parameter named key (lowercase), or NULL. */
const sb_pusher_param *sb_pusher_param_get(const sb_pusher_request *r, const char *key);

#endif
