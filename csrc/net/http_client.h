/* One outgoing HTTP request on the loop (a webhook's POST,
 * lua/switchboard/webhooks.lua): the request is sent whole, the answer
 * is its status and the first SB_HTTP_CLIENT_BODY_MAX bytes of its body.
 *
 * The host name is resolved by libuv (uv_getaddrinfo, in its thread
 * pool): Debian's libwebsockets is built without its asynchronous
 * resolver, and its own lookup would stall the loop and every connection
 * on it.  lws then connects to the address found, sending the name as
 * Host (and for TLS: SNI and the certificate check).  Redirects are not
 * followed: a 3xx is an answer like any other. */
#ifndef SB_HTTP_CLIENT_H
#define SB_HTTP_CLIENT_H

#include <stddef.h>

#include "loop.h"

#define SB_HTTP_CLIENT_BODY_MAX 4096

typedef struct sb_http_header {
    const char *name;        /* "content-type", without the colon */
    const char *value;
} sb_http_header;

typedef struct sb_http_request {
    const char *host;        /* name or address ("[::1]" unbracketed: "::1") */
    int port;
    const char *path;        /* path and query, "/" when NULL */
    int tls;
    int insecure;            /* TLS: accept any certificate */
    const char *method;      /* "POST" when NULL */
    const sb_http_header *headers;
    size_t nheaders;
    const char *body;
    size_t body_len;
    double timeout;          /* seconds for all of it, lookup included */
} sb_http_request;

typedef struct sb_http_result {
    int status;              /* the response's, or 0 when none came */
    const char *error;       /* why there is none, else NULL */
    const char *body;        /* the first bytes of the response body */
    size_t body_len;
} sb_http_result;

typedef void (*sb_http_done_fn)(void *ud, const sb_http_result *r);
typedef struct sb_http_call sb_http_call;

/* Starts the request (the strings are copied); done runs exactly once
 * on the loop, unless the call is cancelled first.  NULL with err filled
 * when it could not even start (memory, no lws context). */
sb_http_call *sb_http_send(sb_loop *loop, const sb_http_request *req,
                           sb_http_done_fn done, void *ud, char *err,
                           size_t errlen);
/* The owner goes: done is never called, the request is dropped; the
 * memory goes once libuv and lws let go of it. */
void sb_http_cancel(sb_http_call *c);

#endif
