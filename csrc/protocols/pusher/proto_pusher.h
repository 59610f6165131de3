/* The Pusher Channels protocol 7 wire format (docs/pusher.md#the-wire):
 * every frame is a JSON object {"event":E,"channel":C,"data":D}.
 *
 * Clients send `data` as whatever they like: pusher-js sends an object
 * for pusher:subscribe and the app's value for client events; other
 * clients send a JSON string holding an object.  The server always sends
 * `data` as a JSON string (pusher:error excepted, whose data is an object
 * as Pusher sends it).  Decoders point into the input (or into the
 * message's `store` when a string had escapes) and return 0 or an
 * SB_CODEC_E* code with e filled; encoders append to an sb_buf and return
 * 0 or SB_CODEC_ENOMEM.  In every sb_span here p == NULL means absent. */
#ifndef SB_PROTO_PUSHER_H
#define SB_PROTO_PUSHER_H

#include <stddef.h>

#include "base/buf.h"
#include "codec/codec.h"
#include "codec/json.h"

/* The close and error codes of the protocol that switchboard sends. */
enum {
    SB_PUSHER_APP_UNKNOWN = 4001,   /* wrong key in /app/<key> */
    SB_PUSHER_BAD_VERSION = 4007,   /* ?protocol= we do not speak */
    SB_PUSHER_UNAUTHORIZED = 4009,  /* connection refused by policy */
    SB_PUSHER_OVER_CAPACITY = 4100,
    SB_PUSHER_RECONNECT = 4200,     /* generic: reconnect now */
    SB_PUSHER_PONG_TIMEOUT = 4201
};

/* A decoded client frame; release it with sb_pusher_msg_free. */
typedef struct sb_pusher_msg {
    sb_span event;       /* decoded string, never absent on success */
    sb_span channel;     /* decoded string, or absent */
    sb_span data;        /* the raw JSON value, or absent */
    sb_buf store;        /* owned: unescaped strings */
} sb_pusher_msg;

/* {"event": string, "channel"?: string, "data"?: any}.  Errors:
 * SB_CODEC_EJSON, SB_CODEC_ESHAPE (not an object, no event),
 * SB_CODEC_EFIELD (event or channel not a string), SB_CODEC_ENOMEM.  On
 * error m holds nothing to free. */
int sb_pusher_decode(const char *s, size_t n, int max_depth, sb_pusher_msg *m,
                     sb_codec_err *e);
void sb_pusher_msg_free(sb_pusher_msg *m);

/* The data of pusher:subscribe / pusher:unsubscribe, an object or a JSON
 * string holding one: {"channel": string, "auth"?: string,
 * "channel_data"?: string}.  Release with sb_pusher_sub_free. */
typedef struct sb_pusher_sub {
    sb_span channel;
    sb_span auth;
    sb_span channel_data;
    sb_buf store;
} sb_pusher_sub;

/* Errors: SB_CODEC_EJSON (a string that holds no JSON), SB_CODEC_ESHAPE
 * (no object, no channel), SB_CODEC_EFIELD (a field not a string),
 * SB_CODEC_ENOMEM. */
int sb_pusher_decode_subscribe(sb_span data, int max_depth, sb_pusher_sub *s,
                               sb_codec_err *e);
void sb_pusher_sub_free(sb_pusher_sub *s);

/* The hub payload of a client event's data (docs/pusher.md#messages): a
 * JSON string whose value is JSON becomes that JSON (written to out);
 * anything else is the payload as it came.  *payload points into data or
 * out.  0, or SB_CODEC_ENOMEM; absent data is null. */
int sb_pusher_payload(sb_span data, int max_depth, sb_buf *out,
                      sb_span *payload);

/* The user_id of presence channel_data {"user_id": string | number,
 * "user_info"?: any}, and its user_info (absent when missing).  A number
 * is taken as its text, as Pusher's libraries stringify it.  *user_id
 * points into cd or out.  Errors: SB_CODEC_EJSON, SB_CODEC_ESHAPE (not an
 * object, no user_id), SB_CODEC_EFIELD (user_id neither string nor
 * number, or empty), SB_CODEC_ENOMEM. */
int sb_pusher_channel_data(sb_span cd, int max_depth, sb_buf *out,
                           sb_span *user_id, sb_span *user_info,
                           sb_codec_err *e);

/* {"event":E[,"channel":C],"data":"<text>"[,"user_id":U]}: text is put in
 * as a JSON string. */
int sb_pusher_event(sb_buf *b, sb_span event, sb_span channel, sb_span text,
                    sb_span user_id);
/* The same for a hub message whose payload is JSON: a JSON string
 * payload is sent as that string; any other value as the string of its
 * JSON text. */
int sb_pusher_message(sb_buf *b, sb_span event, sb_span channel,
                      sb_span payload, sb_span user_id);
/* {"event":"pusher:error","data":{"code":C,"message":M}}; code 0 is
 * written as null (an error that ends nothing). */
int sb_pusher_error(sb_buf *b, int code, sb_span message);
/* pusher:connection_established with {"socket_id":S,"activity_timeout":T}. */
int sb_pusher_established(sb_buf *b, sb_span socket_id, int activity_timeout);

#endif
