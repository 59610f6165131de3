/* Phoenix Channels wire format (docs/protocols.md#phoenix-protocol): V2 JSON
 * arrays, V1 JSON objects and V2 binary frames.
 *
 * join_ref and ref are opaque strings the client compares with ===, so they
 * are decoded to their exact string value and echoed as JSON strings, never
 * as numbers.  In every sb_span here p == NULL means JSON null.  Encoders
 * append to an sb_buf and return 0, SB_CODEC_ENOMEM, or (binary only)
 * SB_CODEC_ETOOLONG without writing anything.  Payload and response
 * arguments are JSON text inserted unchanged (raw bytes for binary);
 * p == NULL there means `{}`. */
#ifndef SB_PROTO_PHOENIX_H
#define SB_PROTO_PHOENIX_H

#include <stddef.h>

#include "base/buf.h"
#include "codec/codec.h"
#include "codec/json.h"

/* Binary frame kinds (byte 0). */
enum { SB_PHX_BIN_PUSH = 0, SB_PHX_BIN_REPLY = 1, SB_PHX_BIN_BROADCAST = 2 };

/* Longest string field of a binary frame (one length byte). */
#define SB_PHX_BIN_FIELD_MAX 255

/* A decoded client message.  Strings point into the input, or into `store`
 * when they had JSON escapes; so they live as long as both. */
typedef struct sb_phx_msg {
    sb_span join_ref;    /* p == NULL: null (also an empty binary join_ref) */
    sb_span ref;         /* p == NULL: null */
    sb_span topic;
    sb_span event;
    sb_span payload;     /* JSON text, or raw bytes when binary */
    int payload_object;  /* payload is a JSON object */
    int binary;          /* decoded from a binary frame */
    sb_buf store;        /* owned: unescaped strings */
} sb_phx_msg;

/* [join_ref, ref, topic, event, payload]: exactly five elements.  Errors:
 * SB_CODEC_EJSON, SB_CODEC_ESHAPE (not an array of 5), SB_CODEC_EREF,
 * SB_CODEC_EFIELD (topic/event not strings), SB_CODEC_ENOMEM.  On error m
 * holds nothing to free; on success release it with sb_phx_msg_free. */
int sb_phx_decode_v2(const char *s, size_t n, int max_depth, sb_phx_msg *m,
                     sb_codec_err *e);
/* {"topic","event","payload","ref"[,"join_ref"]}; same errors, ESHAPE for
 * a missing key or a non-object. */
int sb_phx_decode_v1(const char *s, size_t n, int max_depth, sb_phx_msg *m,
                     sb_codec_err *e);
/* Client binary push: 0|len(jr)|len(ref)|len(topic)|len(event)|...|payload.
 * Errors: SB_CODEC_EKIND (byte 0 not 0), SB_CODEC_ETRUNC, SB_CODEC_EFIELD
 * (a string field is not UTF-8). */
int sb_phx_decode_binary(const unsigned char *s, size_t n, sb_phx_msg *m,
                         sb_codec_err *e);
void sb_phx_msg_free(sb_phx_msg *m);

/* V2: [jr, ref, topic, event, payload] -- the general form. */
int sb_phx_v2_message(sb_buf *b, sb_span jr, sb_span ref, sb_span topic,
                      sb_span event, sb_span payload);
/* [jr, ref, topic, "phx_reply", {"status":S,"response":R}] */
int sb_phx_v2_reply(sb_buf *b, sb_span jr, sb_span ref, sb_span topic,
                    sb_span status, sb_span response);
/* [jr, null, topic, event, payload]: to one subscriber. */
int sb_phx_v2_push(sb_buf *b, sb_span jr, sb_span topic, sb_span event,
                   sb_span payload);
/* [null, null, topic, event, payload]: fan-out. */
int sb_phx_v2_broadcast(sb_buf *b, sb_span topic, sb_span event,
                        sb_span payload);
/* [jr, jr, topic, "phx_close" | "phx_error", payload]; error != 0 picks
 * phx_error. */
int sb_phx_v2_close(sb_buf *b, sb_span jr, sb_span topic, int error,
                    sb_span payload);

/* V1: {"topic":T,"event":E,"payload":P,"ref":R}, never a join_ref. */
int sb_phx_v1_message(sb_buf *b, sb_span topic, sb_span event,
                      sb_span payload, sb_span ref);
int sb_phx_v1_reply(sb_buf *b, sb_span ref, sb_span topic, sb_span status,
                    sb_span response);
/* ref null: pushes and broadcasts look the same in V1. */
int sb_phx_v1_push(sb_buf *b, sb_span topic, sb_span event,
                   sb_span payload);
/* ref = jr, as Phoenix sends channel ends. */
int sb_phx_v1_close(sb_buf *b, sb_span jr, sb_span topic, int error,
                    sb_span payload);

/* Binary, server to client (docs/protocols.md#binary-frames).  A null jr is
 * written as length 0. */
int sb_phx_bin_push(sb_buf *b, sb_span jr, sb_span topic, sb_span event,
                    const void *payload, size_t n);
int sb_phx_bin_reply(sb_buf *b, sb_span jr, sb_span ref, sb_span topic,
                     sb_span status, const void *payload, size_t n);
int sb_phx_bin_broadcast(sb_buf *b, sb_span topic, sb_span event,
                         const void *payload, size_t n);

#endif
