/* The native protocol: itty-sockets compatible frames
 * (docs/protocols.md#native-protocol).  Clients send JSON text, optionally
 * prefixed with a direct-message target (`\x1F uid \x1F json`, or the legacy
 * `@@uid@@json`).  The server sends JSON objects: message envelopes,
 * join/leave/error events and server events.  Key order follows the captured
 * vectors.  Encoders append to an sb_buf and return 0 or SB_CODEC_ENOMEM; an
 * sb_span with p == NULL means "absent" and its key is left out.  JSON
 * arguments (message, payload) are inserted unchanged: they must already be
 * valid JSON. */
#ifndef SB_PROTO_NATIVE_H
#define SB_PROTO_NATIVE_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "codec/codec.h"
#include "codec/envelope.h"
#include "codec/json.h"

/* Longest uid accepted in a direct-message prefix. */
#define SB_NATIVE_UID_MAX 255

/* A decoded client frame; spans point into the input. */
typedef struct sb_native_in {
    int direct;      /* 1 for a direct message */
    sb_span to;      /* recipient uid when direct, else p == NULL */
    sb_span json;    /* the message, validated JSON text, exact bytes */
} sb_native_in;

/* Decodes one text frame.  Errors: SB_CODEC_EDM (prefix without its end;
 * empty, over-long, control-character or non-UTF-8 uid), SB_CODEC_EJSON
 * (the message is not JSON, e.g. `undefined`; e->pos is an offset into
 * the frame).  The transport answers either with an error event. */
int sb_native_decode(const char *s, size_t n, int max_depth, sb_native_in *m,
                     sb_codec_err *e);

/* A message frame is a client envelope (codec/envelope.h). */

/* One entry of the users list a 0.9 client asks for with list=true. */
typedef struct sb_native_user {
    sb_span uid;
    sb_span alias;   /* p == NULL: omitted */
    int self;        /* 1: "self":true */
} sb_native_user;

typedef struct sb_native_presence {
    int leave;                   /* 0: "join", 1: "leave" */
    uint64_t users;              /* connections after the event */
    int total;                   /* 1: also "total":users (0.9 clients) */
    const sb_native_user *list;  /* non-NULL: "users" is this array */
    size_t nlist;
    sb_span uid;                 /* announced / self-join only */
    sb_span alias;
    int self;                    /* 1: "self":true (own join) */
    int64_t date;
} sb_native_presence;

/* {"type":"join","users":N,"total":N,"uid":U,"alias":A,"self":true,"date":D}
 * with absent parts left out; "total" is always written with a list,
 * because the list then takes the place of the count. */
int sb_native_presence_event(sb_buf *b, const sb_native_presence *ev);
/* {"type":"error","message":"text","date":D} */
int sb_native_error(sb_buf *b, sb_span text, int64_t date);
/* {"type":EVENT,"message":PAYLOAD,"date":D} for events the server makes. */
int sb_native_server_event(sb_buf *b, sb_span event, sb_span payload,
                           int64_t date);

#endif
