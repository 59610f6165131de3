/* The server API endpoint's own types, shared by http_api.c (reading and
 * answering a call) and api_held.c (holding a call whose answer needs the
 * cluster). */
#ifndef SB_API_INTERNAL_H
#define SB_API_INTERNAL_H

#include "http_api.h"
#include "proto_api.h"

#include "base/buf.h"

typedef struct sb_api_call sb_api_call;

typedef struct sb_api_server {
    lws_sorted_usec_list_t sul;   /* the held calls' tick (api_held.c) */
    struct lws_context *ctx;      /* known while the tick runs */
    char *prefix;
    size_t max_body;
    int64_t timeout_ms;           /* api_timeout */
    uint64_t last_ticket;
    sb_api_call *held;            /* calls waiting for the app's answer */
} sb_api_server;

/* One call being received, or held (the request's slot points at it). */
struct sb_api_call {
    int active;          /* a body is being collected */
    int too_big;
    int answered;        /* the 413 went out before the body was read */
    size_t seen;
    int64_t deadline;    /* ms: the whole body must be in by then */
    sb_buf body;
    char method[SB_API_METHOD_MAX + 1];
    char key[SB_API_KEY_MAX + 1];
    /* Held (api_held.c): linked in owner->held until answered. */
    sb_api_server *owner;         /* NULL when not (or no longer) held */
    sb_api_call *prev, *next;
    struct lws *wsi;
    uint64_t ticket;
    int64_t until_ms;             /* answered 504 then */
    int due;                      /* the answer waits for a writeable */
    int status;
    sb_buf answer;
};

/* http_api.c: writes the answer (status, JSON in out, freed), a 500 when
 * there is none. */
int sb_api_answer(sb_server *s, struct lws *wsi, int status, sb_buf *out);

/* api_held.c */
/* Holds call (its body already read) until sb_server_api_reply or the
 * timeout; 0, or what the lws callback returns. */
int sb_api_hold(sb_api_server *t, sb_api_call *call, struct lws *wsi);
/* Unlinks a held call (its request ended: the client went). */
void sb_api_unhold(sb_api_call *call);
/* The writeable callback of a held call: writes its answer once due. */
int sb_api_held_writeable(sb_server *s, struct lws *wsi, void **slot);
/* The server goes: the tick stops, held calls are let go (lws closes
 * their connections; a late answer finds nothing). */
void sb_api_held_stop(sb_api_server *t);

#endif
