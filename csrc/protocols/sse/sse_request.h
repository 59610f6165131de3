/* What a request below /sse/ asks for, decided from the parts lws has
 * already split and percent-decoded (path, method, the Last-Event-ID
 * header, the query values), with no lws in sight: every byte of these
 * comes from the client, so the decision is one pure function that
 * fuzz/fuzz_sse_request.c can drive with anything. */
#ifndef SB_SSE_REQUEST_H
#define SB_SSE_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "codec/json.h"
#include "codec/msgid.h"

/* Longest POST ?event= name. */
#define SB_SSE_EVENT_MAX 64

typedef enum { SB_SSE_GET, SB_SSE_POST, SB_SSE_OPTIONS, SB_SSE_OTHER } sb_sse_method;

/* In every span p == NULL means absent. */
typedef struct sb_sse_request_in {
    sb_span path;          /* decoded path, "/sse/<channel>" */
    sb_sse_method method;
    sb_span header_id;     /* Last-Event-ID */
    sb_span query_id;      /* ?lastEventId= (clients that cannot set headers) */
    sb_span query_evs_id;  /* ?evs_last_event_id= (better-sse's name) */
} sb_sse_request_in;

typedef struct sb_sse_request {
    sb_span channel;       /* points into in->path */
    /* A resume position was sent: the first present of header, lastEventId,
     * evs_last_event_id; an empty one means none.  One too long to be ours
     * or holding a NUL is kept as "" (recovery-failed, bad-id). */
    int has_last;
    char last_id[SB_MSGID_MAX + 1];   /* NUL-terminated */
    size_t last_len;
    int last_ok;           /* last_id parsed as <epoch>-<offset> */
    uint64_t epoch, offset;
} sb_sse_request;

/* Fills out.  Returns 0, or the HTTP status to refuse the request with
 * (400: bad channel name; 405: a method other than GET, POST, OPTIONS)
 * and *why, a fixed message for the response body. */
int sb_sse_request_parse(const sb_sse_request_in *in, sb_sse_request *out,
                         const char **why);

/* A POST ?event= name: 1..SB_SSE_EVENT_MAX bytes, no control characters
 * (it ends up on an `event:` line and in native/Phoenix envelopes). */
int sb_sse_valid_event(const char *e, size_t n);

#endif
