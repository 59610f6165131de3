/* The Phoenix LongPoll wire (docs/protocols.md#longpoll), without I/O:
 * the JSON bodies the server answers with, the session tokens, and the
 * POST bodies the client sends (newline-separated messages, each a JSON
 * message as a WebSocket text frame would carry it, or the base64 of a
 * binary one).  The messages themselves are Phoenix's (proto_phoenix.h):
 * LongPoll only carries them. */
#ifndef SB_PROTO_LONGPOLL_H
#define SB_PROTO_LONGPOLL_H

#include <stddef.h>

#include "base/buf.h"
#include "codec/codec.h"
#include "codec/json.h"

/* A session token: base64url of SB_LP_TOKEN_BYTES random bytes. */
#define SB_LP_TOKEN_BYTES 18
#define SB_LP_TOKEN_LEN 24

/* Writes the token for rnd into out, NUL-terminated. */
void sb_lp_token(const unsigned char rnd[SB_LP_TOKEN_BYTES],
                 char out[SB_LP_TOKEN_LEN + 1]);

/* {"status":S} or, with error.p, {"status":S,"error":E}: the answer to a
 * POST, and to what is not a poll.  Returns 0 or SB_CODEC_ENOMEM. */
int sb_lp_status(sb_buf *b, int status, sb_span error);

/* A poll's answer, {"status":S,"token":T,"messages":[M, ...]}, built in
 * three steps so queued frames go in without being collected first: each
 * M is a JSON string holding one message's text.  token.p NULL writes
 * "token":null; error.p adds "error":E after the messages.  end returns 0
 * or SB_CODEC_ENOMEM. */
void sb_lp_poll_begin(sb_buf *b, int status, sb_span token);
void sb_lp_poll_add(sb_buf *b, sb_span msg);
int sb_lp_poll_end(sb_buf *b, sb_span error);

/* 1 when a Content-Type value names a batch (application/x-ndjson, any
 * parameters after it); other bodies are one message. */
int sb_lp_is_batch(const char *content_type);

/* The next message of a batch body from *pos (start at 0): messages are
 * separated by "\n", a "\r" before it is dropped, empty ones are skipped.
 * Returns 1 with *msg, 0 at the end. */
int sb_lp_next_message(const char *body, size_t n, size_t *pos, sb_span *msg);

/* 1 when a message is text (it starts with '[' or '{': JSON as a text
 * frame carries it), 0 when it is the base64 of a binary frame. */
int sb_lp_is_text(sb_span msg);

/* Appends the bytes of standard base64 (what btoa writes; padding
 * optional, the URL-safe '-' and '_' accepted too).  Returns 0, or
 * SB_CODEC_EFIELD with e (may be NULL) filled with the position and why
 * for a byte outside the alphabet (data after padding included), padding
 * that no encoding has, or a length of 4k+1; SB_CODEC_ENOMEM when out ran
 * out of memory.  On error out keeps its old length. */
int sb_lp_b64_decode(const char *s, size_t n, sb_buf *out, sb_codec_err *e);

#endif
